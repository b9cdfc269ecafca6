"""Knox test for space-time clustering, run the way Ratcliffe's Near Repeat Calculator runs it.

Every unordered pair of events is put in a spatial band and a temporal band. The table of
observed pair counts is compared with the mean table over ``iterations`` Monte Carlo runs in
which the dates are shuffled across the locations; the Knox ratio is observed / mean expected
and the p-value is (the number of runs with a count >= observed, plus 1) / (iterations + 1), as
the calculator reports it (0.01 is the best possible with 99 iterations). Where the mean
expected count is 0 the ratio is NaN in ``KnoxResult.ratio`` and None, with a note, in
``KnoxResult.rows()``.

Bands follow the calculator (version 1.3): a "Same location" spatial band (distance 0), then
``spatial_bands`` bands of ``spatial_bandwidth`` metres and a "More than" band; temporal bands
of ``temporal_bandwidth`` days and a "More than" band. Labels use the calculator's wording
("1 to 200 metres", "201 to 400 metres", "0 to 7 days", "8 to 14 days", "More than 14 days").

``calculator_edges=True`` (the default) reproduces the calculator's published outputs exactly:

* a band labelled "a to b" holds the half-open interval [a-1, b): band k of a bandwidth w holds
  (k-1)w <= value < kw, so "0 to 7 days" is 0-6 days apart, "8 to 14 days" is 7-13 days and
  "More than 14 days" is 14 days or more; "1 to 200 metres" is 0 < d < 200 and "201 to 400
  metres" is 200 <= d < 400;
* coordinates are first rounded to single precision (float32), as the calculator stores them,
  so pairs within a few centimetres of a band edge, and "same location", fall where it puts
  them.

``calculator_edges=False`` is a deliberate difference: coordinates keep full precision and the
bands honour their labels, band k holding (k-1)w < value <= kw (the first band also holds 0).
In whole days that is exactly "a to b days" inclusive ("0 to 7 days" is 0-7 days apart, "More
than 7 days" is 8 or more); in metres "1 to 200 metres" is 0 < d <= 200 and "More than 200
metres" is d > 200. Results then differ from the calculator's by one day (and a bandwidth's
edge in metres) at every boundary, which for near-repeat work is often the cell that matters.

Only the temporal band of a pair changes when dates are permuted, and the multiset of dates
(hence the temporal histogram over all pairs) never does. So the spatial band of every pair
within the spatial range is found once with a KD-tree, each run re-bands only those pairs, and
the "More than" spatial row is the all-pairs temporal histogram (from sorted dates) minus the
nearer rows. Memory grows with the number of pairs inside the spatial range (about 24 bytes a
pair), not with n squared.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

Metric = Literal["euclidean", "manhattan"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class KnoxRow(NamedTuple):
    """One cell of a Knox table; ``ratio`` is None (with a ``note``) when undefined."""

    spatial: str
    temporal: str
    observed: int
    expected: float
    ratio: float | None
    p_value: float
    note: str | None = None


@dataclass(frozen=True)
class KnoxDesign:
    """Band settings: bandwidths in metres and days, edge convention and distance metric."""

    spatial_bandwidth: int
    spatial_bands: int
    temporal_bandwidth: int
    temporal_bands: int
    calculator_edges: bool = True
    metric: Metric = "euclidean"

    def __post_init__(self) -> None:
        """Reject bandwidths, band counts or metrics the calculator could not take."""
        for name in ("spatial_bandwidth", "spatial_bands", "temporal_bandwidth", "temporal_bands"):
            _check_positive_int(name, getattr(self, name))
        if self.metric not in ("euclidean", "manhattan"):
            raise ValueError(f"metric: expected 'euclidean' or 'manhattan', got {self.metric!r}")

    @property
    def space_edges(self) -> FloatArray:
        """Upper edges of the spatial bands in metres."""
        return self.spatial_bandwidth * np.arange(1, self.spatial_bands + 1, dtype=np.float64)

    @property
    def time_edges(self) -> IntArray:
        """Upper edges of the temporal bands in days."""
        return self.temporal_bandwidth * np.arange(1, self.temporal_bands + 1, dtype=np.int64)

    @property
    def spatial_labels(self) -> tuple[str, ...]:
        """Row labels: "Same location", "1 to w metres", ..., "More than Nw metres"."""
        width, bands = self.spatial_bandwidth, self.spatial_bands
        inner = [f"{(k - 1) * width + 1} to {k * width} metres" for k in range(1, bands + 1)]
        return ("Same location", *inner, f"More than {bands * width} metres")

    @property
    def temporal_labels(self) -> tuple[str, ...]:
        """Column labels: "0 to w days", "w+1 to 2w days", ..., "More than Nw days"."""
        width, bands = self.temporal_bandwidth, self.temporal_bands
        inner = [
            f"{0 if k == 1 else (k - 1) * width + 1} to {k * width} days"
            for k in range(1, bands + 1)
        ]
        return (*inner, f"More than {bands * width} days")


@dataclass(frozen=True, eq=False)
class KnoxResult:
    """Knox table: rows are spatial bands, columns temporal bands."""

    design: KnoxDesign
    observed: IntArray  # pair counts
    expected: FloatArray  # mean count over the permutations
    expected_sd: FloatArray  # standard deviation of the count over the permutations
    ratio: FloatArray  # observed / expected; NaN where expected is 0
    p_value: FloatArray  # (1 + permutations with count >= observed) / (iterations + 1)
    n_events: int
    iterations: int
    seed: int | None

    @property
    def spatial_labels(self) -> tuple[str, ...]:
        """Row labels, as the calculator prints them."""
        return self.design.spatial_labels

    @property
    def temporal_labels(self) -> tuple[str, ...]:
        """Column labels, as the calculator prints them."""
        return self.design.temporal_labels

    def rows(self) -> list[KnoxRow]:
        """Return the table one cell a row, spatial band by spatial band."""
        shape = self.observed.shape
        return [self.cell(s, t) for s in range(shape[0]) for t in range(shape[1])]

    def cell(self, spatial: int | str, temporal: int | str) -> KnoxRow:
        """Return one cell, by band index or label."""
        s = _band_position(spatial, self.spatial_labels, "spatial")
        t = _band_position(temporal, self.temporal_labels, "temporal")
        ratio = float(self.ratio[s, t])
        note = None
        if math.isnan(ratio):
            note = (
                f"expected count is 0 in all {self.iterations} permutations "
                f"(observed {int(self.observed[s, t])}); Knox ratio undefined"
            )
        return KnoxRow(
            spatial=self.spatial_labels[s],
            temporal=self.temporal_labels[t],
            observed=int(self.observed[s, t]),
            expected=float(self.expected[s, t]),
            ratio=None if note else ratio,
            p_value=float(self.p_value[s, t]),
            note=note,
        )


def _band_position(band: int | str, labels: tuple[str, ...], kind: str) -> int:
    """Resolve a band index or label to an index."""
    if isinstance(band, str):
        if band not in labels:
            raise KeyError(f"{kind} band: expected one of {list(labels)}, got {band!r}")
        return labels.index(band)
    if not -len(labels) <= band < len(labels):
        raise IndexError(f"{kind} band: expected an index below {len(labels)}, got {band}")
    return band % len(labels)


@dataclass(frozen=True)
class _PairTable:
    """Counts the Knox table for any assignment of dates to the fixed locations."""

    design: KnoxDesign
    first: npt.NDArray[np.intp]
    second: npt.NDArray[np.intp]
    band: IntArray
    all_pairs: IntArray

    def __call__(self, days: IntArray) -> IntArray:
        """Return observed counts per (spatial band, temporal band) for ``days``."""
        design = self.design
        gap = np.abs(days[self.first] - days[self.second])
        columns = design.temporal_bands + 1
        cell = self.band * columns + _band_index(gap, design.time_edges, design)
        near = np.bincount(cell, minlength=(design.spatial_bands + 1) * columns)
        near = near.reshape(design.spatial_bands + 1, columns).astype(np.int64)
        return np.vstack([near, self.all_pairs - near.sum(axis=0)])


def knox(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    dates: npt.ArrayLike,
    *,
    spatial_bandwidth: int,
    spatial_bands: int,
    temporal_bandwidth: int,
    temporal_bands: int,
    iterations: int = 99,
    seed: int | None = None,
    calculator_edges: bool = True,
    metric: Metric = "euclidean",
) -> KnoxResult:
    """Run the Knox test with Near Repeat Calculator bands (see the module docstring)."""
    design = KnoxDesign(
        spatial_bandwidth,
        spatial_bands,
        temporal_bandwidth,
        temporal_bands,
        calculator_edges,
        metric,
    )
    _check_positive_int("iterations", iterations)
    xs, ys, days = _inputs(x, y, dates)
    if calculator_edges:
        xs, ys = (values.astype(np.float32).astype(np.float64) for values in (xs, ys))
    table = _pair_table(design, xs, ys, days)
    observed = table(days)
    rng = np.random.default_rng(seed)
    runs = np.stack([table(rng.permutation(days)) for _ in range(iterations)])
    expected = runs.mean(axis=0)
    safe = np.where(expected > 0, expected, 1.0)
    return KnoxResult(
        design=design,
        observed=observed,
        expected=expected,
        expected_sd=runs.std(axis=0, ddof=1) if iterations > 1 else np.zeros_like(expected),
        ratio=np.where(expected > 0, observed / safe, np.nan),
        p_value=((runs >= observed).sum(axis=0) + 1) / (iterations + 1),
        n_events=len(days),
        iterations=iterations,
        seed=seed,
    )


def _check_positive_int(name: str, value: object) -> None:
    """Raise unless ``value`` is a whole number of at least 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"{name}: expected a whole number of at least 1, got {value!r}")


def _inputs(
    x: npt.ArrayLike, y: npt.ArrayLike, dates: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Check and convert coordinates (metres) and dates (whole days)."""
    xs, ys = _coordinates(x, "x"), _coordinates(y, "y")
    days = _day_numbers(dates)
    if not len(xs) == len(ys) == len(days):
        raise ValueError(
            f"x, y, dates: expected the same length, got {len(xs)}, {len(ys)}, {len(days)}"
        )
    if len(days) < 2:
        raise ValueError(f"x, y, dates: expected at least 2 events, got {len(days)}")
    return xs, ys, days


def _coordinates(values: npt.ArrayLike, name: str) -> FloatArray:
    """Return a 1-D float array of finite coordinates."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected numbers (metres, projected CRS): {exc}") from exc
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"{name}: expected finite numbers, got {array[bad[0]]} at {bad[0]}")
    return array


def _day_numbers(dates: npt.ArrayLike) -> IntArray:
    """Return whole day numbers from datetime64 values, ISO date strings or day numbers."""
    array = np.asarray(dates)
    if array.ndim != 1:
        raise ValueError(f"dates: expected a 1-D array, got shape {array.shape}")
    if array.dtype.kind in "OUS":
        try:
            array = array.astype("datetime64[D]")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"dates: expected dates or day numbers: {exc}") from exc
    if array.dtype.kind == "M":
        if np.isnat(array).any():
            raise ValueError(
                f"dates: expected dates, got NaT at {np.flatnonzero(np.isnat(array))[0]}"
            )
        return array.astype("datetime64[D]").astype(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(array) | (array != np.round(array)))
        if bad.size:
            raise ValueError(f"dates: expected whole day numbers, got {array[bad[0]]} at {bad[0]}")
        return array.astype(np.int64)
    raise ValueError(f"dates: expected datetime64 values or day numbers, got dtype {array.dtype}")


def _band_index(
    values: npt.NDArray[np.generic], edges: npt.NDArray[np.generic], design: KnoxDesign
) -> IntArray:
    """Band of each value: [e(k-1), e(k)) with calculator edges, (e(k-1), e(k)] without."""
    side: Literal["left", "right"] = "right" if design.calculator_edges else "left"
    return np.searchsorted(edges, values, side=side).astype(np.int64)


def _pair_table(design: KnoxDesign, xs: FloatArray, ys: FloatArray, days: IntArray) -> _PairTable:
    """Find every pair within the spatial range, its spatial band and the all-pairs histogram."""
    edges = design.space_edges
    tree = cKDTree(np.column_stack([xs, ys]))
    reach = float(edges[-1]) * (1 + 1e-9) + 1e-6
    p = 2.0 if design.metric == "euclidean" else 1.0
    found = tree.query_pairs(reach, p=p, output_type="ndarray").astype(np.intp)
    first, second = found[:, 0], found[:, 1]
    dx, dy = np.abs(xs[first] - xs[second]), np.abs(ys[first] - ys[second])
    distance = np.hypot(dx, dy) if design.metric == "euclidean" else dx + dy
    band = np.where(distance == 0, 0, 1 + _band_index(distance, edges, design))
    inside = band <= design.spatial_bands
    return _PairTable(
        design=design,
        first=first[inside],
        second=second[inside],
        band=band[inside].astype(np.int64),
        all_pairs=_time_histogram(days, design),
    )


def _time_histogram(days: IntArray, design: KnoxDesign) -> IntArray:
    """Count all pairs per temporal band from sorted dates (the same under any permutation)."""
    ordered = np.sort(days)
    n = len(ordered)
    side: Literal["left", "right"] = "left" if design.calculator_edges else "right"
    before = np.arange(1, n + 1)
    closer = [
        int((np.searchsorted(ordered, ordered + edge, side=side) - before).sum())
        for edge in design.time_edges
    ]
    cumulative: IntArray = np.array([0, *closer, n * (n - 1) // 2], dtype=np.int64)
    return cumulative[1:] - cumulative[:-1]


__all__ = ["KnoxDesign", "KnoxResult", "KnoxRow", "Metric", "knox"]
