"""Retention: the longest rule wins, holds block, deletion keeps a tombstone and a custody event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from peel.core.db import utcnow
from peel.core.errors import InvalidInput
from peel.evidence import custody, retention, service
from tests.conftest import World
from tests.evidence.conftest import add_png


@pytest.fixture
def old_clip(world: World, store):
    officer = world.principal("officer")
    clip = add_png(
        world.db,
        store,
        officer,
        None,
        size=6,
        name="bwv.mp4",
        categories=("bwv-non-evidential",),
        captured_at=utcnow() - timedelta(days=40),
    )
    world.db.flush()
    return clip


def test_non_evidential_video_is_due_after_31_days(world: World, old_clip):
    decisions = {d.item_id: d for d in retention.plan(world.db)}
    decision = decisions[old_clip.id]
    assert decision.due and decision.will_delete
    assert "31 days" in decision.reasons[0]


def test_case_evidence_is_kept_while_the_case_is_open(world: World, old_clip):
    db = world.db
    officer = world.principal("officer")
    case = service.open_case(db, officer, "Assault outside the Crown")
    service.file_item(db, officer, old_clip.id, case.id)
    decision = {d.item_id: d for d in retention.plan(db)}[old_clip.id]
    assert not decision.due and decision.delete_after is None
    service.set_case_status(db, officer, case.id, "closed")
    case.closed_at = utcnow() - timedelta(days=10)
    decision = {d.item_id: d for d in retention.plan(db)}[old_clip.id]
    # The longest rule wins: six years after closing beats 31 days after capture.
    assert decision.delete_after is not None
    assert decision.delete_after > utcnow() + timedelta(days=5 * 365)
    assert not decision.due


def test_holds_block_deletion_whatever_the_rules(
    world: World, old_clip, sessions: sessionmaker[Session], store
):
    db = world.db
    service.place_hold(
        db, world.principal("officer"), "complaint", "IOPC 2026/77", item_id=old_clip.id
    )
    db.commit()
    decision = {d.item_id: d for d in retention.plan(db)}[old_clip.id]
    assert decision.due and not decision.will_delete and "IOPC 2026/77" in decision.held_by[0]
    retention.run(sessions, store, dry_run=False)
    db.expire_all()
    assert old_clip.status == "present"
    assert store.exists(old_clip.sha256)
    with pytest.raises(InvalidInput, match="on hold"):
        retention.delete_item(sessions, store, world.principal("supervisor"), old_clip.id, "tidy")


def test_dry_run_changes_nothing(world: World, old_clip, sessions, store):
    world.db.commit()
    before = custody.head(world.db)[0]
    decisions = retention.run(sessions, store, dry_run=True)
    assert any(d.item_id == old_clip.id and d.will_delete for d in decisions)
    world.db.expire_all()
    assert old_clip.status == "present" and store.exists(old_clip.sha256)
    assert custody.head(world.db)[0] == before


def test_deletion_removes_bytes_and_keeps_a_tombstone(world: World, old_clip, sessions, store):
    world.db.commit()
    retention.run(sessions, store, dry_run=False)
    world.db.expire_all()
    assert old_clip.status == "deleted" and old_clip.deleted_at is not None
    assert old_clip.sha256 and old_clip.size  # the tombstone keeps what it was
    assert not store.exists(old_clip.sha256)
    kinds = [e.kind for e in custody.events_for(world.db, item_ids=[old_clip.id])]
    assert kinds[-1] == "deleted"
    assert "Retention" in (old_clip.deletion_reason or "")


def test_bytes_another_item_uses_are_kept(world: World, old_clip, sessions, store):
    officer = world.principal("officer")
    case = service.open_case(world.db, officer, "Same file in a case")
    twin = add_png(world.db, store, officer, case, size=6, name="copy.png")
    assert twin.sha256 == old_clip.sha256
    world.db.commit()
    retention.run(sessions, store, dry_run=False)
    world.db.expire_all()
    assert old_clip.status == "deleted"
    assert store.exists(twin.sha256)
    last = custody.events_for(world.db, item_ids=[old_clip.id])[-1]
    assert '"bytes_removed":false' in last.entry


def test_an_interrupted_deletion_is_finished_next_run(world: World, old_clip, sessions, store):
    old_clip.status = "deleting"
    world.db.commit()
    retention.run(sessions, store, dry_run=False)
    world.db.expire_all()
    assert old_clip.status == "deleted" and not store.exists(old_clip.sha256)


def test_categories_are_configurable_per_force(world: World):
    db = world.db
    with pytest.raises(Exception, match="supervisor or admin"):
        service.set_category(
            db, world.principal("officer"), "bwv-non-evidential", "BWV", "fixed", 28
        )
    row = service.set_category(
        db, world.principal("supervisor"), "bwv-non-evidential", "BWV", "fixed", 28
    )
    assert row.days == 28
    with pytest.raises(InvalidInput) as caught:
        service.set_category(db, world.principal("supervisor"), "x", "X", "sometimes", None)
    assert set(caught.value.errors) == {"rule"}


def test_a_plan_overtaken_by_events_deletes_nothing(world: World, old_clip, sessions, store):
    """Filed into a case after the plan was made: the run decides again and keeps it."""
    world.db.commit()
    planned = retention.plan(world.db)
    assert any(d.item_id == old_clip.id and d.will_delete for d in planned)
    officer = world.principal("officer")
    case = service.open_case(world.db, officer, "Became evidence")
    service.file_item(world.db, officer, old_clip.id, case.id)
    world.db.commit()
    original_plan = retention.plan

    def stale_plan(*args, **kwargs):
        return planned

    retention.plan = stale_plan  # the run works from the plan made before the filing
    try:
        retention.run(sessions, store, dry_run=False)
    finally:
        retention.plan = original_plan
    world.db.expire_all()
    assert old_clip.status == "present" and store.exists(old_clip.sha256)
