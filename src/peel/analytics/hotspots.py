"""Where crime concentrates: grids, counts, kernel density and Getis-Ord Gi* hot spots.

Everything works on plain numpy arrays so that it does not depend on how events are stored:
``x``/``y`` are British National Grid eastings/northings in metres and ``t`` is a time in
days since 1970-01-01 (``Events.from_arrays`` accepts numpy ``datetime64`` too).

Surfaces are 2-D arrays of shape ``grid.shape == (ny, nx)``; row 0 is the southern edge.
A cell's flat index is ``iy * nx + ix`` (``surface.ravel()`` order).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import h3
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from peel.core.errors import InvalidInput

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
# kernel(dx, dy) -> weight, where (dx, dy) is the offset in metres from an event to a cell centre
Kernel = Callable[[FloatArray, FloatArray], FloatArray]

_DAY = np.timedelta64(1, "D")
_EPOCH = np.datetime64("1970-01-01T00:00:00", "us")


def to_days(t: ArrayLike) -> FloatArray:
    """Convert datetime64 values (any unit) or day numbers to float days since 1970-01-01."""
    arr = np.asarray(t)
    if np.issubdtype(arr.dtype, np.datetime64):
        return np.asarray((arr.astype("datetime64[us]") - _EPOCH) / _DAY, dtype=np.float64)
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    raise InvalidInput({"t": f"expected datetime64 values or day numbers, got {arr.dtype}"})


@dataclass(frozen=True)
class Events:
    """Crime events: BNG metres ``x``/``y``, float days ``t`` and an optional ``category``."""

    x: FloatArray
    y: FloatArray
    t: FloatArray
    category: NDArray[np.object_] | None = None

    @classmethod
    def from_arrays(
        cls, x: ArrayLike, y: ArrayLike, t: ArrayLike, category: ArrayLike | None = None
    ) -> Events:
        """Validate and convert arrays of equal length (``t`` may be datetime64) to Events."""
        xs = np.asarray(x, dtype=np.float64).ravel()
        ys = np.asarray(y, dtype=np.float64).ravel()
        ts = to_days(t).ravel()
        cats = None if category is None else np.asarray(category, dtype=object).ravel()
        lengths = {len(xs), len(ys), len(ts)} | ({len(cats)} if cats is not None else set())
        if len(lengths) != 1:
            raise InvalidInput({"events": "x, y, t and category must have the same length"})
        for name, arr in (("x", xs), ("y", ys), ("t", ts)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            if bad:
                raise InvalidInput({name: f"{bad} events have a missing or infinite {name}"})
        return cls(xs, ys, ts, cats)

    def __len__(self) -> int:
        return len(self.x)

    def select(self, mask: NDArray[np.bool_] | IntArray) -> Events:
        """Return the events picked by a boolean mask or an index array."""
        cats = None if self.category is None else self.category[mask]
        return Events(self.x[mask], self.y[mask], self.t[mask], cats)

    def between(self, start: float, end: float) -> Events:
        """Return the events with ``start <= t < end`` (days)."""
        return self.select((self.t >= start) & (self.t < end))


def _positive(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise InvalidInput unless it is finite and > 0."""
    if not (isinstance(value, int | float | np.number) and math.isfinite(value) and value > 0):
        raise InvalidInput({name: f"must be a positive number, got {value!r}"})
    return float(value)


@dataclass(frozen=True)
class Grid:
    """A regular grid of square cells: south-west corner ``(x0, y0)``, ``cell`` metres wide."""

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int

    def __post_init__(self) -> None:
        _positive("cell", self.cell)
        if self.nx < 1 or self.ny < 1:
            raise InvalidInput({"grid": "a grid needs at least one cell in each direction"})

    @classmethod
    def from_bounds(cls, xmin: float, ymin: float, xmax: float, ymax: float, cell: float) -> Grid:
        """Cover the box ``[xmin, xmax] x [ymin, ymax]`` with cells of ``cell`` metres."""
        size = _positive("cell", cell)
        if not all(map(math.isfinite, (xmin, ymin, xmax, ymax))) or xmax < xmin or ymax < ymin:
            raise InvalidInput({"bounds": "expected finite xmin <= xmax and ymin <= ymax"})
        nx = max(1, math.floor((xmax - xmin) / size) + 1)
        ny = max(1, math.floor((ymax - ymin) / size) + 1)
        return cls(float(xmin), float(ymin), size, nx, ny)

    @classmethod
    def covering(cls, events: Events, cell: float) -> Grid:
        """Cover the bounding box of ``events`` (there must be at least one)."""
        if len(events) == 0:
            raise InvalidInput({"events": "cannot build a grid around no events"})
        return cls.from_bounds(
            float(events.x.min()), float(events.y.min()),
            float(events.x.max()), float(events.y.max()), cell,
        )  # fmt: skip

    @property
    def shape(self) -> tuple[int, int]:
        """The surface shape, ``(ny, nx)``."""
        return (self.ny, self.nx)

    @property
    def n_cells(self) -> int:
        """The number of cells."""
        return self.nx * self.ny

    @property
    def cell_area(self) -> float:
        """The area of one cell in square metres."""
        return self.cell * self.cell

    @property
    def area(self) -> float:
        """The area of the whole grid in square metres."""
        return self.cell_area * self.n_cells

    def cell_of(self, x: ArrayLike, y: ArrayLike) -> IntArray:
        """Return each point's flat cell index, or -1 for points outside the grid."""
        ix = np.floor((np.asarray(x, dtype=np.float64) - self.x0) / self.cell)
        iy = np.floor((np.asarray(y, dtype=np.float64) - self.y0) / self.cell)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        flat = np.where(inside, iy * self.nx + ix, -1)
        return flat.astype(np.int64)

    def centres(self) -> tuple[FloatArray, FloatArray]:
        """Return the x and y of every cell centre, each of shape ``(ny, nx)``."""
        xs = self.x0 + (np.arange(self.nx) + 0.5) * self.cell
        ys = self.y0 + (np.arange(self.ny) + 0.5) * self.cell
        cx, cy = np.meshgrid(xs, ys)
        return cx, cy


def grid_counts(events: Events, grid: Grid) -> IntArray:
    """Count events per cell (events outside the grid are left out)."""
    flat = grid.cell_of(events.x, events.y)
    counts = np.bincount(flat[flat >= 0], minlength=grid.n_cells)
    return counts.astype(np.int64).reshape(grid.shape)


def spread(
    events: Events,
    grid: Grid,
    radius: float,
    kernel: Kernel,
    weights: FloatArray | None = None,
) -> FloatArray:
    """Sum ``weights[i] * kernel(centre - event_i)`` over events within ``radius`` of each centre.

    Each event visits only the block of cells around its own cell that can lie within
    ``radius`` (a stencil of offsets, processed one offset at a time for every event at
    once), so the cost is about ``len(events) * (2 * radius / cell) ** 2`` kernel evaluations.
    """
    radius = _positive("radius", radius)
    w = np.ones(len(events)) if weights is None else np.asarray(weights, dtype=np.float64)
    near = _near_grid(events, grid, radius)
    x, y, w = events.x[near], events.y[near], w[near]
    ix = np.floor((x - grid.x0) / grid.cell).astype(np.int64)
    iy = np.floor((y - grid.y0) / grid.cell).astype(np.int64)
    reach = math.ceil(radius / grid.cell + 0.5)
    out = np.zeros(grid.n_cells)
    for oy in range(-reach, reach + 1):
        cy = iy + oy
        dy = grid.y0 + (cy + 0.5) * grid.cell - y
        rows = (cy >= 0) & (cy < grid.ny) & (np.abs(dy) <= radius)
        if not rows.any():
            continue
        for ox in range(-reach, reach + 1):
            cx = ix + ox
            dx = grid.x0 + (cx + 0.5) * grid.cell - x
            m = rows & (cx >= 0) & (cx < grid.nx) & (dx * dx + dy * dy <= radius * radius)
            if m.any():
                vals = kernel(dx[m], dy[m]) * w[m]
                out += np.bincount(cy[m] * grid.nx + cx[m], vals, minlength=grid.n_cells)
    return out.reshape(grid.shape)


def _near_grid(events: Events, grid: Grid, radius: float) -> NDArray[np.bool_]:
    """Mask the events that lie within ``radius`` of the grid's box."""
    return (
        (events.x >= grid.x0 - radius)
        & (events.x <= grid.x0 + grid.nx * grid.cell + radius)
        & (events.y >= grid.y0 - radius)
        & (events.y <= grid.y0 + grid.ny * grid.cell + radius)
    )


def quartic_kernel(bandwidth: float) -> Kernel:
    """The quartic (biweight) kernel ``3/(pi h^2) (1 - r^2/h^2)^2`` for ``r < h``; per m²."""
    h2 = _positive("bandwidth", bandwidth) ** 2
    norm = 3.0 / (math.pi * h2)

    def kernel(dx: FloatArray, dy: FloatArray) -> FloatArray:
        u = 1.0 - (dx * dx + dy * dy) / h2
        return np.where(u > 0, norm * u * u, 0.0)

    return kernel


def quartic_kde(
    events: Events, grid: Grid, bandwidth: float, weights: FloatArray | None = None
) -> FloatArray:
    """Quartic kernel density (events per m²) at every cell centre; integrates to ~len(events)."""
    return spread(events, grid, bandwidth, quartic_kernel(bandwidth), weights)


def gaussian_cell_kernel(sigma: float, cell: float) -> Kernel:
    """An isotropic Gaussian (std ``sigma`` m) integrated exactly over a square ``cell``."""
    s = _positive("sigma", sigma)
    half = _positive("cell", cell) / 2.0

    def kernel(dx: FloatArray, dy: FloatArray) -> FloatArray:
        px = ndtr((dx + half) / s) - ndtr((dx - half) / s)
        py = ndtr((dy + half) / s) - ndtr((dy - half) / s)
        return np.asarray(px * py, dtype=np.float64)

    return kernel


def h3_counts(lat: ArrayLike, lon: ArrayLike, resolution: int) -> dict[str, int]:
    """Count WGS84 points per H3 cell at ``resolution`` (0-15), busiest cell first."""
    if not isinstance(resolution, int) or not 0 <= resolution <= 15:
        raise InvalidInput({"resolution": f"must be an H3 resolution 0-15, got {resolution!r}"})
    lats = np.asarray(lat, dtype=np.float64).ravel()
    lons = np.asarray(lon, dtype=np.float64).ravel()
    if lats.shape != lons.shape:
        raise InvalidInput({"lat": "lat and lon must have the same length"})
    if not (np.all(np.abs(lats) <= 90) and np.all(np.abs(lons) <= 180)):
        raise InvalidInput({"lat": "latitudes must be in [-90, 90] and longitudes in [-180, 180]"})
    counts = Counter(
        h3.latlng_to_cell(float(a), float(b), resolution) for a, b in zip(lats, lons, strict=True)
    )
    return _ranked(counts)


def lsoa_counts(lsoa_codes: Iterable[str | None]) -> dict[str, int]:
    """Count events per LSOA code (blank or missing codes left out), busiest first."""
    counts = Counter(code.strip() for code in lsoa_codes if code and code.strip())
    return _ranked(counts)


def _ranked(counts: Counter[str]) -> dict[str, int]:
    """Order counts by descending count, then by key."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class GiStar:
    """Getis-Ord Gi* per cell: z-score, two-sided p-value and a significance level.

    ``level`` is +2/+1 for a hot spot at 0.01/0.05, -2/-1 for a cold spot, 0 otherwise.
    """

    z: FloatArray
    p: FloatArray
    level: NDArray[np.int8]

    def hot(self, alpha: float = 0.05) -> NDArray[np.bool_]:
        """Mask the cells that are significant hot spots at ``alpha`` (0.05 or 0.01)."""
        if alpha not in (0.05, 0.01):
            raise InvalidInput({"alpha": "must be 0.05 or 0.01"})
        return self.level >= (1 if alpha == 0.05 else 2)


def getis_ord_gi_star(
    values: ArrayLike, grid: Grid, neighbourhood: int = 1, fdr: bool = True
) -> GiStar:
    """Getis-Ord Gi* with binary weights on the (2k+1)² block around each cell, itself included.

    ``Gi* = (sum_j w_ij x_j - mean * W_i) / (S * sqrt((n * W_i - W_i²) / (n - 1)))`` with
    ``W_i`` the number of neighbours inside the grid and ``S`` the population standard
    deviation of all n cells (Getis & Ord 1992; Ord & Getis 1995). P-values use the normal
    approximation, which is rough for sparse counts. With ``fdr`` (the default) significance
    is decided by the Benjamini-Hochberg false discovery rate over all cells, since testing
    thousands of overlapping neighbourhoods at 0.05 flags about 5% of pure noise.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.shape != grid.shape and x.shape != (grid.n_cells,):
        raise InvalidInput({"values": f"expected shape {grid.shape}, got {x.shape}"})
    if not isinstance(neighbourhood, int) or neighbourhood < 1:
        raise InvalidInput({"neighbourhood": "must be a whole number of cells, 1 or more"})
    x = x.reshape(grid.shape)
    n = x.size
    if n < 2 or not np.all(np.isfinite(x)):
        raise InvalidInput({"values": "need at least two cells, all finite"})
    sums = _box_sum(x, neighbourhood)
    w = _box_sum(np.ones_like(x), neighbourhood)
    mean, sd = x.mean(), x.std()
    denom = sd * np.sqrt(np.maximum(n * w - w * w, 0.0) / (n - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(denom > 0, (sums - mean * w) / denom, 0.0)
    p = 2.0 * ndtr(-np.abs(z))
    level = np.zeros(grid.shape, dtype=np.int8)
    for alpha, mark in ((0.05, 1), (0.01, 2)):
        sig = _bh_reject(p, alpha) if fdr else p < alpha
        level = np.where(sig, np.int8(mark), level).astype(np.int8)
    return GiStar(z, p, (np.sign(z) * level).astype(np.int8))


def _box_sum(values: FloatArray, k: int) -> FloatArray:
    """Sum of each cell's (2k+1)² block, cells beyond the edge counting as absent."""
    ny, nx = values.shape
    padded = np.zeros((ny + 2 * k + 1, nx + 2 * k + 1))
    padded[k + 1 : k + 1 + ny, k + 1 : k + 1 + nx] = values
    c = padded.cumsum(0).cumsum(1)
    s = 2 * k + 1
    return np.asarray(c[s:, s:] - c[:-s, s:] - c[s:, :-s] + c[:-s, :-s], dtype=np.float64)


def _bh_reject(p: FloatArray, alpha: float) -> NDArray[np.bool_]:
    """Benjamini-Hochberg: which p-values are rejected at false discovery rate ``alpha``."""
    flat = p.ravel()
    order = np.argsort(flat, kind="stable")
    m = flat.size
    passed = flat[order] <= alpha * np.arange(1, m + 1) / m
    reject = np.zeros(m, dtype=bool)
    if passed.any():
        last = int(np.nonzero(passed)[0].max())
        reject[order[: last + 1]] = True
    return reject.reshape(p.shape)
