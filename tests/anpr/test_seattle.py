"""The real Seattle Police ALPR week through the ``seattle`` column mapping."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.anpr import ingest
from peel.anpr.models import AnprCamera
from peel.anpr.store import ReadStore
from peel.core.config import Settings
from tests.conftest import World

SHARED = Path(os.environ.get("PEEL_SHARED_DATA", Path(__file__).parents[2].parent / "shared/data"))
SEATTLE = SHARED / "anpr" / "seattle_spd_alpr_2021-10.csv.gz"
pytestmark = pytest.mark.skipif(
    not SEATTLE.is_file(),
    reason=f"the Seattle ALPR extract is not at {SEATTLE} (set PEEL_SHARED_DATA to its folder)",
)
PACIFIC = ZoneInfo("America/Los_Angeles")


def head(tmp_path: Path, lines: int) -> Path:
    """The header and the first ``lines`` reads, gzipped like the original."""
    with gzip.open(SEATTLE, "rt", encoding="utf-8", newline="") as handle:
        text = "".join(line for _, line in zip(range(lines + 1), handle, strict=False))
    path = tmp_path / "seattle_head.csv.gz"
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


@dataclass
class Expected:
    """What the mapping should make of a file, worked out with Python's csv module."""

    positioned: dict[str, list[tuple[float, float]]]  # device -> (lat, lon) of its reads
    unplaced: list[int]  # lines of reads without a position
    first: dict[str, str]  # the first read with a position

    @property
    def landed(self) -> int:
        return sum(len(points) for points in self.positioned.values())


def expected(path: Path) -> Expected:
    positioned: dict[str, list[tuple[float, float]]] = defaultdict(list)
    unplaced: list[int] = []
    first = None
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(io.StringIO(handle.read()), delimiter="|")
        for line, row in enumerate(reader, start=2):
            if row["lat"] == "NA" or row["lon"] == "NA":
                unplaced.append(line)
                continue
            positioned[row["device"]].append((float(row["lat"]), float(row["lon"])))
            if first is None:
                first = row
    assert first is not None
    return Expected(positioned, unplaced, first)


def utc(local: str) -> datetime:
    naive = datetime.strptime(local, "%m/%d/%Y - %H:%M:%S")
    return naive.replace(tzinfo=PACIFIC).astimezone(UTC)


def test_the_first_five_thousand_reads(
    db: Session, world: World, settings: Settings, tmp_path: Path
) -> None:
    path = head(tmp_path, 5000)
    truth = expected(path)
    positioned, unplaced, first = truth.positioned, truth.unplaced, truth.first
    force = world.orgs["force"]
    (result,) = ingest.ingest_files(
        db, settings, [path], world.principal("force_admin"), force.id, mapping="seattle"
    )
    landed = truth.landed
    assert result.rows_read == 5000
    assert (result.rows_landed, result.rows_rejected) == (landed, len(unplaced))
    assert [p["line"] for p in result.problems] == unplaced[: ingest.MAX_PROBLEMS]
    if unplaced:
        assert result.problems[0]["problem"] == (
            f"line {unplaced[0]}: no position recorded: a read from a mobile camera needs its "
            "own lat and lon"
        )

    assert result.cameras_created == sorted(positioned)
    cameras = {c.id: c for c in db.scalars(select(AnprCamera))}
    assert set(cameras) == set(positioned)
    for device, points in positioned.items():
        camera = cameras[device]
        assert camera.name == f"SPD mobile {device}"
        assert camera.owner_org_id == force.id
        assert camera.lat == pytest.approx(statistics.median(p[0] for p in points))
        assert camera.lon == pytest.approx(statistics.median(p[1] for p in points))
    snapshot = pq.read_table(ReadStore(settings.anpr_dir).cameras_path)
    assert sorted(snapshot["camera_id"].to_pylist()) == sorted(positioned)

    store = ReadStore(settings.anpr_dir)
    plate = first["plate_hash"].upper()
    relation = duckdb.sql(
        f"SELECT * FROM read_parquet('{store.reads_glob()}', hive_partitioning=false) "
        "WHERE plate = ? AND camera_id = ?",
        params=[plate, first["device"]],
    )
    assert relation is not None
    (read,) = relation.to_arrow_table().to_pylist()
    at = utc(first["dt"])
    assert read["read_at"] == at
    as_if_utc = datetime.strptime(first["dt"], "%m/%d/%Y - %H:%M:%S").replace(tzinfo=UTC)
    assert at - as_if_utc == timedelta(hours=7)  # Pacific Daylight Time in October
    assert (read["plate_raw"], read["fuzzy"]) == (first["plate_hash"], plate)
    assert (read["lat"], read["lon"]) == (float(first["lat"]), float(first["lon"]))
    micros = int(at.timestamp()) * 1_000_000
    key = f"{first['device']}|{plate}|{micros}".encode()
    assert read["read_id"] == hashlib.md5(key, usedforsecurity=False).hexdigest()


def test_the_whole_week_imports_once(
    db: Session, world: World, settings: Settings, tmp_path: Path
) -> None:
    truth = expected(SEATTLE)
    unplaced, landed = truth.unplaced, truth.landed
    actor, force = world.principal("force_admin"), world.orgs["force"].id
    (result,) = ingest.ingest_files(db, settings, [SEATTLE], actor, force, mapping="seattle")
    assert (result.rows_landed, result.rows_rejected) == (landed, len(unplaced))
    assert result.rows_read == landed + len(unplaced)
    assert result.days  # reads across the week, in UTC days
    (again,) = ingest.ingest_files(db, settings, [SEATTLE], actor, force, mapping="seattle")
    assert (again.rows_landed, again.rows_duplicate) == (0, landed)
    assert again.cameras_created == []


def test_a_hashed_plate_can_be_searched_and_clones_are_looked_for(
    db: Session, world: World, settings: Settings, tmp_path: Path
) -> None:
    from peel.anpr import search

    actor, force = world.principal("force_admin"), world.orgs["force"].id
    ingest.ingest_files(db, settings, [SEATTLE], actor, force, mapping="seattle")
    engine = search.DuckDBEngine(ReadStore(settings.anpr_dir))
    start, end = datetime(2021, 10, 1, tzinfo=UTC), datetime(2021, 11, 1, tzinfo=UTC)
    ((plate, reads),) = duckdb.sql(
        f"SELECT plate, count(*) AS n FROM read_parquet('{engine_glob(settings)}', "
        "hive_partitioning=false) GROUP BY plate ORDER BY n DESC, plate LIMIT 1"
    ).fetchall()
    trail = search.history(engine, plate.lower(), start, end)  # as a user might paste it
    assert trail.plate == plate
    assert len(trail.sightings) == reads
    assert [s.read_at for s in trail.sightings] == sorted(s.read_at for s in trail.sightings)
    findings = search.clones(engine, start, end)  # mobile cameras: every read has a place
    for finding in findings:
        assert finding.reason in {"impossible_travel", "description_mismatch"}


def engine_glob(settings: Settings) -> str:
    return ReadStore(settings.anpr_dir).reads_glob()
