"""Precision and recall against the planted truth, on a simulated region loaded for real.

The region goes through the real importers into a real store; the searches run on DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from peel.anpr import ingest
from peel.anpr.evaluate import Score, evaluate, judge, naive_clones, naive_convoy, planted_plates
from peel.anpr.search import DEFAULT_MIN_SCORE, DuckDBEngine
from peel.anpr.simulate import load_truth, simulate
from peel.anpr.store import ReadStore
from peel.cli import app
from peel.core import migrate
from peel.core.config import Settings, get_settings
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.core.demo import load_demo
from peel.core.models import AuditEvent, Organisation
from peel.core.principal import Principal
from tests.conftest import _worker, database_url_for, drop_postgres_database

runner = CliRunner()
LOADER = Principal(display_name="test loader", is_platform_admin=True)
OFFICER = "officer@wessex.police.example"


def last_week() -> datetime:
    """Monday of last week, 00:00 UTC: recent enough for an officer, a fixed weekday pattern."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=today.weekday() + 7)


@dataclass
class Loaded:
    folder: Path
    truth: dict[str, Any]
    settings: Settings
    url: str


@pytest.fixture(scope="module")
def loaded(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """The demo people, and a simulated week (ending last midnight) imported for their force."""
    tmp = tmp_path_factory.mktemp("anpr-eval")
    url = database_url_for(backend, tmp, "anpreval")
    patch = pytest.MonkeyPatch()
    patch.setenv("PEEL_DATABASE_URL", url)
    patch.setenv("PEEL_DATA_DIR", str(tmp / "var"))
    patch.setenv("PEEL_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_data_dir()
    engine = build_engine(url)
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    folder = tmp / "region"
    result = simulate(folder, 11, 7, 2000, 60, last_week())
    with transaction(sessions) as session:
        load_demo(session)
        force = session.scalar(select(Organisation).where(Organisation.code == "wessex-police"))
        assert force is not None
        ingest.import_cameras(session, settings, folder / "cameras.csv", force, LOADER)
        ingest.import_register(settings, folder / "register.csv")
        done = ingest.ingest_files(session, settings, result.files, LOADER, force.id)
    assert sum(r.rows_landed for r in done) == result.reads
    assert not any(r.rows_rejected for r in done)
    engine.dispose()
    yield Loaded(folder, load_truth(folder), settings, url)
    patch.undo()
    get_settings.cache_clear()
    if backend == "postgresql":
        drop_postgres_database(f"peel_anpreval_{_worker()}")


def test_searches_are_judged_against_what_was_planted(loaded: Loaded):
    engine = DuckDBEngine(ReadStore(loaded.settings.anpr_dir))
    result = evaluate(engine, loaded.truth, sample=10)
    table = result.table(result.scores + result.sweep())
    scored = result.score(f"convoy (score ≥ {DEFAULT_MIN_SCORE:g})")
    assert result.threshold == DEFAULT_MIN_SCORE and result.scores[0] is scored
    naive = result.score("convoy (naive counting)")
    pairs = sum(len(c["followers"]) for c in loaded.truth["convoys"])
    assert scored.planted == naive.planted == pairs
    # Every follower is co-sighted at least three times, and ranks among the candidates …
    assert naive.recall == 1.0, table
    assert result.convoy_at(0).recall == 1.0, table
    # … while scoring flags no more ordinary traffic than counting does.
    assert len(scored.false_positives) <= len(naive.false_positives), table
    assert naive.false_positives, "ordinary traffic should fool naive counting"
    travel = result.score("clones (impossible travel, score ≥ 0)")
    assert travel.recall == 1.0 and travel.precision == 1.0, table
    assert result.score("clones (any reason, score ≥ 0)").recall == 1.0
    # A camera calling a car the wrong colour now and then is not a second car.
    described = result.score("clones (description mismatch, score ≥ 0)")
    assert described.recall == 1.0 and described.detections <= 2 * described.planted, table
    naive_clone = result.score("clones (naive: >1 make or colour)")
    assert naive_clone.recall == 1.0 and naive_clone.detections > travel.detections
    county = result.score("county lines")
    assert county.recall == 1.0, table
    assert result.targets_planted == len(loaded.truth["convoys"])
    assert result.targets_sampled == 10
    # Raising the bar never flags more.
    sweep = [result.convoy_at(t).detections for t in (0, 3, 5, 10, 50)]
    assert sweep == sorted(sweep, reverse=True)
    assert "convoy (naive counting)" in table


def test_naive_baselines_count_what_they_say(loaded: Loaded):
    engine = DuckDBEngine(ReadStore(loaded.settings.anpr_dir))
    start = datetime.fromisoformat(loaded.truth["parameters"]["start"])
    end = datetime.fromisoformat(loaded.truth["parameters"]["end"])
    convoy = loaded.truth["convoys"][0]
    counts = naive_convoy(engine, convoy["target"], start, end, window_s=120)
    assert all(n >= 3 for n in counts.values())
    assert set(convoy["followers"]) <= set(counts)
    assert convoy["target"] not in counts
    fewer = naive_convoy(engine, convoy["target"], start, end, window_s=120, min_co_sightings=6)
    assert set(fewer) <= set(counts)
    flagged = naive_clones(engine, start, end)
    assert {c["plate"] for c in loaded.truth["clones"]} <= flagged
    assert planted_plates(loaded.truth) >= {c["plate"] for c in loaded.truth["clones"]}
    empty = naive_convoy(engine, convoy["target"], datetime(2001, 1, 1, tzinfo=UTC), start)
    assert empty == {}


def peel(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_evaluate_command_audits_every_search(loaded: Loaded):
    code, out = peel(
        "anpr", "evaluate", str(loaded.folder), "--as", OFFICER, "--sample", "2", "--json"
    )
    assert code == 0, out
    body = json.loads(out)
    rows = {r["test"]: r for r in body["results"]}
    assert rows["clones (impossible travel, score ≥ 0)"]["recall"] == 1.0
    assert body["targets_sampled"] == 2
    engine = build_engine(loaded.url)
    try:
        with make_sessionmaker(engine)() as session:
            convoys = session.scalar(
                select(func.count()).where(AuditEvent.action == "anpr.search.convoy")
            )
            clones = session.scalar(
                select(func.count()).where(AuditEvent.action == "anpr.search.clones")
            )
    finally:
        engine.dispose()
    assert convoys >= len(loaded.truth["convoys"]) + 2
    assert clones >= 1
    code, out = peel("anpr", "evaluate", str(loaded.folder), "--as", OFFICER, "--sweep")
    assert code == 0, out
    assert "precision" in out and "convoy (score ≥ 12)" in out


def test_evaluate_command_refuses_partners_and_bad_folders(loaded: Loaded, tmp_path: Path):
    code, out = peel("anpr", "evaluate", str(loaded.folder), "--as", "nurse@wessex-nhs.example")
    assert code == 2
    assert "police" in out.lower()
    code, out = peel("anpr", "evaluate", str(tmp_path), "--as", OFFICER)
    assert code == 2
    assert "truth" in out


def test_precision_and_recall_arithmetic():
    planted = {("T1", "F1"), ("T1", "F2"), ("T2", "F3")}
    found = judge("x", planted, {("T1", "F1"), ("T2", "F3"), ("T2", "N1"), ("T3", "N2")})
    assert (found.precision, found.recall) == (0.5, pytest.approx(2 / 3))
    assert found.missed == ["T1 → F2"]
    assert found.false_positives == ["T2 → N1", "T3 → N2"]
    assert judge("none", planted, set()).precision is None
    assert Score("empty", 0, 0, 0).recall is None
    clones = judge("c", {("", "AB12CDE")}, {("", "AB12CDE"), ("", "XY12ZZZ")})
    assert clones.false_positives == ["XY12ZZZ"] and clones.recall == 1.0
