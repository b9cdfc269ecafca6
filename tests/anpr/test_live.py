"""Live reads end to end: bus in, hotlist match, alert row, bus event, listener, Parquet out."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from peel.anpr.cli_live import publish_feed, read_rows
from peel.anpr.hotlists import create_entry, withdraw_entry
from peel.anpr.live import ALERT_SUBJECT, AlertBroadcaster, AlertMessage, LiveIngest
from peel.anpr.store import ReadStore, source_read_id
from peel.cli import app
from peel.core.db import transaction
from peel.core.enums import TLP
from peel.core.events import EventBus, InMemoryEventBus
from tests.anpr import live_fixtures
from tests.anpr.live_fixtures import Collector, LiveWorld, NatsTarget, read, run

live_world_db = live_fixtures.live_world_db
live_world = live_fixtures.live_world
nats_url = live_fixtures.nats_url
nats_target = live_fixtures.nats_target


def _store(world: LiveWorld) -> ReadStore:
    return ReadStore(world.settings.anpr_dir)


def _live(world: LiveWorld, bus: EventBus) -> LiveIngest:
    return LiveIngest(world.settings, world.sessions, bus, _store(world))


def _hotlist(world: LiveWorld, plate: str, who: str = "officer", **kwargs: object) -> str:
    with transaction(world.sessions) as session:
        entry = create_entry(
            session,
            world.principal(who),
            plate,
            kwargs.pop("reason", "Stolen in a burglary"),  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )
        return entry.id


def _stored_reads(store: ReadStore) -> list[tuple[str, str, str]]:
    if not store.has_reads():
        return []
    with duckdb.connect() as con:
        rows = con.execute(
            "select read_id, plate, camera_id from read_parquet(?) order by read_id",
            [store.reads_glob()],
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_a_read_on_the_live_subject_raises_one_alert_everywhere(live_world: LiveWorld) -> None:
    entry_id = _hotlist(live_world, "AB51 CDE", priority=85)
    north = live_world.principal("officer")
    south = live_world.principal("south_officer")

    async def scenario() -> None:
        bus = InMemoryEventBus()
        live = _live(live_world, bus)
        await live.start(consume=True)
        alerts_seen = Collector()
        await bus.subscribe(ALERT_SUBJECT, alerts_seen)
        mine = live.broadcaster.listen(north)
        theirs = live.broadcaster.listen(south)
        sighting = read("ab51cde", "N1", read_id="cam-n1-0001")
        for _ in range(2):  # at-least-once delivery: the same read arrives twice
            await bus.publish(live_world.settings.anpr_live_subject, {"reads": [sighting]})
            await bus.drain()
        (event,) = await alerts_seen.wait_for(1)
        await bus.drain()
        assert len(alerts_seen.events) == 1
        data = event.data
        assert data["entry_id"] == entry_id
        assert (data["plate"], data["camera_id"], data["match"]) == ("AB51CDE", "N1", "exact")
        assert (data["priority"], data["tlp"]) == (85, "AMBER")
        assert data["owner_org_id"] == live_world.org_ids["north"]
        assert data["read_id"] == source_read_id("N1", "cam-n1-0001")
        delivered = await asyncio.wait_for(mine.get(), 5)
        assert delivered is not None and delivered.id == data["alert_id"]
        assert theirs._queue.empty()
        await live.stop()
        assert await theirs.get() is None, "stopping ends every stream"

    run(scenario())
    (alert,) = live_world.alerts()
    assert (alert.hotlist_entry_id, alert.read_id, alert.priority) == (
        entry_id,
        source_read_id("N1", "cam-n1-0001"),
        85,
    )
    assert alert.tlp == TLP.amber and alert.owner_org_id == live_world.org_ids["north"]
    assert alert.plate_read == "ab51cde"


def test_reads_land_in_parquet_when_flushed_and_repeats_are_stored_once(
    live_world: LiveWorld,
) -> None:
    store = _store(live_world)
    now = datetime.now(UTC) - timedelta(minutes=1)
    batch = [read(f"XY{n:02d}ZZZ", "N2", now + timedelta(seconds=n)) for n in range(1, 21)]

    async def scenario() -> None:
        live = _live(live_world, InMemoryEventBus())
        first = await live.submit(batch, "live", "feed one", "test")
        assert (first.accepted, first.rejected, first.duplicates) == (20, 0, 0)
        assert _stored_reads(store) == [], "reads wait in the buffer until a flush"
        (flushed,) = await live.flush()
        assert (flushed.rows_read, flushed.rows_landed) == (20, 20)
        again = await live.submit(batch[:5], "live", "feed one", "test")
        assert (again.accepted, again.duplicates) == (5, 5)
        live.seen = type(live.seen)()  # a restarted process remembers nothing
        await live.submit(batch[5:10], "live", "feed one", "test")
        flushed_again = await live.flush()
        assert [f.rows_landed for f in flushed_again] == [0]
        assert [f.rows_duplicate for f in flushed_again] == [10]

    run(scenario())
    stored = _stored_reads(store)
    assert len(stored) == 20
    assert {plate for _, plate, _ in stored} == {f"XY{n:02d}ZZZ" for n in range(1, 21)}
    batches = sorted(live_world.batches(), key=lambda b: b.created_at)
    assert [(b.channel, b.rows_read, b.rows_landed) for b in batches] == [
        ("live", 20, 20),
        ("live", 10, 0),
    ]
    assert batches[0].source_name == "feed one"


def test_stopping_lands_everything_accepted(live_world: LiveWorld) -> None:
    store = _store(live_world)

    async def scenario() -> None:
        live = _live(live_world, InMemoryEventBus())
        await live.start()
        await live.submit([read("AA11AAA", "N1"), read("BB22BBB", "S1")], "http", "", "t")
        await live.stop()

    run(scenario())
    assert sorted(p for _, p, _ in _stored_reads(store)) == ["AA11AAA", "BB22BBB"]
    (batch,) = live_world.batches()
    assert batch.channel == "http"


def test_bad_reads_are_refused_and_the_good_ones_kept(live_world: LiveWorld) -> None:
    _hotlist(live_world, "AB51CDE")
    rows = [
        read("AB51CDE", "N1"),
        read("", "N1"),
        read("CD02EFG", "NOPE"),
        {"camera_id": "N1", "plate": "EF03GHJ", "read_at": "yesterday"},
    ]

    async def scenario() -> None:
        live = _live(live_world, InMemoryEventBus())
        result = await live.submit(rows, "live", "mixed feed", "test")
        assert (result.accepted, result.rejected, len(result.alerts)) == (1, 3, 1)
        fields = {(p["line"], p["field"]) for p in result.problems}
        assert {field for _, field in fields} >= {"plate", "camera_id", "read_at"}
        await live.flush()

    run(scenario())
    (batch,) = live_world.batches()
    assert (batch.rows_read, batch.rows_landed, batch.rows_rejected) == (4, 1, 3)
    assert batch.problems


def test_a_withdrawn_entry_stops_alerting_at_once(live_world: LiveWorld) -> None:
    entry_id = _hotlist(live_world, "AB51CDE")

    async def scenario() -> None:
        live = _live(live_world, InMemoryEventBus())
        first = await live.submit([read("AB51CDE", read_id="r1")], "live", "", "t")
        assert len(first.alerts) == 1
        with transaction(live_world.sessions) as session:
            withdraw_entry(session, live_world.principal("officer"), entry_id, "Recovered")
        assert live.index.must_reload
        second = await live.submit([read("AB51CDE", read_id="r2")], "live", "", "t")
        assert second.alerts == []
        added = _hotlist(live_world, "ZZ99ZZZ", match_fuzzy=True)
        third = await live.submit([read("2Z99Z2Z", read_id="r3")], "live", "", "t")
        assert [(a.entry_id, a.match) for a in third.alerts] == [(added, "fuzzy")]

    run(scenario())


def test_an_entry_stops_alerting_when_it_expires(live_world: LiveWorld) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    _hotlist(live_world, "AB51CDE", expires_at=expires)

    async def scenario() -> None:
        live = _live(live_world, InMemoryEventBus())
        live.clock = lambda: expires - timedelta(seconds=1)
        before = await live.submit([read("AB51CDE", read_id="r1")], "live", "", "t")
        assert len(before.alerts) == 1
        live.clock = lambda: expires
        after = await live.submit([read("AB51CDE", read_id="r2")], "live", "", "t")
        assert after.alerts == [], "expiry is judged when matching, without a reload"

    run(scenario())


def test_one_read_alerts_every_force_that_lists_it_each_seeing_only_its_own(
    live_world: LiveWorld,
) -> None:
    north_entry = _hotlist(live_world, "AB51CDE", priority=40)
    south_entry = _hotlist(live_world, "AB51CDE", who="south_officer", priority=90)

    async def scenario() -> None:
        live = _live(live_world, InMemoryEventBus())
        north = live.broadcaster.listen(live_world.principal("officer"))
        south = live.broadcaster.listen(live_world.principal("south_officer"))
        council = live.broadcaster.listen(live_world.principal("social"))
        result = await live.submit([read("AB51CDE")], "live", "", "t")
        assert {a.entry_id for a in result.alerts} == {north_entry, south_entry}
        got_north = await north.get()
        got_south = await south.get()
        assert got_north is not None and got_north.entry_id == north_entry
        assert got_south is not None and got_south.entry_id == south_entry
        assert north._queue.empty() and south._queue.empty() and council._queue.empty()

    run(scenario())


def test_a_listener_that_falls_behind_is_ended_not_left_to_grow() -> None:
    broadcaster = AlertBroadcaster(queue_size=2)
    from peel.core.principal import Principal

    principal = Principal(organisation_id="org", organisation_type="police_force")
    now = datetime.now(UTC)

    def alert(n: int) -> AlertMessage:
        return AlertMessage(
            f"a{n}",
            "e",
            "r",
            "AB51CDE",
            "AB51CDE",
            "N1",
            "N1",
            None,
            None,
            now,
            "exact",
            50,
            "org",
            TLP.amber,
            "",
            "",
            now,
        )

    async def scenario() -> None:
        listener = broadcaster.listen(principal)
        assert [broadcaster.publish(alert(n)) for n in range(3)] == [1, 1, 0]
        assert listener.closed and len(broadcaster) == 0
        assert broadcaster.publish(alert(0)) == 0, "an alert is sent once"

    run(scenario())


# --- with NATS JetStream --------------------------------------------------------------------


@pytest.mark.nats
def test_reads_published_on_nats_raise_one_alert_and_one_event(
    live_world: LiveWorld, nats_target: NatsTarget
) -> None:
    entry_id = _hotlist(live_world, "GH08JKL", match_fuzzy=True)
    store = _store(live_world)

    async def scenario() -> None:
        async with nats_target.bus() as server_bus, nats_target.bus() as feed:
            live = _live(live_world, server_bus)
            await live.start()
            listener = live.broadcaster.listen(live_world.principal("analyst"))
            alerts_seen = Collector()
            await feed.subscribe(ALERT_SUBJECT, alerts_seen)
            sighting = read("6H0BJKL", "N2")  # a misread the entry asked to catch
            subject = live_world.settings.anpr_live_subject
            await feed.publish(subject, {"reads": [sighting], "source": "north back office"})
            await feed.publish(subject, {"reads": [sighting], "source": "north back office"})
            await feed.publish(subject, {"reads": [read("NOTLISTED1", "N2")]})
            (event,) = await alerts_seen.wait_for(1)
            delivered = await asyncio.wait_for(listener.get(), 10)
            assert delivered is not None and delivered.id == event.data["alert_id"]
            assert (event.data["entry_id"], event.data["match"]) == (entry_id, "fuzzy")
            for _ in range(100):  # until the third message has been handled
                if len(live.seen) == 2:
                    break
                await asyncio.sleep(0.05)
            assert len(live.seen) == 2
            await live.stop()
            assert len(alerts_seen.events) == 1

    run(scenario())
    (alert,) = live_world.alerts()
    assert (alert.plate, alert.plate_read, alert.match) == ("6H0BJKL", "6H0BJKL", "fuzzy")
    assert sorted(p for _, p, _ in _stored_reads(store)) == ["6H0BJKL", "NOTLISTED1"]


@pytest.mark.nats
def test_a_file_fed_onto_the_live_subject_is_ingested_and_alerts(
    live_world: LiveWorld, nats_target: NatsTarget, tmp_path: Path
) -> None:
    entry_id = _hotlist(live_world, "AB51CDE")
    path = tmp_path / "reads.ndjson"
    rows = [read(f"QR{n:02d}STU", "N1", read_id=f"feed-{n}") for n in range(1, 10)]
    rows.insert(4, read("AB51 CDE", "N2", read_id="feed-hit"))
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")

    async def scenario() -> None:
        async with nats_target.bus() as server_bus, nats_target.bus() as feed_bus:
            live = _live(live_world, server_bus)
            await live.start()
            alerts_seen = Collector()
            await feed_bus.subscribe(ALERT_SUBJECT, alerts_seen)
            subject = live_world.settings.anpr_live_subject
            sent, _ = await publish_feed(feed_bus, subject, read_rows(path), 1000, 3, "file")
            assert sent == 10
            (event,) = await alerts_seen.wait_for(1)
            assert (event.data["entry_id"], event.data["read_id"]) == (
                entry_id,
                source_read_id("N2", "feed-hit"),
            )
            for _ in range(200):
                if len(live.seen) == 10:
                    break
                await asyncio.sleep(0.05)
            await live.stop()

    run(scenario())
    assert len(_stored_reads(_store(live_world))) == 10


def test_feeding_needs_the_nats_event_bus(tmp_path: Path) -> None:
    path = tmp_path / "reads.csv"
    path.write_text("camera_id,plate,read_at\nN1,AB51CDE,2026-01-01T00:00:00Z\n", encoding="utf-8")
    assert [r["plate"] for r in read_rows(path)] == ["AB51CDE"]
    result = CliRunner().invoke(app, ["anpr", "feed", str(path), "--rate", "10"])
    assert result.exit_code == 2
    assert "PEEL_EVENT_BUS" in result.output
