"""``peel anpr cameras import``, ``register import``, ``ingest``, ``compact``, ``retention``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from peel.anpr.store import ReadStore
from peel.cli import app
from peel.core.config import Settings, get_settings
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.core.enums import Role
from peel.core.models import AuditEvent
from tests.conftest import _worker, database_url_for, drop_postgres_database, make_org, make_user

runner = CliRunner()
ADMIN = "admin@cli-force.example"
OFFICER = "officer@cli-force.example"


@pytest.fixture(scope="module")
def peel_env(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A migrated database with one force, its administrator and an officer."""
    tmp_path = tmp_path_factory.mktemp("anprcli")
    url = database_url_for(backend, tmp_path, "anprcli")
    patch = pytest.MonkeyPatch()
    patch.setenv("PEEL_DATABASE_URL", url)
    patch.setenv("PEEL_DATA_DIR", str(tmp_path / "var"))
    patch.setenv("PEEL_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = build_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        make_org(session, "cli-force")
        make_user(session, ADMIN, "cli-force", [Role.admin])
        make_user(session, OFFICER, "cli-force", [Role.officer])
    engine.dispose()
    yield get_settings()
    patch.undo()
    get_settings.cache_clear()
    if backend == "postgresql":
        drop_postgres_database(f"peel_anprcli_{_worker()}")


def peel(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def audit_actions(settings: Settings) -> list[str]:
    engine = build_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    finally:
        engine.dispose()


def test_import_ingest_compact_and_retention(peel_env: Settings, tmp_path: Path) -> None:
    cameras = tmp_path / "cameras.csv"
    cameras.write_text(
        "camera_id,name,lat,lon,direction\n"
        "CAM-1,Bath Road east,51.45,-0.95,E\n"
        "CAM-2,Bath Road west,51.45,-0.96,W\n",
        encoding="utf-8",
    )
    code, out = peel("anpr", "cameras", "import", str(cameras), "--force", "cli-force",
                     "--as", ADMIN)  # fmt: skip
    assert code == 0, out
    assert "2 added, 0 updated, 0 unchanged; 2 known in all" in out

    register = tmp_path / "register.csv"
    register.write_text("plate,make,model,colour\nab51 cde,Ford,Focus,Blue\n", encoding="utf-8")
    code, out = peel("anpr", "register", "import", str(register))
    assert code == 0 and "1 vehicles" in out, out

    old = (datetime.now(UTC) - timedelta(days=400)).strftime("%Y-%m-%dT08:00:00Z")
    recent = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT08:00:00Z")
    reads = tmp_path / "reads.csv"
    reads.write_text(
        "camera_id,plate,read_at,confidence\n"
        "CAM-1,AB51 CDE,2021-10-04T08:00:00Z,0.9\n"
        "CAM-2,AB51 CDE,2021-10-04T08:05:00Z,0.8\n"
        "CAM-9,AB51 CDE,2021-10-04T08:06:00Z,0.8\n"
        f"CAM-1,XY02 ZZZ,{old},0.7\n"
        f"CAM-1,XY02 ZZZ,{recent},0.7\n",
        encoding="utf-8",
    )
    code, out = peel("anpr", "ingest", str(reads), "--as", ADMIN)
    assert code == 0, out
    assert "Landed" in out and "Duplicates" in out and "Quarantine" in out
    assert 'line 4: no camera with id "CAM-9" is known' in out

    code, out = peel("anpr", "ingest", str(reads), "--as", ADMIN, "--json")
    assert code == 0, out
    (again,) = json.loads(out)
    assert (again["rows_read"], again["rows_landed"], again["rows_duplicate"]) == (5, 0, 4)
    assert again["rows_rejected"] == 1
    assert Path(again["quarantine_path"]).is_file()

    late = tmp_path / "late.ndjson"
    late.write_text(
        json.dumps({"camera_id": "CAM-2", "plate": "AB51CDE", "read_at": "2021-10-04T09:00Z"}),
        encoding="utf-8",
    )
    code, out = peel("anpr", "ingest", str(late), "--as", ADMIN, "--force", "cli-force")
    assert code == 0, out
    store = ReadStore(peel_env.anpr_dir)
    day = datetime(2021, 10, 4).date()
    assert len(store.files(day)) == 2
    code, out = peel("anpr", "compact", "--day", "2021-10-04")
    assert code == 0 and "Compacted 1 day(s)" in out, out
    assert len(store.files(day)) == 1

    code, out = peel("anpr", "retention", "--dry-run", "--json")
    assert code == 0, out
    due = json.loads(out)
    assert due == [day.isoformat(), old[:10]]
    code, out = peel("anpr", "retention")
    assert code == 0 and "Dropped 2 day(s)" in out, out
    assert [d.isoformat() for d in store.days()] == [recent[:10]]
    actions = audit_actions(peel_env)
    assert actions.count("anpr.ingest") == 3
    assert actions[-1] == "anpr.retention"
    assert "anpr.cameras.import" in actions


def test_problems_are_printed_and_exit_non_zero(peel_env: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "camera_id,name,lat,lon\nCAM-3,Fine,51.0,-1.0\nCAM-4,,51.0,-1.0\nCAM-5,Far,91,-1.0\n",
        encoding="utf-8",
    )
    code, out = peel("anpr", "cameras", "import", str(bad), "--force", "cli-force", "--as", ADMIN)
    assert code == 2
    assert "line 3: name is missing" in out
    assert "line 4: lat must be a number from -90 to 90" in out
    code, out = peel("anpr", "cameras", "import", str(bad), "--force", "cli-force",
                     "--as", OFFICER)  # fmt: skip
    assert code == 2 and "police force's people in these roles" in out
    code, out = peel("anpr", "cameras", "import", str(bad), "--force", "nowhere", "--as", ADMIN)
    assert code == 2 and "--force: No organisation with code 'nowhere'" in out
    reads = tmp_path / "reads.csv"
    reads.write_text("camera_id,read_at\nCAM-1,2021-10-04T08:00:00Z\n", encoding="utf-8")
    code, out = peel("anpr", "ingest", str(reads), "--as", ADMIN)
    assert code == 2 and "missing columns plate" in out
    code, out = peel("anpr", "ingest", str(reads), "--as", ADMIN, "--mapping", "nope")
    assert code == 2 and "--mapping: must be one of: seattle" in out
    code, out = peel("anpr", "ingest", str(reads), "--as", "nobody@example.org")
    assert code == 2 and "No active user" in out
    code, out = peel("anpr", "compact", "--day", "4 Oct")
    assert code == 2 and "--day: give a date as YYYY-MM-DD" in out
