"""Crime analysis pages for police forces: hotspots, trend, time of week, back-tests, Knox.

Everything a page shows is rendered on the server: the map is an extra drawn by
/static/analytics/map.js from a data attribute, with the top cells listed in a table.
Back-tests and Knox tests run as jobs; their pages refresh while the job runs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from peel.analytics import backtest, service
from peel.analytics.areas import lsoa_choropleth
from peel.analytics.hotspots import Events
from peel.analytics.ingest import list_datasets
from peel.analytics.knox import knox
from peel.core.audit import record_audit
from peel.core.deps import DB, CsrfForm, Person
from peel.core.errors import InvalidInput
from peel.core.geo import to_grid_reference
from peel.core.jobs import JobContext, get_job
from peel.core.models import Job
from peel.core.policy import NotFound
from peel.core.principal import Principal
from peel.web.templating import render

router = APIRouter(include_in_schema=False, prefix="/analytics")

COVERAGES = (0.01, 0.05, 0.10)
BACKTEST_KIND = "analytics.backtest"
KNOX_KIND = "analytics.knox"
SURFACE_CHOICES = [
    ("grid", "Grid counts"),
    ("kde", "Quartic kernel density (KDE)"),
    ("h3", "H3 hexagon counts (size nearest the cell size)"),
]
MIN_CELL, MAX_CELL = 50.0, 2000.0
MAX_TEXT = 200
HEAT_CLASSES = 6


def require_force(principal: Principal) -> None:
    """Analytics are for police forces only: anyone else is told there is nothing here."""
    if principal.organisation_type != "police_force":
        raise NotFound("page", "analytics")


def _parquet(request: Request) -> Path:
    folder: Path = request.app.state.settings.parquet_dir
    return folder


def _text(value: Any, default: str = "") -> str:
    text = str(value if value is not None else default).strip()
    return text[:MAX_TEXT]


def _number(
    raw: str, name: str, label: str, low: float, high: float, errors: dict[str, str]
) -> float:
    try:
        value = float(raw)
    except ValueError:
        errors[name] = f"{label} must be a number, like {int(low)}"
        return low
    if not math.isfinite(value) or not low <= value <= high:
        errors[name] = f"{label} must be between {low:g} and {high:g}"
        return low
    return value


def _whole(raw: str, name: str, label: str, low: int, high: int, errors: dict[str, str]) -> int:
    try:
        value = int(raw)
    except ValueError:
        errors[name] = f"{label} must be a whole number from {low} to {high}"
        return low
    if not low <= value <= high:
        errors[name] = f"{label} must be a whole number from {low} to {high}"
        return low
    return value


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# --- charts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    tick: str
    value: str


def bar_chart(
    items: list[tuple[str, float]], width: float = 720, height: float = 240, label_every: int = 1
) -> dict[str, Any]:
    """Geometry for a server-drawn SVG bar chart: bars, axis maximum and labels."""
    left, bottom, top = 48.0, 28.0, 12.0
    plot_h = height - bottom - top
    biggest = max((v for _, v in items), default=0.0) or 1.0
    slot = (width - left - 8) / max(1, len(items))
    bars = []
    for i, (label, value) in enumerate(items):
        h = plot_h * max(0.0, value) / biggest
        bars.append(
            Bar(
                x=round(left + i * slot + slot * 0.1, 2),
                y=round(top + plot_h - h, 2),
                width=round(slot * 0.8, 2),
                height=round(h, 2),
                label=label,
                tick=label if i % label_every == 0 else "",
                value=f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}",
            )
        )
    return {
        "width": width,
        "height": height,
        "left": left,
        "base": top + plot_h,
        "top": top,
        "max": f"{biggest:g}" if float(biggest).is_integer() else f"{biggest:.2f}",
        "bars": bars,
        "slot": slot,
    }


def heat_class(value: float, biggest: float) -> int:
    """One of HEAT_CLASSES intensity steps (0 = none)."""
    if biggest <= 0 or value <= 0:
        return 0
    return min(HEAT_CLASSES - 1, 1 + int((HEAT_CLASSES - 1) * value / biggest * 0.9999))


def surface_choices(request: Request) -> list[tuple[str, str]]:
    """LSOA areas are offered only when boundary polygons are configured."""
    if request.app.state.settings.boundary_shapefile:
        return [*SURFACE_CHOICES, ("lsoa", "Crimes per LSOA (choropleth)")]
    return SURFACE_CHOICES


def _lsoa(
    request: Request, dataset: str, category: str | None, values: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    settings = request.app.state.settings
    cells = lsoa_choropleth(
        settings.parquet_dir,
        dataset,
        settings.boundary_shapefile,
        category,
        values.get("since") or None,
        values.get("until") or None,
    )
    top = [
        {
            "rank": rank,
            "grid_reference": f"{f['properties']['name']} ({f['properties']['code']})",
            "value": float(f["properties"]["value"]),
            "hot": False,
        }
        for rank, f in enumerate(cells["features"][:10], start=1)
    ]
    return cells, top


def h3_top(cells: dict[str, Any], n: int = 10) -> list[dict[str, Any]]:
    """The busiest hexagons, located by the grid reference of their centre."""
    import h3

    from peel.core.geo import wgs84_to_bng

    out = []
    for rank, feature in enumerate(cells["features"][:n], start=1):
        lat, lon = h3.cell_to_latlng(feature["properties"]["h3"])
        out.append(
            {
                "rank": rank,
                "grid_reference": to_grid_reference(*wgs84_to_bng(lat, lon), 8),
                "value": float(feature["properties"]["value"]),
                "hot": False,
            }
        )
    return out


def top_cells(spots: service.Hotspots, n: int = 10) -> list[dict[str, Any]]:
    values = spots.values.ravel()
    hot = spots.hot.ravel()
    grid = spots.grid
    out: list[dict[str, Any]] = []
    for index in np.argsort(-values, kind="stable")[:n].tolist():
        if values[index] <= 0:
            break
        row, col = divmod(index, grid.nx)
        x = grid.x0 + (col + 0.5) * grid.cell
        y = grid.y0 + (row + 0.5) * grid.cell
        out.append(
            {
                "rank": len(out) + 1,
                "grid_reference": to_grid_reference(x, y, 8),
                "value": float(values[index]),
                "hot": bool(hot[index]),
            }
        )
    return out


def months_only(events: Events) -> bool:
    """True when every time is midnight on the first of a month (a police.uk-style dataset)."""
    if len(events) == 0:
        return False
    t = np.asarray(events.t, dtype=np.float64)
    if not np.all(t == np.floor(t)):
        return False
    days = t.astype(np.int64).astype("datetime64[D]")
    firsts = days.astype("datetime64[M]").astype("datetime64[D]")
    return bool(np.all(days == firsts))


# --- the analysis page ----------------------------------------------------------------------


def _analysis(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    run_analysis: bool = True,
) -> Response:
    out = _parquet(request)
    datasets = list_datasets(out)
    ctx: dict[str, Any] = {
        "datasets": datasets,
        "values": values,
        "errors": errors,
        "surface_choices": surface_choices(request),
        "heat_classes": HEAT_CLASSES,
        "dataset_choices": [(d, d) for d in datasets],
        "category_choices": [("", "All")],
        "knox_category_choices": [],
    }
    if not datasets:
        return render(request, "analytics/index.html", ctx, status)
    dataset = values.get("dataset") or datasets[0]
    if dataset not in datasets:
        errors["dataset"] = "Choose one of the imported datasets"
        dataset = datasets[0]
    values["dataset"] = dataset
    cats = service.categories(out, dataset)
    ctx["category_choices"] = [("", "All"), *((c, f"{c} ({n})") for c, n in cats)]
    ctx["knox_category_choices"] = [(c, f"{c} ({n})") for c, n in cats]
    category = values.get("category", "")
    if category and category not in {c for c, _ in cats}:
        errors["category"] = "Choose a category from the list, or All"
    cell = _number(values.get("cell", "200"), "cell", "Cell size", MIN_CELL, MAX_CELL, errors)
    for key in ("since", "until"):
        if values.get(key) and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", values[key]):
            errors[key] = "Enter a month as YYYY-MM, for example 2025-06"
    if (
        not errors
        and values.get("since")
        and values.get("until")
        and (values["since"] > values["until"])
    ):
        errors["until"] = "The last month must not be before the first"
    surface = values.get("surface") or "grid"
    if surface not in dict(surface_choices(request)):
        errors["surface"] = "Choose grid counts or kernel density"
    if errors:
        return render(request, "analytics/index.html", ctx, 400 if status == 200 else status)
    if run_analysis:
        try:
            events = service.load_events(
                out,
                dataset,
                category or None,
                values.get("since") or None,
                values.get("until") or None,
            )
            spots = service.hotspots(
                events, cell, surface if surface in ("grid", "kde") else "grid"
            )
            cells = (
                service.h3_cells(events, cell) if surface == "h3" else service.cells_geojson(spots)
            )
            top = top_cells(spots) if surface != "h3" else h3_top(cells)
            if surface == "lsoa":
                cells, top = _lsoa(request, dataset, category or None, values)
        except InvalidInput as exc:
            errors.update(exc.errors)
            return render(request, "analytics/index.html", ctx, 400)
        trend = service.monthly_counts(out, dataset, category or None)
        week = service.hour_weekday(out, dataset, category or None)
        ctx.update(
            cells=cells,
            top=top,
            events=spots.events,
            hot_count=int(spots.hot.sum()),
            trend=trend,
            trend_chart=bar_chart(
                [(m, float(n)) for m, n in trend], label_every=max(1, math.ceil(len(trend) / 8))
            ),
            week=week,
            week_max=max((max(r) for r in week), default=0) if week else 0,
            weekdays=service.WEEKDAYS,
            heat_class=heat_class,
        )
    return render(request, "analytics/index.html", ctx, status)


@router.get("")
def analytics_page(
    request: Request,
    principal: Person,
    dataset: str = "",
    category: str = "",
    cell: str = "200",
    surface: str = "grid",
    since: str = "",
    until: str = "",
) -> Response:
    require_force(principal)
    values = {
        "since": _text(since),
        "until": _text(until),
        "dataset": _text(dataset),
        "category": _text(category),
        "cell": _text(cell, "200") or "200",
        "surface": _text(surface, "grid"),
        "months": "6",
    }
    return _analysis(request, values, {})


# --- back-test -------------------------------------------------------------------------------


def _backtest_job(out: Path, dataset: str, category: str | None, months: int, cell: float) -> Any:
    def run(ctx: JobContext) -> dict[str, Any]:
        ctx.progress(1, "Loading crimes")
        events = service.load_events(out, dataset, category)
        result = backtest.rolling(
            events,
            months,
            cell,
            COVERAGES,
            settings=service.backtest_settings(events),
            progress=lambda fraction, message: ctx.progress(fraction * 100, message),
        )
        return {
            "rows": [
                [r.method, r.coverage, _finite(r.hit_rate), _finite(r.pai), _finite(r.pei)]
                for r in result.mean
            ],
            "months": len(result.months),
            "skipped": list(result.skipped),
        }

    return run


def _form_values(form: Any, keys: dict[str, str]) -> dict[str, str]:
    return {k: _text(form.get(k), default) or default for k, default in keys.items()}


@router.post("/backtest")
def backtest_start(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    require_force(principal)
    values = _form_values(
        form, {"dataset": "", "category": "", "months": "6", "cell": "200", "surface": "grid"}
    )
    errors: dict[str, str] = {}
    months = _whole(values["months"], "months", "Months to test", 1, 24, errors)
    out = _parquet(request)
    datasets = list_datasets(out)
    if values["dataset"] not in datasets:
        errors["dataset"] = "Choose one of the imported datasets"
    elif values["category"] and values["category"] not in {
        c for c, _ in service.categories(out, values["dataset"])
    }:
        errors["category"] = "Choose a category from the list, or All"
    cell = _number(values["cell"], "cell", "Cell size", MIN_CELL, MAX_CELL, errors)
    if errors or not datasets:
        return _analysis(request, values, errors, 400, run_analysis=False)
    category = values["category"] or None
    title = f"Back-test: {values['dataset']}, {category or 'all crime'}, {months} months"
    job_id = request.app.state.jobs.submit(
        principal,
        BACKTEST_KIND,
        title,
        _backtest_job(out, values["dataset"], category, months, cell),
        {"dataset": values["dataset"], "category": category, "months": months, "cell": cell},
    )
    record_audit(
        db,
        principal,
        "analytics.backtest",
        "job",
        job_id,
        detail=title,
        record_org_id=principal.organisation_id,
    )
    return RedirectResponse(f"/analytics/backtest/{job_id}", status_code=303)


def _job_of(db: DB, principal: Principal, job_id: str, kind: str) -> Job:
    job = get_job(db, principal, job_id)
    if job.kind != kind:
        raise NotFound("job", job_id)
    return job


def backtest_table(rows: list[list[Any]]) -> list[dict[str, Any]]:
    """One entry per method: its scores at each coverage, baselines marked."""
    methods: dict[str, dict[str, Any]] = {}
    for method, coverage, hit, pai, pei in rows:
        entry = methods.setdefault(
            method, {"method": method, "baseline": method in backtest.BASELINES, "scores": {}}
        )
        entry["scores"][round(float(coverage) * 100)] = {"hit": hit, "pai": pai, "pei": pei}
    return sorted(methods.values(), key=lambda e: (not e["baseline"], e["method"]))


@router.get("/backtest/{job_id}")
def backtest_page(request: Request, job_id: str, db: DB, principal: Person) -> Response:
    require_force(principal)
    job = _job_of(db, principal, job_id, BACKTEST_KIND)
    ctx: dict[str, Any] = {"job": job, "coverages": [round(c * 100) for c in COVERAGES]}
    if job.status == "done" and job.result:
        table = backtest_table(job.result.get("rows", []))
        ctx["table"] = table
        ctx["pai_chart"] = bar_chart(
            [(e["method"], float(e["scores"].get(5, {}).get("pai") or 0.0)) for e in table],
            width=600,
            height=220,
        )
    return render(request, "analytics/backtest.html", ctx)


# --- Knox test --------------------------------------------------------------------------------


def _knox_job(
    out: Path, dataset: str, category: str | None, design: dict[str, int], iterations: int
) -> Any:
    def run(ctx: JobContext) -> dict[str, Any]:
        ctx.progress(5, "Loading crimes")
        events = service.load_events(out, dataset, category)
        if months_only(events):
            raise InvalidInput({"dataset": "The dataset has months, not dates"})
        dates = np.floor(events.t).astype(np.int64).astype("datetime64[D]")
        ctx.progress(20, f"Testing {len(events)} crimes with {iterations} permutations")
        result = knox(
            events.x,
            events.y,
            dates,
            spatial_bandwidth=design["spatial_bandwidth"],
            spatial_bands=design["spatial_bands"],
            temporal_bandwidth=design["temporal_bandwidth"],
            temporal_bands=design["temporal_bands"],
            iterations=iterations,
            seed=1,
        )
        return {
            "rows": [
                [r.spatial, r.temporal, r.observed, r.expected, r.ratio, r.p_value, r.note]
                for r in result.rows()
            ],
            "spatial_labels": list(result.spatial_labels),
            "temporal_labels": list(result.temporal_labels),
            "events": result.n_events,
            "iterations": iterations,
        }

    return run


@router.post("/knox")
def knox_start(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    require_force(principal)
    values = _form_values(
        form,
        {
            "dataset": "",
            "knox_category": "burglary",
            "spatial_bandwidth": "100",
            "spatial_bands": "3",
            "temporal_bandwidth": "7",
            "temporal_bands": "3",
            "iterations": "99",
        },
    )
    errors: dict[str, str] = {}
    design = {
        "spatial_bandwidth": _whole(
            values["spatial_bandwidth"], "spatial_bandwidth", "Spatial bandwidth", 1, 5000, errors
        ),
        "spatial_bands": _whole(
            values["spatial_bands"], "spatial_bands", "Spatial bands", 1, 10, errors
        ),
        "temporal_bandwidth": _whole(
            values["temporal_bandwidth"], "temporal_bandwidth", "Temporal bandwidth", 1, 365, errors
        ),
        "temporal_bands": _whole(
            values["temporal_bands"], "temporal_bands", "Temporal bands", 1, 10, errors
        ),
    }
    iterations = _whole(values["iterations"], "iterations", "Iterations", 9, 999, errors)
    out = _parquet(request)
    category = values["knox_category"] or None
    page_values = {"dataset": values["dataset"], "knox_category": values["knox_category"]}
    if values["dataset"] not in list_datasets(out):
        errors["dataset"] = "Choose one of the imported datasets"
    elif not errors:
        events = service.load_events(out, values["dataset"], category)
        if len(events) < 2:
            errors["knox_category"] = "Knox needs at least two crimes with places and dates"
        elif months_only(events):
            errors["dataset"] = (
                "This dataset gives only the month of each crime, so the Knox test cannot "
                "run: it needs the date each crime happened. Import a dataset with dates."
            )
    if errors:
        return _analysis(request, page_values, errors, 400, run_analysis=False)
    title = f"Knox test: {values['dataset']}, {category or 'all crime'}"
    job_id = request.app.state.jobs.submit(
        principal,
        KNOX_KIND,
        title,
        _knox_job(out, values["dataset"], category, design, iterations),
        {"dataset": values["dataset"], "category": category, "iterations": iterations, **design},
    )
    record_audit(
        db,
        principal,
        "analytics.knox",
        "job",
        job_id,
        detail=title,
        record_org_id=principal.organisation_id,
    )
    return RedirectResponse(f"/analytics/knox/{job_id}", status_code=303)


def knox_grid(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Knox ratios as rows of spatial bands with one cell per temporal band."""
    cells = {(r[0], r[1]): r for r in result.get("rows", [])}
    ratios = [r[4] for r in cells.values() if r[4] is not None]
    top = max(ratios, default=1.0)
    grid = []
    for s in result.get("spatial_labels", []):
        row = []
        for t in result.get("temporal_labels", []):
            r = cells.get((s, t))
            ratio = r[4] if r else None
            level = 0 if ratio is None or ratio <= 1 else heat_class(ratio - 1, max(top - 1, 1e-9))
            row.append(
                {
                    "ratio": ratio,
                    "p": r[5] if r else None,
                    "significant": bool(r and r[5] <= 0.05 and ratio is not None and ratio > 1),
                    "level": level,
                }
            )
        grid.append({"label": s, "cells": row})
    return grid


@router.get("/knox/{job_id}")
def knox_page(request: Request, job_id: str, db: DB, principal: Person) -> Response:
    require_force(principal)
    job = _job_of(db, principal, job_id, KNOX_KIND)
    ctx: dict[str, Any] = {"job": job}
    if job.status == "done" and job.result:
        ctx["result"] = job.result
        ctx["grid"] = knox_grid(job.result)
    return render(request, "analytics/knox.html", ctx)
