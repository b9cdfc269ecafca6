"""The audit log: same transaction as the change, reads of AMBER and above, append-only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from peel.app import ROUTERS
from peel.core import bulletins
from peel.core.audit import AuditLogIsAppendOnly, AuditQuery, record_audit, search_audit
from peel.core.enums import TLP
from peel.core.models import AuditEvent, Bulletin
from peel.core.schemas import BulletinCreate, BulletinUpdate
from tests.conftest import World, sign_in


def _events(db: Session, action: str, record_id: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    if record_id:
        stmt = stmt.where(AuditEvent.record_id == record_id)
    return list(db.scalars(stmt))


def test_change_records_old_and_new_values(world: World) -> None:
    author = world.principal("supervisor")
    b = bulletins.create_bulletin(
        world.db, author, BulletinCreate(title="Old title", body="b", tlp=TLP.green)
    )
    bulletins.update_bulletin(world.db, author, b.id, BulletinUpdate(title="New title"))
    (event,) = _events(world.db, "bulletin.update", b.id)
    assert event.changes == {"title": ["Old title", "New title"]}
    assert event.actor_user_id == world.users["supervisor"].id
    assert event.record_org_id == world.orgs["force"].id


def test_red_text_is_audited_as_a_digest(world: World) -> None:
    author = world.principal("supervisor")
    b = bulletins.create_bulletin(
        world.db, author, BulletinCreate(title="Secret plan", body="the words", tlp=TLP.red)
    )
    (event,) = _events(world.db, "bulletin.create", b.id)
    assert "Secret plan" not in str(event.changes)
    assert event.changes["title"][1].startswith("sha256:")


def test_audit_rolls_back_with_the_change(sessions: sessionmaker[Session], world: World) -> None:
    author = world.principal("supervisor")
    session = sessions()
    with pytest.raises(RuntimeError), session.begin_nested():
        bulletins.create_bulletin(
            session, author, BulletinCreate(title="Never stored", body="x", tlp=TLP.green)
        )
        raise RuntimeError("the flow failed after writing")
    assert session.scalar(select(Bulletin).where(Bulletin.title == "Never stored")) is None
    assert not [
        e
        for e in _events(session, "bulletin.create")
        if e.changes and e.changes.get("title") == [None, "Never stored"]
    ]


@pytest.mark.parametrize(
    ("tlp", "audited"),
    [
        (TLP.clear, False),
        (TLP.green, False),
        (TLP.amber, True),
        (TLP.amber_strict, True),
        (TLP.red, True),
    ],
)
def test_reads_of_amber_and_above_are_audited(world: World, tlp: TLP, audited: bool) -> None:
    author = world.principal("supervisor")
    b = bulletins.create_bulletin(
        world.db, author, BulletinCreate(title="Read me", body="x", tlp=tlp)
    )
    bulletins.get_bulletin(world.db, author, b.id)
    reads = _events(world.db, "bulletin.read", b.id)
    assert bool(reads) is audited
    if audited:
        assert reads[0].detail == f"TLP:{tlp.value}"


def test_database_refuses_update_and_delete(world: World, connection) -> None:
    record_audit(world.db, world.principal("officer"), "test.event")
    world.db.flush()
    event_id = world.db.scalar(select(AuditEvent.id).where(AuditEvent.action == "test.event"))
    for statement in (
        update(AuditEvent).where(AuditEvent.id == event_id).values(action="tampered"),
        delete(AuditEvent).where(AuditEvent.id == event_id),
    ):
        with pytest.raises(DBAPIError, match="append-only"), connection.begin_nested():
            connection.execute(statement)
    if connection.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), connection.begin_nested():
            connection.execute(text("TRUNCATE audit_event"))


def test_orm_refuses_changes_to_audit_rows(world: World) -> None:
    event = record_audit(world.db, world.principal("officer"), "test.event")
    world.db.flush()
    event.action = "tampered"
    with pytest.raises(AuditLogIsAppendOnly):
        world.db.flush()
    world.db.rollback()


def test_no_route_changes_or_deletes_audit_rows() -> None:
    routes = [r for router in ROUTERS for r in router.routes]
    assert any("audit" in getattr(r, "path", "") for r in routes)
    for route in routes:
        path = getattr(route, "path", "")
        if "audit" in path:
            assert getattr(route, "methods", {"GET"}) <= {"GET", "HEAD"}, path


def test_auditor_sees_own_organisation_and_reads_of_its_records(
    client: TestClient, world: World
) -> None:
    author = world.principal("supervisor")
    b = bulletins.create_bulletin(
        world.db, author, BulletinCreate(title="Shared", body="x", tlp=TLP.amber)
    )
    from peel.core.schemas import ShareCreate

    bulletins.share_bulletin(world.db, author, b.id, ShareCreate(organisation="test-cps"))
    bulletins.get_bulletin(world.db, world.principal("lawyer"), b.id)
    record_audit(world.db, world.principal("teacher"), "school.private")
    world.db.flush()
    events, _ = search_audit(
        world.db, AuditQuery(organisation_id=world.orgs["force"].id, limit=500)
    )
    actions = {(e.action, e.actor_user_id) for e in events}
    assert ("bulletin.read", world.users["lawyer"].id) in actions
    assert not any(a == "school.private" for a, _ in actions)

    sign_in(client, "auditor@force.example")
    page = client.get("/api/v1/audit", params={"action": "bulletin.read"}).json()
    assert {e["actor_user_id"] for e in page["items"]} >= {world.users["lawyer"].id}
    sign_in(client, "officer@force.example")
    assert client.get("/api/v1/audit").status_code == 403


def test_audit_page_search_and_escaping(client: TestClient, world: World) -> None:
    record_audit(
        world.db, world.principal("officer"), "test.xss", detail="<script>alert('x')</script>"
    )
    world.db.flush()
    sign_in(client, "auditor@force.example")
    page = client.get("/audit", params={"action": "test.xss"})
    assert page.status_code == 200
    assert "&lt;script&gt;alert(" in page.text
    assert "<script>alert(" not in page.text
    bad = client.get("/audit", params={"since": "yesterday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
