"""Grids, counts, kernel density, H3/LSOA counts and Getis-Ord Gi* hot spots."""

from __future__ import annotations

import h3
import numpy as np
import pytest

from peel.analytics.hotspots import (
    Events,
    Grid,
    gaussian_cell_kernel,
    getis_ord_gi_star,
    grid_counts,
    h3_counts,
    lsoa_counts,
    quartic_kde,
    to_days,
)
from peel.core.errors import InvalidInput


def events(x: list[float] | np.ndarray, y: list[float] | np.ndarray, t: float = 0.0) -> Events:
    """Events at the given points, all at day ``t``."""
    return Events.from_arrays(x, y, np.full(len(x), t))


def test_grid_from_bounds_and_cell_of() -> None:
    grid = Grid.from_bounds(1000, 2000, 1450, 2299, 100)
    assert (grid.nx, grid.ny, grid.shape, grid.n_cells) == (5, 3, (3, 5), 15)
    assert grid.cell_area == 10_000 and grid.area == 150_000
    cells = grid.cell_of([1000, 1450, 1099.9, 999, 1200], [2000, 2299, 2100, 2000, 2300])
    assert cells.tolist() == [0, 14, 5, -1, -1]
    cx, cy = grid.centres()
    assert cx[0, :2].tolist() == [1050, 1150] and cy[:, 0].tolist() == [2050, 2150, 2250]


def test_grid_covering_events_puts_every_event_inside() -> None:
    rng = np.random.default_rng(1)
    ev = events(rng.uniform(-500, 800, 300), rng.uniform(10, 90, 300))
    grid = Grid.covering(ev, 37)
    assert np.all(grid.cell_of(ev.x, ev.y) >= 0)
    assert grid_counts(ev, grid).sum() == 300


@pytest.mark.parametrize("cell", [0, -5, float("nan"), float("inf")])
def test_grid_rejects_bad_cell_size(cell: float) -> None:
    with pytest.raises(InvalidInput, match="cell: must be a positive number"):
        Grid.from_bounds(0, 0, 100, 100, cell)


def test_grid_rejects_no_events_and_bad_bounds() -> None:
    with pytest.raises(InvalidInput, match="no events"):
        Grid.covering(events([], []), 100)
    with pytest.raises(InvalidInput, match="xmin <= xmax"):
        Grid.from_bounds(10, 0, 0, 10, 1)


def test_events_accept_datetime64_and_reject_bad_input() -> None:
    t = np.array(["1970-01-02", "2024-03-01T12:00"], dtype="datetime64[m]")
    assert to_days(t).tolist() == [1.0, 19783.5]
    ev = Events.from_arrays([1, 2], [3, 4], t, ["burglary", "drugs"])
    assert len(ev) == 2 and ev.between(0, 2).category.tolist() == ["burglary"]  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="same length"):
        Events.from_arrays([1, 2], [3], [0, 0])
    with pytest.raises(InvalidInput, match="1 events have a missing or infinite t"):
        Events.from_arrays([1, 2], [3, 4], np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"))
    with pytest.raises(InvalidInput, match="datetime64 values or day numbers"):
        Events.from_arrays([1], [2], ["yesterday"])


def test_grid_counts_by_hand() -> None:
    grid = Grid.from_bounds(0, 0, 299, 199, 100)
    counts = grid_counts(events([50, 60, 150, 250, 250, 999], [50, 40, 150, 50, 199, 0]), grid)
    assert counts.tolist() == [[2, 0, 1], [0, 1, 1]]


def test_quartic_kde_integrates_to_the_number_of_events() -> None:
    rng = np.random.default_rng(2)
    ev = events(rng.uniform(1000, 3000, 500), rng.uniform(1000, 2000, 500))
    grid = Grid.from_bounds(0, 0, 4000, 3000, 25)  # covers every kernel's support
    density = quartic_kde(ev, grid, 400)
    assert density.sum() * grid.cell_area == pytest.approx(500, rel=1e-3)


def test_quartic_kde_equals_the_direct_sum_and_ignores_far_events() -> None:
    rng = np.random.default_rng(3)
    ev = events(rng.uniform(0, 1000, 200), rng.uniform(0, 1000, 200))
    grid = Grid.from_bounds(-300, -300, 1300, 1300, 70)
    h = 250.0
    cx, cy = grid.centres()
    d2 = (cx[..., None] - ev.x) ** 2 + (cy[..., None] - ev.y) ** 2
    u = np.clip(1 - d2 / h**2, 0, None)
    direct = (3 / (np.pi * h**2) * u**2).sum(axis=-1)
    assert np.allclose(quartic_kde(ev, grid, h), direct, rtol=1e-12, atol=1e-18)
    far = events([50_000.0], [50_000.0])
    assert not quartic_kde(far, grid, h).any()


def test_quartic_kde_weights_and_bad_bandwidth() -> None:
    ev = events([500.0, 500.0], [500.0, 500.0])
    grid = Grid.from_bounds(0, 0, 999, 999, 100)
    one = quartic_kde(ev.select(np.array([0])), grid, 300)
    assert np.allclose(quartic_kde(ev, grid, 300, np.array([0.25, 0.5])), 0.75 * one)
    with pytest.raises(InvalidInput, match="bandwidth: must be a positive number"):
        quartic_kde(ev, grid, 0)


def test_gaussian_cell_kernel_integrates_to_one() -> None:
    kernel = gaussian_cell_kernel(40.0, 25.0)
    offsets = (np.arange(-20, 21) * 25.0)[:, None]
    dx, dy = np.broadcast_arrays(offsets, offsets.T)
    assert kernel(dx.ravel(), dy.ravel()).sum() == pytest.approx(1.0, abs=1e-9)


def test_h3_counts_match_the_h3_library() -> None:
    lat = [51.501009, 51.501010, 53.4808]
    lon = [-0.141588, -0.141590, -2.2426]
    counts = h3_counts(lat, lon, 9)
    here, there = (h3.latlng_to_cell(a, b, 9) for a, b in ((lat[0], lon[0]), (lat[2], lon[2])))
    assert counts == {here: 2, there: 1}
    assert list(counts) == [here, there]


@pytest.mark.parametrize("resolution", [-1, 16, 2.5])
def test_h3_counts_rejects_bad_resolution(resolution: int) -> None:
    with pytest.raises(InvalidInput, match="H3 resolution 0-15"):
        h3_counts([51.5], [-0.1], resolution)


def test_h3_counts_rejects_bad_coordinates() -> None:
    with pytest.raises(InvalidInput, match="same length"):
        h3_counts([51.5, 51.6], [-0.1], 7)
    with pytest.raises(InvalidInput, match=r"latitudes must be in \[-90, 90\]"):
        h3_counts([91.0], [0.0], 7)


def test_lsoa_counts_busiest_first_without_blanks() -> None:
    codes = ["E01000002", "E01000001", None, "", " E01000002 ", "W01000001", "E01000001", "  "]
    assert lsoa_counts(codes) == {"E01000001": 2, "E01000002": 2, "W01000001": 1}
    assert list(lsoa_counts(codes)) == ["E01000001", "E01000002", "W01000001"]


def brute_gi_star(x: np.ndarray, k: int) -> np.ndarray:
    """Gi* from an explicit binary weights matrix, as written in the textbooks."""
    ny, nx = x.shape
    iy, ix = np.divmod(np.arange(x.size), nx)
    w = (np.abs(iy[:, None] - iy) <= k) & (np.abs(ix[:, None] - ix) <= k)
    v, n = x.ravel(), x.size
    mean = v.mean()
    s = np.sqrt((v**2).mean() - mean**2)
    wi = w.sum(1)
    z = (w @ v - mean * wi) / (s * np.sqrt((n * (w**2).sum(1) - wi**2) / (n - 1)))
    return z.reshape(ny, nx)


@pytest.mark.parametrize("k", [1, 2])
def test_gi_star_matches_the_textbook_formula(k: int) -> None:
    rng = np.random.default_rng(4)
    values = rng.poisson(3.0, (7, 9)).astype(float)
    grid = Grid(0, 0, 100, 9, 7)
    gi = getis_ord_gi_star(values, grid, k)
    assert np.allclose(gi.z, brute_gi_star(values, k))


def test_gi_star_flags_the_planted_cluster_not_noise() -> None:
    rng = np.random.default_rng(5)
    grid = Grid(0, 0, 100, 40, 40)
    values = rng.poisson(2.0, grid.shape).astype(float)
    values[20:23, 10:13] += 12  # a 3 x 3 cluster
    gi = getis_ord_gi_star(values, grid)
    assert gi.hot(0.01)[21, 11] and gi.level[21, 11] == 2
    assert gi.p[21, 11] < 1e-6 and gi.z[21, 11] > 5
    hot = np.argwhere(gi.hot(0.05))
    assert hot.size and np.all(np.abs(hot - [21, 11]).max(axis=1) <= 2)  # all around the cluster
    noise = getis_ord_gi_star(rng.poisson(2.0, grid.shape), grid)
    assert not noise.level.any()


def test_gi_star_without_fdr_flags_about_alpha_of_noise() -> None:
    rng = np.random.default_rng(6)
    grid = Grid(0, 0, 100, 60, 60)
    gi = getis_ord_gi_star(rng.poisson(5.0, grid.shape), grid, fdr=False)
    share = np.mean(gi.level != 0)
    assert 0.01 < share < 0.10
    assert np.mean(np.abs(gi.level) == 2) < share


def test_gi_star_constant_surface_and_bad_input() -> None:
    grid = Grid(0, 0, 100, 4, 3)
    flat = getis_ord_gi_star(np.ones(grid.shape), grid)
    assert not flat.z.any() and not flat.level.any()
    with pytest.raises(InvalidInput, match=r"expected shape \(3, 4\)"):
        getis_ord_gi_star(np.ones((4, 3)), grid)
    with pytest.raises(InvalidInput, match="neighbourhood"):
        getis_ord_gi_star(np.ones(grid.shape), grid, 0)
    with pytest.raises(InvalidInput, match="alpha"):
        flat.hot(0.1)
