"""The safeguard: nothing derived for an audience rests on, or reveals, a fact it may not see.

Organisation A (the force) sees the police and A&E sources; organisation B (the council) does
not. A violence marker on an adult in the child's household, a knife A&E attendance and a
police-only group make indicators fire for A. For B, no hit, score, rating, group, entity
membership or detail text may change because of them, and linkage through a record B cannot
see must never join two records B can see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from peel.core.config import Settings
from peel.core.enums import OrganisationType
from peel.fusion import linkage
from peel.fusion.analyse import run_analysis
from peel.fusion.models import (
    FusionEntity,
    FusionEntityMember,
    FusionGroup,
    FusionIndicatorHit,
    FusionLinkDecision,
    FusionRecord,
    FusionRelation,
    FusionSource,
)
from peel.fusion.service import principal_scope
from tests.conftest import World, make_org
from tests.fusion.analysis_fixtures import ANALYSIS_DAY, add_population
from tests.fusion.fixtures import add_event, add_person, add_record, add_relation, make_source

HIDDEN_WORDS = ("Rob", "Jones", "violence", "Stab", "knife", "Crane", "group")


@dataclass
class Split:
    a_scope: str
    b_scope: str
    hidden: set[str]  # record ids B may not see
    amy_shared: FusionRecord
    amy_police: FusionRecord
    rob: FusionRecord
    knife: FusionRecord


def _person_with_home(
    db: Session, source: FusionSource, key: str, given: str, family: str, born: str, **props: Any
) -> FusionRecord:
    person = add_person(db, source, key, given, family, born, **props)
    home = add_record(
        db,
        source,
        "Address",
        f"{key}-home",
        {"line1": "12 High Street", "town": "Bournemouth", "postcode": "BH1 1AA"},
    )
    add_relation(db, source, "lives_at", person, home)
    return person


def _world(db: Session, world: World) -> Split:
    force, council = world.orgs["force"], world.orgs["council"]
    health = make_org(db, "test-health", OrganisationType.health)
    police = make_source(db, force, "police")  # the force's alone
    ae = make_source(db, health, "ae", share_with=[force])  # the force may see it, not the council
    social = make_source(db, council, "social-care", share_with=[force])  # both see it
    amy_shared = _person_with_home(db, social, "amy", "Amy", "Smith", "2012-04-01")
    for n, day in enumerate(("2026-01-10", "2026-05-10")):
        referral = add_event(db, social, f"r{n}", "referral", day)
        add_relation(db, social, "involved_in", amy_shared, referral, "subject")
    amy_police = _person_with_home(db, police, "amy", "Amy", "Smith", "2012-04-01")
    rob = _person_with_home(db, police, "rob", "Rob", "Jones", "1980-01-01", markers=["violence"])
    gang = [
        add_person(db, police, f"g{n}", f"Member{n}", "Crane", f"199{n}-02-02") for n in range(6)
    ]
    for n in range(4):
        robbery = add_event(db, police, f"robbery{n}", "crime", f"2026-0{n + 1}-15")
        for member in (gang[n], gang[n + 1], gang[(n + 2) % 6]):
            add_relation(db, police, "involved_in", member, robbery, "suspect")
    add_relation(db, police, "associate_of", amy_police, gang[0])
    amy_ae = _person_with_home(db, ae, "amy", "Amy", "Smith", "2012-04-01")
    knife = add_event(db, ae, "v1", "ae-attendance", "2026-06-01", category="Stab wound")
    add_relation(db, ae, "involved_in", amy_ae, knife, "patient")
    for offset, source in enumerate((police, social, ae)):  # a population to learn from
        add_population(db, source, 8 * offset, 20)
    db.flush()
    hidden = set(
        db.scalars(select(FusionRecord.id).where(FusionRecord.source_id.in_([police.id, ae.id])))
    )
    a_scope = principal_scope(db, world.principal("officer"))[0]
    b_scope = principal_scope(db, world.principal("social"))[0]
    return Split(a_scope, b_scope, hidden, amy_shared, amy_police, rob, knife)


def snapshot(db: Session, scope: str) -> dict[str, Any]:
    """Everything derived for one scope, without the generated hit ids."""
    db.expire_all()
    entities = db.scalars(select(FusionEntity).where(FusionEntity.scope == scope)).all()
    members = db.scalars(select(FusionEntityMember).where(FusionEntityMember.scope == scope)).all()
    groups = db.scalars(select(FusionGroup).where(FusionGroup.scope == scope)).all()
    hits = db.scalars(select(FusionIndicatorHit).where(FusionIndicatorHit.scope == scope)).all()
    return {
        "entities": sorted(
            (
                e.id,
                e.schema,
                e.caption,
                e.record_count,
                e.source_count,
                e.date_of_birth,
                e.is_child,
                e.score,
                e.rag,
                e.group_id,
                e.centrality,
            )
            for e in entities
        ),
        "members": sorted((m.record_id, m.entity_id, m.match_probability) for m in members),
        "groups": sorted(
            (g.id, g.label, g.size, g.members, repr(g.key_people), repr(g.edges), g.density)
            for g in groups
        ),
        "hits": sorted(
            (h.entity_id, h.code, h.weight, h.detail, h.evidence, h.latest_on) for h in hits
        ),
    }


def _run(sessions: sessionmaker[Session], world: World, settings: Settings) -> None:
    run_analysis(sessions, world.principal("supervisor"), settings, as_of=ANALYSIS_DAY)


def _hits_of(db: Session, scope: str, record: FusionRecord) -> dict[str, FusionIndicatorHit]:
    member = db.get(FusionEntityMember, (scope, record.id))
    assert member is not None
    rows = db.scalars(
        select(FusionIndicatorHit).where(
            FusionIndicatorHit.scope == scope, FusionIndicatorHit.entity_id == member.entity_id
        )
    )
    return {h.code: h for h in rows}


def test_a_hidden_fact_fires_for_the_audience_that_may_see_it_and_nothing_for_the_other(
    db: Session, sessions: sessionmaker[Session], world: World, settings: Settings
) -> None:
    split = _world(db, world)
    _run(sessions, world, settings)

    a_hits = _hits_of(db, split.a_scope, split.amy_shared)
    assert {"household-violence", "knife-ae", "associate-of-group-member"} & set(a_hits)
    assert split.rob.id in a_hits["household-violence"].evidence
    assert split.knife.id in a_hits["knife-ae"].evidence
    a_member = db.get(FusionEntityMember, (split.a_scope, split.amy_shared.id))
    assert a_member is not None
    a_amy = db.get(FusionEntity, (split.a_scope, a_member.entity_id))
    assert a_amy is not None and a_amy.record_count == 3  # social care, police and A&E

    b = snapshot(db, split.b_scope)
    b_hits = _hits_of(db, split.b_scope, split.amy_shared)
    assert set(b_hits) == {"re-referral"}  # what B's own sources say, and nothing else
    assert b["groups"] == []
    for record_id, entity_id, _p in b["members"]:
        assert record_id not in split.hidden and entity_id[1:] not in split.hidden
    for entity in b["entities"]:
        assert entity[0][1:] not in split.hidden and entity[9] is None
    for entity_id, code, _w, detail, evidence, _on in b["hits"]:
        assert not set(evidence) & split.hidden, code
        assert not any(word.lower() in detail.lower() for word in HIDDEN_WORDS), detail
    b_amy = next(e for e in b["entities"] if e[0] == "e" + split.amy_shared.id)
    assert b_amy[8] != "red" and a_amy.rag == "red"

    # Take the hidden facts away: B's results must not change at all; A's must.
    a_before = snapshot(db, split.a_scope)
    db.execute(delete(FusionRelation).where(FusionRelation.to_record_id == split.knife.id))
    db.execute(delete(FusionRecord).where(FusionRecord.id == split.knife.id))
    rob = db.get(FusionRecord, split.rob.id)
    assert rob is not None
    rob.properties = {k: v for k, v in rob.properties.items() if k != "markers"}
    db.flush()
    _run(sessions, world, settings)
    assert snapshot(db, split.b_scope) == b
    assert snapshot(db, split.a_scope) != a_before


def _pairs(*rows: tuple[str, str, float]) -> pa.Table:
    ordered = [(min(a, b), max(a, b), p) for a, b, p in rows]
    return pa.table(
        {
            "record_a": [r[0] for r in ordered],
            "record_b": [r[1] for r in ordered],
            "match_probability": [r[2] for r in ordered],
            "match_weight": [10.0 for _ in ordered],
            "evidence": ["{}" for _ in ordered],
        },
        schema=linkage.PAIR_SCHEMA,
    )


def _three_records(
    db: Session, world: World
) -> tuple[Split, FusionRecord, FusionRecord, FusionRecord]:
    split = _world(db, world)
    school = make_source(
        db, world.orgs["school"], "school", share_with=[world.orgs["force"], world.orgs["council"]]
    )
    pupil = add_person(db, school, "amy", "A", "Smith-Jones", "2012-01-04")
    db.flush()
    split.a_scope = principal_scope(db, world.principal("officer"))[0]  # now with the school
    split.b_scope = principal_scope(db, world.principal("social"))[0]
    return split, split.amy_shared, pupil, split.amy_police


def test_linkage_through_a_hidden_record_never_joins_two_visible_ones(
    db: Session,
    sessions: sessionmaker[Session],
    world: World,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    split, visible_one, visible_two, hidden = _three_records(db, world)
    scored = _pairs(
        (hidden.id, visible_one.id, 0.99),
        (hidden.id, visible_two.id, 0.98),
        (visible_one.id, visible_two.id, 0.3),
    )

    def fake_score_pairs(*_args: Any, **_kwargs: Any) -> linkage.LinkageResult:
        return linkage.LinkageResult(scored, {"fake": True}, {"records": 0})

    monkeypatch.setattr(linkage, "score_pairs", fake_score_pairs)
    _run(sessions, world, settings)

    def entity(scope: str, record: FusionRecord) -> str:
        member = db.get(FusionEntityMember, (scope, record.id))
        assert member is not None
        return member.entity_id

    assert (
        entity(split.a_scope, visible_one)
        == entity(split.a_scope, visible_two)
        == entity(split.a_scope, hidden)
    )
    assert entity(split.b_scope, visible_one) != entity(split.b_scope, visible_two)
    assert db.get(FusionEntityMember, (split.b_scope, hidden.id)) is None


def test_decisions_through_a_hidden_record_never_join_two_visible_ones(
    db: Session,
    sessions: sessionmaker[Session],
    world: World,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    split, visible_one, visible_two, hidden = _three_records(db, world)
    monkeypatch.setattr(
        linkage, "score_pairs", lambda *_a, **_k: linkage.LinkageResult(_pairs(), {}, {})
    )
    for visible in (visible_one, visible_two):
        db.add(
            FusionLinkDecision(
                kind="merge",
                left_records=[hidden.id],
                right_records=[visible.id],
                reason="same person",
                owner_org_id=world.orgs["force"].id,
            )
        )
    db.flush()
    _run(sessions, world, settings)
    members = {
        scope: {r: db.get(FusionEntityMember, (scope, r.id)) for r in (visible_one, visible_two)}
        for scope in (split.a_scope, split.b_scope)
    }
    a_one, a_two = members[split.a_scope].values()
    b_one, b_two = members[split.b_scope].values()
    assert a_one is not None and a_two is not None and a_one.entity_id == a_two.entity_id
    assert b_one is not None and b_two is not None and b_one.entity_id != b_two.entity_id


def test_a_decision_applies_only_where_everything_its_organisation_saw_is_in_scope(
    db: Session,
    sessions: sessionmaker[Session],
    world: World,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The force may have merged two records the council sees because of a police record the
    council does not: the merge holds for the force, never for the council. The council's own
    split rests only on what the force sees too, so it holds for both."""
    split, visible_one, visible_two, _hidden = _three_records(db, world)
    monkeypatch.setattr(
        linkage, "score_pairs", lambda *_a, **_k: linkage.LinkageResult(_pairs(), {}, {})
    )
    social = db.get(FusionSource, visible_one.source_id)
    assert social is not None
    twin = add_person(db, social, "amy2", "Amy", "Smyth", "2012-04-01")
    for org, kind, left, right in (
        ("force", "merge", visible_one, visible_two),
        ("council", "merge", visible_one, twin),
    ):
        db.add(
            FusionLinkDecision(
                kind=kind,
                left_records=[left.id],
                right_records=[right.id],
                reason="same person",
                owner_org_id=world.orgs[org].id,
            )
        )
    db.flush()
    _run(sessions, world, settings)

    def entity(scope: str, record: FusionRecord) -> str:
        member = db.get(FusionEntityMember, (scope, record.id))
        assert member is not None
        return member.entity_id

    assert entity(split.a_scope, visible_one) == entity(split.a_scope, visible_two)
    assert entity(split.b_scope, visible_one) != entity(split.b_scope, visible_two)
    for scope in (split.a_scope, split.b_scope):
        assert entity(scope, visible_one) == entity(scope, twin)
