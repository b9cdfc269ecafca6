"""Review and link decisions: checked, labelled for the deciding organisation, and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.models import AuditEvent
from peel.core.policy import Forbidden, NotFound
from peel.fusion.decisions import record_link_decision, record_review_decision
from peel.fusion.enums import LinkDecisionKind, ReviewOutcome
from tests.conftest import World
from tests.fusion.web_fixtures import Picture, plant


@pytest.fixture
def pic(db: Session, world: World) -> Picture:
    return plant(db, world.orgs)


def audits(db: Session, action: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(db.scalars(query))


def test_a_review_decision_keeps_what_the_reviewer_saw_and_is_audited(
    db: Session, world: World, pic: Picture
) -> None:
    social = world.principal("social")
    first = record_review_decision(
        db,
        social,
        pic.amy["council"],
        "refer",
        "  Referred to the MASH: knife injury and missing  ",
    )
    assert first.reason == "Referred to the MASH: knife injury and missing"
    assert (first.outcome, first.rag, first.tlp) == ("refer", "red", TLP.amber_strict)
    assert first.indicators == ["knife-ae", "missing-3-in-90"]
    assert first.owner_org_id == world.orgs["council"].id
    assert first.decided_by_id == world.users["social"].id
    second = record_review_decision(
        db, social, pic.amy["council"], ReviewOutcome.strategy_discussion, "Strategy meeting set"
    )
    [one, two] = audits(db, "fusion.review.decided")
    assert (one.record_id, two.record_id) == (first.id, second.id)
    assert one.changes is not None and one.changes["outcome"] == [None, "refer"]
    assert two.changes is not None and two.changes["outcome"] == ["refer", "strategy_discussion"]
    assert two.record_org_id == world.orgs["council"].id


@pytest.mark.parametrize(
    ("outcome", "reason", "field"),
    [
        ("refer", "too short", "reason"),
        ("refer", "          ", "reason"),
        ("refer", "x" * 5001, "reason"),
        ("arrest", "Arrest them at once, please", "outcome"),
    ],
)
def test_a_review_decision_needs_an_outcome_and_a_reason(
    db: Session, world: World, pic: Picture, outcome: str, reason: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        record_review_decision(db, world.principal("social"), pic.amy["council"], outcome, reason)
    assert field in caught.value.errors
    assert audits(db, "fusion.review.decided") == []


def test_a_review_decision_is_only_for_an_entity_in_the_deciders_scope(
    db: Session, world: World, pic: Picture
) -> None:
    with pytest.raises(NotFound):
        record_review_decision(
            db, world.principal("officer"), pic.entities[("council", "knife")], "refer", "A" * 20
        )
    with pytest.raises(Forbidden):
        record_review_decision(
            db, world.principal("teacher"), pic.amy["council"], "refer", "A" * 20
        )


def test_a_merge_of_visible_person_records_is_recorded_and_audited(
    db: Session, world: World, pic: Picture
) -> None:
    ben, benjamin = pic.records["ben_p"].id, pic.records["benjamin_c"].id
    decision = record_link_decision(
        db,
        world.principal("officer"),
        "merge",
        [ben],
        [benjamin, benjamin],
        "Same school, same mum",
    )
    assert (decision.kind, decision.left_records, decision.right_records) == (
        "merge",
        [ben],
        [benjamin],
    )
    assert decision.owner_org_id == world.orgs["force"].id
    [audit] = audits(db, "fusion.link.merge")
    assert audit.record_id == decision.id
    assert audit.changes is not None and audit.changes["right"] == [None, [benjamin]]


def test_a_link_decision_naming_a_record_the_decider_cannot_see_is_not_found(
    db: Session, world: World, pic: Picture
) -> None:
    hidden = pic.records["amy_a"].id
    with pytest.raises(NotFound):
        record_link_decision(
            db,
            world.principal("officer"),
            LinkDecisionKind.split,
            [pic.records["amy_p"].id],
            [hidden],
            "The A&E record is someone else",
        )
    # The council may see it, so it may split it off.
    split = record_link_decision(
        db,
        world.principal("social"),
        LinkDecisionKind.split,
        [pic.records["amy_p"].id],
        [hidden],
        "The A&E record is someone else",
    )
    assert split.kind == "split"


@pytest.mark.parametrize(
    ("kind", "left", "right", "field"),
    [
        ("merge", ["amy_p"], ["home"], "records"),
        ("split", ["amy_p"], ["amy_p"], "right"),
        ("split", [], ["amy_c"], "left"),
        ("join", ["amy_p"], ["amy_c"], "kind"),
    ],
)
def test_a_link_decision_is_checked(
    db: Session,
    world: World,
    pic: Picture,
    kind: str,
    left: list[str],
    right: list[str],
    field: str,
) -> None:
    ids = pic.records
    with pytest.raises(InvalidInput) as caught:
        record_link_decision(
            db,
            world.principal("officer"),
            kind,
            [ids[k].id for k in left],
            [ids[k].id for k in right],
            "Checked with the school office",
        )
    assert field in caught.value.errors


def test_people_without_a_fusion_role_may_not_decide(
    db: Session, world: World, pic: Picture
) -> None:
    with pytest.raises(Forbidden):
        record_link_decision(
            db,
            world.principal("teacher"),
            "merge",
            [pic.records["ben_p"].id],
            [pic.records["benjamin_c"].id],
            "Same school, same mum",
        )
