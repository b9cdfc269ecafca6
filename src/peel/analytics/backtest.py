"""Honest back-testing of risk surfaces: hit rate, PAI and PEI at a share of area flagged.

For a coverage c (0 < c <= 1) the ``k = max(1, round(c * cells))`` highest-ranked cells are
flagged (ties broken by cell index, so results are reproducible); ``n`` is the test crimes in
flagged cells, ``N`` all test crimes inside the grid and ``a/A = k / cells``:

* hit rate = n / N;
* PAI (predictive accuracy index, Chainey, Tompson & Uhlig 2008) = (n / N) / (a / A);
* PEI (predictive efficiency index) = PAI / the best PAI with the same k cells, i.e. n over
  the test crimes in the k cells that turned out to have most crime.

The area A is the whole grid (its bounding box), so cells with nowhere for crime to happen
(fields, sea) count as area: compare PAIs only between surfaces on the same grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from peel.analytics import predict
from peel.analytics.hotspots import Events, FloatArray, Grid, IntArray, grid_counts
from peel.analytics.predict import METHODS, ProspectiveForm, SeppParams
from peel.core.errors import InvalidInput

BASELINES = ("naive", "kde")
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Row:
    """One method's scores at one coverage."""

    method: str
    coverage: float
    hit_rate: float
    pai: float
    pei: float


@dataclass(frozen=True)
class Settings:
    """Bandwidths and windows of every method (metres and days)."""

    naive_days: float = 28.0
    kde_bandwidth_m: float = 300.0
    retrospective_days: float = 56.0
    prospective_m: float = 400.0
    prospective_days: float = 56.0
    prospective_form: ProspectiveForm = "bowers"
    sepp: SeppParams = field(default_factory=SeppParams)
    sepp_horizon_days: float = 0.0


def _coverage(coverage: float) -> float:
    """Return ``coverage`` as a float, or raise unless 0 < coverage <= 1."""
    if not (isinstance(coverage, int | float | np.number) and 0 < coverage <= 1):
        raise InvalidInput({"coverage": f"must be in (0, 1], got {coverage!r}"})
    return float(coverage)


def flagged_count(n_cells: int, coverage: float) -> int:
    """The number of cells flagged at ``coverage``: round(coverage * cells), at least one."""
    return max(1, min(n_cells, math.floor(_coverage(coverage) * n_cells + 0.5)))


def ranking(risk: ArrayLike) -> IntArray:
    """Flat cell indices from riskiest to least risky, ties in cell-index order."""
    r = np.asarray(risk, dtype=np.float64).ravel()
    if r.size == 0 or not np.all(np.isfinite(r)):
        raise InvalidInput({"risk": "the risk surface must be non-empty and finite"})
    return np.argsort(-r, kind="stable").astype(np.int64)


def _counts(risk: ArrayLike, test_counts: ArrayLike) -> IntArray:
    """Validate the test counts against the risk surface and return them flat."""
    c = np.asarray(test_counts).ravel()
    if c.size != np.asarray(risk).size:
        raise InvalidInput({"test_counts": "must have one count per cell of the risk surface"})
    if c.sum() <= 0:
        raise InvalidInput({"test": "the test period has no crimes inside the grid"})
    if np.any(c < 0):
        raise InvalidInput({"test_counts": "counts cannot be negative"})
    return c.astype(np.int64)


def score(risk: ArrayLike, test_counts: ArrayLike, coverage: float) -> tuple[float, float, float]:
    """Return (hit rate, PAI, PEI) of ``risk`` against the test period's counts per cell."""
    counts = _counts(risk, test_counts)
    k = flagged_count(counts.size, coverage)
    total = int(counts.sum())
    n = int(counts[ranking(risk)[:k]].sum())
    best = int(np.sort(counts)[::-1][:k].sum())
    share = k / counts.size
    rate = n / total
    return rate, rate / share, n / best


def hit_rate(risk: ArrayLike, test_counts: ArrayLike, coverage: float) -> float:
    """Share of the test crimes that fall in the flagged cells (n / N)."""
    return score(risk, test_counts, coverage)[0]


def pai(risk: ArrayLike, test_counts: ArrayLike, coverage: float) -> float:
    """Predictive accuracy index: hit rate over the share of area flagged."""
    return score(risk, test_counts, coverage)[1]


def pei(risk: ArrayLike, test_counts: ArrayLike, coverage: float) -> float:
    """Predictive efficiency index: PAI over the best PAI possible with the same cells."""
    return score(risk, test_counts, coverage)[2]


def surface(
    method: str, train: Events, grid: Grid, cutoff: float, settings: Settings
) -> FloatArray:
    """Compute one method's risk surface from the events before ``cutoff``."""
    s = settings
    if method == "naive":
        return predict.naive(train, grid, s.naive_days, cutoff)
    if method == "kde":
        return predict.kde(train, grid, s.kde_bandwidth_m, cutoff)
    if method == "retrospective":
        return predict.retrospective(train, grid, s.kde_bandwidth_m, s.retrospective_days, cutoff)
    if method == "prospective":
        return predict.prospective(
            train, grid, cutoff, s.prospective_m, s.prospective_days, s.prospective_form
        )
    if method == "sepp":
        return predict.sepp(train, grid, cutoff, s.sepp, s.sepp_horizon_days)
    raise InvalidInput({"methods": f"unknown method {method!r}; choose from {METHODS}"})


def _methods(methods: Sequence[str]) -> list[str]:
    """The baselines first, then the other requested methods once each."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InvalidInput({"methods": f"unknown {unknown}; choose from {list(METHODS)}"})
    return list(dict.fromkeys([*BASELINES, *methods]))


def _evaluate(
    methods: list[str],
    train: Events,
    test: Events,
    grid: Grid,
    cutoff: float,
    coverages: Sequence[float],
    settings: Settings,
    step: Callable[[str], None] | None = None,
) -> list[Row]:
    """Score every method on one train/test split."""
    counts = grid_counts(test, grid)
    if counts.sum() == 0:
        raise InvalidInput({"test": "the test period has no crimes inside the grid"})
    rows = []
    for method in methods:
        risk = surface(method, train, grid, cutoff, settings)
        for c in coverages:
            rows.append(Row(method, c, *score(risk, counts, c)))
        if step:
            step(method)
    return rows


def fixed_split(
    train_events: Events,
    test_events: Events,
    cell: float = 150,
    coverages: Sequence[float] = (0.05,),
    methods: Sequence[str] = METHODS,
    grid: Grid | None = None,
    cutoff: float | None = None,
    settings: Settings | None = None,
) -> list[Row]:
    """Train on one set of events and test on a later one; naive and kde always included.

    The grid defaults to the bounding box of both sets with ``cell``-metre cells and the
    cut-off to the first test event's day; every training event must be before it.
    """
    if len(train_events) == 0 or len(test_events) == 0:
        raise InvalidInput({"events": "both the training and the test set need events"})
    covs = [_coverage(c) for c in coverages]
    grid = grid or Grid.covering(_concat(train_events, test_events), cell)
    end = float(np.floor(test_events.t.min())) if cutoff is None else float(cutoff)
    if train_events.t.max() >= end:
        raise InvalidInput({"train_events": "every training event must be before the cut-off"})
    return _evaluate(
        _methods(methods), train_events, test_events, grid, end, covs, settings or Settings()
    )


def _concat(a: Events, b: Events) -> Events:
    """Join two sets of events (categories kept only when both have them)."""
    cats = None
    if a.category is not None and b.category is not None:
        cats = np.concatenate([a.category, b.category])
    return Events(
        np.concatenate([a.x, b.x]), np.concatenate([a.y, b.y]), np.concatenate([a.t, b.t]), cats
    )


@dataclass(frozen=True)
class MonthResult:
    """The scores of one test month (``YYYY-MM``)."""

    month: str
    n_train: int
    n_test: int
    rows: list[Row]


@dataclass(frozen=True)
class RollingResult:
    """Mean scores over the tested months, each month's scores and the months skipped."""

    mean: list[Row]
    months: list[MonthResult]
    skipped: list[str]


def month_windows(t: FloatArray, months: int) -> list[tuple[str, float, float]]:
    """The last ``months`` calendar months of ``t``: (label, first day, day after last)."""
    last = np.floor(t.max()).astype("int64").astype("datetime64[D]").astype("datetime64[M]")
    out = []
    for back in range(months - 1, -1, -1):
        m = last - np.timedelta64(back, "M")
        start = float(m.astype("datetime64[D]").astype(np.int64))
        end = float((m + np.timedelta64(1, "M")).astype("datetime64[D]").astype(np.int64))
        out.append((str(m), start, end))
    return out


def rolling(
    events: Events,
    months: int = 12,
    cell: float = 150,
    coverages: Sequence[float] = (0.01, 0.05, 0.10),
    methods: Sequence[str] = METHODS,
    train_days: float | None = None,
    grid: Grid | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> RollingResult:
    """Test each of the last ``months`` calendar months, training on what came before it.

    Training uses every earlier event, or the ``train_days`` before the month. Months with
    no crimes in the grid are skipped (and listed); the mean is over the months tested.
    ``progress(fraction, message)`` is called after each method of each month.
    """
    _check_rolling(events, months, train_days)
    covs = [_coverage(c) for c in coverages]
    chosen = _methods(methods)
    grid = grid or Grid.covering(events, cell)
    settings = settings or Settings()
    results: list[MonthResult] = []
    skipped: list[str] = []
    plan = month_windows(events.t, months)
    for index, (label, start, end) in enumerate(plan):
        step = _stepper(progress, index, len(plan), len(chosen), label)
        result = _one_month(
            events, grid, (label, start, end), train_days, chosen, covs, settings, step
        )
        if result is None:
            skipped.append(label)
            if progress:
                progress((index + 1) / len(plan), f"{label}: skipped, no training events or crimes")
        else:
            results.append(result)
    if not results:
        raise InvalidInput({"events": "no month had both training events and test crimes"})
    return RollingResult(_mean(results), results, skipped)


def _check_rolling(events: Events, months: int, train_days: float | None) -> None:
    """Refuse a rolling back-test with no events, no months or a bad training window."""
    if not isinstance(months, int) or months < 1:
        raise InvalidInput({"months": "must be a whole number of months, 1 or more"})
    if train_days is not None and not train_days > 0:
        raise InvalidInput({"train_days": "must be a positive number of days"})
    if len(events) == 0:
        raise InvalidInput({"events": "no events to back-test on"})


def _stepper(
    progress: Progress | None, index: int, months: int, per_month: int, label: str
) -> Callable[[str], None] | None:
    """A callback reporting progress after each method of month ``index``."""
    if progress is None:
        return None
    done = [0]

    def step(method: str) -> None:
        done[0] += 1
        progress((index * per_month + done[0]) / (months * per_month), f"{label}: {method}")

    return step


def _one_month(
    events: Events,
    grid: Grid,
    month: tuple[str, float, float],
    train_days: float | None,
    methods: list[str],
    coverages: list[float],
    settings: Settings,
    step: Callable[[str], None] | None,
) -> MonthResult | None:
    """Score one test month, or return None if it has no training events or no crimes."""
    label, start, end = month
    first = -math.inf if train_days is None else start - train_days
    train = events.between(first, start)
    test = events.between(start, end)
    inside = int(grid_counts(test, grid).sum())
    if len(train) == 0 or inside == 0:
        return None
    rows = _evaluate(methods, train, test, grid, start, coverages, settings, step)
    return MonthResult(label, len(train), inside, rows)


def _mean(results: list[MonthResult]) -> list[Row]:
    """Average each (method, coverage) over the months."""
    keys = [(r.method, r.coverage) for r in results[0].rows]
    out = []
    for i, (method, cov) in enumerate(keys):
        vals = np.array([[m.rows[i].hit_rate, m.rows[i].pai, m.rows[i].pei] for m in results])
        hr, p, e = vals.mean(axis=0)
        out.append(Row(method, cov, float(hr), float(p), float(e)))
    return out
