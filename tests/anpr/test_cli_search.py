"""``peel anpr history|convoy|clones|visitors|stakeout|county-lines``: audited, JSON and tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from peel.anpr import search
from peel.cli import app
from peel.core.config import get_settings
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.core.enums import OrganisationType, Role
from peel.core.models import AuditEvent
from tests.anpr.search_fixtures import read, write_store
from tests.conftest import _worker, database_url_for, drop_postgres_database, make_org, make_user

runner = CliRunner()
OFFICER = "officer@force.example"
PARTNER = "social@council.example"
TARGET, FOLLOWER, CLONE = "TG51ABC", "FL12XYZ", "KX19CLN"
CAMERAS = {
    "K1": ("Canal bridge", (53.80, -1.55)),
    "K2": ("Market street", (53.83, -1.52)),
    "K3": ("Hospital roundabout", (53.76, -1.60)),
    "K4": ("Retail park", (53.85, -1.61)),
    "FAR": ("Northtown high street", (54.34, -1.55)),
}


def _reads(base: datetime) -> list[dict]:
    out = []
    for n, camera in enumerate(("K1", "K2", "K3", "K4")):
        at = base + timedelta(days=n, hours=10)
        out.append(read(camera, TARGET, at))
        out.append(read(camera, FOLLOWER, at + timedelta(seconds=30)))
        for d in range(6):  # other traffic, every day
            for k in range(40):
                at = base + timedelta(days=d, minutes=17 * k + 3 * n)
                out.append(read(camera, f"BG{k:02d}{camera}", at))
    for n in range(3):
        at = base + timedelta(days=n, hours=15)
        out.append(read("K1", CLONE, at, confidence=0.9))
        out.append(read("FAR", CLONE, at + timedelta(minutes=10), confidence=0.9))
        out.append(read("K1", CLONE, at + timedelta(hours=2), confidence=0.9))
    return out


@pytest.fixture(scope="module")
def cli(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database with a force officer and a council officer, and a read store."""
    tmp_path = tmp_path_factory.mktemp("anprcli")
    url = database_url_for(backend, tmp_path, "anprcli")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("PEEL_DATABASE_URL", url)
    monkeypatch.setenv("PEEL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PEEL_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = build_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        make_org(session, "test-force")
        make_org(session, "test-council", OrganisationType.local_authority)
        make_user(session, OFFICER, "test-force", [Role.officer])
        make_user(session, PARTNER, "test-council", [Role.officer])
    engine.dispose()
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=6)
    write_store(Path(get_settings().anpr_dir), _reads(base), CAMERAS)
    yield url
    monkeypatch.undo()
    get_settings.cache_clear()
    if backend == "postgresql":
        drop_postgres_database(f"peel_anprcli_{_worker()}")


def peel(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["anpr", *args])
    return result.exit_code, result.output


def audit_events(url: str, action: str) -> list[AuditEvent]:
    engine = build_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
    finally:
        engine.dispose()


def test_convoy_json_rows_and_its_audit_event(cli: str):
    before = len(audit_events(cli, "anpr.search.convoy"))
    code, out = peel(
        "convoy",
        "tg51 abc",
        "--window",
        "60",
        "--as",
        OFFICER,
        "--reason",
        "Op Kestrel 12/3",
        "--json",
    )
    assert code == 0, out
    rows = json.loads(out)
    assert rows[0]["plate"] == FOLLOWER
    assert rows[0]["co_sightings"] == 4 and rows[0]["distinct_cameras"] == 4
    assert rows[0]["occasions"] == 4  # four days, one journey each
    assert rows[0]["score"] >= search.DEFAULT_MIN_SCORE
    assert [e["camera_id"] for e in rows[0]["evidence"]] == ["K1", "K2", "K3", "K4"]
    assert all(e["gap_s"] == 30 for e in rows[0]["evidence"])
    events = audit_events(cli, "anpr.search.convoy")
    assert len(events) == before + 1
    detail = json.loads(events[-1].detail or "{}")
    assert detail["subject"] == TARGET and detail["reason"] == "Op Kestrel 12/3"


def test_convoy_table_and_the_spark_engine_flag_is_offered(cli: str):
    code, out = peel("convoy", TARGET, "--as", OFFICER, "--reason", "Op Kestrel")
    assert code == 0, out
    assert "FL12 XYZ" in out and "score" in out and "journeys" in out
    code, out = peel("convoy", TARGET, "--as", OFFICER, "--reason", "Op K", "--min-score", "99")
    assert code == 0, out
    assert "FL12 XYZ" not in out and "try a lower --min-score" in out
    base = ["convoy", TARGET, "--as", OFFICER, "--reason", "Op K", "--json"]
    code, out = peel(*base, "--min-score", "0")
    assert code == 0, out
    assert json.loads(out)[0]["plate"] == FOLLOWER
    code, out = peel(*base, "--min-score", "-1")
    assert code != 0 and "--min-score" in out
    code, out = peel("convoy", "--help")
    assert "--engine" in out and "spark" in out


def test_history_json_and_table(cli: str):
    code, out = peel("history", TARGET, "--as", OFFICER, "--reason", "Op Kestrel", "--json")
    assert code == 0, out
    found = json.loads(out)
    assert found["plate"] == TARGET and found["distinct_cameras"] == 4
    assert [s["camera_id"] for s in found["sightings"]] == ["K1", "K2", "K3", "K4"]
    code, out = peel("history", TARGET, "--as", OFFICER, "--reason", "Op Kestrel")
    assert code == 0 and "Canal" in out and "4 reads at 4 cameras" in out
    assert audit_events(cli, "anpr.search.history")


def test_clones_json(cli: str):
    code, out = peel("clones", "--as", OFFICER, "--reason", "Op Kestrel", "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert [(r["plate"], r["reason"]) for r in rows] == [(CLONE, "impossible_travel")]
    assert len(rows[0]["evidence"]) == 3
    assert rows[0]["evidence"][0]["to"]["camera_name"] == "Northtown high street"
    code, out = peel("clones", "--as", OFFICER, "--reason", "Op Kestrel", "--max-speed", "400")
    assert code == 0 and CLONE[:4] not in out


def test_visitors_stakeout_and_county_lines(cli: str):
    code, out = peel(
        "visitors",
        "--camera",
        "K1,K2",
        "--min-days",
        "2",
        "--as",
        OFFICER,
        "--reason",
        "Op K",
        "--json",
    )
    assert code == 0, out
    assert {v["plate"] for v in json.loads(out)} >= {TARGET, FOLLOWER, CLONE}
    now = datetime.now(UTC)
    window = f"K1,K2@{(now - timedelta(days=7)).isoformat()}/{now.isoformat()}"
    code, out = peel(
        "stakeout",
        "--window",
        window,
        "--window",
        f"54.34,-1.55,500@{window.split('@')[1]}",
        "--as",
        OFFICER,
        "--reason",
        "Op K",
        "--json",
    )
    assert code == 0, out
    assert [h["plate"] for h in json.loads(out)] == [CLONE]
    code, out = peel(
        "county-lines",
        "--hub-camera",
        "K1",
        "--min-trips",
        "3",
        "--max-dwell-hours",
        "3",
        "--as",
        OFFICER,
        "--reason",
        "Op K",
    )
    assert code == 0, out
    assert "KX19 CLN" in out
    assert audit_events(cli, "anpr.search.county_lines")
    assert audit_events(cli, "anpr.search.stakeout")


def test_refusals_exit_2_with_a_reason(cli: str):
    before = len(audit_events(cli, "anpr.search.history"))
    code, out = peel("history", TARGET, "--as", PARTNER, "--reason", "curious")
    assert code == 2 and "police" in out
    old = (datetime.now(UTC) - timedelta(days=200)).date().isoformat()
    code, out = peel("history", TARGET, "--as", OFFICER, "--reason", "Op K", "--from", old)
    assert code == 2 and "supervisor" in out
    code, out = peel("history", TARGET, "--as", OFFICER, "--reason", "Op K", "--from", "soon")
    assert code == 2 and "--from" in out
    code, out = peel("history", TARGET, "--as", "nobody@example.org", "--reason", "Op K")
    assert code == 2 and "--as" in out
    assert len(audit_events(cli, "anpr.search.history")) == before
    code, out = peel("visitors", "--as", OFFICER, "--reason", "Op K")
    assert code == 2 and "--camera" in out
    code, out = peel("history", TARGET, "--as", OFFICER)
    assert code == 2 and "--reason" in out
