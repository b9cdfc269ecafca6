"""Risk-surface methods and the back-test metrics: hit rate, PAI, PEI, fixed and rolling splits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.analytics import backtest, predict
from peel.analytics.backtest import Row, fixed_split, hit_rate, pai, pei, rolling, score
from peel.analytics.hotspots import Events, Grid, grid_counts
from peel.analytics.predict import METHODS, SeppParams
from peel.core.errors import InvalidInput

GRID = Grid(0.0, 0.0, 100.0, 20, 20)  # 2 km square, 400 cells
PLANTED = (1250.0, 850.0)  # the centre of cell (ix 12, iy 8)
PLANTED_CELL = 8 * 20 + 12


def planted(seed: int, days: float, start: float = 0.0, hot: int = 150, rest: int = 400) -> Events:
    """Uniform crime over GRID plus ``hot`` crimes within 20 m of PLANTED, over ``days``."""
    rng = np.random.default_rng(seed)
    x = np.r_[rng.uniform(0, 2000, rest), PLANTED[0] + rng.uniform(-20, 20, hot)]
    y = np.r_[rng.uniform(0, 2000, rest), PLANTED[1] + rng.uniform(-20, 20, hot)]
    t = start + np.floor(rng.uniform(0, days, rest + hot))
    return Events.from_arrays(x, y, t)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_ranks_the_planted_hotspot_first(method: str) -> None:
    train = planted(1, 365)
    risk = backtest.surface(method, train, GRID, 365.0, backtest.Settings())
    assert risk.shape == GRID.shape and np.all(np.isfinite(risk))
    assert backtest.ranking(risk)[0] == PLANTED_CELL


def test_fixed_split_scores_the_planted_hotspot_as_computed_by_hand() -> None:
    train, test = planted(2, 365), planted(3, 28, start=365, hot=30, rest=20)
    inside = int(grid_counts(test, GRID)[8, 12])  # 30 planted + any uniform ones that landed
    rows = fixed_split(train, test, coverages=(0.0025,), grid=GRID, cutoff=365)
    assert [r.method for r in rows] == list(METHODS)
    best_other = np.sort(grid_counts(test, GRID).ravel())[-1]
    for row in rows:  # one cell flagged out of 400: a/A = 1/400
        assert row.hit_rate == pytest.approx(inside / 50)
        assert row.pai == pytest.approx(inside / 50 * 400)
        assert row.pei == pytest.approx(inside / best_other) == 1.0


def test_metrics_by_hand() -> None:
    risk = np.zeros(100)
    risk[7], risk[[1, 2, 3, 4]] = 9.0, 1.0  # flagged: 7 at 1 %, then 1-4 at 5 %
    counts = np.zeros(100, dtype=int)
    counts[7], counts[50] = 30, 10
    counts[[1, 2, 3, 4, 60, 61, 62, 63, 64, 65]] = 1  # N = 50
    assert score(risk, counts, 0.01) == pytest.approx((0.6, 60.0, 1.0))
    assert hit_rate(risk, counts, 0.05) == pytest.approx(34 / 50)
    assert pai(risk, counts, 0.05) == pytest.approx(34 / 50 / 0.05)
    assert pei(risk, counts, 0.05) == pytest.approx(34 / (30 + 10 + 1 + 1 + 1))


def test_ties_are_broken_by_cell_index() -> None:
    assert backtest.ranking(np.array([1.0, 2.0, 2.0, 1.0, 2.0])).tolist() == [1, 2, 4, 0, 3]
    counts = np.array([0, 0, 5, 0, 0])
    assert hit_rate(np.ones(5), counts, 0.2) == 0.0  # cell 0 flagged, every time


def test_pai_of_a_random_surface_on_uniform_crime_is_about_one() -> None:
    rng = np.random.default_rng(8)
    counts = rng.poisson(8.0, 2500)
    pais = [pai(rng.uniform(size=2500), counts, 0.1) for _ in range(20)]
    assert np.mean(pais) == pytest.approx(1.0, abs=0.03)
    assert min(pais) > 0.85 and max(pais) < 1.15


@pytest.mark.parametrize("coverage", [0.01, 0.05, 0.1, 0.5, 1.0])
def test_pei_of_the_oracle_is_one(coverage: float) -> None:
    counts = np.random.default_rng(9).poisson(0.7, (30, 40))
    assert pei(counts, counts, coverage) == pytest.approx(1.0)
    assert hit_rate(counts, counts, 1.0) == 1.0


@settings(max_examples=200, deadline=None)
@given(
    risk=st.lists(st.floats(-5, 5), min_size=1, max_size=60),
    data=st.data(),
    covs=st.lists(st.floats(0.001, 1.0), min_size=2, max_size=5),
)
def test_hit_rate_never_falls_as_coverage_grows(
    risk: list[float], data: st.DataObject, covs: list[float]
) -> None:
    n = len(risk)
    counts = data.draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    if sum(counts) == 0:
        counts[0] = 1
    results = [score(risk, counts, c) for c in sorted(covs)]
    rates = [r[0] for r in results]
    assert rates == sorted(rates)
    assert all(0.0 <= r[2] <= 1.0 for r in results)


@pytest.mark.parametrize("coverage", [0, -0.1, 1.01, float("nan"), "5%"])
def test_bad_coverage_is_refused(coverage: float) -> None:
    with pytest.raises(InvalidInput, match=r"coverage: must be in \(0, 1\]"):
        hit_rate(np.ones(4), np.ones(4), coverage)
    with pytest.raises(InvalidInput, match="coverage"):
        fixed_split(planted(1, 30), planted(2, 7, start=30), coverages=(coverage,))


def test_bad_inputs_get_clear_errors() -> None:
    train, test = planted(1, 30), planted(2, 7, start=30)
    with pytest.raises(InvalidInput, match="cell: must be a positive number"):
        fixed_split(train, test, cell=0)
    with pytest.raises(InvalidInput, match="cell: must be a positive number"):
        rolling(train, 1, cell=-150)
    with pytest.raises(InvalidInput, match="test period has no crimes"):
        hit_rate(np.ones(4), np.zeros(4), 0.5)
    empty = Events.from_arrays([], [], [])
    with pytest.raises(InvalidInput, match="both the training and the test set need events"):
        fixed_split(train, empty)
    with pytest.raises(InvalidInput, match="test period has no crimes inside the grid"):
        fixed_split(train, planted(3, 7, start=30), grid=Grid(5000, 5000, 100, 2, 2))
    with pytest.raises(InvalidInput, match="unknown"):
        fixed_split(train, test, methods=("astrology",))
    with pytest.raises(InvalidInput, match="before the cut-off"):
        fixed_split(test, train)
    with pytest.raises(InvalidInput, match="one count per cell"):
        pai(np.ones(4), np.ones(5), 0.5)
    with pytest.raises(InvalidInput, match="finite"):
        pai(np.array([1.0, np.nan]), np.ones(2), 0.5)


def test_fixed_split_always_includes_the_baselines() -> None:
    rows = fixed_split(planted(1, 60), planted(2, 14, start=60), methods=("prospective",))
    assert [r.method for r in rows] == ["naive", "kde", "prospective"]
    assert all(isinstance(r, Row) and r.coverage == 0.05 for r in rows)


def test_naive_counts_only_the_last_days() -> None:
    ev = Events.from_arrays([50, 50, 150], [50, 50, 50], [10.0, 50.0, 55.0])
    grid = Grid(0, 0, 100, 2, 1)
    assert predict.naive(ev, grid, 28, cutoff=60).tolist() == [[1.0, 1.0]]
    assert predict.naive(ev, grid).tolist() == [[1.0, 1.0]]  # cut-off: the day after the last
    assert predict.naive(ev, grid, 100, cutoff=60).tolist() == [[2.0, 1.0]]


def test_prospective_weights_follow_bowers_by_hand() -> None:
    grid = Grid(0, 0, 150, 5, 1)  # centres at 75, 225, 375, 525, 675
    ev = Events.from_arrays([75.0], [75.0], [90.0])  # 10 days old at the cut-off: week 1
    risk = predict.prospective(ev, grid, cutoff=100.0)
    assert risk.ravel() == pytest.approx([1 / 2, 1 / 2 / 2, 1 / 3 / 2, 0, 0])  # 400 m reach
    last = predict.prospective(ev, grid, cutoff=90.0 + 56.0)  # 56 days old: week 7, the last
    assert last[0, 0] == pytest.approx(1 / 8)
    assert not predict.prospective(ev, grid, cutoff=90.0 + 57.0).any()
    quartic = predict.prospective(ev, grid, cutoff=100.0, form="quartic")
    assert quartic[0, 0] > quartic[0, 1] > quartic[0, 2] > 0 == quartic[0, 3]


def hawkes(seed: int, theta: float = 0.3, mean_delay: float = 5.0, sigma: float = 30.0) -> Events:
    """Uniform background in a 3 km square over 400 days plus exp/Gaussian offspring."""
    rng = np.random.default_rng(seed)
    n0 = 3000
    x, y, t = rng.uniform(0, 3000, n0), rng.uniform(0, 3000, n0), rng.uniform(0, 400, n0)
    gen = (x, y, t)
    while gen[0].size:
        idx = np.repeat(np.arange(gen[0].size), rng.poisson(theta, gen[0].size))
        jitter = rng.normal(0, sigma, (2, idx.size))
        gen = (gen[0][idx] + jitter[0], gen[1][idx] + jitter[1], gen[2][idx])
        gen = (gen[0], gen[1], gen[2] + rng.exponential(mean_delay, idx.size))
        x, y, t = (np.concatenate([a, b]) for a, b in zip((x, y, t), gen, strict=True))
    keep = t < 400
    return Events.from_arrays(x[keep], y[keep], t[keep])


def test_sepp_recovers_the_trigger_of_a_simulated_process() -> None:
    grid = Grid.from_bounds(-200, -200, 3200, 3200, 100)
    fit = predict.fit_sepp(hawkes(0), grid, 400.0, SeppParams(train_days=400))
    assert fit.theta == pytest.approx(0.3, abs=0.07)
    assert 1 / fit.omega == pytest.approx(5.0, abs=1.0)
    assert fit.sigma == pytest.approx(30.0, abs=5.0)
    assert len(fit.history) == 10


def test_sepp_output_is_expected_crimes_per_day() -> None:
    ev = hawkes(1)
    grid = Grid.from_bounds(-200, -200, 3200, 3200, 100)
    risk = predict.sepp(ev, grid, 400.0, SeppParams(train_days=400))
    daily = len(ev) / 400  # roughly what the intensity should add up to
    assert risk.sum() == pytest.approx(daily, rel=0.25)
    with pytest.raises(InvalidInput, match="no events inside the grid"):
        predict.sepp(ev, Grid(10_000, 10_000, 100, 3, 3), 400.0)


def test_rolling_reports_each_month_the_mean_and_progress() -> None:
    days = np.datetime64("2024-01-01", "D").astype(int)
    ev = planted(4, 182, start=float(days), hot=300, rest=900)  # January to June 2024
    calls: list[tuple[float, str]] = []
    result = rolling(
        ev, 3, cell=100, coverages=(0.01, 0.05), progress=lambda f, m: calls.append((f, m))
    )
    assert [m.month for m in result.months] == ["2024-04", "2024-05", "2024-06"]
    assert result.skipped == []
    assert result.months[0].n_train == int(np.sum(ev.t < days + 91))
    assert sum(m.n_test for m in result.months) == int(np.sum(ev.t >= days + 91))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(calls) == 15
    assert calls[0][1] == "2024-04: naive"
    for i, row in enumerate(result.mean):
        assert row.pai == pytest.approx(np.mean([m.rows[i].pai for m in result.months]))


def test_rolling_skips_months_without_crime_and_windows_training() -> None:
    jan = float(np.datetime64("2024-01-01", "D").astype(int))
    ev = Events.from_arrays(
        [100.0, 120.0, 300.0, 110.0],
        [100.0, 90.0, 300.0, 100.0],
        [jan, jan + 5, jan + 20, jan + 70],
    )  # January and March; nothing in February
    result = rolling(ev, 2, cell=100, methods=("naive", "kde"), train_days=40)
    assert result.skipped == ["2024-02"]
    assert [m.month for m in result.months] == ["2024-03"]
    assert result.months[0].n_train == 1  # only the event of day 20 is within 40 days
    with pytest.raises(InvalidInput, match="months"):
        rolling(ev, 0)
