"""Pairwise and cluster precision, recall and F1, worked out by hand; grouped; from files."""

from __future__ import annotations

from itertools import combinations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.fusion import metrics
from peel.fusion.metrics import Scores, score_clusters, score_links, scores_by_group


def brute_force_pairs(predicted: list[str], truth: list[str]) -> tuple[int, int, int]:
    """Correct, predicted and true pairs by listing every pair (only for small tests)."""
    pairs = list(combinations(range(len(predicted)), 2))
    said = {p for p in pairs if predicted[p[0]] == predicted[p[1]]}
    true = {p for p in pairs if truth[p[0]] == truth[p[1]]}
    return len(said & true), len(said), len(true)


def test_a_hand_worked_example() -> None:
    # Predicted {1,2} {3,4}; true {1,2,3} {4}: one right pair of two said, of three true.
    found = score_clusters(["A", "A", "B", "B"], ["x", "x", "x", "y"])
    assert (found.pairwise.correct, found.pairwise.predicted, found.pairwise.actual) == (1, 2, 3)
    assert found.pairwise.precision == 0.5
    assert found.pairwise.recall == pytest.approx(1 / 3)
    assert found.pairwise.f1 == pytest.approx(0.4)
    assert (found.cluster.correct, found.cluster.predicted, found.cluster.actual) == (0, 2, 2)
    assert found.cluster.f1 == 0.0


def test_exact_entities_count_at_cluster_level() -> None:
    # Predicted {1,2} {3} {4,5}; true {1,2} {3,4,5}: one of three predicted is exactly right.
    found = score_clusters([1, 1, 2, 3, 3], ["p", "p", "q", "q", "q"])
    assert (found.cluster.correct, found.cluster.predicted, found.cluster.actual) == (1, 3, 2)
    assert found.cluster.precision == pytest.approx(1 / 3)
    assert found.cluster.recall == 0.5
    assert found.pairwise.precision == 1.0
    assert found.pairwise.recall == pytest.approx(2 / 4)


def test_linking_nothing_is_precise_but_finds_nothing() -> None:
    found = score_clusters(["a", "b", "c"], ["x", "x", "y"])
    assert found.pairwise == Scores(1.0, 0.0, 0.0, 0, 0, 1)
    assert found.cluster.correct == 1  # {c} is a true singleton


def test_no_records_and_mismatched_lengths() -> None:
    assert score_clusters([], []).pairwise.f1 == 1.0
    with pytest.raises(ValueError, match="3 predicted labels but 2 true"):
        score_clusters(["a", "b", "c"], ["x", "y"])
    with pytest.raises(ValueError, match="row 2 has no cluster label"):
        score_clusters(["a", None], ["x", "y"])


labels = st.lists(st.integers(0, 6), min_size=0, max_size=40)


@settings(max_examples=100, deadline=None)
@given(labels, st.permutations(list(range(7))))
def test_a_perfect_prediction_scores_one(truth: list[int], renaming: list[int]) -> None:
    predicted = [f"entity-{renaming[t]}" for t in truth]  # other names, same grouping
    found = score_clusters(predicted, truth)
    assert found.pairwise.f1 == found.cluster.f1 == 1.0
    assert found.pairwise.precision == found.cluster.recall == 1.0


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_counting_by_intersections_equals_listing_pairs(data: st.DataObject) -> None:
    truth = data.draw(labels)
    predicted = data.draw(st.lists(st.integers(0, 6), min_size=len(truth), max_size=len(truth)))
    found = score_clusters(predicted, truth).pairwise
    correct, said, true = brute_force_pairs([str(p) for p in predicted], [str(t) for t in truth])
    assert (found.correct, found.predicted, found.actual) == (correct, said, true)


def test_scores_by_group_count_pairs_inside_each_group() -> None:
    predicted = ["A", "A", "B", "B", "C", "C"]
    truth = ["x", "x", "y", "z", "w", "w"]
    groups = ["female", "female", "male", "male", None, None]
    found = scores_by_group(predicted, truth, groups)
    assert list(found) == ["(missing)", "female", "male"]
    assert found["female"].pairwise.f1 == 1.0
    assert found["male"].pairwise.precision == 0.0
    assert found["male"].records == 2


def test_links_scored_one_by_one() -> None:
    ids = ["1", "2", "3", "4"]
    truth = ["x", "x", "x", "y"]
    found = score_links(["1", "2"], ["2", "4"], ids, truth)
    assert (found.correct, found.predicted, found.actual) == (1, 2, 3)
    with pytest.raises(ValueError, match="not among the records"):
        score_links(["1"], ["9"], ids, truth)


def test_evaluate_joins_predictions_to_truth_by_record_id() -> None:
    predictions = pa.table({"record_id": ["3", "1", "2"], "entity_id": ["3", "1", "1"]})
    truth = pa.table(
        {"record_id": ["1", "2", "3"], "cluster": ["p", "p", "q"], "sex": ["f", "f", "m"]}
    )
    result = metrics.evaluate(predictions, truth, by="sex")
    assert result.overall.pairwise.f1 == 1.0 and result.overall.cluster.f1 == 1.0
    assert set(result.groups or {}) == {"f", "m"}
    assert result.as_dict()["overall"]["records"] == 3


def test_evaluate_from_pairwise_labels() -> None:
    predictions = pa.table({"record_id": ["1", "2", "3", "4"], "entity_id": ["1", "1", "1", "4"]})
    labels = pa.table(
        {
            "unique_id_l": [1, 2, 1],
            "unique_id_r": [2, 3, 4],
            "clerical_match_score": [1.0, 1.0, 0.0],
        }
    )
    result = metrics.evaluate(predictions, labels)
    assert result.overall.pairwise.f1 == 1.0


def test_evaluate_refuses_records_missing_from_either_side() -> None:
    predictions = pa.table({"record_id": ["1", "2"], "entity_id": ["1", "1"]})
    truth = pa.table({"record_id": ["1", "2", "3"], "cluster": ["p", "p", "q"]})
    with pytest.raises(ValueError, match="truth: 1 records are not in the predictions"):
        metrics.evaluate(predictions, truth)
    twice = pa.table({"record_id": ["1", "1"], "cluster": ["p", "p"]})
    with pytest.raises(ValueError, match="appear more than once"):
        metrics.evaluate(predictions, twice)
    with pytest.raises(KeyError, match="truth: column cluster is missing"):
        metrics.evaluate(predictions, truth.drop_columns(["cluster"]))
