"""``peel analytics`` as an analyst runs it: demo data, back-tests, Knox, hotspots, imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peel.analytics.demo import load_crime_demo
from peel.cli import app
from peel.core.config import get_settings
from tests.conftest import SHARED_DATA

runner = CliRunner()
CITY = SHARED_DATA / "crime" / "city_of_london_2016-01_to_2017-06"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PEEL_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_data_dir()
    load_crime_demo(settings.parquet_dir)
    yield settings.parquet_dir
    get_settings.cache_clear()


def peel(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_rolling_backtest_json_puts_baselines_beside_every_method(data_dir: Path) -> None:
    code, out = peel(
        "analytics",
        "backtest",
        "--dataset",
        "wessex-demo",
        "--months",
        "2",
        "--cell",
        "400",
        "--json",
    )
    assert code == 0, out
    rows = json.loads(out[out.index("[") :])
    methods = {r["method"] for r in rows}
    assert {"naive", "kde", "retrospective", "prospective", "sepp"} <= methods
    assert {r["coverage"] for r in rows} == {0.01, 0.05, 0.1}
    for r in rows:
        assert 0 <= r["hit_rate"] <= 1 and r["pai"] >= 0 and 0 <= r["pei"] <= 1


def test_knox_finds_the_planted_near_repeats(data_dir: Path) -> None:
    code, out = peel(
        "analytics",
        "knox",
        "--dataset",
        "wessex-demo",
        "--category",
        "burglary",
        "--space",
        "100",
        "--time",
        "7",
        "--iterations",
        "19",
        "--seed",
        "3",
        "--json",
    )
    assert code == 0, out
    rows = json.loads(out)
    close = next(
        r for r in rows if r["spatial"].startswith("1 to 100") and r["temporal"] == "0 to 7 days"
    )
    assert close["ratio"] > 1.5 and close["p_value"] <= 0.05


def test_hotspots_write_geojson(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "hot.geojson"
    code, out = peel("analytics", "hotspots", "--dataset", "wessex-demo", "--out", str(target))
    assert code == 0, out
    collection = json.loads(target.read_text())
    assert collection["type"] == "FeatureCollection" and collection["features"]
    lon, lat = collection["features"][0]["geometry"]["coordinates"][0][0]
    assert 50 < lat < 51.5 and -2.5 < lon < -1.0


def test_unknown_dataset_and_half_a_split_are_clear_errors(data_dir: Path) -> None:
    code, out = peel("analytics", "backtest", "--dataset", "nowhere")
    assert code == 2 and "No dataset 'nowhere'" in out
    code, out = peel("analytics", "backtest", "--train", "a.csv")
    assert code == 2 and "--train and --test" in out


def test_fixed_split_on_the_city_of_london(data_dir: Path) -> None:
    if not CITY.exists():
        pytest.skip(f"shared data not present: {CITY}")
    files = sorted(CITY.glob("*-street.csv"))
    args = [a for f in files[:12] for a in ("--train", str(f))]
    code, out = peel(
        "analytics",
        "backtest",
        *args,
        "--test",
        str(files[12]),
        "--cell",
        "100",
        "--coverage",
        "0.05",
        "--json",
    )
    assert code == 0, out
    rows = {r["method"]: r for r in json.loads(out)}
    assert rows["naive"]["hit_rate"] > 0.3  # months only: the last month is the naive period
    code, out = peel("analytics", "import", str(CITY), "--dataset", "city")
    assert code == 0 and "9,653 of 10,118 rows imported" in out


def test_any_csv_imports_through_a_mapping(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "force-export.csv"
    source.write_text(
        "Ref,When,E,N,Type\n"
        "A1,03/02/2025 21:15,530260,180880,Burglary\n"
        "A2,04/02/2025 02:40,530300,180900,Burglary\n"
        "A3,not a date,530300,180900,Burglary\n"
    )
    code, out = peel(
        "analytics",
        "import",
        str(source),
        "--dataset",
        "export",
        "--mapping",
        "crime_id=Ref",
        "--mapping",
        "occurred_at=When",
        "--mapping",
        "easting=E",
        "--mapping",
        "northing=N",
        "--mapping",
        "category=Type",
        "--date-format",
        "%d/%m/%Y %H:%M",
    )
    assert code == 0, out
    assert "2 of 3 rows imported" in out and "line 4" in out
    code, out = peel("analytics", "import", str(source), "--dataset", "x", "--mapping", "oops")
    assert code == 2 and "FIELD=COLUMN" in out


def test_points_far_outside_the_force_area_are_skipped(data_dir: Path) -> None:
    essex = SHARED_DATA / "crime" / "essex_2018-01_to_2018-07"
    if not essex.exists():
        pytest.skip(f"shared data not present: {essex}")
    files = sorted(essex.glob("*.csv"))[:1]
    code, out = peel(
        "analytics",
        "import",
        *map(str, files),
        "--dataset",
        "essex",
        "--bounds",
        "0.0",
        "51.4",
        "1.35",
        "52.1",
    )
    assert code == 0, out
    assert "outside_bounds" in out
