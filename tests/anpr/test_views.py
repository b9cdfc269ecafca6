"""The live ANPR API and the alert stream: who may send reads, see hotlists and alerts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from peel.anpr.hotlists import create_entry
from peel.anpr.models import AnprAlert, AnprCamera
from peel.anpr.store import ReadStore, source_read_id
from peel.core import service as core_service
from peel.core.db import transaction
from peel.core.enums import TLP, OrganisationType, Role
from peel.core.events import Event
from peel.core.geo import wgs84_to_bng
from peel.core.schemas import ApiClientCreate
from tests.anpr import live_fixtures
from tests.anpr.live_fixtures import (
    WAIT_SECONDS,
    Collector,
    LiveStack,
    build_live_world,
    read,
    run,
    sse_events,
    wait_until,
)
from tests.conftest import BOOTSTRAP, World, free_port, make_org, make_user, sign_in

nats_url = live_fixtures.nats_url
live_stack = live_fixtures.live_stack


@pytest.fixture
def anpr_world(world: World) -> World:
    """The shared world plus another force, a camera contractor of the force, and cameras."""
    make_org(world.db, "other-force")
    make_org(world.db, "force-cameras", OrganisationType.other, client_of="test-force")
    world.users["other_officer"] = make_user(
        world.db, "officer@other.example", "other-force", [Role.officer]
    )
    world.db.flush()
    other_id = world.users["other_officer"].organisation_id
    for camera_id, owner in (("F1", world.orgs["force"].id), ("O1", other_id)):
        easting, northing = wgs84_to_bng(51.45, -1.31)
        world.db.add(
            AnprCamera(
                id=camera_id,
                name=f"Camera {camera_id}",
                lat=51.45,
                lon=-1.31,
                easting=easting,
                northing=northing,
                direction="N",
                owner_org_id=owner,
            )
        )
    world.db.flush()
    return world


def bearer(world: World, organisation: str, roles: list[Role]) -> dict[str, str]:
    _, token = core_service.create_api_client(
        world.db,
        BOOTSTRAP,
        ApiClientCreate(name=f"{organisation} client", organisation=organisation, roles=roles),
    )
    world.db.flush()
    return {"authorization": f"Bearer {token}"}


def _entry(world: World, plate: str = "AB51CDE", who: str = "officer", **kwargs: Any) -> str:
    entry = create_entry(world.db, world.principal(who), plate, "Stolen", **kwargs)
    world.db.flush()
    return entry.id


# --- reads ----------------------------------------------------------------------------------


def test_a_force_back_office_posts_reads_and_hears_of_alerts_and_problems(
    client: TestClient, anpr_world: World
) -> None:
    entry_id = _entry(anpr_world)
    headers = bearer(anpr_world, "test-force", [Role.officer])
    reads = [
        read("AB51 CDE", "F1", read_id="f1-1"),
        read("CD02EFG", "F1"),
        read("", "F1"),
        read("EF03GHJ", "O1"),
        {"camera_id": "F1", "plate": "GH04JKL", "read_at": "not a time"},
    ]
    answer = client.post("/api/v1/anpr/reads", json={"reads": reads}, headers=headers)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"], body["alerts"]) == (2, 3, 1)
    fields = {p["field"] for p in body["problems"]}
    assert {"reads[2].plate", "reads[3].camera_id", "reads[4].read_at"} <= fields
    (alert,) = anpr_world.db.scalars(select(AnprAlert)).all()
    assert (alert.hotlist_entry_id, alert.read_id) == (entry_id, source_read_id("F1", "f1-1"))
    again = client.post("/api/v1/anpr/reads", json={"reads": reads[:1]}, headers=headers)
    assert (again.json()["accepted"], again.json()["duplicates"], again.json()["alerts"]) == (
        1,
        1,
        0,
    )
    assert len(anpr_world.db.scalars(select(AnprAlert)).all()) == 1


def test_a_sender_is_not_told_of_another_forces_hidden_entries(
    client: TestClient, anpr_world: World
) -> None:
    """Posting a read of a plate on another force's AMBER+STRICT list says nothing of it."""
    _entry(anpr_world, "ZZ51ZZZ", tlp=TLP.amber_strict)
    headers = bearer(anpr_world, "other-force", [Role.officer])
    answer = client.post(
        "/api/v1/anpr/reads", json={"reads": [read("ZZ51ZZZ", "O1")]}, headers=headers
    )
    assert answer.status_code == 202, answer.text
    assert (answer.json()["accepted"], answer.json()["alerts"]) == (1, 0)
    # The owning force still hears of the sighting.
    assert [a.plate for a in anpr_world.db.scalars(select(AnprAlert))] == ["ZZ51ZZZ"]


def test_one_forces_read_numbers_cannot_silence_anothers(
    client: TestClient, anpr_world: World
) -> None:
    """Sources number reads their own way; the same number from two forces is two reads."""
    _entry(anpr_world, "AB51CDE")
    other = bearer(anpr_world, "other-force", [Role.officer])
    mine = bearer(anpr_world, "test-force", [Role.officer])
    first = client.post(
        "/api/v1/anpr/reads", json={"reads": [read("XY12ZZZ", "O1", read_id="1")]}, headers=other
    )
    assert first.json()["accepted"] == 1
    answer = client.post(
        "/api/v1/anpr/reads", json={"reads": [read("AB51CDE", "F1", read_id="1")]}, headers=mine
    )
    assert (answer.json()["duplicates"], answer.json()["alerts"]) == (0, 1)


def test_a_camera_contractor_of_the_force_reports_for_the_force_cameras_only(
    client: TestClient, anpr_world: World
) -> None:
    headers = bearer(anpr_world, "force-cameras", [Role.officer])
    reads = [read("AB51CDE", "F1"), read("AB51CDE", "O1")]
    answer = client.post("/api/v1/anpr/reads", json={"reads": reads}, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 1
    assert [p["field"] for p in answer.json()["problems"]] == ["reads[1].camera_id"]


@pytest.mark.parametrize(
    ("organisation", "roles", "status"),
    [
        (None, [], 401),
        ("test-council", [Role.officer], 403),
        ("test-charity", [Role.officer], 403),
        ("test-force", [], 403),
        ("test-force", [Role.auditor], 403),
    ],
)
def test_only_a_force_or_its_contractor_may_post_reads(
    client: TestClient,
    anpr_world: World,
    organisation: str | None,
    roles: list[Role],
    status: int,
) -> None:
    headers = bearer(anpr_world, organisation, roles) if organisation else {}
    answer = client.post(
        "/api/v1/anpr/reads", json={"reads": [read("AB51CDE", "F1")]}, headers=headers
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_read_batches_are_limited(client: TestClient, anpr_world: World) -> None:
    headers = bearer(anpr_world, "test-force", [Role.officer])
    many = [{"camera_id": "F1", "plate": "A1", "read_at": "2026-01-01T00:00:00Z"}] * 10_001
    too_many = client.post("/api/v1/anpr/reads", json={"reads": many}, headers=headers)
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"].startswith("reads")
    huge = [read("AB51CDE", "F1", make="x" * 1_000_000) for _ in range(9)]
    too_big = client.post("/api/v1/anpr/reads", json={"reads": huge}, headers=headers)
    assert too_big.status_code == 413


# --- hotlists -------------------------------------------------------------------------------


def test_hotlists_through_the_api_follow_the_policy(client: TestClient, anpr_world: World) -> None:
    officer = bearer(anpr_world, "test-force", [Role.officer])
    other = bearer(anpr_world, "other-force", [Role.officer])
    council = bearer(anpr_world, "test-council", [Role.officer])
    made = client.post(
        "/api/v1/anpr/hotlists",
        json={"plate": "ab51 cde", "reason": "Stolen", "priority": 70, "match_fuzzy": True},
        headers=officer,
    )
    assert made.status_code == 201, made.text
    entry = made.json()
    assert (entry["plate"], entry["tlp"], entry["active"]) == ("AB51CDE", "AMBER", True)
    assert [e["id"] for e in client.get("/api/v1/anpr/hotlists", headers=officer).json()] == [
        entry["id"]
    ]
    assert client.get("/api/v1/anpr/hotlists", headers=other).json() == []
    assert client.get("/api/v1/anpr/hotlists", headers=council).status_code == 403
    assert client.get("/api/v1/anpr/hotlists").status_code == 401
    withdraw = f"/api/v1/anpr/hotlists/{entry['id']}/withdraw"
    assert client.post(withdraw, json={"reason": "x"}, headers=other).status_code == 404
    assert client.post(withdraw, json={"reason": "x"}, headers=council).status_code == 403
    done = client.post(withdraw, json={"reason": "Recovered"}, headers=officer)
    assert done.status_code == 200, done.text
    assert (done.json()["active"], done.json()["withdrawn_reason"]) == (False, "Recovered")
    assert client.post(withdraw, headers=officer).status_code == 409


def test_a_bad_hotlist_entry_names_the_field(client: TestClient, anpr_world: World) -> None:
    officer = bearer(anpr_world, "test-force", [Role.officer])
    answer = client.post(
        "/api/v1/anpr/hotlists",
        json={"plate": "!!", "reason": "Stolen", "tlp": "RED"},
        headers=officer,
    )
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"plate"}


# --- alerts ---------------------------------------------------------------------------------


def test_alerts_are_seen_and_acknowledged_by_the_owning_force_only(
    client: TestClient, anpr_world: World
) -> None:
    _entry(anpr_world)
    officer = bearer(anpr_world, "test-force", [Role.officer])
    posted = client.post(
        "/api/v1/anpr/reads", json={"reads": [read("AB51CDE", "F1")]}, headers=officer
    )
    assert posted.json()["alerts"] == 1
    other = bearer(anpr_world, "other-force", [Role.supervisor])
    council = bearer(anpr_world, "test-council", [Role.supervisor])
    (alert,) = client.get("/api/v1/anpr/alerts", headers=officer).json()
    assert (alert["plate"], alert["tlp"], alert["reason"]) == ("AB51CDE", "AMBER", "Stolen")
    assert client.get("/api/v1/anpr/alerts", headers=other).json() == []
    assert client.get("/api/v1/anpr/alerts", headers=council).status_code == 403
    assert client.get("/api/v1/anpr/alerts").status_code == 401
    acknowledge = f"/api/v1/anpr/alerts/{alert['id']}/acknowledge"
    assert client.post(acknowledge, headers=other).status_code == 404
    assert client.post(acknowledge, headers=council).status_code == 403
    done = client.post(acknowledge, json={"outcome": "Stopped; driver arrested"}, headers=officer)
    assert done.status_code == 200, done.text
    assert done.json()["outcome"] == "Stopped; driver arrested"
    assert client.post(acknowledge, headers=officer).status_code == 409
    unacknowledged = client.get(
        "/api/v1/anpr/alerts", params={"unacknowledged": True}, headers=officer
    )
    assert unacknowledged.json() == []


def test_a_green_alert_reaches_other_forces(client: TestClient, anpr_world: World) -> None:
    _entry(anpr_world, tlp=TLP.green)
    officer = bearer(anpr_world, "test-force", [Role.officer])
    client.post("/api/v1/anpr/reads", json={"reads": [read("AB51CDE", "F1")]}, headers=officer)
    other = bearer(anpr_world, "other-force", [Role.officer])
    assert len(client.get("/api/v1/anpr/alerts", headers=other).json()) == 1


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("social", 403), ("force_admin", 403)])
def test_the_alert_stream_is_for_police_searchers_only(
    client: TestClient, anpr_world: World, who: str | None, status: int
) -> None:
    if who is not None:
        sign_in(client, anpr_world.users[who].email)
    answer = client.get("/anpr/alerts/stream", headers={"accept": "text/event-stream"})
    assert answer.status_code == status


# --- the stream through a real server -------------------------------------------------------


def _alerts(events: Iterator[dict[str, str]]) -> Iterator[dict[str, Any]]:
    """The alert events of a stream, parsed (comments and the retry hint skipped)."""
    for event in events:
        if event.get("event") == "alert":
            data = json.loads(event["data"])
            assert data["id"] == event["id"]
            yield data


def _entry_at(stack: LiveStack, plate: str, who: str) -> str:
    with transaction(stack.world.sessions) as session:
        return create_entry(session, stack.world.principal(who), plate, "Wanted").id


@pytest.mark.nats
def test_a_live_read_reaches_the_force_stream_and_no_other(live_stack: LiveStack) -> None:
    north_entry = _entry_at(live_stack, "AB51CDE", "officer")
    _entry_at(live_stack, "SS11SSS", "south_officer")
    _entry_at(live_stack, "NN22NNN", "analyst")
    subject = live_stack.world.settings.anpr_live_subject
    bus_events = Collector()

    async def publish(*batches: list[dict[str, Any]]) -> None:
        async with live_stack.nats.bus() as feed:
            for reads in batches:
                await feed.publish(subject, {"reads": reads, "source": "test feed"})

    async def collect_alert_events(until: int) -> list[Event]:
        async with live_stack.nats.bus() as bus:
            await bus.subscribe("peel.anpr.alert", bus_events)
            await publish(
                [read("AB51CDE", "N1", read_id="n1-read-1")],
                [read("AB51CDE", "N1", read_id="n1-read-1")],  # delivered again
                [read("SS11SSS", "S1")],
                [read("NN22NNN", "N2")],
            )
            return await bus_events.wait_for(until)

    north = live_stack.signed_in("officer")
    south = live_stack.signed_in("south_officer")
    with (
        north.stream("GET", "/anpr/alerts/stream") as north_stream,
        south.stream("GET", "/anpr/alerts/stream") as south_stream,
    ):
        assert north_stream.headers["content-type"].startswith("text/event-stream")
        north_events = sse_events(north_stream.iter_lines())
        south_events = sse_events(south_stream.iter_lines())
        assert next(north_events).get("retry") == "3000"
        assert next(south_events).get("retry") == "3000"
        events = run(collect_alert_events(3))
        first = next(_alerts(north_events))
        assert (first["plate"], first["entry_id"], first["camera_name"]) == (
            "AB51CDE",
            north_entry,
            "A34 Northbound, Hillside",
        )
        assert next(_alerts(north_events))["plate"] == "NN22NNN", "the repeat raised nothing"
        assert next(_alerts(south_events))["plate"] == "SS11SSS", "north's alert never came"
    assert sorted(e.data["plate"] for e in events) == ["AB51CDE", "NN22NNN", "SS11SSS"]
    rows = wait_until(
        lambda: len(live_stack.world.alerts()) >= 3 and live_stack.world.alerts(),
        "the alerts to be recorded (just after they are sent)",
    )
    assert sorted(a.plate for a in rows) == ["AB51CDE", "NN22NNN", "SS11SSS"]
    live = live_stack.app.state.anpr_live
    wait_until(lambda: len(live.broadcaster) == 0, "the closed streams to be let go")
    store = ReadStore(live_stack.world.settings.anpr_dir)
    wait_until(store.has_reads, "the flush to land the reads")

    with north.stream(
        "GET", "/anpr/alerts/stream", headers={"last-event-id": first["id"]}
    ) as again:
        replayed = next(_alerts(sse_events(again.iter_lines())))
        assert replayed["plate"] == "NN22NNN", "a reconnecting browser catches up"
    north.close()
    south.close()


@pytest.mark.nats
def test_the_stream_sends_keep_alive_comments(live_stack: LiveStack) -> None:
    client = live_stack.signed_in("analyst")
    with client.stream("GET", "/anpr/alerts/stream") as stream:
        events = sse_events(stream.iter_lines())
        assert next(events) == {"retry": "3000"}
        assert next(events) == {"comment": "connected"}
        comments = [next(events) for _ in range(2)]
        assert {"comment": "keep-alive"} in comments
    client.close()


def test_the_stream_ends_when_the_server_is_told_to_stop(tmp_path: Path) -> None:
    """SIGTERM ends open streams, so the server does not wait for them forever."""
    world, url = build_live_world("sqlite", tmp_path, "sigterm")
    world.engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "PEEL_DATABASE_URL": url,
        "PEEL_DATA_DIR": str(tmp_path / "var"),
        "PEEL_ENV": "test",
        "PEEL_LOG_LEVEL": "WARNING",
        "PEEL_EVENT_BUS": "memory",
    }
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "peel.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return server.poll() is not None

        wait_until(up, "the server to start", 30)
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        client = httpx.Client(base_url=base, timeout=httpx.Timeout(WAIT_SECONDS * 2))
        sign_in(client, "officer@north.example")  # type: ignore[arg-type]
        with client.stream("GET", "/anpr/alerts/stream") as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            server.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + WAIT_SECONDS
            for _ in lines:
                assert time.monotonic() < deadline, "the stream outlived the server"
        # uvicorn re-raises the signal once it has shut down cleanly
        assert server.wait(timeout=WAIT_SECONDS) in (0, -signal.SIGTERM)
        client.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
