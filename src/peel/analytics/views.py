"""The analytics API for police forces: datasets, hotspot cells as GeoJSON, monthly trend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from peel.analytics import service
from peel.analytics.ingest import list_datasets
from peel.core.deps import Authenticated
from peel.core.policy import Forbidden
from peel.core.principal import Principal
from peel.core.views import problem_responses, refuse_nul_characters

router = APIRouter(
    prefix="/api/v1/analytics",
    tags=["analytics"],
    dependencies=[Depends(refuse_nul_characters)],
    responses=problem_responses(400, 401, 403, 404, 422),
)


class Dataset(BaseModel):
    name: str
    categories: dict[str, int]


class MonthCount(BaseModel):
    month: str
    count: int


def _force_only(principal: Principal) -> None:
    if principal.organisation_type != "police_force":
        raise Forbidden("Crime analytics are for police forces only")


def _parquet(request: Request) -> Path:
    folder: Path = request.app.state.settings.parquet_dir
    return folder


DatasetName = Annotated[str, Query(min_length=1, max_length=200)]
CategoryName = Annotated[str | None, Query(max_length=200)]


@router.get("/datasets")
def datasets(request: Request, principal: Authenticated) -> list[Dataset]:
    """The imported crime datasets, with their crime counts by category."""
    _force_only(principal)
    out = _parquet(request)
    return [
        Dataset(name=name, categories=dict(service.categories(out, name)))
        for name in list_datasets(out)
    ]


@router.get("/hotspots")
def hotspots(
    request: Request,
    principal: Authenticated,
    dataset: DatasetName,
    category: CategoryName = None,
    cell: Annotated[float, Query(ge=50, le=2000)] = 200,
    surface: Literal["grid", "kde", "h3"] = "grid",
) -> dict[str, Any]:
    """The highest-ranked cells and every Gi* hot cell as a GeoJSON FeatureCollection (WGS84).

    Each feature's properties: ``level`` (0–1, relative to the top cell), ``hot`` (Gi*
    significant at 5% after correction) and ``value`` (crimes, or kernel density).
    """
    _force_only(principal)
    out = _parquet(request)
    events = service.load_events(out, dataset, category or None)
    if surface == "h3":
        return service.h3_cells(events, cell)
    return service.cells_geojson(service.hotspots(events, cell, surface))


@router.get("/trend")
def trend(
    request: Request, principal: Authenticated, dataset: DatasetName, category: CategoryName = None
) -> list[MonthCount]:
    """Crimes per month (``YYYY-MM``), empty months as zero."""
    _force_only(principal)
    rows = service.monthly_counts(_parquet(request), dataset, category or None)
    return [MonthCount(month=m, count=n) for m, n in rows]
