"""Cases and items through the one access policy, with audit and custody in one transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from peel.core.db import utcnow
from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.models import AuditEvent
from peel.core.policy import Forbidden, NotFound, can_view
from peel.evidence import custody, service
from peel.evidence.models import CustodyEvent, EvidenceItem
from tests.conftest import World
from tests.evidence.conftest import CaseWithFile, add_png

VIEWERS = ("officer", "supervisor", "lawyer", "social", "youth", "teacher", "platform")


def _kinds(db, item_id: str) -> list[str]:
    return [e.kind for e in custody.events_for(db, item_ids=[item_id])]


def test_adding_an_item_records_custody_and_audit(case_with_file: CaseWithFile, world: World):
    item = case_with_file.item
    events = custody.events_for(world.db, item_ids=[item.id])
    assert [e.kind for e in events] == ["received"]
    assert f'"sha256":"{item.sha256}"' in events[0].entry
    audit = world.db.scalars(select(AuditEvent.action).where(AuditEvent.record_id == item.id)).all()
    assert "evidence_item.create" in audit


def test_other_organisations_cannot_see_a_case_until_it_is_shared(
    case_with_file: CaseWithFile, world: World
):
    db, case, item = world.db, case_with_file.case, case_with_file.item
    lawyer, social = world.principal("lawyer"), world.principal("social")
    for who in (lawyer, social):
        with pytest.raises(NotFound):
            service.access_case(db, who, case.id)
        with pytest.raises(NotFound):
            service.access_item(db, who, item.id)
        assert service.visible_cases(db, who) == []
        assert service.items_shared_with(db, who) == []
    service.share(db, world.principal("supervisor"), "test-cps", case_id=case.id)
    assert service.access_item(db, lawyer, item.id)[0].id == item.id
    assert [i.id for i in service.items_shared_with(db, lawyer)] == [item.id]
    assert [c.id for c in service.visible_cases(db, lawyer)] == [case.id]
    with pytest.raises(NotFound):
        service.access_item(db, social, item.id)
    # The CPS sees but does not change the force's evidence.
    with pytest.raises(Forbidden):
        service.access_item(db, lawyer, item.id, "edit")
    assert "shared" in _kinds(db, item.id)


def test_officers_send_to_the_prosecutor_but_only_supervisors_share_wider(
    case_with_file: CaseWithFile, world: World
):
    officer, case_id = world.principal("officer"), case_with_file.case.id
    with pytest.raises(Forbidden):
        service.share(world.db, officer, "test-council", case_id=case_id)
    service.share(world.db, officer, "test-cps", case_id=case_id)
    assert service.access_case(world.db, world.principal("lawyer"), case_id)


def test_share_expiry_ends_access(case_with_file: CaseWithFile, world: World):
    db = world.db
    service.share(
        db,
        world.principal("supervisor"),
        "test-cps",
        case_id=case_with_file.case.id,
        expires_at=utcnow() + timedelta(hours=1),
    )
    assert service.access_item(db, world.principal("lawyer"), case_with_file.item.id)
    db.execute(text("UPDATE record_share SET expires_at = :t"), {"t": utcnow() - timedelta(1)})
    with pytest.raises(NotFound):
        service.access_item(db, world.principal("lawyer"), case_with_file.item.id)


def test_sharing_chosen_items_shares_only_those(case_with_file: CaseWithFile, world: World):
    db, officer = world.db, case_with_file.officer
    other = add_png(db, case_with_file.store, officer, case_with_file.case, size=3, name="b.png")
    service.share(db, world.principal("supervisor"), "test-cps", item_ids=[other.id])
    lawyer = world.principal("lawyer")
    assert service.access_item(db, lawyer, other.id)
    with pytest.raises(NotFound):
        service.access_item(db, lawyer, case_with_file.item.id)
    with pytest.raises(NotFound):
        service.access_case(db, lawyer, case_with_file.case.id)


@pytest.mark.parametrize("tlp", [TLP.amber, TLP.amber_strict, TLP.red])
def test_item_listing_query_matches_the_policy(world: World, store, tlp: TLP):
    """The SQL used for lists agrees with can_view for every viewer and share pattern."""
    db = world.db
    officer = world.principal("officer")
    case = service.open_case(db, officer, f"Case {tlp.value}", tlp=tlp)
    shared_case = service.open_case(db, officer, f"Shared {tlp.value}", tlp=tlp)
    items = [
        add_png(db, store, officer, case, size=2),
        add_png(db, store, officer, case, size=3),
        add_png(db, store, officer, shared_case, size=4),
    ]
    supervisor = world.principal("supervisor")
    if tlp != TLP.red:
        service.share(db, supervisor, "test-council", item_ids=[items[1].id])
        service.share(db, supervisor, "test-cps", case_id=shared_case.id)
    db.flush()
    for key in VIEWERS:
        viewer = world.principal(key)
        listed = {i.id for c in (case, shared_case) for i in service.items_of_case(db, viewer, c)}
        allowed = {i.id for i in items if can_view(viewer, service.item_labelled(db, i))}
        assert listed == allowed, key
    if tlp == TLP.amber:
        # The council's client (the charity) sees AMBER shared with the council.
        assert service.access_item(db, world.principal("youth"), items[1].id)


def test_closed_case_takes_no_new_items(case_with_file: CaseWithFile, world: World):
    db = world.db
    service.set_case_status(db, world.principal("officer"), case_with_file.case.id, "closed")
    with pytest.raises(InvalidInput, match="closed"):
        add_png(db, case_with_file.store, case_with_file.officer, case_with_file.case)


def test_evidence_is_never_clear_or_green(world: World):
    with pytest.raises(InvalidInput) as caught:
        service.open_case(world.db, world.principal("officer"), "Test case", tlp=TLP.green)
    assert "tlp" in caught.value.errors


def test_partner_viewers_cannot_open_cases(world: World):
    with pytest.raises(Forbidden):
        service.open_case(world.db, world.principal("teacher"), "A school's case")


def test_filing_unfiled_video_makes_it_evidential(case_with_file: CaseWithFile, world: World):
    db, officer = world.db, case_with_file.officer
    clip = add_png(
        db, case_with_file.store, officer, None, size=5, categories=("bwv-non-evidential",)
    )
    assert clip in service.unfiled_items(db, officer)
    service.file_item(db, officer, clip.id, case_with_file.case.id)
    assert clip.case_id == case_with_file.case.id
    assert "evidential" in clip.categories
    assert _kinds(db, clip.id) == ["received", "filed"]


def test_hold_release_needs_a_supervisor(case_with_file: CaseWithFile, world: World):
    db = world.db
    hold = service.place_hold(
        db,
        world.principal("officer"),
        "complaint",
        "IOPC ref 2026/1",
        case_id=case_with_file.case.id,
    )
    assert "held" in _kinds(db, case_with_file.item.id)
    with pytest.raises(Forbidden):
        service.release_hold(db, world.principal("officer"), hold.id, "done")
    with pytest.raises(InvalidInput):
        service.release_hold(db, world.principal("supervisor"), hold.id, " ")
    service.release_hold(db, world.principal("supervisor"), hold.id, "Complaint closed")
    assert service.active_holds(db, item=case_with_file.item) == []


def test_custody_log_refuses_changes_in_the_database(case_with_file: CaseWithFile, world: World):
    db = world.db
    seq = custody.events_for(db, item_ids=[case_with_file.item.id])[0].seq
    db.commit()
    nested = db.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(
            text("UPDATE custody_event SET actor = 'someone else' WHERE seq = :s"), {"s": seq}
        )
    nested.rollback()
    nested = db.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("DELETE FROM custody_node"))
    nested.rollback()


def test_a_failed_action_leaves_no_custody_event(world: World, store):
    db = world.db
    officer = world.principal("officer")
    case = service.open_case(db, officer, "Rolled back case")
    db.commit()
    before = custody.head(db)[0]
    nested = db.begin_nested()
    add_png(db, store, officer, case)
    assert custody.head(db)[0] == before + 1
    nested.rollback()
    assert custody.head(db)[0] == before
    assert db.scalar(select(EvidenceItem.id).where(EvidenceItem.case_id == case.id)) is None
    assert db.get(CustodyEvent, before) is None


def test_filing_into_a_red_case_raises_the_item_label(world: World, store):
    db, officer = world.db, world.principal("officer")
    red = service.open_case(db, officer, "Covert source material", tlp=TLP.red)
    clip = add_png(db, store, officer, None, size=5)
    assert clip.tlp == TLP.amber
    service.file_item(db, officer, clip.id, red.id)
    assert clip.tlp == TLP.red
    with pytest.raises(NotFound):
        service.access_item(db, world.principal("supervisor"), clip.id)
    assert service.access_item(db, officer, clip.id)


def test_a_hold_on_a_red_case_is_hidden_from_and_kept_by_those_not_named(world: World, store):
    db, officer = world.db, world.principal("officer")
    red = service.open_case(db, officer, "Covert case", tlp=TLP.red)
    hold = service.place_hold(db, officer, "legal", "Keep for the trial", case_id=red.id)
    supervisor = world.principal("supervisor")
    assert hold not in service.holds_of_org(db, supervisor)
    with pytest.raises(NotFound):
        service.release_hold(db, supervisor, hold.id, "tidy up")


def test_custody_details_cannot_overwrite_the_entry_fields(world: World):
    with pytest.raises(ValueError, match="kind"):
        custody.append_events(
            world.db, [custody.NewEvent("held", "tester", details={"kind": "legal"})]
        )


def test_only_supervisors_change_retention(case_with_file: CaseWithFile, world: World):
    with pytest.raises(Forbidden):
        service.set_item_categories(
            world.db, world.principal("officer"), case_with_file.item.id, ["evidential"], "why"
        )
