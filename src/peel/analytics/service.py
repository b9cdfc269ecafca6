"""Analyses over imported crime datasets: one place the web pages, API and CLI all call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from peel.analytics import backtest
from peel.analytics.hotspots import Events, Grid, getis_ord_gi_star, grid_counts, quartic_kde
from peel.analytics.ingest import connect, list_datasets
from peel.core.errors import InvalidInput
from peel.core.geo import bng_to_wgs84

SURFACES = ("grid", "kde", "h3")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def require_dataset(out_dir: Path, dataset: str) -> str:
    if dataset not in list_datasets(out_dir):
        known = ", ".join(list_datasets(out_dir)) or "none yet"
        raise InvalidInput({"dataset": f"No dataset {dataset!r}; imported datasets: {known}"})
    return dataset


def _filters_sql(
    category: str | None, since: str | None, until: str | None
) -> tuple[str, list[Any]]:
    clauses, params = ["source = ?"], []
    if category:
        clauses.append("category = ?")
        params.append(category)
    if since:
        clauses.append("month >= CAST(? AS DATE)")
        params.append(since + "-01" if len(since) == 7 else since)
    if until:
        clauses.append("month <= CAST(? AS DATE)")
        params.append(until + "-01" if len(until) == 7 else until)
    return " AND ".join(clauses), params


def load_events(
    out_dir: Path,
    dataset: str,
    category: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Events:
    """Events with coordinates, in BNG metres; time is the occurrence, else the month's start."""
    require_dataset(out_dir, dataset)
    where, params = _filters_sql(category, since, until)
    with connect(out_dir) as con:
        x, y, t, cat = (
            con.execute(
                "SELECT easting, northing, COALESCE(occurred_at, CAST(month AS TIMESTAMP)), "
                f"category FROM crime WHERE {where} AND easting IS NOT NULL ORDER BY 3",
                [dataset, *params],
            )
            .fetchnumpy()
            .values()
        )
    return Events.from_arrays(x, y, np.asarray(t, dtype="datetime64[us]"), cat)


def categories(out_dir: Path, dataset: str) -> list[tuple[str, int]]:
    require_dataset(out_dir, dataset)
    with connect(out_dir) as con:
        rows = con.execute(
            "SELECT category, count(*) FROM crime WHERE source = ? GROUP BY 1 ORDER BY 2 DESC",
            [dataset],
        ).fetchall()
    return [(str(c), int(n)) for c, n in rows]


def monthly_counts(
    out_dir: Path, dataset: str, category: str | None = None
) -> list[tuple[str, int]]:
    """Crimes per month, with empty months shown as zero."""
    where, params = _filters_sql(category, None, None)
    require_dataset(out_dir, dataset)
    with connect(out_dir) as con:
        rows = con.execute(
            f"WITH m AS (SELECT month, count(*) AS n FROM crime WHERE {where} GROUP BY 1), "
            "r AS (SELECT unnest(generate_series(min(month), max(month), INTERVAL 1 MONTH)) "
            "AS month FROM m) SELECT strftime(r.month, '%Y-%m'), coalesce(m.n, 0) FROM r "
            "LEFT JOIN m ON m.month = r.month ORDER BY 1",
            [dataset, *params],
        ).fetchall()
    return [(str(month), int(n)) for month, n in rows]


def hour_weekday(
    out_dir: Path, dataset: str, category: str | None = None
) -> list[list[int]] | None:
    """A 7 × 24 count table (Monday first), or None when the dataset has no times."""
    where, params = _filters_sql(category, None, None)
    with connect(out_dir) as con:
        rows = con.execute(
            f"SELECT isodow(occurred_at) - 1, hour(occurred_at), count(*) FROM crime "
            f"WHERE {where} AND occurred_at IS NOT NULL GROUP BY 1, 2",
            [dataset, *params],
        ).fetchall()
    if not rows:
        return None
    table = [[0] * 24 for _ in range(7)]
    for day, hour, n in rows:
        table[int(day)][int(hour)] = int(n)
    return table


@dataclass(frozen=True)
class Hotspots:
    grid: Grid
    values: np.ndarray
    hot: np.ndarray  # Gi* significant hot cells (0.05, FDR-corrected)
    events: int


def hotspots(
    events: Events, cell: float, surface: str = "kde", bandwidth: float = 300.0
) -> Hotspots:
    if len(events) == 0:
        raise InvalidInput({"dataset": "No crimes with coordinates match these filters"})
    if surface not in SURFACES:
        raise InvalidInput({"surface": f"Choose one of {', '.join(SURFACES)}"})
    grid = Grid.covering(events, cell)
    counts = grid_counts(events, grid)
    values = counts.astype(float) if surface == "grid" else quartic_kde(events, grid, bandwidth)
    hot = getis_ord_gi_star(counts, grid).hot(0.05)
    return Hotspots(grid, values, hot, len(events))


def cells_geojson(spots: Hotspots, top_share: float = 0.05) -> dict[str, Any]:
    """The highest-ranked cells (and every Gi* hot cell) as WGS84 polygons for a map."""
    values = spots.values.ravel()
    hot = spots.hot.ravel()
    keep = max(1, round(top_share * len(values)))
    order = np.argsort(-values, kind="stable")[:keep]
    chosen = sorted(set(order.tolist()) | set(np.flatnonzero(hot).tolist()))
    top = float(values.max()) or 1.0
    features = []
    for index in chosen:
        if values[index] <= 0:
            continue
        features.append(
            _cell_feature(
                spots.grid,
                index,
                float(values[index]) / top,
                bool(hot[index]),
                float(values[index]),
            )
        )
    return {"type": "FeatureCollection", "features": features}


def _cell_feature(grid: Grid, index: int, level: float, hot: bool, value: float) -> dict[str, Any]:
    row, col = divmod(index, grid.nx)
    x0, y0 = grid.x0 + col * grid.cell, grid.y0 + row * grid.cell
    ring = [
        (x0, y0),
        (x0 + grid.cell, y0),
        (x0 + grid.cell, y0 + grid.cell),
        (x0, y0 + grid.cell),
        (x0, y0),
    ]
    coords = [[round(lon, 6), round(lat, 6)] for lat, lon in (bng_to_wgs84(x, y) for x, y in ring)]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [coords]},
        "properties": {"level": round(level, 3), "hot": hot, "value": round(value, 6)},
    }


def monthly_only(events: Events) -> bool:
    """True when every event is dated only by its month (data.police.uk street-level data)."""
    days = (
        events.t.astype("datetime64[D]")
        if events.t.dtype.kind == "M"
        else (np.floor(events.t).astype("int64").astype("datetime64[D]"))
    )
    whole = np.all(np.floor(events.t) == events.t) if events.t.dtype.kind == "f" else True
    return bool(whole and np.all(days == days.astype("datetime64[M]").astype("datetime64[D]")))


def backtest_settings(*events: Events) -> backtest.Settings:
    """Windows that suit the data: with months only, 'last period' means the last month."""
    if all(monthly_only(e) for e in events if len(e)):
        return backtest.Settings(naive_days=31.0, retrospective_days=92.0, prospective_days=92.0)
    return backtest.Settings()


def h3_resolution(cell: float) -> int:
    """The H3 resolution whose hexagons are nearest in area to a square ``cell`` metres wide."""
    import h3

    wanted = np.log(cell * cell)
    return min(
        range(5, 13), key=lambda r: abs(np.log(h3.average_hexagon_area(r, unit="m^2")) - wanted)
    )


def h3_cells(events: Events, cell: float, top_share: float = 0.05) -> dict[str, Any]:
    """The busiest H3 hexagons (resolution matched to ``cell``) as WGS84 polygons."""
    import h3

    from peel.analytics.hotspots import h3_counts
    from peel.core.geo import bng_to_wgs84_many

    if len(events) == 0:
        raise InvalidInput({"dataset": "No crimes with coordinates match these filters"})
    resolution = h3_resolution(cell)
    lat, lon = bng_to_wgs84_many(events.x, events.y)
    counts = h3_counts(lat, lon, resolution)
    keep = max(1, round(top_share * len(counts)))
    top = max(counts.values())
    features = []
    for index, (cell_id, count) in enumerate(counts.items()):
        if index >= keep:
            break
        ring = [[round(b, 6), round(a, 6)] for a, b in h3.cell_to_boundary(cell_id)]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "level": round(count / top, 3),
                    "hot": False,
                    "value": count,
                    "h3": cell_id,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features, "resolution": resolution}
