"""How good is a linkage: pairwise and cluster precision, recall and F1 against known truth.

*Pairwise*: a pair of records is predicted linked when both share a predicted entity, and
truly linked when both share a true one. Counts come from the sizes of the intersections of
predicted and true clusters (``n·(n-1)/2`` per cell), so a million records never mean a
trillion pairs. *Cluster*: a predicted entity is right only when it holds exactly the records
of one true entity (singletons included). With nothing to find, or nothing predicted, the
empty side counts as perfect (precision or recall 1.0), so a perfect answer always scores 1.

:func:`scores_by_group` repeats both for the records in each group of a column (for example
``sex`` or an ethnicity field), counting only pairs inside the group: a model that links one
group's records less well than another's shows up as a lower recall for that group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Labels: TypeAlias = Sequence[Any] | pa.Array | pa.ChunkedArray | np.ndarray


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 from the counts they come from."""

    precision: float
    recall: float
    f1: float
    correct: int
    predicted: int
    actual: int

    @classmethod
    def from_counts(cls, correct: int, predicted: int, actual: int) -> Scores:
        precision = correct / predicted if predicted else 1.0
        recall = correct / actual if actual else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1, correct, predicted, actual)


@dataclass(frozen=True)
class LinkageScores:
    """Both kinds of score for one set of records."""

    records: int
    pairwise: Scores
    cluster: Scores

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _codes(labels: Labels) -> np.ndarray:
    """Each label as a small integer (equal labels, equal codes); missing labels are refused."""
    array = labels if isinstance(labels, pa.Array | pa.ChunkedArray) else pa.array(labels)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count:
        row = int(pc.index(pc.is_null(array), True).as_py()) + 1
        raise ValueError(f"row {row} has no cluster label")
    encoded = pc.dictionary_encode(array)
    return np.asarray(encoded.indices, dtype=np.int64)


def _pairs(sizes: np.ndarray) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def score_clusters(predicted: Labels, truth: Labels) -> LinkageScores:
    """Pairwise and cluster scores of predicted entity labels against true ones, row by row."""
    pred = _codes(predicted)
    true = _codes(truth)
    if len(pred) != len(true):
        raise ValueError(f"{len(pred)} predicted labels but {len(true)} true labels")
    if len(pred) == 0:
        perfect = Scores.from_counts(0, 0, 0)
        return LinkageScores(0, perfect, perfect)
    pred_sizes = np.bincount(pred)
    true_sizes = np.bincount(true)
    cells, cell_sizes = np.unique(pred * (int(true.max()) + 1) + true, return_counts=True)
    cell_pred = cells // (int(true.max()) + 1)
    cell_true = cells % (int(true.max()) + 1)
    pairwise = Scores.from_counts(_pairs(cell_sizes), _pairs(pred_sizes), _pairs(true_sizes))
    exact = (cell_sizes == pred_sizes[cell_pred]) & (cell_sizes == true_sizes[cell_true])
    cluster = Scores.from_counts(
        int(exact.sum()), int((pred_sizes > 0).sum()), int((true_sizes > 0).sum())
    )
    return LinkageScores(len(pred), pairwise, cluster)


def score_links(record_a: Labels, record_b: Labels, record_ids: Labels, truth: Labels) -> Scores:
    """Pairwise scores of links taken one by one, without joining them into entities.

    This is how Splink's own accuracy analysis counts (each scored pair above a threshold is
    a predicted match), so a model measured here and one clustered can be told apart.
    """
    ids = pa.array(record_ids, pa.string()) if not isinstance(record_ids, pa.Array) else record_ids
    true = _codes(truth)
    a = pc.index_in(pa.array(record_a, pa.string()), ids)
    b = pc.index_in(pa.array(record_b, pa.string()), ids)
    if a.null_count or b.null_count:
        raise ValueError("some linked records are not among the records scored")
    same = true[np.asarray(a, dtype=np.int64)] == true[np.asarray(b, dtype=np.int64)]
    return Scores.from_counts(int(same.sum()), len(same), _pairs(np.bincount(true)))


def scores_by_group(predicted: Labels, truth: Labels, groups: Labels) -> dict[str, LinkageScores]:
    """:func:`score_clusters` within each group (missing group values form ``"(missing)"``)."""
    pred = _codes(predicted)
    true = _codes(truth)
    group_array = groups if isinstance(groups, pa.Array | pa.ChunkedArray) else pa.array(groups)
    names = pc.fill_null(pc.cast(group_array, pa.string()), "(missing)")
    if len(names) != len(pred):
        raise ValueError(f"{len(pred)} predicted labels but {len(names)} group values")
    group_codes = _codes(names)
    values = np.asarray(pc.unique(names).to_pylist(), dtype=object)
    found: dict[str, LinkageScores] = {}
    for code, name in enumerate(values):
        rows = group_codes == code
        found[str(name)] = score_clusters(pred[rows], true[rows])
    return dict(sorted(found.items()))


PAIR_LABEL_IDS = (("record_a", "record_b"), ("unique_id_l", "unique_id_r"))
PAIR_LABEL_SCORES = ("clerical_match_score", "match_probability", "is_match")


@dataclass(frozen=True)
class Evaluation:
    """Scores over all records, and per group of ``by`` when asked."""

    overall: LinkageScores
    by: str | None = None
    groups: dict[str, LinkageScores] | None = None

    def as_dict(self) -> dict[str, Any]:
        groups = {k: v.as_dict() for k, v in (self.groups or {}).items()}
        return {"overall": self.overall.as_dict(), "by": self.by, "groups": groups}


def evaluate(
    predictions: pa.Table,
    truth: pa.Table | None = None,
    truth_column: str = "cluster",
    by: str | None = None,
    names: tuple[str, str] = ("predictions", "truth"),
) -> Evaluation:
    """Score predicted entities against true clusters (or pairwise match labels).

    ``predictions`` holds ``record_id`` and ``entity_id``; ``truth`` holds ``record_id`` and
    ``truth_column``, or pairs (``record_a, record_b`` or ``unique_id_l, unique_id_r``) with a
    label (``clerical_match_score`` and the like, a match from 0.5), whose matches are
    joined into clusters. Without ``truth``, ``predictions`` must hold the truth column too.
    """
    if truth is None:
        truth, names = predictions, (names[0], names[0])
    pair_ids = next((p for p in PAIR_LABEL_IDS if set(p) <= set(truth.column_names)), None)
    if pair_ids is not None:
        if by:
            raise KeyError(f"{names[1]}: pairwise labels have no {by} column to group by")
        _need(predictions, ("record_id",), names[0])
        truth = clusters_from_labels(predictions["record_id"], truth, pair_ids)
        truth_column = "cluster"
    entity, true, group = align(predictions, truth, truth_column, by=by, names=names)
    overall = score_clusters(entity, true)
    if group is None:
        return Evaluation(overall)
    return Evaluation(overall, by, scores_by_group(entity, true, group))


def clusters_from_labels(
    record_ids: pa.Array | pa.ChunkedArray, labels: pa.Table, ids: tuple[str, str]
) -> pa.Table:
    """``record_id, cluster`` from pairwise labels: records joined by matching pairs."""
    from peel.fusion.linkage import cluster_array

    score = next((c for c in PAIR_LABEL_SCORES if c in labels.column_names), None)
    if score is None:
        raise KeyError("pairwise labels need a column " + " or ".join(PAIR_LABEL_SCORES))
    values = labels[score]
    if not pa.types.is_floating(values.type) and not pa.types.is_integer(values.type):
        values = pc.cast(pc.cast(values, pa.string()), pa.float64())
    pairs = pa.table(
        {
            "record_a": pc.cast(labels[ids[0]], pa.string()),
            "record_b": pc.cast(labels[ids[1]], pa.string()),
            "match_probability": pc.cast(values, pa.float64()),
        }
    )
    universe = pc.cast(record_ids, pa.string())
    if isinstance(universe, pa.ChunkedArray):
        universe = universe.combine_chunks()
    return pa.table({"record_id": universe, "cluster": cluster_array(universe, pairs, 0.5)})


def _need(table: pa.Table, columns: Sequence[str], name: str) -> None:
    for column in columns:
        if column not in table.column_names:
            raise KeyError(f"{name}: column {column} is missing")


def align(
    predictions: pa.Table,
    truth: pa.Table,
    truth_column: str,
    *,
    by: str | None = None,
    names: tuple[str, str] = ("predictions", "truth"),
) -> tuple[pa.Array, pa.Array, pa.Array | None]:
    """Predicted entity, true cluster and (optionally) group for the records in both tables.

    Every record must be in both (once): silently dropping some would flatter the scores.
    """
    _need(predictions, ("record_id", "entity_id"), names[0])
    _need(truth, ("record_id", truth_column, *((by,) if by else ())), names[1])
    left = predictions.select(["record_id", "entity_id"]).rename_columns(["record_id", "_entity"])
    right = truth.select(["record_id", truth_column, *((by,) if by else ())])
    right = right.rename_columns(["record_id", "_truth", *(("_group",) if by else ())])
    left = left.set_column(0, "record_id", pc.cast(left["record_id"], pa.string()))
    right = right.set_column(0, "record_id", pc.cast(right["record_id"], pa.string()))
    for table, name in ((left, names[0]), (right, names[1])):
        repeated = len(table) - pc.count_distinct(table["record_id"]).as_py()
        if repeated:
            raise ValueError(f"{name}: {repeated:,} record ids appear more than once")
    joined = left.join(right, "record_id", join_type="inner")
    for table, name in ((left, names[0]), (right, names[1])):
        if joined.num_rows != table.num_rows:
            missing = table.num_rows - joined.num_rows
            other = names[1] if name == names[0] else names[0]
            raise ValueError(f"{name}: {missing:,} records are not in the {other}")
    group = joined["_group"].combine_chunks() if by else None
    return joined["_entity"].combine_chunks(), joined["_truth"].combine_chunks(), group
