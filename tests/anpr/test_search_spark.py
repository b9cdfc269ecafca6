"""Every search gives the same answer on Spark (local mode) as on DuckDB, on the same files."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from peel.anpr import search
from peel.anpr.search import Area, DuckDBEngine
from tests.anpr import search_fixtures as F

pyspark = pytest.importorskip(
    "pyspark", reason="pyspark is not installed (pip install peel[spark])"
)
if shutil.which("java") is None:
    pytest.skip("Spark needs a Java runtime (java on PATH)", allow_module_level=True)

from peel.anpr.spark import SparkEngine, local_spark  # noqa: E402


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    store = F.build_scenario(tmp_path_factory.mktemp("anpr-spark"))
    spark = local_spark("peel-anpr-tests", cores=2)
    yield DuckDBEngine(store), SparkEngine(store, spark)
    spark.stop()


C6 = F.CAMERAS["C6"][1]
SEARCHES: dict[str, Callable[[Any], Any]] = {
    "history": lambda e: search.history(e, F.COMMUTER, F.day(2, 12), F.day(6)),
    "history_fuzzy": lambda e: search.history(e, F.TARGET, F.START, F.END, fuzzy=True),
    "convoy": lambda e: search.convoy(
        e, F.TARGET, F.START, F.END, window_s=90, min_co_sightings=2, min_cameras=1
    ),
    # every candidate, scored: the floating-point chances must not depend on row order
    "convoy_all": lambda e: search.convoy(
        e, F.TARGET, F.START, F.END, 90, 1, 1, 500, min_occasions=1, min_score=0
    ),
    "clones": lambda e: search.clones(e, F.START, F.END, max_speed_kmh=200),
    "clones_one_plate": lambda e: search.clones(e, F.START, F.END, plate=F.REGISTERED),
    "visitors_cameras": lambda e: search.frequent_visitors(
        e, F.START, F.END, camera_ids=["C6", "C5"], hours=(20, 2), min_days=2
    ),
    "visitors_area": lambda e: search.frequent_visitors(
        e, F.START, F.END, area=Area(C6[0], C6[1], 300), min_days=4
    ),
    "stakeout": lambda e: search.stakeout(e, F.stakeout_windows(), min_windows=2),
    "county_lines": lambda e: search.county_lines(e, F.START, F.END, F.HUB, min_trips=2),
}


@pytest.mark.parametrize("name", list(SEARCHES))
def test_spark_agrees_with_duckdb(engines: tuple[Any, Any], name: str) -> None:
    duck, spark = engines
    expected = SEARCHES[name](duck)
    assert expected, "the scenario must give this search something to find"
    assert SEARCHES[name](spark) == expected


def test_spark_on_an_empty_time_range(engines: tuple[Any, Any]) -> None:
    _, spark = engines
    later = F.END + timedelta(days=30)
    found = search.history(spark, F.TARGET, later, later + timedelta(days=1))
    assert found.sightings == []
    assert search.convoy(spark, F.TARGET, later, later + timedelta(days=1)) == []
