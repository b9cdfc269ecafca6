"""The fusion demo: four agencies imported through the real importer, analysed, loaded once."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from peel.core import service as core
from peel.core.config import Settings
from peel.core.db import transaction
from peel.core.demo import load_demo
from peel.core.identity import principal_for_user
from peel.fusion.demo import ANALYST, DEMO_SOURCES, load_fusion_demo
from peel.fusion.models import (
    FusionEntity,
    FusionEntityMember,
    FusionGroup,
    FusionIndicatorHit,
    FusionRecord,
    FusionRelation,
    FusionRun,
    FusionScope,
    FusionSource,
)
from peel.fusion.service import principal_scope

CHILDREN = 120


def _scope(session: Session, email: str) -> tuple[str, frozenset[str]]:
    user = core.user_by_email(session, email)
    assert user is not None, email
    return principal_scope(session, principal_for_user(user))


def _counts(session: Session) -> dict[str, int]:
    def rows(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    tables = (FusionSource, FusionRecord, FusionRelation, FusionRun, FusionScope, FusionEntity)
    return {model.__name__: rows(model) for model in tables}


def _people_of_entities(session: Session, scope: str, truth: dict[str, Any]) -> dict[str, set[str]]:
    """Entity id -> the true people behind its Person records."""
    agency = {
        s.id: spec.agency
        for spec in DEMO_SOURCES
        for s in session.scalars(select(FusionSource).where(FusionSource.code == spec.code))
    }
    refs = {
        r.id: f"{agency[r.source_id]}:{r.source_key}"
        for r in session.scalars(select(FusionRecord).where(FusionRecord.schema == "Person"))
    }
    people: dict[str, set[str]] = defaultdict(set)
    members = select(FusionEntityMember).where(FusionEntityMember.scope == scope)
    for member in session.scalars(members):
        if member.record_id in refs:
            people[member.entity_id].add(truth["records"][refs[member.record_id]])
    return people


def test_demo_loads_flags_children_finds_the_group_and_loads_once(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as session:
        load_demo(session)
    first = load_fusion_demo(sessions, settings, children=CHILDREN)
    assert first is not None and first.run_id
    assert set(first.sources) == {s.code for s in DEMO_SOURCES}
    assert all(count > 0 for count in first.sources.values())
    truth = json.loads(first.truth_path.read_text(encoding="utf-8"))
    with sessions() as session:
        scope, visible = _scope(session, ANALYST)
        assert len(visible) == 4
        entities = session.scalars(select(FusionEntity).where(FusionEntity.scope == scope)).all()
        red = [e for e in entities if e.is_child and e.rag == "red"]
        assert red, "the review queue should hold red-rated children"
        people = _people_of_entities(session, scope, truth)
        planted = {entry["person"] for entry in truth["at_risk"]}
        # Every red child carries planted risk (linkage may have joined a twin to them).
        assert all(people[e.id] & (planted | set(truth["group"]["members"])) for e in red)
        knife = {e["person"] for e in truth["at_risk"] if e["pattern"] == "knife-injury"}
        assert knife <= {p for e in red for p in people[e.id]}
        groups = session.scalars(select(FusionGroup).where(FusionGroup.scope == scope)).all()
        found = [{p for e in g.members for p in people[e]} for g in groups]
        best = max((len(f & set(truth["group"]["members"])) for f in found), default=0)
        assert best >= 0.8 * len(truth["group"]["members"])
        hits = session.scalars(select(FusionIndicatorHit).where(FusionIndicatorHit.scope == scope))
        assert all(hit.evidence for hit in hits)
        before = _counts(session)
    assert load_fusion_demo(sessions, settings, children=CHILDREN) is None
    with sessions() as session:
        assert _counts(session) == before


def test_each_agency_sees_only_what_is_shared_with_it(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as session:
        load_demo(session)
    assert load_fusion_demo(sessions, settings, children=60) is not None
    with sessions() as session:
        codes = {s.id: s.code for s in session.scalars(select(FusionSource))}
        every = set(codes.values())
        council = {codes[i] for i in _scope(session, "socialworker@wessex-council.example")[1]}
        health = {codes[i] for i in _scope(session, "analyst@wessex-nhs.example")[1]}
        school = {codes[i] for i in _scope(session, "data@northgate.example")[1]}
        assert council == every
        assert health == every - {"northgate-academy-pupils"}
        assert school == {"northgate-academy-pupils"}
    # Analysis lost (say, a run that failed): loading again analyses again, importing nothing.
    with transaction(sessions) as session:
        session.execute(delete(FusionScope))
    again = load_fusion_demo(sessions, settings, children=60)
    assert again is not None and again.run_id and again.sources == {} and again.notes
    with sessions() as session:
        assert session.get(FusionScope, _scope(session, ANALYST)[0]) is not None
