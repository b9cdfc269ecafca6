"""Hotlist entries through the policy and the audit log, and the in-memory index that matches."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from peel.anpr import hotlists
from peel.anpr.hotlists import HotlistIndex, create_entry, visible_entries, withdraw_entry
from peel.anpr.models import AnprHotlistEntry
from peel.anpr.plates import LOOKALIKES, fuzzy_key
from peel.cli import app
from peel.core.config import get_settings
from peel.core.enums import TLP, Role
from peel.core.errors import Conflict, InvalidInput
from peel.core.models import AuditEvent
from peel.core.policy import Forbidden, NotFound
from tests.anpr.live_fixtures import LiveWorld, build_live_world
from tests.conftest import World, _worker, drop_postgres_database, make_org, make_user


@pytest.fixture
def forces(world: World) -> World:
    """The shared world plus a second police force with an officer."""
    make_org(world.db, "other-force")
    world.users["other_officer"] = make_user(
        world.db, "officer@other.example", "other-force", [Role.officer]
    )
    world.db.flush()
    return world


def _audit(db: Session, action: str, record_id: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    if record_id is not None:
        stmt = stmt.where(AuditEvent.record_id == record_id)
    return list(db.scalars(stmt))


def _entry(world: World, plate: str = "AB51 CDE", **kwargs: object) -> AnprHotlistEntry:
    return create_entry(
        world.db,
        world.principal("officer"),
        plate,
        kwargs.pop("reason", "Stolen, Wessex crime 44/1234"),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


# --- entries --------------------------------------------------------------------------------


def test_an_officer_adds_an_amber_entry_and_it_is_audited(world: World) -> None:
    entry = _entry(world, priority=80)
    assert entry.plate == "AB51CDE"
    assert entry.fuzzy_key == fuzzy_key("AB51CDE")
    assert entry.tlp == TLP.amber
    assert entry.owner_org_id == world.orgs["force"].id
    assert entry.created_by_id == world.users["officer"].id
    (event,) = _audit(world.db, "anpr.hotlist.create", entry.id)
    assert event.record_org_id == world.orgs["force"].id
    assert event.changes is not None
    assert event.changes["plate"] == [None, "AB51CDE"]
    assert event.changes["priority"] == [None, 80]


def test_an_entry_and_its_audit_event_commit_or_roll_back_together(world: World) -> None:
    world.db.commit()  # keep the world; roll back only what follows
    entry_id = _entry(world).id
    assert _audit(world.db, "anpr.hotlist.create", entry_id)
    world.db.rollback()
    assert world.db.get(AnprHotlistEntry, entry_id) is None
    assert not _audit(world.db, "anpr.hotlist.create", entry_id)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"plate": " -- "}, "plate"),
        ({"plate": "ABCDEFGHIJK"}, "plate"),
        ({"reason": "   "}, "reason"),
        ({"priority": 101}, "priority"),
        ({"priority": -1}, "priority"),
        ({"expires_at": datetime.now(UTC) - timedelta(minutes=1)}, "expires_at"),
        ({"expires_at": datetime(2099, 1, 1)}, "expires_at"),
        ({"tlp": TLP.red}, "tlp"),
        ({"list_name": " "}, "list_name"),
    ],
)
def test_bad_entries_are_refused_naming_the_field(
    world: World, changes: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {"plate": "AB51CDE", "reason": "Stolen"} | changes
    with pytest.raises(InvalidInput) as refused:
        create_entry(world.db, world.principal("officer"), **arguments)  # type: ignore[arg-type]
    assert field in refused.value.errors
    assert world.db.scalar(select(AnprHotlistEntry)) is None


@pytest.mark.parametrize("who", ["social", "lawyer", "force_admin", "auditor", "teacher"])
def test_only_police_searchers_add_entries(world: World, who: str) -> None:
    with pytest.raises(Forbidden):
        create_entry(world.db, world.principal(who), "AB51CDE", "Stolen")


def test_a_plate_is_listed_once_per_list_while_active(world: World) -> None:
    first = _entry(world)
    with pytest.raises(Conflict) as refused:
        _entry(world, plate="ab51-cde")
    assert first.id in refused.value.errors["plate"]
    assert _entry(world, list_name="Disqualified drivers").id != first.id
    withdraw_entry(world.db, world.principal("officer"), first.id, "Recovered")
    assert _entry(world).id != first.id


def test_another_force_and_a_council_cannot_see_or_withdraw_an_amber_entry(
    forces: World,
) -> None:
    entry = _entry(forces)
    other = forces.principal("other_officer")
    assert entry.id not in {e.id for e in visible_entries(forces.db, other)}
    with pytest.raises(NotFound):
        withdraw_entry(forces.db, other, entry.id)
    with pytest.raises(NotFound):
        hotlists.access_entry(forces.db, other, entry.id)
    social = forces.principal("social")
    with pytest.raises(Forbidden):
        visible_entries(forces.db, social)
    with pytest.raises(Forbidden):
        withdraw_entry(forces.db, social, entry.id)
    assert entry.withdrawn_at is None
    assert not _audit(forces.db, "anpr.hotlist.withdraw")
    mine = visible_entries(forces.db, forces.principal("supervisor"))
    assert [e.id for e in mine] == [entry.id]


def test_a_green_entry_is_seen_by_every_force_but_withdrawn_only_by_its_own(
    forces: World,
) -> None:
    entry = _entry(forces, tlp=TLP.green)
    other = forces.principal("other_officer")
    assert [e.id for e in visible_entries(forces.db, other)] == [entry.id]
    with pytest.raises(Forbidden):
        withdraw_entry(forces.db, other, entry.id)


def test_withdrawing_keeps_the_entry_and_audits_who_and_why(world: World) -> None:
    entry = _entry(world)
    supervisor = world.principal("supervisor")
    withdraw_entry(world.db, supervisor, entry.id, "Vehicle recovered")
    assert entry.withdrawn_at is not None
    assert entry.withdrawn_reason == "Vehicle recovered"
    (event,) = _audit(world.db, "anpr.hotlist.withdraw", entry.id)
    assert event.actor_user_id == supervisor.user_id
    assert event.changes is not None
    assert event.changes["withdrawn_reason"] == ["", "Vehicle recovered"]
    assert visible_entries(world.db, supervisor) == []
    assert [e.id for e in visible_entries(world.db, supervisor, include_expired=True)] == [entry.id]
    with pytest.raises(Conflict):
        withdraw_entry(world.db, supervisor, entry.id)


def test_visible_entries_leave_out_expired_ones_unless_asked(world: World) -> None:
    entry = _entry(world, expires_at=datetime.now(UTC) + timedelta(days=1))
    officer = world.principal("officer")
    assert [e.id for e in visible_entries(world.db, officer)] == [entry.id]
    entry.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    world.db.flush()
    assert visible_entries(world.db, officer) == []
    assert len(visible_entries(world.db, officer, include_expired=True)) == 1


# --- import ---------------------------------------------------------------------------------


def test_a_hotlist_file_is_imported_whole_and_audited(world: World, tmp_path: Path) -> None:
    path = tmp_path / "stolen.csv"
    path.write_text(
        "plate,reason,priority,expires_at\n"
        "AB51 CDE,Stolen,90,2099-01-31\n"
        "\n"
        "x123 yzz,Disqualified driver,,\n",
        encoding="utf-8",
    )
    entries = hotlists.import_hotlist(world.db, world.principal("officer"), path)
    assert [(e.plate, e.priority) for e in entries] == [("AB51CDE", 90), ("X123YZZ", 50)]
    assert entries[0].expires_at == datetime(2099, 2, 1, tzinfo=UTC) - timedelta(microseconds=1)
    (event,) = _audit(world.db, "anpr.hotlist.import")
    assert event.detail is not None and "2 entries from stolen.csv" in event.detail
    assert len(_audit(world.db, "anpr.hotlist.create")) == 2


def test_a_hotlist_file_with_bad_rows_adds_nothing_and_names_the_lines(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "plate,reason,priority,expires_at\n"
        "AB51CDE,Stolen,90,\n"
        "!!!,Stolen,10,\n"
        "CD02EFG,Stolen,high,\n"
        "EF03GHJ,Stolen,10,2001-01-01\n"
        "ab51 cde,Again,10,\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as refused:
        hotlists.import_hotlist(world.db, world.principal("officer"), path)
    errors = refused.value.errors
    assert set(errors) == {"line 3", "line 4", "line 5", "line 6"}
    assert errors["line 3"].startswith("plate:")
    assert errors["line 4"].startswith("priority:")
    assert errors["line 5"].startswith("expires_at:")
    assert "line 2" in errors["line 6"]
    assert world.db.scalar(select(AnprHotlistEntry)) is None


def test_a_file_without_the_columns_is_refused(world: World, tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("registration,why\nAB51CDE,Stolen\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        hotlists.import_hotlist(world.db, world.principal("officer"), path)
    assert "line 1" in refused.value.errors


# --- the index ------------------------------------------------------------------------------


def _index(world: World) -> HotlistIndex:
    index = HotlistIndex()
    index.reload(world.db)
    return index


def test_the_index_matches_exact_plates(world: World) -> None:
    entry = _entry(world, priority=70)
    index = _index(world)
    (match,) = index.match("AB51CDE")
    assert (match.entry_id, match.kind, match.priority, match.tlp) == (
        entry.id,
        "exact",
        70,
        TLP.amber,
    )
    assert match.owner_org_id == world.orgs["force"].id
    assert match.reason == "Stolen, Wessex crime 44/1234"
    assert index.match("AB51CDF") == []


def test_look_alike_reads_match_only_entries_that_ask_for_it(world: World) -> None:
    exact_only = _entry(world, plate="AB51CDE")
    fuzzy = _entry(world, plate="GH08JKL", match_fuzzy=True)
    index = _index(world)
    assert index.match("A851CDE") == []  # B read as 8: exact-only entry stays quiet
    (match,) = index.match("6H0BJKL")
    assert (match.entry_id, match.kind, match.plate) == (fuzzy.id, "fuzzy", "GH08JKL")
    (same,) = index.match("GH08JKL")
    assert same.kind == "exact"
    assert [m.entry_id for m in index.match("AB51CDE")] == [exact_only.id]


def test_the_index_checks_expiry_when_it_matches(world: World) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    _entry(world, expires_at=soon)
    index = _index(world)
    assert len(index.match("AB51CDE", now=soon - timedelta(seconds=1))) == 1
    assert index.match("AB51CDE", now=soon) == []


def test_withdrawn_and_expired_entries_are_not_indexed(world: World) -> None:
    withdrawn = _entry(world, plate="AB51CDE")
    withdraw_entry(world.db, world.principal("officer"), withdrawn.id)
    lapsed = _entry(world, plate="CD02EFG")
    lapsed.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    world.db.flush()
    index = _index(world)
    assert len(index) == 0
    assert index.match("AB51CDE") == [] and index.match("CD02EFG") == []


def test_a_refresh_applies_only_what_changed_since_the_last_load(world: World) -> None:
    listed = _entry(world, plate="AB51CDE")
    index = _index(world)
    added = _entry(world, plate="CD02EFG", match_fuzzy=True)
    withdraw_entry(world.db, world.principal("officer"), listed.id, "Recovered")
    assert len(index.match("AB51CDE")) == 1, "nothing changes until the index is refreshed"
    assert index.refresh(world.db) == 1
    assert index.match("AB51CDE") == []
    assert [m.entry_id for m in index.match("CD02EF6")] == [added.id]
    withdraw_entry(world.db, world.principal("officer"), added.id)
    index.refresh(world.db)
    assert len(index) == 0 and index.match("CD02EF6") == []


def test_matches_come_most_urgent_first_across_forces(forces: World) -> None:
    low = _entry(forces, priority=10)
    high = create_entry(
        forces.db, forces.principal("other_officer"), "AB51CDE", "Firearms", priority=95
    )
    matches = _index(forces).match("AB51CDE")
    assert [m.entry_id for m in matches] == [high.id, low.id]
    assert {m.owner_org_id for m in matches} == {
        forces.orgs["force"].id,
        high.owner_org_id,
    }


def test_a_committed_change_tells_the_index_to_reload(
    world: World, sessions: sessionmaker[Session]
) -> None:
    world.db.commit()
    index = HotlistIndex(sessions)
    index.reload()
    assert not index.must_reload
    _entry(world)
    world.db.rollback()
    assert not index.must_reload, "a rolled-back change needs no reload"
    _entry(world)
    world.db.commit()
    assert index.must_reload
    index.reload()
    assert len(index.match("AB51CDE")) == 1


_PLATE_CHARS = st.sampled_from("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")
_GROUP_OF = {ch: group for group in LOOKALIKES for ch in group}


def _listed(plate: str, match_fuzzy: bool) -> AnprHotlistEntry:
    return AnprHotlistEntry(
        id="e1",
        plate=plate,
        fuzzy_key=fuzzy_key(plate),
        match_fuzzy=match_fuzzy,
        reason="Stolen",
        priority=50,
        owner_org_id="force",
        tlp=TLP.amber,
        list_name=hotlists.DEFAULT_LIST,
    )


@given(
    plate=st.text(_PLATE_CHARS, min_size=2, max_size=8),
    swaps=st.lists(st.tuples(st.integers(0, 7), st.integers(1, 3)), max_size=3),
)
def test_a_look_alike_misread_alerts_only_entries_that_ask_for_it(
    plate: str, swaps: list[tuple[int, int]]
) -> None:
    misread = list(plate)
    for position, step in swaps:
        if position < len(misread) and misread[position] in _GROUP_OF:
            group = _GROUP_OF[misread[position]]
            misread[position] = group[(group.index(misread[position]) + step) % len(group)]
    read = "".join(misread)
    fuzzy = HotlistIndex.from_entries([_listed(plate, True)]).match(read)
    exact = HotlistIndex.from_entries([_listed(plate, False)]).match(read)
    kind = "exact" if read == plate else "fuzzy"
    assert [m.kind for m in fuzzy] == [kind]
    assert [m.kind for m in exact] == (["exact"] if read == plate else [])


# --- the command line -----------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_world(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveWorld]:
    """A database with two forces and a council, which ``peel`` commands are pointed at."""
    folder = tmp_path_factory.mktemp("hotlist-cli")
    label = f"hotlistcli{uuid.uuid4().hex[:8]}"
    world, url = build_live_world(backend, folder, label)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("PEEL_DATABASE_URL", url)
    monkeypatch.setenv("PEEL_DATA_DIR", str(folder / "var"))
    monkeypatch.setenv("PEEL_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield world
    monkeypatch.undo()
    get_settings.cache_clear()
    world.engine.dispose()
    if backend == "postgresql":
        drop_postgres_database(f"peel_{label}_{_worker()}")


def peel(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["anpr", *args])
    return result.exit_code, result.output


def test_hotlist_commands_follow_the_policy(cli_world: LiveWorld, tmp_path: Path) -> None:
    north, south = "officer@north.example", "officer@south.example"
    code, out = peel(
        "hotlist", "add", "ab51 cde", "--reason", "Stolen", "--priority", "80",
        "--expires", "2099-01-31", "--fuzzy", "--as", north,
    )  # fmt: skip
    assert code == 0, out
    code, out = peel("hotlist", "list", "--as", north, "--json")
    (entry,) = json.loads(out)
    assert (entry["plate"], entry["priority"], entry["match_fuzzy"]) == ("AB51CDE", 80, True)
    assert entry["expires_at"].startswith("2099-01-31T23:59:59")
    assert json.loads(peel("hotlist", "list", "--as", south, "--json")[1]) == []
    code, out = peel("hotlist", "withdraw", entry["id"], "--as", south)
    assert code == 2 and "No anpr hotlist entry" in out
    code, out = peel("hotlist", "add", "CD02EFG", "--reason", "x", "--as", "social@council.example")
    assert code == 2 and "police" in out
    code, out = peel(
        "hotlist", "add", "CD02EFG", "--reason", "x", "--priority", "500", "--as", north
    )
    assert code == 2 and "priority" in out
    code, out = peel("hotlist", "withdraw", entry["id"], "--reason", "Recovered", "--as", north)
    assert code == 0, out
    assert json.loads(peel("hotlist", "list", "--as", north, "--json")[1]) == []
    bad = tmp_path / "bad.csv"
    bad.write_text("plate,reason,priority,expires_at\nEF03GHJ,Stolen,x,\n", encoding="utf-8")
    code, out = peel("hotlist", "import", str(bad), "--as", north)
    assert code == 2 and "line 2" in out
    good = tmp_path / "good.csv"
    good.write_text("plate,reason,priority,expires_at\nEF03GHJ,Stolen,10,\n", encoding="utf-8")
    code, out = peel("hotlist", "import", str(good), "--tlp", "GREEN", "--as", north)
    assert code == 0, out
    (shared,) = json.loads(peel("hotlist", "list", "--as", south, "--json")[1])
    assert (shared["plate"], shared["tlp"]) == ("EF03GHJ", "GREEN")
    code, out = peel("alerts", "--as", north, "--json")
    assert code == 0 and json.loads(out) == []
