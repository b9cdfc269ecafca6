"""Knox test: hand-worked cases, invariants, and published Near Repeat Calculator 1.3 runs."""

from __future__ import annotations

import csv
import functools
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.analytics.knox import KnoxDesign, KnoxResult, knox

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NEAR_REPEAT = SHARED_DATA / "nearrepeat"
TOBY = NEAR_REPEAT / "nearrepeat_tobydavies"
WOUTER = NEAR_REPEAT / "nearrepeat_wsteenbeek"

# Monte Carlo tolerance, in standard deviations; the runs are seeded, so this never flickers.
Z = 4.0
MY_ITERATIONS = 999


# --- A brute-force reference, written independently of the module ------------------------


def brute_observed(
    x: list[float], y: list[float], days: list[int], design: KnoxDesign
) -> np.ndarray:
    """Band every pair with a double loop and integer-division arithmetic."""
    sw, sn = design.spatial_bandwidth, design.spatial_bands
    tw, tn = design.temporal_bandwidth, design.temporal_bands
    table = np.zeros((sn + 2, tn + 1), dtype=np.int64)
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = abs(x[i] - x[j]), abs(y[i] - y[j])
            d = math.hypot(dx, dy) if design.metric == "euclidean" else dx + dy
            dt = abs(days[i] - days[j])
            if design.calculator_edges:
                s = 0 if d == 0 else min(int(d // sw) + 1, sn + 1)
                t = min(dt // tw, tn)
            else:
                s = 0 if d == 0 else min(math.ceil(d / sw), sn + 1)
                t = min(max(math.ceil(dt / tw) - 1, 0), tn)
            table[s, t] += 1
    return table


# --- Hand-worked examples ------------------------------------------------------------------

# Four events: A and B share a place; C is 150 m north; D is 500 m east.
HAND_X = [0.0, 0.0, 0.0, 500.0]
HAND_Y = [0.0, 0.0, 150.0, 0.0]
HAND_DAYS = [0, 3, 10, 1]
# Pairs (distance m, days): AB (0, 3), AC (150, 10), BC (150, 7), AD (500, 1), BD (500, 2),
# CD (522, 9). Bands 2 x 100 m and 1 x 7 days.
HAND_CALCULATOR = [  # 7 days apart is "More than 7 days" for the calculator: [7, inf)
    [1, 0],  # Same location: AB
    [0, 0],  # 1 to 100 metres
    [0, 2],  # 101 to 200 metres: AC, BC
    [2, 1],  # More than 200 metres: AD, BD | CD
]
HAND_EXACT = [  # ... and "0 to 7 days" when the labels are honoured
    [1, 0],
    [0, 0],
    [1, 1],  # BC (7 days) | AC
    [2, 1],
]


@pytest.mark.parametrize(
    ("calculator_edges", "table"), [(True, HAND_CALCULATOR), (False, HAND_EXACT)]
)
def test_hand_worked_observed_counts(calculator_edges: bool, table: list[list[int]]) -> None:
    result = knox(
        HAND_X,
        HAND_Y,
        HAND_DAYS,
        spatial_bandwidth=100,
        spatial_bands=2,
        temporal_bandwidth=7,
        temporal_bands=1,
        iterations=9,
        seed=1,
        calculator_edges=calculator_edges,
    )
    assert result.observed.tolist() == table
    assert result.spatial_labels == (
        "Same location",
        "1 to 100 metres",
        "101 to 200 metres",
        "More than 200 metres",
    )
    assert result.temporal_labels == ("0 to 7 days", "More than 7 days")


# The calculator's own output for tobydavies' two-event pathological example (one pair, 100 m
# and 3 days apart), as published with NearRepeat's NRC vignette; the exact column shows where
# the pair belongs when the labels are honoured.
@pytest.mark.parametrize(
    ("bandwidth", "calculator_cell", "exact_cell"),
    [
        (200, ("1 to 200 metres", "4 to 6 days"), ("1 to 200 metres", "0 to 3 days")),
        (100, ("101 to 200 metres", "4 to 6 days"), ("1 to 100 metres", "0 to 3 days")),
    ],
)
def test_pathological_example_lands_where_the_calculator_puts_it(
    bandwidth: int, calculator_cell: tuple[str, str], exact_cell: tuple[str, str]
) -> None:
    dates = np.array(["2019-01-01", "2019-01-04"], dtype="datetime64[D]")
    for calculator_edges, cell in ((True, calculator_cell), (False, exact_cell)):
        result = knox(
            [0, 0],
            [0, 100],
            dates,
            spatial_bandwidth=bandwidth,
            spatial_bands=2,
            temporal_bandwidth=3,
            temporal_bands=2,
            iterations=19,
            seed=0,
            calculator_edges=calculator_edges,
        )
        (only,) = [row for row in result.rows() if row.observed]
        assert (only.spatial, only.temporal) == cell
        # Two events: every permutation keeps the one pair's 3-day gap.
        assert (only.expected, only.ratio, only.p_value) == (1.0, 1.0, 1.0)


def test_expected_zero_gives_no_ratio_and_a_note() -> None:
    dates = np.array(["2019-01-01", "2019-01-04"], dtype="datetime64[D]")
    result = knox(
        [0, 0],
        [0, 100],
        dates,
        spatial_bandwidth=200,
        spatial_bands=1,
        temporal_bandwidth=7,
        temporal_bands=1,
        iterations=19,
        seed=0,
    )
    assert not np.isinf(result.ratio).any()
    empty = [row for row in result.rows() if row.expected == 0]
    assert len(empty) == 5
    for row in empty:
        assert row.ratio is None
        assert row.note is not None
        assert "expected count is 0 in all 19 permutations" in row.note
        assert row.p_value == 1.0  # observed 0: every permutation reaches it
    assert np.isnan(result.ratio[0, 0])
    filled = result.cell("1 to 200 metres", "0 to 7 days")
    assert (filled.ratio, filled.note) == (1.0, None)


def test_labels_follow_the_calculator() -> None:
    burglary_2016 = KnoxDesign(100, 3, 2, 2)
    assert burglary_2016.temporal_labels == ("0 to 2 days", "3 to 4 days", "More than 4 days")
    arson = KnoxDesign(200, 3, 1, 3)
    assert arson.spatial_labels == (
        "Same location",
        "1 to 200 metres",
        "201 to 400 metres",
        "401 to 600 metres",
        "More than 600 metres",
    )
    assert arson.temporal_labels == (
        "0 to 1 days",
        "2 to 2 days",
        "3 to 3 days",
        "More than 3 days",
    )


def test_date_forms_agree() -> None:
    days = np.array([0, 3, 10, 1])
    base = np.datetime64("2020-02-27", "D")
    forms: list[Any] = [
        days,
        days.astype(float),
        base + days,
        (base + days).astype("datetime64[s]") + np.timedelta64(3600, "s"),
        [str(day) for day in base + days],
    ]
    tables = [
        knox(
            HAND_X,
            HAND_Y,
            form,
            spatial_bandwidth=100,
            spatial_bands=2,
            temporal_bandwidth=7,
            temporal_bands=1,
            iterations=5,
            seed=3,
        )
        for form in forms
    ]
    for result in tables:
        assert result.observed.tolist() == HAND_CALCULATOR
        assert np.array_equal(result.expected, tables[0].expected)


def test_seed_makes_runs_repeatable() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 2000, 300), rng.uniform(0, 2000, 300)
    days = rng.integers(0, 60, 300)
    kwargs: dict[str, Any] = {
        "spatial_bandwidth": 100,
        "spatial_bands": 3,
        "temporal_bandwidth": 7,
        "temporal_bands": 2,
        "iterations": 49,
    }
    first, again = knox(x, y, days, seed=11, **kwargs), knox(x, y, days, seed=11, **kwargs)
    assert np.array_equal(first.expected, again.expected)
    assert np.array_equal(first.p_value, again.p_value)
    other = knox(x, y, days, seed=12, **kwargs)
    assert not np.array_equal(first.expected, other.expected)


def test_rows_are_spatial_band_by_spatial_band() -> None:
    result = knox(
        HAND_X,
        HAND_Y,
        HAND_DAYS,
        spatial_bandwidth=100,
        spatial_bands=2,
        temporal_bandwidth=7,
        temporal_bands=1,
        iterations=5,
        seed=0,
    )
    rows = result.rows()
    assert [(row.spatial, row.temporal) for row in rows[:3]] == [
        ("Same location", "0 to 7 days"),
        ("Same location", "More than 7 days"),
        ("1 to 100 metres", "0 to 7 days"),
    ]
    assert len(rows) == 8
    assert sum(row.observed for row in rows) == 6
    assert result.cell(2, -1) == result.cell("101 to 200 metres", "More than 7 days")
    with pytest.raises(KeyError, match="expected one of"):
        result.cell("Same place", 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y": [0.0, 1.0]}, "expected the same length"),
        ({"x": [0.0], "y": [0.0], "dates": [0]}, "expected at least 2 events"),
        ({"x": [0.0, float("nan"), 1.0]}, "x: expected finite numbers"),
        ({"dates": [0, 1.5, 2]}, "dates: expected whole day numbers"),
        ({"dates": ["2020-01-01", "soon", "2020-01-03"]}, "dates: expected dates"),
        ({"spatial_bandwidth": 0}, "spatial_bandwidth: expected a whole number of at least 1"),
        ({"temporal_bands": 1.5}, "temporal_bands: expected a whole number"),
        ({"iterations": 0}, "iterations: expected a whole number of at least 1"),
        ({"metric": "chebyshev"}, "metric: expected 'euclidean' or 'manhattan'"),
    ],
)
def test_bad_input_names_what_was_expected(change: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {
        "x": [0.0, 1.0, 2.0],
        "y": [0.0, 1.0, 2.0],
        "dates": [0, 1, 2],
        "spatial_bandwidth": 100,
        "spatial_bands": 1,
        "temporal_bandwidth": 7,
        "temporal_bands": 1,
    } | change
    with pytest.raises(ValueError, match=message):
        knox(**kwargs)


# --- Invariants ----------------------------------------------------------------------------


@st.composite
def event_sets(draw: st.DrawFn) -> tuple[list[float], list[float], list[int], KnoxDesign]:
    """Small event sets on a 10 m grid (so same places and exact band edges are common)."""
    n = draw(st.integers(2, 25))
    grid = st.integers(0, 40).map(lambda v: v * 10.0)
    x = draw(st.lists(grid, min_size=n, max_size=n))
    y = draw(st.lists(grid, min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    design = KnoxDesign(
        spatial_bandwidth=draw(st.sampled_from([10, 50, 100, 150])),
        spatial_bands=draw(st.integers(1, 3)),
        temporal_bandwidth=draw(st.integers(1, 10)),
        temporal_bands=draw(st.integers(1, 3)),
        calculator_edges=draw(st.booleans()),
        metric=draw(st.sampled_from(["euclidean", "manhattan"])),
    )
    return x, y, days, design


def run(x: Any, y: Any, days: Any, design: KnoxDesign, **kwargs: Any) -> KnoxResult:
    """Run knox() with a design's settings."""
    return knox(
        x,
        y,
        days,
        spatial_bandwidth=design.spatial_bandwidth,
        spatial_bands=design.spatial_bands,
        temporal_bandwidth=design.temporal_bandwidth,
        temporal_bands=design.temporal_bands,
        calculator_edges=design.calculator_edges,
        metric=design.metric,
        **kwargs,
    )


@settings(max_examples=200, deadline=None)
@given(event_sets(), st.integers(0, 2**32 - 1))
def test_counts_match_brute_force_and_permutations_keep_totals(
    events: tuple[list[float], list[float], list[int], KnoxDesign], seed: int
) -> None:
    x, y, days, design = events
    n = len(days)
    result = run(x, y, days, design, iterations=7, seed=seed)
    assert result.observed.tolist() == brute_observed(x, y, days, design).tolist()
    assert result.observed.sum() == n * (n - 1) // 2
    # Permuting dates over places keeps every spatial band's pairs and every temporal band's
    # pairs, so each run (and the mean) has the observed row and column totals.
    assert np.allclose(result.expected.sum(axis=1), result.observed.sum(axis=1))
    assert np.allclose(result.expected.sum(axis=0), result.observed.sum(axis=0))
    assert math.isclose(result.expected.sum(), n * (n - 1) // 2)
    assert ((result.p_value > 0) & (result.p_value <= 1)).all()
    ratios = [row.ratio for row in result.rows()]
    assert all(r is None or (math.isfinite(r) and r >= 0) for r in ratios)


def test_mean_expected_converges_on_the_exact_permutation_expectation() -> None:
    # Under the permutation null a pair in spatial band s lands in temporal band t with
    # probability (pairs in t) / (all pairs), so E = row total x column total / all pairs.
    rng = np.random.default_rng(2024)
    x, y = rng.uniform(0, 1500, 400), rng.uniform(0, 1500, 400)
    days = rng.integers(0, 90, 400)
    design = KnoxDesign(100, 3, 7, 3)
    result = run(x, y, days, design, iterations=2000, seed=9)
    exact = np.outer(result.observed.sum(axis=1), result.observed.sum(axis=0))
    exact = exact / result.observed.sum()
    se = result.expected_sd / math.sqrt(result.iterations)
    assert (np.abs(result.expected - exact) <= Z * se + 1e-9).all()


# --- Published Near Repeat Calculator outputs ----------------------------------------------


@dataclass(frozen=True)
class Published:
    """One published calculator run: inputs, settings and output files."""

    name: str
    source: Path
    design: KnoxDesign
    iterations: int
    summary: Path
    verbose: Path | None


PUBLISHED = [
    Published(
        "chicago_burglary_2014",
        TOBY / "chicago_burglary_2014_2017.csv",
        KnoxDesign(200, 1, 7, 1),
        99,
        TOBY / "chicago_burglary_2014_NRsummary.htm",
        None,
    ),
    Published(
        "chicago_burglary_2016",
        TOBY / "chicago_burglary_2014_2017.csv",
        KnoxDesign(100, 3, 2, 2),
        19,
        TOBY / "chicago_burglary_2016_NRsummary.htm",
        TOBY / "chicago_burglary_2016_NRverbose.csv",
    ),
    # wsteenbeek ran the calculator with its Manhattan distance setting.
    Published(
        "chicago_arson_2016",
        WOUTER / "chicago_arson.csv",
        KnoxDesign(200, 3, 1, 3, metric="manhattan"),
        99,
        WOUTER / "chicago_arson_NRsummary_2019-09-23_145637.htm",
        WOUTER / "chicago_arson_NRverbose_2019-09-23_145637.csv",
    ),
    Published(
        "chicago_burglary_2016_01",
        WOUTER / "chicago_be_month1.csv",
        KnoxDesign(100, 3, 7, 3, metric="manhattan"),
        19,
        WOUTER / "chicago_be_month1_NRsummary_2019-09-23_143005.htm",
        WOUTER / "chicago_be_month1_NRverbose_2019-09-23_143005.csv",
    ),
]


def load_events(case: Published) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a case's events: tobydavies (header, dd/mm/yyyy, one year) or wsteenbeek (ISO)."""
    with case.source.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if case.source.parent == TOBY:
        year = case.name.rsplit("_", 1)[1]
        rows = [[x, y, f"{d[6:10]}-{d[3:5]}-{d[0:2]}"] for x, y, d in rows[1:] if d.endswith(year)]
    x = np.array([float(row[0]) for row in rows])
    y = np.array([float(row[1]) for row in rows])
    return x, y, np.array([row[2] for row in rows], dtype="datetime64[D]")


@dataclass(frozen=True)
class Cell:
    """One published cell: observed count, permutation counts, mean, ratio and p-value."""

    observed: int
    runs: list[int]
    mean: float
    ratio: float
    p_value: float


def read_verbose(path: Path) -> dict[tuple[int, int], Cell]:
    """Parse the calculator's "Row r Column c" blocks (1-based) from a verbose CSV."""
    cells: dict[tuple[int, int], Cell] = {}
    current: tuple[int, int] | None = None
    fields: dict[str, Any] = {}
    for line in path.read_text(errors="replace").splitlines():
        head, _, rest = line.partition(",")
        values = [v.strip() for v in rest.split(",") if v.strip()]
        if match := re.match(r"Row (\d+) Column (\d+)$", head.strip()):
            current, fields = (int(match[1]), int(match[2])), {"runs": []}
        elif current is None or line.startswith("SOURCE DATA"):
            continue
        elif head == "Expected" or (head == "" and values and "runs" in fields):
            fields["runs"] += [int(v) for v in values]
        elif head in ("Observed", "Mean", "P value", "Obs over Mean Exp"):
            fields[head] = float(values[0])
            if head == "Obs over Mean Exp":
                cells[current] = Cell(
                    int(fields["Observed"]),
                    fields["runs"],
                    fields["Mean"],
                    float(values[0]),
                    fields["P value"],
                )
                current = None
    return cells


def read_summary(path: Path, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, str]:
    """Return the summary's Knox ratio and p-value tables (two decimals) and its plain text."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(errors="replace")))
    text = re.sub(r"\s+", " ", text)
    ratios = text.split("Observed over mean expected frequencies table", 1)[1]
    ratios, significance = ratios.split("Statistical significance table", 1)
    significance = significance.split("Parameters used", 1)[0]
    tables = []
    for part in (ratios, significance):
        numbers = [float(v) for v in re.findall(r"(?<![\w.])\d+\.\d\d(?![\w.])", part)]
        assert len(numbers) == shape[0] * shape[1], path
        tables.append(np.array(numbers).reshape(shape))
    return tables[0], tables[1], text


WITH_VERBOSE = [case for case in PUBLISHED if case.verbose is not None]


@functools.cache
def run_published(case: Published) -> KnoxResult:
    """Run knox() (999 seeded permutations) on a published case's events, once per session."""
    for path in (case.source, case.summary, case.verbose):
        if path is not None and not path.exists():
            pytest.skip(f"shared data not present: {path}")
    x, y, dates = load_events(case)
    return run(x, y, dates, case.design, iterations=MY_ITERATIONS, seed=20240601)


def expected_slack(mine: KnoxResult, their_iterations: int) -> np.ndarray:
    """Allowed gap between two permutation means: Z standard errors of their difference."""
    return Z * mine.expected_sd * math.sqrt(1 / mine.iterations + 1 / their_iterations)


def ratio_bounds(mine: KnoxResult, their_iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Range of Knox ratios a run with the other iteration count could plausibly publish."""
    slack = expected_slack(mine, their_iterations)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = mine.observed / (mine.expected + slack)
        high = mine.observed / np.maximum(mine.expected - slack, 0)
    return np.nan_to_num(low), np.where(mine.observed == 0, 0, high)


def p_value_slack(mine: KnoxResult, their_iterations: int) -> np.ndarray:
    """Allowed gap between p-values: binomial noise of both runs plus one step of theirs."""
    share = (mine.p_value * (mine.iterations + 1) - 1) / mine.iterations
    spread = np.sqrt(share * (1 - share) * (1 / their_iterations + 1 / mine.iterations))
    return Z * spread + 1 / (their_iterations + 1) + 1e-9


@pytest.mark.parametrize("case", PUBLISHED, ids=[case.name for case in PUBLISHED])
def test_summary_ratios_and_p_values(case: Published) -> None:
    mine = run_published(case)
    ratios, p_values, text = read_summary(case.summary, mine.observed.shape)
    for label in (*mine.spatial_labels, *mine.temporal_labels):
        assert label.replace("metres", "meters") in text
    assert f"Number of records successfully recorded: {mine.n_events}" in text
    low, high = ratio_bounds(mine, case.iterations)
    assert ((ratios >= low - 0.005) & (ratios <= high + 0.005)).all(), (ratios, mine.ratio)
    gap = np.abs(p_values - mine.p_value)
    assert (gap <= p_value_slack(mine, case.iterations) + 0.005).all(), (p_values, mine.p_value)


@pytest.mark.parametrize("case", WITH_VERBOSE, ids=[case.name for case in WITH_VERBOSE])
def test_verbose_observed_counts_match_exactly(case: Published) -> None:
    mine = run_published(case)
    assert case.verbose is not None
    cells = read_verbose(case.verbose)
    rows, columns = mine.observed.shape
    assert sorted(cells) == [(r, c) for r in range(1, rows + 1) for c in range(1, columns + 1)]
    published_observed = np.array(
        [[cells[r + 1, c + 1].observed for c in range(columns)] for r in range(rows)]
    )
    assert mine.observed.tolist() == published_observed.tolist()


@pytest.mark.parametrize("case", WITH_VERBOSE, ids=[case.name for case in WITH_VERBOSE])
def test_verbose_means_ratios_and_p_values(case: Published) -> None:
    mine = run_published(case)
    assert case.verbose is not None
    cells = read_verbose(case.verbose)
    slack = expected_slack(mine, case.iterations)
    p_slack = p_value_slack(mine, case.iterations)
    low, high = ratio_bounds(mine, case.iterations)
    for (r, c), cell in cells.items():
        s, t = r - 1, c - 1
        assert len(cell.runs) == case.iterations
        assert math.isclose(np.mean(cell.runs), cell.mean, rel_tol=1e-6)
        assert abs(cell.mean - mine.expected[s, t]) <= slack[s, t] + 1e-9, (r, c)
        assert low[s, t] - 1e-6 <= cell.ratio <= high[s, t] + 1e-6, (r, c)
        assert abs(cell.p_value - mine.p_value[s, t]) <= p_slack[s, t], (r, c)
        # The calculator's p-value is (runs at or above the observed count + 1) / (runs + 1).
        reached = sum(run >= cell.observed for run in cell.runs)
        assert math.isclose(cell.p_value, (reached + 1) / (case.iterations + 1), abs_tol=5e-3)


def test_domain_headline_chicago_2014() -> None:
    case = PUBLISHED[0]
    if not case.source.exists():
        pytest.skip(f"shared data not present: {case.source}")
    x, y, dates = load_events(case)
    result = run(x, y, dates, case.design, iterations=99, seed=7)
    same = result.cell("Same location", "0 to 7 days")
    near = result.cell("1 to 200 metres", "0 to 7 days")
    assert (same.observed, near.observed) == (292, 1638)
    assert same.ratio is not None and abs(same.ratio - 5.34) < 0.25
    assert near.ratio is not None and abs(near.ratio - 1.28) < 0.02
    assert same.p_value == near.p_value == 0.01
