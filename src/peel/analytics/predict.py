"""Risk surfaces for the period after a cut-off: each method scores every cell of a Grid.

Only events before the cut-off are used (``t < cutoff``, days); a higher score means the cell
is ranked as riskier. The methods follow the standard crime-forecasting literature and the
open_cp (PredictCode) reference implementations, written afresh:

* ``naive`` - counts in the last 28 days (the "last month's hot spots" baseline);
* ``kde`` - quartic kernel density over all history given (the long-term baseline);
* ``retrospective`` - the same KDE over a fixed recent window;
* ``prospective`` - Bowers, Johnson & Pease (2004): recent nearby crimes raise risk;
* ``sepp`` - a self-exciting point process in the style of Mohler et al. (2011).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree

from peel.analytics.hotspots import (
    Events,
    FloatArray,
    Grid,
    IntArray,
    gaussian_cell_kernel,
    grid_counts,
    quartic_kde,
    spread,
)
from peel.core.errors import InvalidInput

METHODS = ("naive", "kde", "retrospective", "prospective", "sepp")
ProspectiveForm = Literal["bowers", "quartic"]


def _cutoff(events: Events, cutoff: float | None) -> float:
    """Default the cut-off to the day after the last event."""
    if cutoff is not None:
        if not math.isfinite(cutoff):
            raise InvalidInput({"cutoff": "must be a finite day number"})
        return float(cutoff)
    if len(events) == 0:
        raise InvalidInput({"events": "no events before the cut-off to learn from"})
    return float(np.floor(events.t.max())) + 1.0


def _window(events: Events, cutoff: float, days: float, name: str) -> Events:
    """The events in ``[cutoff - days, cutoff)``; ``days`` must be positive."""
    if not days > 0:
        raise InvalidInput({name: f"must be a positive number of days, got {days!r}"})
    return events.between(cutoff - days, cutoff)


def naive(
    events: Events, grid: Grid, last_days: float = 28, cutoff: float | None = None
) -> FloatArray:
    """Count the events of the last ``last_days`` before the cut-off in each cell."""
    end = _cutoff(events, cutoff)
    recent = _window(events, end, last_days, "last_days")
    return grid_counts(recent, grid).astype(np.float64)


def kde(
    events: Events, grid: Grid, bandwidth: float = 300, cutoff: float | None = None
) -> FloatArray:
    """Quartic KDE (events per m²) of every event before the cut-off."""
    end = _cutoff(events, cutoff)
    return quartic_kde(events.select(events.t < end), grid, bandwidth)


def retrospective(
    events: Events,
    grid: Grid,
    bandwidth: float = 300,
    window_days: float = 56,
    cutoff: float | None = None,
) -> FloatArray:
    """Quartic KDE of the events in the ``window_days`` before the cut-off."""
    end = _cutoff(events, cutoff)
    return quartic_kde(_window(events, end, window_days, "window_days"), grid, bandwidth)


def prospective(
    events: Events,
    grid: Grid,
    cutoff: float | None = None,
    bandwidth_m: float = 400,
    bandwidth_days: float = 56,
    form: ProspectiveForm = "bowers",
) -> FloatArray:
    """Prospective hot-spotting (Bowers, Johnson & Pease 2004).

    Every event within ``bandwidth_m`` of a cell centre and ``bandwidth_days`` before the
    cut-off adds a weight to the cell. ``form="bowers"`` (the default, the published form)
    uses ``1 / (1 + d / cell) * 1 / (1 + w)``, with d the distance from the event to the cell
    centre in metres (so distance is counted in cells, continuously) and w the event's age
    in whole weeks, the week before the cut-off being week 0 (ages of 0-7 days, then 7-14
    days is week 1, ...; with 56 days, weeks 0-7). ``form="quartic"`` uses a quartic kernel
    in space times a linear decay ``1 - age / bandwidth_days`` in time: smooth, no steps.
    Events ``bandwidth_days`` or less before the cut-off count (``t >= cutoff - days``).
    """
    end = _cutoff(events, cutoff)
    recent = _window(events, end, bandwidth_days, "bandwidth_days")
    age = end - recent.t
    if form == "bowers":
        time_w = 1.0 / (1.0 + np.maximum(np.ceil(age / 7.0) - 1.0, 0.0))
        cell = grid.cell

        def kernel(dx: FloatArray, dy: FloatArray) -> FloatArray:
            return 1.0 / (1.0 + np.hypot(dx, dy) / cell)

        return spread(recent, grid, bandwidth_m, kernel, time_w)
    if form == "quartic":
        return quartic_kde(recent, grid, bandwidth_m, 1.0 - age / bandwidth_days)
    raise InvalidInput({"form": "must be 'bowers' or 'quartic'"})


@dataclass(frozen=True)
class SeppParams:
    """Settings and bounds of the self-exciting point process fit (days and metres)."""

    train_days: float = 365.0  # the training window before the cut-off
    background_bandwidth_m: float = 400.0  # fixed quartic bandwidth of the background
    trigger_radius_m: float = 300.0  # farthest parent-child distance considered
    trigger_days: float = 60.0  # longest parent-child delay considered
    iterations: int = 10
    theta: float = 0.2  # starting values: expected offspring per event,
    omega: float = 0.1  # decay rate per day (mean delay 1/omega days),
    sigma: float = 50.0  # spatial spread in metres
    max_theta: float = 0.9
    min_sigma: float = 5.0

    def __post_init__(self) -> None:
        for name in ("train_days", "background_bandwidth_m", "trigger_radius_m", "trigger_days"):
            if not getattr(self, name) > 0:
                raise InvalidInput({name: "must be positive"})
        if not 1 <= self.iterations <= 200:
            raise InvalidInput({"iterations": "must be between 1 and 200"})


@dataclass(frozen=True)
class SeppFit:
    """A fitted model: background rate per cell (events/m²/day) and trigger parameters."""

    background: FloatArray
    theta: float
    omega: float
    sigma: float
    history: list[tuple[float, float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class _Pairs:
    """Candidate parent-child pairs: indices, time lag (days) and squared distance (m²)."""

    parent: IntArray
    child: IntArray
    dt: FloatArray
    d2: FloatArray


def _pairs(events: Events, radius: float, days: float) -> _Pairs:
    """Find every pair with ``0 < t_child - t_parent <= days`` and distance ``<= radius``.

    ``events`` must be sorted by time. A KD-tree over (x, y, t * radius / days) returns
    the pairs within ``radius * sqrt(2)``, a ball holding the space-time cylinder; they are
    then filtered exactly.
    """
    pts = np.column_stack([events.x, events.y, events.t * (radius / days)])
    ij = cKDTree(pts).query_pairs(radius * math.sqrt(2.0), output_type="ndarray")
    parent, child = ij[:, 0].astype(np.int64), ij[:, 1].astype(np.int64)  # i < j: t_i <= t_j
    dt = events.t[child] - events.t[parent]
    soon = (dt > 0) & (dt <= days)
    parent, child, dt = parent[soon], child[soon], dt[soon]
    d2 = (events.x[child] - events.x[parent]) ** 2 + (events.y[child] - events.y[parent]) ** 2
    near = d2 <= radius * radius
    return _Pairs(parent[near], child[near], dt[near], d2[near])


def fit_sepp(events: Events, grid: Grid, cutoff: float, params: SeppParams) -> SeppFit:
    """Fit background and trigger by EM on the window before the cut-off.

    ``lambda(t, s) = mu(s) + sum_{t_i < t} theta * omega * exp(-omega (t - t_i)) * g(s - s_i)``
    with g an isotropic Gaussian (std sigma) and mu a time-constant background: a fixed
    bandwidth quartic KDE on the grid of the events weighted by their probability of being
    background, divided by the window length. Each iteration computes, for every event,
    the probability that it was triggered by each earlier nearby event (the expectation
    step of stochastic declustering, used as weights rather than sampled, so the fit is
    deterministic) and re-estimates theta, omega, sigma and mu from them. Parameters are
    clipped to bounds that keep the truncated trigger (``trigger_radius_m``,
    ``trigger_days``) a fair approximation; omega and sigma ignore that truncation, edge
    effects at the start of the window are ignored, and at the end only offspring that
    could have happened yet are expected. Clustering tighter than the background bandwidth
    (small persistent hot spots) is read as triggering, so theta can come out high.
    """
    train = events.between(cutoff - params.train_days, cutoff)
    train = train.select(grid.cell_of(train.x, train.y) >= 0)
    train = train.select(np.argsort(train.t, kind="stable"))
    if len(train) == 0:
        raise InvalidInput({"events": "no events inside the grid in the training window"})
    span = min(params.train_days, cutoff - float(train.t.min()))
    span = max(span, 1.0)
    cells = grid.cell_of(train.x, train.y)
    pairs = _pairs(train, params.trigger_radius_m, params.trigger_days)
    theta, omega, sigma = params.theta, params.omega, params.sigma
    bg_weight = np.full(len(train), 1.0 - theta)
    history: list[tuple[float, float, float]] = []
    for _ in range(params.iterations):
        mu = quartic_kde(train, grid, params.background_bandwidth_m, bg_weight) / span
        p_trig, bg_weight = _expectation(train, cells, mu, pairs, (theta, omega, sigma))
        theta, omega, sigma = _maximisation(train, cutoff, pairs, p_trig, omega, params)
        history.append((theta, omega, sigma))
    mu = quartic_kde(train, grid, params.background_bandwidth_m, bg_weight) / span
    return SeppFit(mu, theta, omega, sigma, history)


def _expectation(
    train: Events,
    cells: IntArray,
    mu: FloatArray,
    pairs: _Pairs,
    trigger: tuple[float, float, float],
) -> tuple[FloatArray, FloatArray]:
    """Return each pair's probability of being parent-child and each event's of background."""
    theta, omega, sigma = trigger
    trig = (
        theta * omega * np.exp(-omega * pairs.dt)
        * np.exp(-pairs.d2 / (2.0 * sigma * sigma)) / (2.0 * math.pi * sigma * sigma)
    )  # fmt: skip
    bg = np.maximum(mu.ravel()[cells], 1e-300)
    total = bg + np.bincount(pairs.child, trig, minlength=len(train))
    return trig / total[pairs.child], bg / total


def _maximisation(
    train: Events,
    cutoff: float,
    pairs: _Pairs,
    p_trig: FloatArray,
    omega: float,
    params: SeppParams,
) -> tuple[float, float, float]:
    """Re-estimate theta, omega and sigma from the pair probabilities, within bounds."""
    offspring = float(p_trig.sum())
    if offspring <= 1e-9:
        return 0.0, params.omega, params.sigma
    room = np.minimum(cutoff - train.t, params.trigger_days)
    exposure = float(np.sum(1.0 - np.exp(-omega * room)))
    theta = min(offspring / max(exposure, 1e-9), params.max_theta)
    mean_delay = float(np.dot(p_trig, pairs.dt)) / offspring
    omega = 1.0 / min(max(mean_delay, 1.0 / 24.0), params.trigger_days / 3.0)
    var = float(np.dot(p_trig, pairs.d2)) / (2.0 * offspring)
    sigma = min(max(math.sqrt(var), params.min_sigma), params.trigger_radius_m / 3.0)
    return theta, omega, sigma


def sepp(
    events: Events,
    grid: Grid,
    cutoff: float | None = None,
    params: SeppParams | None = None,
    horizon_days: float = 0.0,
) -> FloatArray:
    """Self-exciting point process risk: the conditional intensity at the cut-off per cell.

    Returns expected events per day in each cell: the background ``mu * cell area`` plus
    every recent event's trigger ``theta * omega * exp(-omega * age)`` times the share of its
    Gaussian that falls in the cell (integrated exactly). With ``horizon_days > 0`` the
    trigger is averaged over ``[cutoff, cutoff + horizon_days]`` instead (offspring of
    offspring left out). See ``fit_sepp`` for the model and the fit.
    """
    end = _cutoff(events, cutoff)
    params = params or SeppParams()
    fit = fit_sepp(events, grid, end, params)
    background = fit.background * grid.cell_area
    if fit.theta <= 0:
        return background
    recent = _window(events, end, params.trigger_days, "trigger_days")
    age = end - recent.t
    if horizon_days > 0:
        decay = np.exp(-fit.omega * age) - np.exp(-fit.omega * (age + horizon_days))
        weight = fit.theta * decay / horizon_days
    else:
        weight = fit.theta * fit.omega * np.exp(-fit.omega * age)
    kernel = gaussian_cell_kernel(fit.sigma, grid.cell)
    radius = 4.0 * fit.sigma + grid.cell
    return background + spread(recent, grid, radius, kernel, weight)
