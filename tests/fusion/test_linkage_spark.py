"""The linkage on Spark gives the answers DuckDB gives (same model, same pairs, same evidence)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install peel[spark])")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java, and no java is on the PATH", allow_module_level=True)

from peel.fusion import linkage
from peel.fusion.linkage import LinkageConfig
from peel.fusion.linkage_spark import linkage_spark_session
from tests.fusion.linkage_fixtures import people


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = linkage_spark_session(cores=2, app_name="peel-linkage-tests")
    yield session
    session.stop()


def test_spark_scores_like_duckdb(spark: Any) -> None:
    persons = people(count=150)
    duck = linkage.score_pairs(persons, LinkageConfig())
    on_spark = linkage.score_pairs(
        persons, LinkageConfig(engine="spark"), spark=spark, model=duck.model
    )
    order = [("record_a", "ascending"), ("record_b", "ascending")]
    ours, theirs = duck.pairs.sort_by(order).to_pylist(), on_spark.pairs.sort_by(order).to_pylist()
    assert on_spark.stats["candidate_pairs"] == duck.stats["candidate_pairs"]
    assert [(p["record_a"], p["record_b"]) for p in theirs] == [
        (p["record_a"], p["record_b"]) for p in ours
    ]
    for mine, other in zip(ours, theirs, strict=True):
        assert other["match_probability"] == pytest.approx(mine["match_probability"], abs=1e-9)
        assert json.loads(other["evidence"]) == json.loads(mine["evidence"])
    ids = persons["record_id"].to_pylist()
    assert linkage.cluster(ids, on_spark.pairs, 0.9) == linkage.cluster(ids, duck.pairs, 0.9)
