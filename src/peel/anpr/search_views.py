"""The ANPR search API: vehicle history, convoys, clones, visitors, stakeouts, county lines.

Every route names its ``reason`` and time range; :func:`peel.anpr.service.authorise_search`
checks the caller, the reason and the 90-day rule and writes the audit event, which is
committed before the search runs so that it survives whatever the search does. The pages
(:mod:`peel.anpr.pages`) share the checks in this module, so the API and the web agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from peel.anpr import search
from peel.anpr.plates import MAX_PLATE_LENGTH
from peel.anpr.service import SearchRequest, authorise_search, require_anpr
from peel.anpr.store import ReadStore
from peel.core.config import Settings
from peel.core.deps import DB, AppSettings, Authenticated
from peel.core.errors import InvalidInput
from peel.core.principal import Principal
from peel.core.views import problem_responses, refuse_nul_characters


def _searcher(principal: Authenticated) -> None:
    """Refuse anyone who may not search before any input is looked at (camera ids included)."""
    require_anpr(principal)


router = APIRouter(
    prefix="/api/v1/anpr/search",
    tags=["anpr"],
    dependencies=[Depends(refuse_nul_characters), Depends(_searcher)],
    responses=problem_responses(400, 401, 403, 422),
)

#: Searches are refused outside these years: nothing older exists, nothing later can.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
#: The largest score shown (the searches' own cap, for "beyond any chance").
MAX_SCORE = search.MAX_SCORE
#: Camera ids accepted in one search (a force has a few hundred; a town a few dozen).
MAX_CAMERAS = 200
T = TypeVar("T")


# --- checks shared with the pages -----------------------------------------------------------


def plate_of(raw: str, field: str = "plate") -> str:
    """The normalised plate (a hashed plate kept whole), or InvalidInput naming the field."""
    try:
        return search.plate_of(raw, field)
    except InvalidInput:
        raise InvalidInput(
            {field: f"Enter a number plate of 1 to {MAX_PLATE_LENGTH} letters and digits"}
        ) from None


def in_utc(value: datetime, field: str) -> datetime:
    """A timezone-aware time in UTC within the years Peel can hold, or InvalidInput."""
    if value.tzinfo is None:
        raise InvalidInput({field: "must include a time zone (UTC)"})
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        value = EARLIEST - (LATEST - EARLIEST)  # outside the window: refused below
    if not EARLIEST <= value <= LATEST:
        raise InvalidInput({field: "must be between the years 2000 and 2200"})
    return value


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = in_utc(start, "start"), in_utc(end, "end")
    if end <= start:
        raise InvalidInput({"end": "must be after start"})
    return start, end


def finite(value: float | None, cap: float = MAX_SCORE) -> float:
    """A number JSON can carry: infinity (certainly not chance) becomes ``cap``."""
    if value is None or math.isnan(value):
        return 0.0
    return max(-cap, min(cap, float(value)))


def read_store(settings: Settings) -> ReadStore:
    return ReadStore(Path(settings.anpr_dir))


def cameras_of(store: ReadStore) -> dict[str, dict[str, Any]]:
    """Every camera in the snapshot by id: name, lat, lon, direction (empty before import)."""
    path = Path(store.cameras_path)
    if not path.is_file():
        return {}
    rows = pq.read_table(path).to_pylist()
    return {str(r["camera_id"]): r for r in rows if r.get("camera_id") is not None}


def camera_ids_of(raw: list[str], cameras: dict[str, dict[str, Any]], field: str) -> list[str]:
    """Camera ids as given (comma or space separated), each one a known camera."""
    ids: list[str] = []
    for part in raw:
        ids += [p for p in part.replace(",", " ").split() if p and p not in ids]
    if len(ids) > MAX_CAMERAS:
        raise InvalidInput({field: f"Name at most {MAX_CAMERAS} cameras"})
    unknown = [i for i in ids if i not in cameras]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise InvalidInput({field: f"No camera has the id {shown}"})
    return ids


def area_of(lat: float | None, lon: float | None, radius_m: float | None) -> search.Area | None:
    """An area when all of lat, lon and radius are given; InvalidInput when only some are."""
    given = [v is not None for v in (lat, lon, radius_m)]
    if not any(given):
        return None
    if not all(given):
        missing = [n for n, v in zip(("lat", "lon", "radius_m"), given, strict=True) if not v]
        raise InvalidInput({missing[0]: "An area needs a latitude, a longitude and a radius"})
    assert lat is not None and lon is not None and radius_m is not None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput({"lat": "Give a latitude from -90 to 90 and a longitude to ±180"})
    if not 0 < radius_m <= 100_000:
        raise InvalidInput({"radius_m": "The radius must be more than 0 and at most 100 km"})
    return search.Area(lat, lon, radius_m)


def authorise_and_commit(
    db: Session,
    principal: Principal,
    settings: Settings,
    kind: str,
    subject: str,
    start: datetime,
    end: datetime,
    reason: str,
) -> SearchRequest:
    """Authorise and audit one search, committing the audit event before the search runs."""
    start, end = check_range(start, end)
    granted = authorise_search(
        db, principal, settings, SearchRequest(kind, subject, start, end, reason)
    )
    db.commit()
    return granted


def run_search(settings: Settings, query: Callable[[search.DuckDBEngine], T]) -> T:
    """Run a search on the read store with DuckDB (an empty store answers with nothing)."""
    return query(search.DuckDBEngine(read_store(settings)))


# --- response models ------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SightingOut(_Out):
    read_id: str
    camera_id: str
    camera_name: str | None = None
    plate: str
    plate_raw: str
    read_at: datetime
    lat: float | None = None
    lon: float | None = None
    confidence: float | None = None
    make: str | None = None
    model: str | None = None
    colour: str | None = None


class HistoryOut(_Out):
    plate: str
    sightings: list[SightingOut]
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    distinct_cameras: int = 0


class CoSightingOut(_Out):
    camera_id: str
    camera_name: str | None = None
    target_read_at: datetime
    other_read_at: datetime
    gap_s: float


class _Scored(_Out):
    score: float = Field(description="−log10 of the chance of this by coincidence (higher: less)")

    @field_validator("score", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> float:
        return finite(float(value))


class ConvoyCandidateOut(_Scored):
    plate: str
    co_sightings: int
    distinct_cameras: int
    occasions: int = Field(
        default=0, description="Separate journeys of the target with a co-sighting (scored)"
    )
    expected: float = Field(
        description="The vehicle's trips expected to meet the target by chance alone"
    )
    evidence: list[CoSightingOut]

    @field_validator("expected", mode="before")
    @classmethod
    def _finite_expected(cls, value: Any) -> float:
        return finite(float(value), 1e12)


class CloneFindingOut(_Scored):
    plate: str
    reason: str = Field(description="impossible_travel or description_mismatch")
    evidence: list[dict[str, Any]]


class VisitorOut(_Out):
    plate: str
    visits: int
    distinct_days: int
    first_seen: datetime
    last_seen: datetime


class StakeoutHitOut(_Out):
    plate: str
    windows_matched: list[int] = Field(description="Which windows (numbered from 0) saw it")
    evidence: list[SightingOut]


class CountyLinesCandidateOut(_Scored):
    plate: str
    trips: int
    destinations: list[str]
    evidence: list[dict[str, Any]]


class PlaceWindowIn(BaseModel):
    """One place and time: camera ids, or a circle (lat, lon, radius_m), and a time range."""

    camera_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=MAX_CAMERAS
    )
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    radius_m: float | None = Field(default=None, gt=0, le=100_000)
    start: AwareDatetime
    end: AwareDatetime


class StakeoutIn(BaseModel):
    windows: list[PlaceWindowIn] = Field(min_length=2, max_length=10)
    min_windows: int = Field(default=2, ge=1, le=10, description="Seen in at least this many")


# --- routes ---------------------------------------------------------------------------------

Reason = Annotated[
    str,
    Query(
        min_length=1,
        max_length=1000,
        description="Why you are searching (an incident or case reference); audited. Beyond "
        "the open period (90 days) a supervisor's justification of 20 or more characters.",
    ),
]
Start = Annotated[AwareDatetime, Query(description="Start of the time range (with time zone)")]
End = Annotated[AwareDatetime, Query(description="End of the time range (with time zone)")]
Plate = Annotated[str, PathParam(min_length=1, max_length=40, description="A number plate")]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/history/{plate}")
def history(
    plate: Plate,
    reason: Reason,
    start: Start,
    end: End,
    db: DB,
    principal: Authenticated,
    settings: AppSettings,
    fuzzy: bool = False,
) -> HistoryOut:
    """Every read of one plate (or its look-alikes with ``fuzzy``) in time order."""
    wanted = plate_of(plate)
    granted = authorise_and_commit(db, principal, settings, "history", wanted, start, end, reason)
    found = run_search(
        settings,
        lambda engine: search.history(engine, wanted, granted.start, granted.end, fuzzy=fuzzy),
    )
    return HistoryOut.model_validate(found)


@router.get("/convoy/{plate}")
def convoy(
    plate: Plate,
    reason: Reason,
    start: Start,
    end: End,
    db: DB,
    principal: Authenticated,
    settings: AppSettings,
    window_s: Annotated[int, Query(ge=1, le=3600)] = 60,
    min_co_sightings: Annotated[int, Query(ge=1, le=1000)] = 3,
    min_cameras: Annotated[int, Query(ge=1, le=1000)] = 2,
    min_score: Annotated[
        float,
        Query(
            ge=0,
            le=search.MAX_SCORE,
            description="Lowest score listed (4: a one-in-10,000 chance by coincidence)",
        ),
    ] = search.DEFAULT_MIN_SCORE,
    limit: Limit = 50,
) -> list[ConvoyCandidateOut]:
    """Vehicles seen repeatedly near the target, ranked by how unlikely that is by chance."""
    wanted = plate_of(plate)
    granted = authorise_and_commit(db, principal, settings, "convoy", wanted, start, end, reason)
    found = run_search(
        settings,
        lambda engine: search.convoy(
            engine,
            wanted,
            granted.start,
            granted.end,
            window_s=window_s,
            min_co_sightings=min_co_sightings,
            min_cameras=min_cameras,
            limit=limit,
            min_score=min_score,
        ),
    )
    return [ConvoyCandidateOut.model_validate(c) for c in found]


@router.get("/clones")
def clones(
    reason: Reason,
    start: Start,
    end: End,
    db: DB,
    principal: Authenticated,
    settings: AppSettings,
    plate: Annotated[str | None, Query(max_length=40)] = None,
    max_speed_kmh: Annotated[float | None, Query(gt=0, le=1000)] = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    limit: Limit = 100,
) -> list[CloneFindingOut]:
    """Plates read at places too far apart for the time, or on vehicles that do not match."""
    wanted = plate_of(plate) if plate else None
    speed = max_speed_kmh or settings.anpr_max_speed_kmh
    granted = authorise_and_commit(
        db, principal, settings, "clones", wanted or "all plates", start, end, reason
    )
    found = run_search(
        settings,
        lambda engine: search.clones(
            engine,
            granted.start,
            granted.end,
            max_speed_kmh=speed,
            plate=wanted,
            min_confidence=min_confidence,
            limit=limit,
        ),
    )
    return [CloneFindingOut.model_validate(c) for c in found]


def hours_of(from_hour: int | None, to_hour: int | None) -> tuple[int, int] | None:
    if from_hour is None and to_hour is None:
        return None
    if from_hour is None or to_hour is None:
        field = "from_hour" if from_hour is None else "to_hour"
        raise InvalidInput({field: "Give both hours of the day (UTC), or neither"})
    return (from_hour, to_hour)


def place_subject(camera_ids: list[str], area: search.Area | None) -> str:
    if camera_ids:
        return "cameras " + ", ".join(camera_ids)
    assert area is not None
    return f"area {area.lat:.5f},{area.lon:.5f} radius {area.radius_m:g} m"


Hour = Annotated[int | None, Query(ge=0, le=23, description="Hour of the day (UTC)")]


@router.get("/visitors")
def visitors(
    reason: Reason,
    start: Start,
    end: End,
    db: DB,
    principal: Authenticated,
    settings: AppSettings,
    camera: Annotated[list[str] | None, Query(max_length=MAX_CAMERAS)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=100_000)] = None,
    from_hour: Hour = None,
    to_hour: Hour = None,
    min_days: Annotated[int, Query(ge=1, le=366)] = 3,
    limit: Limit = 100,
) -> list[VisitorOut]:
    """Plates that keep coming back to some cameras (``camera``, repeated) or an area."""
    store = read_store(settings)
    camera_ids = camera_ids_of([c[:2000] for c in camera or []], cameras_of(store), "camera")
    area = area_of(lat, lon, radius_m)
    if not camera_ids and area is None:
        raise InvalidInput({"camera": "Name one or more cameras, or an area (lat, lon, radius_m)"})
    hours = hours_of(from_hour, to_hour)
    granted = authorise_and_commit(
        db, principal, settings, "visitors", place_subject(camera_ids, area), start, end, reason
    )
    found = run_search(
        settings,
        lambda engine: search.frequent_visitors(
            engine,
            granted.start,
            granted.end,
            camera_ids=camera_ids or None,
            area=None if camera_ids else area,
            hours=hours,
            min_days=min_days,
            limit=limit,
        ),
    )
    return [VisitorOut.model_validate(v) for v in found]


def place_windows(
    windows: list[PlaceWindowIn], cameras: dict[str, dict[str, Any]]
) -> list[search.PlaceWindow]:
    """Each window checked: known cameras or a whole area, and an end after its start."""
    out = []
    for n, window in enumerate(windows):
        field = f"windows[{n}]"
        ids = camera_ids_of(window.camera_ids, cameras, f"{field}.camera_ids")
        try:
            area = area_of(window.lat, window.lon, window.radius_m)
        except InvalidInput as exc:
            raise InvalidInput({f"{field}.{k}": v for k, v in exc.errors.items()}) from exc
        if not ids and area is None:
            raise InvalidInput({field: "Name cameras or an area (lat, lon, radius_m)"})
        try:
            start, end = check_range(window.start, window.end)
        except InvalidInput as exc:
            raise InvalidInput({f"{field}.{k}": v for k, v in exc.errors.items()}) from exc
        out.append(search.PlaceWindow(ids or None, None if ids else area, start, end))
    return out


@router.post("/stakeout")
def stakeout(
    body: StakeoutIn,
    reason: Reason,
    db: DB,
    principal: Authenticated,
    settings: AppSettings,
    start: Annotated[
        AwareDatetime | None, Query(description="Defaults to the first window")
    ] = None,
    end: Annotated[AwareDatetime | None, Query(description="Defaults to the last window")] = None,
) -> list[StakeoutHitOut]:
    """Plates seen in at least ``min_windows`` of several place-and-time windows.

    The audited range covers every window; ``start`` and ``end``, when given, must too.
    """
    windows = place_windows(body.windows, cameras_of(read_store(settings)))
    if body.min_windows > len(windows):
        raise InvalidInput({"min_windows": "must not be more than the number of windows"})
    first = min(w.start for w in windows)
    last = max(w.end for w in windows)
    if start is not None and in_utc(start, "start") > first:
        raise InvalidInput({"start": "must not be after the start of any window"})
    if end is not None and in_utc(end, "end") < last:
        raise InvalidInput({"end": "must not be before the end of any window"})
    subject = "; ".join(place_subject(list(w.camera_ids or []), w.area) for w in windows)
    authorise_and_commit(
        db, principal, settings, "stakeout", subject, start or first, end or last, reason
    )
    found = run_search(
        settings,
        lambda engine: search.stakeout(engine, windows, min_windows=body.min_windows),
    )
    return [StakeoutHitOut.model_validate(h) for h in found]


def hub_of(
    cameras: dict[str, dict[str, Any]],
    hub_camera: str | None,
    lat: float | None,
    lon: float | None,
    radius_m: float | None,
) -> search.Area:
    """The hub: a camera's place, or lat and lon, with a radius (2 km unless given)."""
    radius = radius_m if radius_m is not None else 2000.0
    if hub_camera:
        found = cameras.get(hub_camera.strip())
        if found is None or found.get("lat") is None or found.get("lon") is None:
            raise InvalidInput({"hub_camera": "No camera with a place has this id"})
        area = area_of(float(found["lat"]), float(found["lon"]), radius)
    else:
        try:
            area = area_of(lat, lon, radius if lat is not None or lon is not None else None)
        except InvalidInput as exc:
            names = {"lat": "hub_lat", "lon": "hub_lon"}
            raise InvalidInput({names.get(k, k): v for k, v in exc.errors.items()}) from exc
    if area is None:
        raise InvalidInput(
            {"hub_camera": "Give the hub as a camera id, or a latitude and longitude"}
        )
    return area


@router.get("/county-lines")
def county_lines(
    reason: Reason,
    start: Start,
    end: End,
    db: DB,
    principal: Authenticated,
    settings: AppSettings,
    hub_camera: Annotated[str | None, Query(max_length=64)] = None,
    hub_lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    hub_lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=100_000)] = None,
    min_distance_km: Annotated[float, Query(gt=0, le=1000)] = 30,
    max_dwell_hours: Annotated[float, Query(gt=0, le=72)] = 6,
    min_trips: Annotated[int, Query(ge=1, le=365)] = 3,
    limit: Limit = 50,
) -> list[CountyLinesCandidateOut]:
    """Vehicles making repeated short-stay round trips from a hub to distant towns."""
    hub = hub_of(cameras_of(read_store(settings)), hub_camera, hub_lat, hub_lon, radius_m)
    subject = f"hub {hub_camera or ''} {place_subject([], hub)}".replace("  ", " ")
    granted = authorise_and_commit(
        db, principal, settings, "county_lines", subject, start, end, reason
    )
    found = run_search(
        settings,
        lambda engine: search.county_lines(
            engine,
            granted.start,
            granted.end,
            hub,
            min_distance_km=min_distance_km,
            max_dwell_hours=max_dwell_hours,
            min_trips=min_trips,
            limit=limit,
        ),
    )
    return [CountyLinesCandidateOut.model_validate(c) for c in found]
