"""Fixtures for the live ANPR tests: two forces with cameras, NATS, and a real server.

The live path writes from worker threads, so these tests use their own migrated database
(one per backend and module) rather than the shared per-test connection, and empty the
ANPR tables after each test.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from peel.anpr.models import AnprAlert, AnprCamera, AnprHotlistEntry, AnprIngestBatch
from peel.app import create_app
from peel.core import migrate
from peel.core import service as core_service
from peel.core.config import Environment, Settings
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.core.enums import OrganisationType, Role
from peel.core.events import NatsEventBus
from peel.core.geo import wgs84_to_bng
from peel.core.identity import principal_for_user
from peel.core.models import User
from peel.core.principal import Principal
from peel.core.schemas import ApiClientCreate
from tests.conftest import (
    BOOTSTRAP,
    PASSWORD,
    _worker,
    database_url_for,
    drop_postgres_database,
    free_port,
    make_org,
    make_user,
    run,
)
from tests.conftest import Collector as SharedCollector

T = TypeVar("T")
NATS_URL = os.environ.get("PEEL_TEST_NATS_URL", "nats://127.0.0.1:4222")
WAIT_SECONDS = 15.0

ORGS = {
    "north": ("north-force", OrganisationType.police_force, None),
    "south": ("south-force", OrganisationType.police_force, None),
    "council": ("north-council", OrganisationType.local_authority, None),
    "backoffice": ("north-cameras-ltd", OrganisationType.other, "north-force"),
}
USERS = {
    "officer": ("officer@north.example", "north-force", [Role.officer]),
    "analyst": ("analyst@north.example", "north-force", [Role.analyst]),
    "north_admin": ("admin@north.example", "north-force", [Role.admin]),
    "south_officer": ("officer@south.example", "south-force", [Role.officer]),
    "social": ("social@council.example", "north-council", [Role.officer]),
}
#: camera id → (owning organisation key, name, lat, lon)
CAMERAS = {
    "N1": ("north", "A34 Northbound, Hillside", 51.4545, -1.3150),
    "N2": ("north", "M4 J13 slip road", 51.4300, -1.3000),
    "S1": ("south", "A3 Southbound, Ridge", 50.9000, -1.4000),
}


@dataclass
class LiveWorld:
    """Two forces, a council and a camera contractor, with people and cameras."""

    engine: Engine
    sessions: sessionmaker[Session]
    settings: Settings
    org_ids: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)

    def principal(self, key: str) -> Principal:
        with self.sessions() as session:
            user = session.get(User, self.user_ids[key])
            assert user is not None
            return principal_for_user(user)

    def token(self, org_key: str, roles: list[Role]) -> str:
        """A bearer token of an API client of one organisation."""
        with transaction(self.sessions) as session:
            _, token = core_service.create_api_client(
                session,
                BOOTSTRAP,
                ApiClientCreate(
                    name=f"client {uuid.uuid4().hex[:8]}",
                    organisation=ORGS[org_key][0],
                    roles=roles,
                ),
            )
        return token

    def alerts(self) -> list[AnprAlert]:
        with self.sessions() as session:
            return list(session.scalars(select(AnprAlert).order_by(AnprAlert.created_at)))

    def batches(self) -> list[AnprIngestBatch]:
        with self.sessions() as session:
            return list(session.scalars(select(AnprIngestBatch)))

    def empty_anpr_tables(self) -> None:
        with transaction(self.sessions) as session:
            for model in (AnprAlert, AnprHotlistEntry, AnprIngestBatch):
                session.execute(delete(model))


def build_live_world(backend: str, folder: Path, label: str) -> tuple[LiveWorld, str]:
    url = database_url_for(backend, folder, label)
    engine = build_engine(url)
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    settings = Settings(
        env=Environment.test,
        data_dir=folder / "var",
        database_url=url,
        log_level="WARNING",
        anpr_flush_seconds=3600,
    )
    settings.ensure_data_dir()
    world = LiveWorld(engine, sessions, settings)
    with transaction(sessions) as session:
        for key, (code, kind, client_of) in ORGS.items():
            world.org_ids[key] = make_org(session, code, kind, client_of).id
        for key, (email, org, roles) in USERS.items():
            world.user_ids[key] = make_user(session, email, org, roles).id
        for camera_id, (owner, name, lat, lon) in CAMERAS.items():
            easting, northing = wgs84_to_bng(lat, lon)
            session.add(
                AnprCamera(
                    id=camera_id,
                    name=name,
                    lat=lat,
                    lon=lon,
                    easting=easting,
                    northing=northing,
                    direction="N",
                    owner_org_id=world.org_ids[owner],
                )
            )
    return world, url


@pytest.fixture(scope="module")
def live_world_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveWorld]:
    label = f"anprlive{uuid.uuid4().hex[:8]}"
    world, _ = build_live_world(backend, tmp_path_factory.mktemp("anpr-live"), label)
    yield world
    world.engine.dispose()
    if backend == "postgresql":
        drop_postgres_database(f"peel_{label}_{_worker()}")


@pytest.fixture
def live_world(live_world_db: LiveWorld, tmp_path: Path) -> Iterator[LiveWorld]:
    """The module's world with empty hotlists, alerts and batches and a fresh read store."""
    live_world_db.settings = live_world_db.settings.model_copy(
        update={"data_dir": tmp_path / "var"}
    )
    live_world_db.settings.ensure_data_dir()
    yield live_world_db
    live_world_db.empty_anpr_tables()


def read(
    plate: str,
    camera: str = "N1",
    at: datetime | None = None,
    read_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One read as a camera back office sends it."""
    row: dict[str, Any] = {
        "camera_id": camera,
        "plate": plate,
        "read_at": (at or datetime.now(UTC) - timedelta(seconds=2)).isoformat(),
        "confidence": 0.93,
    }
    if read_id is not None:
        row["read_id"] = read_id
    row.update(extra)
    return row


# --- NATS -----------------------------------------------------------------------------------


async def _probe_jetstream(url: str) -> str | None:
    try:
        nc = await asyncio.wait_for(nats.connect(url, allow_reconnect=False), 3)
    except Exception as exc:
        return f"cannot reach NATS at {url}: {exc!r}"
    try:
        await nc.jetstream().account_info()
    except Exception as exc:
        return f"NATS at {url} has no JetStream: {exc!r}"
    finally:
        await nc.close()
    return None


async def _delete_stream(url: str, stream: str) -> None:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
    try:
        await nc.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The test NATS server; skipped when it is missing, except on CI where that fails."""
    problem = run(_probe_jetstream(NATS_URL))
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but NATS JetStream is unavailable: {problem}")
        pytest.skip(f"{problem} (start nats-server -js or set PEEL_TEST_NATS_URL)")
    return NATS_URL


@dataclass
class NatsTarget:
    url: str
    stream: str
    prefix: str

    def bus(self) -> NatsEventBus:
        return NatsEventBus(self.url, stream=self.stream, subject_prefix=self.prefix)


def new_nats_target(url: str) -> NatsTarget:
    suffix = uuid.uuid4().hex
    return NatsTarget(url, f"PEEL_ANPR_{suffix}", f"peelanpr{suffix}")


@pytest.fixture
def nats_target(nats_url: str) -> Iterator[NatsTarget]:
    """A unique stream and subject prefix on the test NATS server, deleted afterwards."""
    target = new_nats_target(nats_url)
    yield target
    run(_delete_stream(target.url, target.stream))


class Collector(SharedCollector):
    """Records events; waits as long as the live tests wait for anything."""

    wait_seconds = WAIT_SECONDS


# --- a real server --------------------------------------------------------------------------


@dataclass
class LiveStack:
    """Peel served by uvicorn in a thread, its live ingest on NATS, and the world it serves."""

    url: str
    world: LiveWorld
    app: FastAPI
    nats: NatsTarget
    server: uvicorn.Server

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=httpx.Timeout(WAIT_SECONDS))

    def signed_in(self, user_key: str) -> httpx.Client:
        """A client signed in through the real form, as one of the world's people."""
        client = self.client()
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        email = USERS[user_key][0]
        answer = client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        return client

    def on_server_loop(self, fn: Callable[[], Any]) -> None:
        """Run a callable on the server's event loop (for reaching its live ingest)."""
        loop = self.app.state.test_loop
        done = threading.Event()

        def call() -> None:
            try:
                fn()
            finally:
                done.set()

        loop.call_soon_threadsafe(call)
        assert done.wait(WAIT_SECONDS)


@pytest.fixture(scope="module")
def live_stack(
    backend: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    label = f"anprstack{uuid.uuid4().hex[:8]}"
    world, _ = build_live_world(backend, tmp_path_factory.mktemp("anpr-stack"), label)
    world.settings = world.settings.model_copy(update={"anpr_flush_seconds": 0.5})
    target = new_nats_target(nats_url)
    app = create_app(world.settings, sessions=world.sessions, events=target.bus())

    @app.get("/_test/loop", include_in_schema=False)
    async def remember_loop() -> dict[str, bool]:
        app.state.test_loop = asyncio.get_running_loop()
        return {"ok": True}

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    stack = LiveStack(f"http://127.0.0.1:{port}", world, app, target, server)
    with stack.client() as client:
        assert client.get("/_test/loop").status_code == 200
    app.state.anpr_live.heartbeat_seconds = 0.5
    yield stack
    server.should_exit = True
    thread.join(timeout=20)
    run(_delete_stream(target.url, target.stream))
    world.engine.dispose()
    if backend == "postgresql":
        drop_postgres_database(f"peel_{label}_{_worker()}")


def wait_until(check: Callable[[], T], what: str, seconds: float = WAIT_SECONDS) -> T:
    """Poll until ``check()`` is truthy; fail naming ``what`` if it never is."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Parse server-sent events: dicts of field → value, comments as {"comment": text}."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if fields:
                yield fields
                fields = {}
            continue
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value
