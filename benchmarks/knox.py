"""Knox test speed: ``peel.analytics.knox.knox`` against a straightforward numpy version.

Synthetic events (``--events``, default 12,000) are scattered over a 15 km square and a year,
with one in ten planted as a near repeat of an earlier event (within about 100 m and 7 days).
``knox()`` runs with ``--iterations`` permutations (default 99) and 3 x 100 m / 3 x 7 day
bands; the best of ``--repeats`` runs is reported.

The straightforward version builds, for the observed dates and for every permutation, the
full pairwise distance and date-gap matrices with numpy broadcasting, bands the upper
triangle and counts it with ``np.bincount``: O(n^2) work and memory per permutation. It runs
on ``--naive-events`` events (default 3,000; the matrices for 12,000 need several GB) and
its time is scaled by (events / naive events)^2 to estimate the full size. On that subset
both versions must give identical observed and expected tables (same seed, same
permutations), which checks the fast path. ``ratio`` is the straightforward (scaled) time
over ``knox()``'s. The goal is ``knox()`` under 10 s on two cores.

    .venv/bin/python benchmarks/knox.py
    .venv/bin/python benchmarks/knox.py --events 12000 --naive-events 12000  # no scaling
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from peel.analytics.knox import KnoxDesign, KnoxResult, knox

T = TypeVar("T")
GOAL_SECONDS = 10.0
DESIGN = KnoxDesign(spatial_bandwidth=100, spatial_bands=3, temporal_bandwidth=7, temporal_bands=3)
Events = tuple[np.ndarray, np.ndarray, np.ndarray]


def synthetic_events(n: int, seed: int) -> Events:
    """Uniform events over 15 km and 365 days, a tenth of them near repeats of earlier ones."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 15_000, n), rng.uniform(0, 15_000, n)
    days = rng.integers(0, 365, n)
    repeats = rng.choice(np.arange(1, n), size=n // 10, replace=False)
    sources = (rng.random(len(repeats)) * repeats).astype(np.int64)  # an earlier event
    x[repeats] = x[sources] + rng.normal(0, 50, len(repeats))
    y[repeats] = y[sources] + rng.normal(0, 50, len(repeats))
    days[repeats] = days[sources] + rng.integers(0, 8, len(repeats))
    return x, y, days


def run_knox(events: Events, iterations: int, seed: int) -> KnoxResult:
    """Run ``knox()`` with the benchmark design."""
    return knox(
        *events,
        spatial_bandwidth=DESIGN.spatial_bandwidth,
        spatial_bands=DESIGN.spatial_bands,
        temporal_bandwidth=DESIGN.temporal_bandwidth,
        temporal_bands=DESIGN.temporal_bands,
        iterations=iterations,
        seed=seed,
    )


def straightforward(events: Events, iterations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Observed and mean expected tables from full pairwise matrices for every permutation."""
    x, y, days = events
    x, y = x.astype(np.float32).astype(float), y.astype(np.float32).astype(float)  # as knox()
    upper = np.triu(np.ones((len(days), len(days)), dtype=bool), 1)
    rows, columns = DESIGN.spatial_bands + 2, DESIGN.temporal_bands + 1

    def table(when: np.ndarray) -> np.ndarray:
        distance = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])[upper]
        gap = np.abs(when[:, None] - when[None, :])[upper]
        band = np.minimum(distance // DESIGN.spatial_bandwidth + 1, rows - 1).astype(np.int64)
        band[distance == 0] = 0
        column = np.minimum(gap // DESIGN.temporal_bandwidth, columns - 1)
        return np.bincount(band * columns + column, minlength=rows * columns).reshape(rows, columns)

    rng = np.random.default_rng(seed)
    observed = table(days)
    runs = [table(rng.permutation(days)) for _ in range(iterations)]
    return observed, np.mean(runs, axis=0)


def timed(work: Callable[[], T], repeats: int = 1) -> tuple[float, T]:
    """Best wall time of ``repeats`` (at least one) calls of ``work``, with its last result."""
    times = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    """Time both versions, cross-check them, and report against the goal."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=12_000)
    parser.add_argument("--naive-events", type=int, default=3_000)
    parser.add_argument("--iterations", type=int, default=99)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    events = synthetic_events(args.events, args.seed)
    fast_s, result = timed(lambda: run_knox(events, args.iterations, args.seed), args.repeats)
    k = args.naive_events
    subset: Events = (events[0][:k], events[1][:k], events[2][:k])
    naive_s, (observed, expected) = timed(
        lambda: straightforward(subset, args.iterations, args.seed)
    )
    small = run_knox(subset, args.iterations, args.seed)
    same = np.array_equal(small.observed, observed) and np.allclose(small.expected, expected)
    scale = (args.events / min(args.events, args.naive_events)) ** 2
    cell = result.cell("1 to 100 metres", "0 to 7 days")
    print(f"events {args.events:,}; {args.iterations} permutations; {os.cpu_count()} CPUs")
    shown = f"{len(subset[0]):,} events x {scale:g}"
    for label, value in (
        ("knox()", f"{fast_s:.3f} s"),
        ("straightforward numpy", f"{naive_s * scale:.3f} s ({naive_s:.3f} s on {shown})"),
        ("ratio", f"{naive_s * scale / fast_s:.0f} x faster"),
        (f"goal (< {GOAL_SECONDS:g} s)", "met" if fast_s < GOAL_SECONDS else "NOT met"),
        (f"cross-check on {len(subset[0]):,}", "identical" if same else "MISMATCH"),
        ("planted near repeats", f"{cell.spatial}, {cell.temporal}: Knox ratio {cell.ratio:.2f}"),
    ):
        print(f"{label:<24}{value}")
    if not same:
        raise SystemExit("knox() and the straightforward version disagree")


if __name__ == "__main__":
    main()
