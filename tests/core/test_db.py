"""The embedded database copes with concurrent writers the way a busy force's site needs."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from peel.core import migrate
from peel.core.audit import record_audit
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.core.models import AuditEvent
from peel.core.principal import Principal


def test_concurrent_read_then_write_transactions_all_commit_on_sqlite(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    errors: list[BaseException] = []
    actor = Principal(display_name="load")

    def worker(n: int) -> None:
        try:
            for i in range(20):
                with transaction(sessions) as session:
                    session.scalar(select(func.count()).select_from(AuditEvent))  # read first
                    record_audit(session, actor, "test.concurrent", detail=f"{n}:{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "test.concurrent")
            )
            == 160
        )
    engine.dispose()


def test_many_readers_and_writers_at_once_all_succeed(live_server) -> None:
    """Sixty signed-in page loads and ten reports at the same moment: none refused or lost."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    with httpx.Client(base_url=live_server.url) as client:
        page = client.get("/login").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post(
            "/login",
            data={
                "email": "officer@wessex.police.example",
                "password": "demo-officer-password",
                "csrf_token": token,
            },
        )
        cookies = dict(client.cookies)

    def read(_: int) -> int:
        with httpx.Client(base_url=live_server.url, cookies=cookies, timeout=60) as c:
            return c.get("/").status_code

    def write(n: int) -> int:
        with httpx.Client(base_url=live_server.url, timeout=60) as c:
            return c.post(
                "/api/v1/reports",
                json={"category": "other-theft", "description": f"Concurrent report number {n}"},
                headers={"Idempotency-Key": f"concurrency-{n}"},
            ).status_code

    with ThreadPoolExecutor(max_workers=70) as pool:
        reads = pool.map(read, range(60))
        writes = pool.map(write, range(10))
        assert list(reads) == [200] * 60
        assert list(writes) == [201] * 10
