"""12-month rolling back-test of every risk-surface method on synthetic crime, with timings.

The data: ``--events`` (150,000) synthetic crimes over three years in a 20 km x 20 km square,
with a seasonal cycle (summer peak, +/-25 %), made of four parts:

* background spread over three broad "town" densities (35 % of first-generation events);
* 80 persistent hot spots of 50-250 m spread and Pareto-distributed sizes (45 %);
* 150 transient hot spots, each active for 1-4 months, 50-150 m spread (20 %);
* near repeats: every event has Poisson(0.25) offspring, Exp(7-day) later and N(0, 40 m)
  away (and offspring have offspring), so about a quarter of all events are repeats.

Times are whole days, as in police records. The back-test (``peel.analytics.backtest.
rolling``) tests each month of the final year on a 150 m grid, training on all earlier
events; it prints hit rate / PAI / PEI at 1 %, 5 % and 10 % of the area.

The baseline is a straightforward implementation of the same surfaces measured in the same
run: per-cell Python loops over every training event (KDE, retrospective, prospective) and
a per-event loop over every earlier event for the SEPP expectation step, timed on a sample
of cells/events of the first test month and scaled to the full grid, every month and every
EM iteration. Its values are checked against the fast implementation on the sample. The
ratio is baseline seconds / fast seconds; the goal is the whole run under 60 s on 2 cores.

    .venv/bin/python benchmarks/backtest.py [--events 150000] [--months 12] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np

from peel.analytics import backtest, predict
from peel.analytics.hotspots import Events, FloatArray, Grid, quartic_kernel
from peel.analytics.predict import SeppParams

SIDE = 20_000.0
START = float(np.datetime64("2022-01-01", "D").astype(np.int64))
DAYS = 3 * 365
COVERAGES = (0.01, 0.05, 0.10)


def seasonal_days(rng: np.random.Generator, n: int, lo: float, hi: float) -> FloatArray:
    """Draw ``n`` times in [lo, hi) days with a +/-25 % yearly cycle peaking in July."""
    out = np.empty(0)
    while out.size < n:
        t = rng.uniform(lo, hi, 2 * n)
        keep = rng.uniform(0, 1.25, t.size) < 1 + 0.25 * np.cos(2 * np.pi * (t - 196) / 365.25)
        out = np.concatenate([out, t[keep]])
    return out[:n]


def first_generation(rng: np.random.Generator, n: int) -> tuple[FloatArray, ...]:
    """Background, persistent and transient hot-spot events (x, y, t), about ``n`` of them."""
    parts = []
    towns = rng.uniform(4000, 16000, (3, 2))
    nb = int(0.35 * n)
    which = rng.integers(0, 3, nb)
    parts.append(
        (*(towns[which].T + rng.normal(0, 3500, (2, nb))), seasonal_days(rng, nb, 0, DAYS))
    )
    centres = rng.uniform(1000, SIDE - 1000, (80, 2))
    sizes = rng.pareto(1.5, 80) + 1
    counts = rng.multinomial(int(0.45 * n), sizes / sizes.sum())
    spreads = np.repeat(rng.uniform(50, 250, 80), counts)
    k = int(counts.sum())
    xy = np.repeat(centres, counts, axis=0).T + rng.normal(0, 1, (2, k)) * spreads
    parts.append((*xy, seasonal_days(rng, k, 0, DAYS)))
    parts.append(transient(rng, int(0.20 * n)))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def transient(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Hot spots that switch on for 1-4 months at a random point in the three years."""
    centres = rng.uniform(1000, SIDE - 1000, (150, 2))
    begin = rng.uniform(0, DAYS - 30, 150)
    length = rng.uniform(30, 120, 150)
    counts = rng.multinomial(n, length / length.sum())
    idx = np.repeat(np.arange(150), counts)
    spread = rng.uniform(50, 150, 150)[idx]
    x = centres[idx, 0] + rng.normal(0, 1, idx.size) * spread
    y = centres[idx, 1] + rng.normal(0, 1, idx.size) * spread
    t = np.minimum(begin[idx] + rng.uniform(0, 1, idx.size) * length[idx], DAYS - 1e-6)
    return x, y, t


def synthetic(n: int, seed: int) -> Events:
    """About ``n`` clustered, seasonal, self-exciting events in the 20 km square."""
    rng = np.random.default_rng(seed)
    x, y, t = first_generation(rng, int(n * 0.75))
    gen = (x, y, t)
    while gen[0].size:
        kids = rng.poisson(0.25, gen[0].size)
        idx = np.repeat(np.arange(gen[0].size), kids)
        gen = (
            gen[0][idx] + rng.normal(0, 40, idx.size),
            gen[1][idx] + rng.normal(0, 40, idx.size),
            gen[2][idx] + rng.exponential(7, idx.size),
        )
        x, y, t = (np.concatenate([a, b]) for a, b in zip((x, y, t), gen, strict=True))
    keep = (x >= 0) & (x < SIDE) & (y >= 0) & (y < SIDE) & (t < DAYS)
    return Events.from_arrays(x[keep], y[keep], START + np.floor(t[keep]))


def slow_surface(
    events: Events, grid: Grid, cells: np.ndarray, kernel: Callable[..., FloatArray]
) -> FloatArray:
    """The straightforward way: for each cell, a kernel over every event."""
    cx, cy = (c.ravel() for c in grid.centres())
    out = np.empty(cells.size)
    for k, c in enumerate(cells):
        out[k] = kernel(cx[c] - events.x, cy[c] - events.y, events).sum()
    return out


def slow_kernels(settings: backtest.Settings, grid: Grid, cutoff: float) -> dict[str, Callable]:
    """Per-cell kernels for the straightforward KDE, retrospective and prospective."""
    quartic = quartic_kernel(settings.kde_bandwidth_m)
    h = settings.prospective_m

    def kde(dx: FloatArray, dy: FloatArray, ev: Events) -> FloatArray:
        return quartic(dx, dy)

    def retro(dx: FloatArray, dy: FloatArray, ev: Events) -> FloatArray:
        return quartic(dx, dy) * (ev.t >= cutoff - settings.retrospective_days)

    def prosp(dx: FloatArray, dy: FloatArray, ev: Events) -> FloatArray:
        d = np.hypot(dx, dy)
        age = cutoff - ev.t
        inside = (d <= h) & (age <= settings.prospective_days)
        return inside / (1 + d / grid.cell) / np.maximum(np.ceil(age / 7), 1)

    return {"kde": kde, "retrospective": retro, "prospective": prosp}


def slow_e_step(train: Events, sample: np.ndarray, fit: predict.SeppFit, grid: Grid) -> float:
    """The straightforward SEPP E-step for ``sample`` events: a loop over all earlier events."""
    mu = fit.background.ravel()[grid.cell_of(train.x, train.y)]
    total = 0.0
    for j in sample:
        earlier = train.t < train.t[j]
        dt = train.t[j] - train.t[earlier]
        d2 = (train.x[j] - train.x[earlier]) ** 2 + (train.y[j] - train.y[earlier]) ** 2
        g = np.exp(-d2 / (2 * fit.sigma**2)) / (2 * math.pi * fit.sigma**2)
        trig = fit.theta * fit.omega * np.exp(-fit.omega * dt) * g
        total += float((trig / (mu[j] + trig.sum())).sum())
    return total


def baseline_seconds(events: Events, grid: Grid, settings: backtest.Settings, months: int) -> float:
    """Time the straightforward surfaces on samples of the first test month, scaled up."""
    plan = backtest.month_windows(events.t, months)
    cutoff = plan[0][1]
    train = events.between(-math.inf, cutoff)
    rng = np.random.default_rng(0)
    cells = rng.choice(grid.n_cells, 200, replace=False)
    total = 0.0
    for name, kernel in slow_kernels(settings, grid, cutoff).items():
        start = time.perf_counter()
        slow = slow_surface(train, grid, cells, kernel)
        spent = time.perf_counter() - start
        fast = backtest.surface(name, train, grid, cutoff, settings).ravel()[cells]
        error = np.max(np.abs(slow - fast)) / max(np.max(np.abs(fast)), 1e-300)
        print(f"  straightforward {name:<13} {spent / cells.size * 1e3:7.2f} ms/cell, "
              f"max relative difference from fast {error:.1e}")  # fmt: skip
        total += spent / cells.size * grid.n_cells * months
    total += sepp_baseline(events, grid, cutoff, settings, months)
    return total


def sepp_baseline(
    events: Events, grid: Grid, cutoff: float, settings: backtest.Settings, months: int
) -> float:
    """Time the straightforward SEPP E-step on 300 events and scale to every event and month."""
    params = settings.sepp
    train = events.between(cutoff - params.train_days, cutoff)
    fit = predict.fit_sepp(events, grid, cutoff, SeppParams(iterations=1))
    sample = np.random.default_rng(1).choice(len(train), 300, replace=False)
    start = time.perf_counter()
    slow_e_step(train, sample, fit, grid)
    per_event = (time.perf_counter() - start) / sample.size
    print(f"  straightforward sepp E-step  {per_event * 1e3:7.2f} ms/event "
          f"x {len(train)} events x {params.iterations} iterations")  # fmt: skip
    return per_event * len(train) * params.iterations * months


def report(result: backtest.RollingResult) -> None:
    """Print the mean scores, one line per method, and how often each beat the baselines."""
    print(f"\n{'method':<14}" + "".join(f"{f'HR/PAI/PEI @{c:.0%}':>24}" for c in COVERAGES))
    by_method: dict[str, list[backtest.Row]] = {}
    for row in result.mean:
        by_method.setdefault(row.method, []).append(row)
    for method, rows in by_method.items():
        cells = "".join(f"{r.hit_rate:8.3f}{r.pai:8.2f}{r.pei:8.3f}" for r in rows)
        print(f"{method:<14}{cells}")
    print("\nmonths (of", len(result.months), ") where each method's PAI beat the best baseline:")
    for c in COVERAGES:
        wins = {m: 0 for m in by_method}
        for month in result.months:
            pais = {r.method: r.pai for r in month.rows if r.coverage == c}
            best = max(pais["naive"], pais["kde"])
            for m in wins:
                wins[m] += pais[m] > best
        others = [f"{m} {w}" for m, w in wins.items() if m not in backtest.BASELINES]
        print(f"  @{c:.0%}: " + ", ".join(others))


def main() -> None:
    """Generate the data, run the rolling back-test, time the baseline and print it all."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--cell", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    began = time.perf_counter()
    events = synthetic(args.events, args.seed)
    grid = Grid.from_bounds(0, 0, SIDE - 1e-6, SIDE - 1e-6, args.cell)
    print(f"{len(events)} events, {grid.nx} x {grid.ny} cells of {args.cell:g} m, "
          f"generated in {time.perf_counter() - began:.2f} s")  # fmt: skip
    settings = backtest.Settings()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    result = backtest.rolling(
        events, args.months, coverages=COVERAGES, grid=grid, settings=settings,
        progress=_progress(timings),
    )  # fmt: skip
    fast = time.perf_counter() - start
    report(result)
    print("\nseconds per method over all months: "
          + ", ".join(f"{m} {s:.1f}" for m, s in timings.items()))  # fmt: skip
    print("\nstraightforward implementation (sampled, scaled):")
    slow = baseline_seconds(events, grid, settings, args.months)
    print(f"\nrolling back-test {fast:.1f} s; straightforward estimate {slow:.0f} s; "
          f"ratio {slow / fast:.0f}x; whole run {time.perf_counter() - began:.1f} s")  # fmt: skip


def _progress(timings: dict[str, float]) -> backtest.Progress:
    """A progress callback that accumulates the seconds spent in each method."""
    last = [time.perf_counter()]

    def progress(fraction: float, message: str) -> None:
        now = time.perf_counter()
        method = message.split(": ")[-1]
        timings[method] = timings.get(method, 0.0) + now - last[0]
        last[0] = now

    return progress


if __name__ == "__main__":
    main()
