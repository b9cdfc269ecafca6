"""The synthetic region: deterministic, valid plates, and the planted truth really in the reads.

Every check of planted behaviour reads the written files (cameras.csv and the reads), not the
simulator's own bookkeeping, so a simulator that claimed a convoy it never drove would fail.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import shapely
from typer.testing import CliRunner

from peel.anpr import plates
from peel.anpr.cli import app as anpr_app
from peel.anpr.cli_sim import ReadFormat, RegionKey
from peel.anpr.simulate import (
    DEFAULT_REGION,
    FORMATS,
    REGIONS,
    TOWN_NAME_LIST,
    Simulation,
    load_truth,
    parse_start,
    simulate,
)
from peel.core.errors import InvalidInput

SEED = 11
SIZE = {"days": 7, "vehicles": 2000, "cameras": 60}
MAX_SPEED_KMH = 180


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "region"
    simulate(out, SEED, **SIZE)
    return out


def _reads(folder: Path) -> list[dict[str, Any]]:
    return pq.read_table(sorted((folder / "reads").glob("*.parquet"))).to_pylist()


def _cameras(folder: Path) -> dict[str, dict[str, Any]]:
    return {r["camera_id"]: r for r in pacsv.read_csv(folder / "cameras.csv").to_pylist()}


def _km(a: dict[str, Any], b: dict[str, Any]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a["lat"], a["lon"], b["lat"], b["lon"]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _by_plate(reads: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in reads:
        out[plates.normalise(r["plate"])].append(r)
    for rows in out.values():
        rows.sort(key=lambda r: r["read_at"])
    return out


# --- files, formats, determinism ------------------------------------------------------------


def test_files_have_the_importer_columns(region: Path):
    cameras = pacsv.read_csv(region / "cameras.csv")
    assert cameras.column_names == ["camera_id", "name", "lat", "lon", "direction"]
    assert cameras.num_rows == SIZE["cameras"]
    assert set(cameras.column("direction").to_pylist()) <= {
        "N",
        "NE",
        "E",
        "SE",
        "S",
        "SW",
        "W",
        "NW",
    }
    register = pacsv.read_csv(region / "register.csv")
    assert register.column_names == ["plate", "make", "model", "colour"]
    days = sorted((region / "reads").glob("*.parquet"))
    assert [p.name for p in days] == [
        f"reads-{(datetime(2025, 3, 3) + timedelta(days=i)):%Y-%m-%d}.parquet" for i in range(7)
    ]
    table = pq.read_table(days[2])
    assert table.column_names == [
        "camera_id",
        "plate",
        "read_at",
        "confidence",
        "make",
        "model",
        "colour",
        "read_id",
    ]
    assert table.schema.field("read_at").type == pa.timestamp("ms", tz="UTC")
    at = table.column("read_at").to_pylist()
    assert at == sorted(at)
    assert all(a.date() == datetime(2025, 3, 5).date() for a in at)
    assert len(set(table.column("read_id").to_pylist())) == table.num_rows


def test_reads_look_like_camera_output(region: Path):
    reads = _reads(region)
    truth = load_truth(region)
    assert len(reads) == truth["stats"]["reads"] > 10_000
    start = datetime.fromisoformat(truth["parameters"]["start"])
    end = datetime.fromisoformat(truth["parameters"]["end"])
    assert all(start <= r["read_at"] < end for r in reads)
    confidence = [r["confidence"] for r in reads]
    assert min(confidence) >= 0.6 and max(confidence) <= 0.99 + 1e-6
    assert set(_cameras(region)) >= {r["camera_id"] for r in reads}
    # Some cameras report make, model and colour; some write plates with a space.
    assert 0.3 < sum(r["make"] is not None for r in reads) / len(reads) < 0.9
    assert any(" " in r["plate"] for r in reads) and any(" " not in r["plate"] for r in reads)
    # Rush hours: local 7-9 am on weekdays is far busier than 2-4 am.
    weekday = [r["read_at"] for r in reads if r["read_at"].weekday() < 5]
    rush = sum(7 <= t.hour < 9 for t in weekday)
    night = sum(2 <= t.hour < 4 for t in weekday)
    assert rush > 10 * max(night, 1)


def test_plates_are_current_format_and_misreads_are_lookalikes(region: Path):
    register = pacsv.read_csv(region / "register.csv").column("plate").to_pylist()
    normalised = [plates.normalise(p) for p in register]
    assert len(set(normalised)) == len(normalised)
    assert all(plates.classify(p) == plates.PlateFormat.current for p in normalised)
    known = set(normalised)
    by_key = {plates.fuzzy_key(p): p for p in known}
    reads = [plates.normalise(r["plate"]) for r in _reads(region)]
    misreads = [p for p in reads if p not in known]
    assert 0 < len(misreads) < 0.03 * len(reads)
    for plate in misreads:
        meant = by_key[plates.fuzzy_key(plate)]  # the same plate up to look-alikes …
        differences = [(a, b) for a, b in zip(plate, meant, strict=True) if a != b]
        assert len(differences) == 1  # … with one character swapped
        a, b = differences[0]
        assert any(a in group and b in group for group in plates.LOOKALIKES)


def test_same_seed_same_files_other_seed_other_region(tmp_path: Path, region: Path):
    again = tmp_path / "again"
    simulate(again, SEED, **SIZE)
    for name in ("cameras.csv", "register.csv", "truth.json"):
        assert (again / name).read_bytes() == (region / name).read_bytes(), name
    for path in sorted((region / "reads").glob("*.parquet")):
        assert pq.read_table(again / "reads" / path.name).equals(pq.read_table(path))
    other = tmp_path / "other"
    simulate(other, SEED + 1, **SIZE)
    assert (other / "register.csv").read_bytes() != (region / "register.csv").read_bytes()


def test_csv_and_ndjson_hold_the_same_reads(tmp_path: Path):
    small = {"days": 2, "vehicles": 400, "cameras": 30}
    tables = {}
    for fmt in ("parquet", "csv", "ndjson"):
        result = simulate(tmp_path / fmt, 5, fmt=fmt, **small)
        assert all(p.suffix == f".{fmt}" for p in result.files)
        if fmt == "ndjson":
            lines = result.files[0].read_text().splitlines()
            rows = [json.loads(line) for line in lines]
        elif fmt == "csv":
            rows = pacsv.read_csv(
                result.files[0],
                convert_options=pacsv.ConvertOptions(column_types={"read_at": pa.string()}),
            ).to_pylist()
        else:
            rows = pq.read_table(result.files[0]).to_pylist()
        tables[fmt] = rows
    parquet = tables["parquet"]
    for fmt in ("csv", "ndjson"):
        rows = tables[fmt]
        assert [r["read_id"] for r in rows] == [r["read_id"] for r in parquet]
        assert [r["plate"] for r in rows] == [r["plate"] for r in parquet]
        for text, original in zip(rows, parquet, strict=True):
            assert text["read_at"].endswith("Z")
            assert datetime.fromisoformat(text["read_at"]) == original["read_at"]
            assert text["confidence"] == pytest.approx(original["confidence"], abs=1e-6)
            assert (text["colour"] or None) == original["colour"]


def test_the_region_is_on_land_in_great_britain(region: Path):
    land = shapely.Polygon(DEFAULT_REGION.land)
    for camera in _cameras(region).values():
        assert DEFAULT_REGION.south <= camera["lat"] <= DEFAULT_REGION.north
        assert DEFAULT_REGION.west <= camera["lon"] <= DEFAULT_REGION.east
        assert land.buffer(0.02).contains(shapely.Point(camera["lon"], camera["lat"]))
    truth = load_truth(region)
    assert {t["name"] for t in truth["towns"]} <= set(TOWN_NAME_LIST)
    populations = sorted((t["population"] for t in truth["towns"]), reverse=True)
    assert populations[0] > 10 * populations[-1]


# --- planted truth, checked in the reads ----------------------------------------------------


def test_followers_trail_their_targets_on_three_or_more_trips(region: Path):
    truth = load_truth(region)
    reads = _by_plate(_reads(region))
    assert truth["convoys"]
    for convoy in truth["convoys"]:
        windows = [
            (datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
            for w in convoy["windows"]
        ]
        target = reads[convoy["target"]]
        for follower in convoy["followers"]:
            trips = set()
            cameras = set()
            for f in reads[follower]:
                for t in target:
                    gap = (f["read_at"] - t["read_at"]).total_seconds()
                    if f["camera_id"] == t["camera_id"] and 0 < gap <= 90:
                        trip = [i for i, (a, b) in enumerate(windows) if a <= t["read_at"] <= b]
                        assert trip, "a trailing read outside the planted windows"
                        trips.add(trip[0])
                        cameras.add(t["camera_id"])
            assert len(trips) >= 3, (convoy["target"], follower)
            assert len(cameras) >= 2


def test_cloned_plates_are_two_cars_far_apart_at_once(region: Path):
    truth = load_truth(region)
    reads = _by_plate(_reads(region))
    cameras = _cameras(region)
    register = {
        plates.normalise(r["plate"]): r for r in pacsv.read_csv(region / "register.csv").to_pylist()
    }
    assert truth["clones"]
    for clone in truth["clones"]:
        real, fake = clone["vehicles"]
        assert (real["make"], real["colour"]) != (fake["make"], fake["colour"])
        assert register[clone["plate"]]["make"] == real["make"]
        seen = reads[clone["plate"]]
        makes = {r["make"] for r in seen if r["make"]}
        assert {real["make"], fake["make"]} <= makes
        impossible = 0
        for a, b in itertools.pairwise(seen):
            km = _km(cameras[a["camera_id"]], cameras[b["camera_id"]])
            hours = max((b["read_at"] - a["read_at"]).total_seconds(), 1) / 3600
            if km > 2 and km / hours > MAX_SPEED_KMH:
                impossible += 1
        assert impossible >= 1, clone["plate"]


def test_county_lines_runners_make_short_round_trips_to_distant_towns(region: Path):
    truth = load_truth(region)
    reads = _by_plate(_reads(region))
    cameras = _cameras(region)
    assert truth["county_lines"]
    for runner in truth["county_lines"]:
        hub = runner["hub"]
        away = 0
        left = None
        trips = 0
        for r in reads[runner["plate"]]:
            km = _km(hub, cameras[r["camera_id"]])
            if km * 1000 <= hub["radius_m"]:
                if left is not None and away and r["read_at"] - left <= timedelta(hours=6):
                    trips += 1
                left, away = r["read_at"], 0
            elif km >= 30:
                away += 1
        assert trips >= 3, runner["plate"]
        assert len(runner["destinations"]) >= 2


def test_ordinary_vehicles_never_move_impossibly(region: Path):
    truth = load_truth(region)
    clones = {c["plate"] for c in truth["clones"]}
    cameras = _cameras(region)
    known = {
        plates.normalise(p) for p in pacsv.read_csv(region / "register.csv")["plate"].to_pylist()
    }
    for plate, seen in _by_plate(_reads(region)).items():
        if plate in clones or plate not in known:
            continue  # clones are meant to; misread plates are not one vehicle
        seen = [r for r in seen if plates.normalise(r["plate"]) == plate]
        for a, b in itertools.pairwise(seen):
            km = _km(cameras[a["camera_id"]], cameras[b["camera_id"]])
            hours = max((b["read_at"] - a["read_at"]).total_seconds(), 1) / 3600
            assert km <= 2 or km / hours <= MAX_SPEED_KMH, (plate, a, b)


# --- options and the command ----------------------------------------------------------------


def test_start_region_and_bad_options(tmp_path: Path):
    start = datetime(2026, 1, 5, 6, tzinfo=UTC)
    sim = Simulation(3, days=1, vehicles=300, cameras=20, start=start, region=REGIONS["wessex"])
    first, last = sim.reads.at_ms[0] / 1000, sim.reads.at_ms[-1] / 1000
    assert start.timestamp() <= first and last < (start + timedelta(days=1)).timestamp()
    lat, lon = sim.network.camera_latlon()
    assert (lat > 50.6).all() and (lon < -1.4).all()
    with pytest.raises(InvalidInput) as bad:
        simulate(tmp_path, 1, days=0)
    assert "days" in bad.value.errors
    with pytest.raises(InvalidInput) as bad:
        simulate(tmp_path, 1, fmt="xml")
    assert "format" in bad.value.errors
    with pytest.raises(InvalidInput):
        Simulation(1, start=datetime(2025, 1, 1))  # no time zone
    with pytest.raises(InvalidInput):
        load_truth(tmp_path)


def test_default_start_is_the_last_whole_days():
    now = datetime(2026, 12, 6, 15, 30, tzinfo=UTC)
    assert parse_start(None, 7, now) == datetime(2026, 11, 29, tzinfo=UTC)
    assert parse_start("2025-03-03", 7) == datetime(2025, 3, 3, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        parse_start("last tuesday", 7)


def test_simulate_command(tmp_path: Path):
    assert {f.value for f in ReadFormat} == set(FORMATS)
    assert {r.value for r in RegionKey} == set(REGIONS)
    out = tmp_path / "cli"
    args = ["simulate", str(out), "--vehicles", "300", "--cameras", "20", "--days", "2"]
    result = CliRunner().invoke(anpr_app, [*args, "--format", "csv", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["reads"] == sum(
        len(Path(p).read_text().splitlines()) - 1 for p in summary["files"]
    )
    assert summary["cameras"] == 20 and summary["convoys"] >= 1
    assert Path(summary["truth"]).is_file()
    result = CliRunner().invoke(anpr_app, ["simulate", str(tmp_path / "x"), "--days", "0"])
    assert result.exit_code != 0
