"""The one rule every ANPR search passes: who, why, how far back; and its audit event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from peel.anpr.service import SearchRequest, authorise_search, can_use_anpr
from peel.core.config import Settings
from peel.core.errors import InvalidInput
from peel.core.models import AuditEvent
from peel.core.policy import Forbidden
from tests.conftest import World

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _request(days_back: float, reason: str = "Incident 123 of 1 June") -> SearchRequest:
    return SearchRequest("history", "AB51CDE", NOW - timedelta(days=days_back), NOW, reason)


def test_only_police_searchers_may_use_anpr(world: World) -> None:
    assert can_use_anpr(world.principal("officer"))
    assert can_use_anpr(world.principal("supervisor"))
    for key in ("auditor", "force_admin", "lawyer", "social", "teacher", "youth"):
        assert not can_use_anpr(world.principal(key)), key


def test_every_search_is_audited_with_who_why_what_and_when(
    world: World, settings: Settings
) -> None:
    officer = world.principal("officer")
    granted = authorise_search(world.db, officer, settings, _request(7), now=NOW)
    world.db.flush()
    event = world.db.scalars(
        select(AuditEvent).where(AuditEvent.action == "anpr.search.history")
    ).one()
    assert event.actor_user_id == officer.user_id
    detail = json.loads(event.detail or "{}")
    assert detail["subject"] == "AB51CDE"
    assert detail["reason"] == "Incident 123 of 1 June"
    assert detail["start"] == (NOW - timedelta(days=7)).isoformat()
    assert granted.reason == "Incident 123 of 1 June"


def test_a_council_user_is_refused_and_nothing_is_audited(world: World, settings: Settings) -> None:
    with pytest.raises(Forbidden):
        authorise_search(world.db, world.principal("social"), settings, _request(1), now=NOW)
    world.db.flush()
    assert world.db.scalar(select(AuditEvent).where(AuditEvent.action.like("anpr.%"))) is None


def test_a_reason_is_always_required(world: World, settings: Settings) -> None:
    with pytest.raises(InvalidInput) as refused:
        authorise_search(world.db, world.principal("officer"), settings, _request(1, " "), NOW)
    assert "reason" in refused.value.errors


def test_beyond_ninety_days_needs_a_supervisor_and_a_justification(
    world: World, settings: Settings
) -> None:
    with pytest.raises(Forbidden, match="supervisor"):
        authorise_search(world.db, world.principal("officer"), settings, _request(120), NOW)
    supervisor = world.principal("supervisor")
    with pytest.raises(InvalidInput) as short:
        authorise_search(world.db, supervisor, settings, _request(120, "Op X"), NOW)
    assert "20 characters" in short.value.errors["reason"]
    reason = "Operation Larch: linked burglaries since January, authorised by DI Rowe"
    granted = authorise_search(world.db, supervisor, settings, _request(120, reason), NOW)
    assert granted.start == NOW - timedelta(days=120)


def test_the_range_is_clamped_to_the_retention_period(world: World, settings: Settings) -> None:
    reason = "Cold case review 2025/77 authorised by the SIO in writing"
    granted = authorise_search(
        world.db, world.principal("supervisor"), settings, _request(900, reason), NOW
    )
    assert granted.start == NOW - timedelta(days=settings.anpr_retention_days)


def test_times_must_be_aware_and_ordered(world: World, settings: Settings) -> None:
    officer = world.principal("officer")
    naive = SearchRequest("history", "X1", datetime(2026, 5, 1), NOW, "Incident 1")
    with pytest.raises(InvalidInput) as refused:
        authorise_search(world.db, officer, settings, naive, NOW)
    assert "start" in refused.value.errors
    backwards = SearchRequest("history", "X1", NOW, NOW - timedelta(hours=1), "Incident 1")
    with pytest.raises(InvalidInput) as refused:
        authorise_search(world.db, officer, settings, backwards, NOW)
    assert "end" in refused.value.errors


def test_a_range_wholly_before_retention_says_so(world: World, settings: Settings) -> None:
    reason = "Cold case review 2025/77 authorised by the SIO in writing"
    old = SearchRequest(
        "history", "X1", NOW - timedelta(days=800), NOW - timedelta(days=700), reason
    )
    with pytest.raises(InvalidInput) as refused:
        authorise_search(world.db, world.principal("supervisor"), settings, old, NOW)
    assert "kept for 365 days" in refused.value.errors["end"]
