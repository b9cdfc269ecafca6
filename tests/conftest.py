"""Shared fixtures: every database test runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from peel.app import create_app
from peel.core import migrate, service
from peel.core.config import Environment, Settings
from peel.core.db import build_engine, transaction
from peel.core.enums import OrganisationType, Role
from peel.core.events import Event, InMemoryEventBus
from peel.core.identity import principal_for_user
from peel.core.jobs import JobRunner
from peel.core.models import Organisation, User
from peel.core.principal import Principal
from peel.core.schemas import OrganisationCreate, UserCreate
from peel.core.security import use_fast_password_hashing_for_tests

use_fast_password_hashing_for_tests()

PG_URL = os.environ.get("PEEL_TEST_DATABASE_URL")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not PG_URL, reason="set PEEL_TEST_DATABASE_URL to run the PostgreSQL half"
        ),
    ),
]
ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
BOOTSTRAP = Principal(display_name="test setup", is_platform_admin=True)
PASSWORD = "correct horse battery staple"


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def fresh_postgres_database(name: str) -> str:
    """Drop and recreate a database next to the configured one; returns its URL."""
    assert PG_URL
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    assert PG_URL
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def database_url_for(backend: str, folder: Path, label: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / (label + '.db')}"
    return fresh_postgres_database(f"peel_{label}_{_worker()}")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated database per backend and test worker."""
    url = database_url_for(backend, tmp_path_factory.mktemp("db"), "test")
    eng = build_engine(url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()
    if backend == "postgresql":
        drop_postgres_database(f"peel_test_{_worker()}")


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    if outer.is_active:
        outer.rollback()
    conn.close()


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    """Sessions whose commits only release savepoints of the test's outer transaction."""
    return sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    session = sessions()
    yield session
    session.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(env=Environment.test, data_dir=tmp_path / "var", log_level="WARNING")


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session]) -> FastAPI:
    return create_app(
        settings,
        sessions=sessions,
        jobs=JobRunner(sessions, inline=True),
        events=InMemoryEventBus(),
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@dataclass
class World:
    """A small platform: a force, the CPS, a council, its client charity, a school."""

    db: Session
    orgs: dict[str, Organisation]
    users: dict[str, User]

    def principal(self, key: str) -> Principal:
        return principal_for_user(self.users[key])


def make_org(
    db: Session,
    code: str,
    kind: OrganisationType = OrganisationType.police_force,
    client_of: str | None = None,
) -> Organisation:
    return service.create_organisation(
        db,
        BOOTSTRAP,
        OrganisationCreate(
            code=code, name=code.replace("-", " ").title(), type=kind, client_of=client_of
        ),
    )


def make_user(
    db: Session, email: str, org: str, roles: list[Role], platform_admin: bool = False
) -> User:
    return service.create_user(
        db,
        BOOTSTRAP,
        UserCreate(
            email=email,
            name=email.split("@")[0].title(),
            organisation=org,
            roles=roles,
            password=PASSWORD,
            is_platform_admin=platform_admin,
        ),
    )


@pytest.fixture
def world(db: Session) -> World:
    orgs = {
        "force": make_org(db, "test-force"),
        "cps": make_org(db, "test-cps", OrganisationType.prosecutor),
        "council": make_org(db, "test-council", OrganisationType.local_authority),
        "charity": make_org(db, "test-charity", OrganisationType.charity, "test-council"),
        "school": make_org(db, "test-school", OrganisationType.education),
    }
    users = {
        "officer": make_user(db, "officer@force.example", "test-force", [Role.officer]),
        "supervisor": make_user(db, "sup@force.example", "test-force", [Role.supervisor]),
        "auditor": make_user(db, "auditor@force.example", "test-force", [Role.auditor]),
        "force_admin": make_user(db, "admin@force.example", "test-force", [Role.admin]),
        "lawyer": make_user(db, "lawyer@cps.example", "test-cps", [Role.officer]),
        "social": make_user(db, "social@council.example", "test-council", [Role.officer]),
        "youth": make_user(db, "youth@charity.example", "test-charity", [Role.partner_viewer]),
        "teacher": make_user(db, "teacher@school.example", "test-school", [Role.partner_viewer]),
        "platform": make_user(db, "root@platform.example", "test-force", [], platform_admin=True),
    }
    db.flush()
    return World(db, orgs, users)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """Sign in through the real form, CSRF token and all."""
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A small, valid RGB PNG (a red rectangle), built here so no image file is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def csrf_of(page_html: str) -> str:
    return page_html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


# --- a real server on a free port, for browser and load tests -------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free port; yields its base URL."""
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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class LiveServer:
    url: str
    settings: Settings
    engine: Engine


@pytest.fixture(scope="module")
def live_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Peel served by uvicorn in a thread, on a migrated database holding the demo data."""
    from peel.core.demo import load_demo

    folder = tmp_path_factory.mktemp("live")
    url = database_url_for(backend, folder, "live")
    settings = Settings(
        env=Environment.test, data_dir=folder / "var", database_url=url, log_level="WARNING"
    )
    eng = build_engine(url)
    migrate.upgrade(eng)
    with transaction(sessionmaker(bind=eng, expire_on_commit=False)) as session:
        load_demo(session)
    with served(create_app(settings)) as url_of_server:
        yield LiveServer(url_of_server, settings, eng)
    eng.dispose()
    if backend == "postgresql":
        drop_postgres_database(f"peel_live_{_worker()}")


T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine to the end on a fresh event loop."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


class Collector:
    """An event handler that records events, and can wait until it has seen enough."""

    wait_seconds = 10.0

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait_for(self, count: int) -> list[Event]:
        async def enough() -> None:
            while len(self.events) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(enough(), self.wait_seconds)
        return self.events
