"""ANPR pages for police: the live overview, investigative searches, hotlists and alerts.

Every page works without JavaScript: searches are GET forms answered with tables, and the
alert list is rendered on the server. Maps and the live feed (``/static/anpr/*.js``) only add
to that. Each search passes through :func:`peel.anpr.service.authorise_search`, which checks
the 90-day rule and writes the audit event, before DuckDB reads the Parquet store; the checks
on plates, cameras, areas and times are the API's (:mod:`peel.anpr.search_views`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

import duckdb
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from peel.anpr import hotlists, search
from peel.anpr import search_views as checks
from peel.anpr.models import AnprAlert, AnprCamera, AnprHotlistEntry, AnprIngestBatch
from peel.anpr.plates import display
from peel.anpr.service import MIN_JUSTIFICATION, can_use_anpr, is_police, open_period_start
from peel.anpr.store import ReadStore
from peel.core.db import utcnow
from peel.core.deps import DB, CsrfForm, Person
from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.policy import Forbidden, NotFound, visible_clause
from peel.core.principal import Principal
from peel.web.templating import render

router = APIRouter(include_in_schema=False, prefix="/anpr")

MAX_TEXT = 1000
#: Sightings listed in a history table (the map shows them all).
MAX_ROWS = 2000
STAKEOUT_ROWS = 3
#: Cameras listed under the overview map (the map shows them all).
MAX_CAMERA_ROWS = 500
SEARCHES = [
    ("/anpr/history", "Vehicle history", "Every sighting of a plate, on a map with a time slider."),
    ("/anpr/convoy", "Convoy", "Vehicles that travel with a target, ranked against chance."),
    ("/anpr/clones", "Cloned plates", "Impossible journeys and vehicles that do not match."),
    ("/anpr/visitors", "Frequent visitors", "Plates that keep coming back to a place."),
    ("/anpr/stakeout", "Stakeout", "Plates seen at several places and times."),
    ("/anpr/county-lines", "County lines", "Short-stay round trips from a hub to far towns."),
]


def require_anpr_page(principal: Principal) -> None:
    """Partner agencies are told there is nothing here; police without a search role, no."""
    if not is_police(principal):
        raise NotFound("page", "anpr")
    if not can_use_anpr(principal):
        raise Forbidden("ANPR is for police officers, analysts and supervisors only")


def when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%d %b %Y %H:%M:%S")


def local_input(value: datetime) -> str:
    """A time as a datetime-local form value (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def evidence_text(key: str, value: Any) -> str:
    """One evidence value as text: times in UTC, places by camera, counts after values."""
    if isinstance(value, datetime):
        return when(value) + " UTC"
    if isinstance(value, str) and key.endswith("_at"):
        try:
            return when(datetime.fromisoformat(value)) + " UTC"
        except ValueError:
            return value
    if isinstance(value, dict):
        if "camera_id" in value:
            place = str(value.get("camera_name") or value["camera_id"])
            return f"{place}, {evidence_text('read_at', value.get('read_at'))}".rstrip(", ")
        return ", ".join(f"{k} ({evidence_text(str(k), v)})" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(evidence_text(key, v) for v in value)
    return "" if value is None else str(value)


def window_numbers(matched: list[int]) -> str:
    """Stakeout windows as the form numbers them (from 1)."""
    return ", ".join(str(n + 1) for n in sorted(matched))


HELPERS: dict[str, Any] = {
    "plate": display,
    "when": when,
    "searches": SEARCHES,
    "evidence_text": evidence_text,
    "window_numbers": window_numbers,
}


def _store(request: Request) -> ReadStore:
    return checks.read_store(request.app.state.settings)


def _query(request: Request, fields: dict[str, str]) -> dict[str, str]:
    """The form's fields from the query string, each with its default when empty."""
    params = request.query_params
    return {n: params.get(n, "").strip()[:MAX_TEXT] or default for n, default in fields.items()}


def parse_time(raw: str, field: str, errors: dict[str, str]) -> datetime | None:
    """A form time (``YYYY-MM-DDTHH:MM``, a date, or ISO 8601); UTC when no zone is given."""
    if not raw:
        errors[field] = "Enter a date and time (UTC), for example 2025-06-01T08:00"
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
        return checks.in_utc(value if value.tzinfo else value.replace(tzinfo=UTC), field)
    except ValueError:
        errors[field] = (
            "Enter a date and time as YYYY-MM-DDTHH:MM (UTC), for example 2025-06-01T08:00"
        )
    except InvalidInput as exc:
        errors.update(exc.errors)
    return None


def _number(raw: str, field: str, low: float, high: float, errors: dict[str, str]) -> float:
    try:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError
    except ValueError:
        errors[field] = f"Enter a number from {low:g} to {high:g}"
        return low
    return value


def _whole(raw: str, field: str, low: int, high: int, errors: dict[str, str]) -> int:
    if not raw.isdigit() or not low <= int(raw) <= high:
        errors[field] = f"Enter a whole number from {low} to {high}"
        return low
    return int(raw)


def _checked(errors: dict[str, str], check: Callable[[], Any], fields: dict[str, str]) -> Any:
    """Run one of the API's checks, moving its InvalidInput onto the form's fields."""
    try:
        return check()
    except InvalidInput as exc:
        for key, message in exc.errors.items():
            errors.setdefault(fields.get(key, key), message)
    return None


def _search_context(request: Request, template: str, values: dict[str, str]) -> dict[str, Any]:
    settings = request.app.state.settings
    now = datetime.now(UTC)
    values.setdefault("start", "")
    values.setdefault("end", "")
    values["start"] = values["start"] or local_input(now - timedelta(days=7))
    values["end"] = values["end"] or local_input(now)
    open_since = open_period_start(settings, now)
    starts = [parse_time(v, k, {}) for k, v in values.items() if k.startswith("start") and v]
    return {
        **HELPERS,
        "template": template,
        "search_link": search_link,
        "values": values,
        "errors": {},
        "open_days": settings.anpr_open_search_days,
        "open_since": open_since,
        "beyond_open": any(s is not None and s < open_since for s in starts),
        "min_justification": MIN_JUSTIFICATION,
        "retention_days": settings.anpr_retention_days,
        "has_reads": _store(request).has_reads(),
    }


def _run(
    request: Request,
    db: Session,
    principal: Principal,
    ctx: dict[str, Any],
    audit: tuple[str, str, datetime | None, datetime | None],
    query: Callable[..., Any],
    decorate: Callable[[Any], dict[str, Any]] | None = None,
    fields: dict[str, str] | None = None,
) -> Response:
    """Authorise and audit the search, run it, and render the page with its result.

    ``audit`` is (kind, subject, start, end); ``query`` is called with the engine and the
    granted ``start`` and ``end`` as keywords; ``fields`` names the form field of each of the
    search's own error keys.
    """
    template, errors = ctx["template"], ctx["errors"]
    kind, subject, start, end = audit
    if errors or start is None or end is None:
        return render(request, template, ctx, 400)
    settings = request.app.state.settings
    try:
        granted = checks.authorise_and_commit(
            db, principal, settings, kind, subject, start, end, ctx["values"]["reason"]
        )
        ctx["result"] = checks.run_search(
            settings, lambda engine: query(engine, start=granted.start, end=granted.end)
        )
    except InvalidInput as exc:
        names = fields or {}
        errors.update({names.get(k, k): v for k, v in exc.errors.items()})
        return render(request, template, ctx, 400)
    except Forbidden as exc:
        errors["start"] = (
            f"{exc}. Choose a start after {when(ctx['open_since'])}, or ask a supervisor to "
            f"search with a written justification of at least {MIN_JUSTIFICATION} characters."
        )
        return render(request, template, ctx, 403)
    ctx["granted"] = granted
    if decorate is not None:
        ctx.update(decorate(ctx["result"]))
    return render(request, template, ctx)


def _times(values: dict[str, str], errors: dict[str, str]) -> tuple[datetime | None, ...]:
    start = parse_time(values["start"], "start", errors)
    end = parse_time(values["end"], "end", errors)
    if start and end and end <= start:
        errors["end"] = "The end must be after the start"
    return start, end


# --- the overview ---------------------------------------------------------------------------


def cameras_geojson(cameras: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
                "properties": {
                    "id": cid,
                    "name": c.get("name") or cid,
                    "direction": c.get("direction") or "",
                },
            }
            for cid, c in cameras.items()
            if c.get("lat") is not None and c.get("lon") is not None
        ],
    }


def known_cameras(db: Session, principal: Principal, store: ReadStore) -> dict[str, Any]:
    """The cameras' snapshot beside the reads, or the camera table before any snapshot."""
    cameras = checks.cameras_of(store)
    if cameras:
        return cameras
    rows = db.scalars(
        select(AnprCamera).where(visible_clause(principal, AnprCamera, "anpr_camera"))
    ).all()
    return {
        c.id: {"name": c.name, "lat": c.lat, "lon": c.lon, "direction": c.direction} for c in rows
    }


def reads_on(store: ReadStore, day: datetime) -> int:
    """Reads landed in one day's partition (from the Parquet footers, without scanning)."""
    files = store.files(day.date())
    if not files:
        return 0
    with duckdb.connect() as con:
        row = con.execute(
            "select count(*) from read_parquet(?)", [[str(f) for f in files]]
        ).fetchone()
    return int(row[0]) if row else 0


def alert_view(alert: AnprAlert, cameras: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the alert list and the map show of one alert (the same shape the live feed sends)."""
    camera = cameras.get(alert.camera_id, {})
    entry = alert.entry
    return {
        "id": alert.id,
        "plate": alert.plate,
        "plate_display": display(alert.plate),
        "plate_read": alert.plate_read,
        "camera_id": alert.camera_id,
        "camera_name": camera.get("name") or alert.camera_id,
        "lat": camera.get("lat"),
        "lon": camera.get("lon"),
        "read_at": alert.read_at.isoformat(),
        "read_at_text": when(alert.read_at),
        "match": alert.match,
        "priority": alert.priority,
        "reason": entry.reason if entry else "",
        "list_name": entry.list_name if entry else "",
        "tlp": str(alert.tlp),
        "acknowledged": alert.acknowledged_at is not None,
        "outcome": alert.outcome,
    }


def active_entries(db: Session, principal: Principal) -> int:
    """Hotlist entries the person may see that can still raise alerts."""
    now = utcnow()
    count = db.scalar(
        select(func.count(AnprHotlistEntry.id)).where(
            visible_clause(principal, AnprHotlistEntry, hotlists.ENTRY),
            AnprHotlistEntry.withdrawn_at.is_(None),
            or_(AnprHotlistEntry.expires_at.is_(None), AnprHotlistEntry.expires_at > now),
        )
    )
    return int(count or 0)


def recent_batches(db: Session, principal: Principal) -> list[AnprIngestBatch]:
    return list(
        db.scalars(
            select(AnprIngestBatch)
            .where(
                or_(
                    AnprIngestBatch.owner_org_id.is_(None),
                    AnprIngestBatch.owner_org_id == principal.organisation_id,
                )
            )
            .order_by(AnprIngestBatch.created_at.desc())
            .limit(10)
        )
    )


@router.get("")
def overview(request: Request, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    store = _store(request)
    cameras = known_cameras(db, principal, store)
    alerts = [alert_view(a, cameras) for a in hotlists.visible_alerts(db, principal, limit=50)]
    now = datetime.now(UTC)
    ctx = {
        **HELPERS,
        "cameras": cameras_geojson(cameras),
        "camera_count": len(cameras),
        "camera_rows": sorted(cameras.items())[:MAX_CAMERA_ROWS],
        "reads_today": reads_on(store, now),
        "active_entries": active_entries(db, principal),
        "alerts": alerts,
        "batches": recent_batches(db, principal),
        "has_reads": store.has_reads(),
        "values": {"start": local_input(now - timedelta(days=7)), "end": local_input(now)},
        "refreshed": when(now),
    }
    return render(request, "anpr/index.html", ctx)


# --- searches -------------------------------------------------------------------------------

TIMES = {"start": "", "end": "", "reason": ""}


def _submitted(request: Request) -> bool:
    return "reason" in request.query_params


def search_link(path: str, **params: Any) -> str:
    return f"{path}?{urlencode({k: v for k, v in params.items() if v is not None})}"


@router.get("/history")
def history_page(request: Request, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    values = _query(request, {"plate": "", "fuzzy": "", **TIMES})
    ctx = _search_context(request, "anpr/history.html", values)
    if not _submitted(request):
        return render(request, ctx["template"], ctx)
    errors: dict[str, str] = ctx["errors"]
    plate = _checked(errors, lambda: checks.plate_of(values["plate"]), {})
    start, end = _times(values, errors)
    query = partial(search.history, plate=plate, fuzzy=values["fuzzy"] == "yes")
    audit = ("history", plate or "", start, end)
    return _run(request, db, principal, ctx, audit, query, history_trail)


def history_trail(found: Any) -> dict[str, Any]:
    """The sightings the map draws, in time order (times in milliseconds for the slider)."""
    trail = [
        {
            "t": int(s.read_at.timestamp() * 1000),
            "at": when(s.read_at),
            "lat": s.lat,
            "lon": s.lon,
            "camera": s.camera_name or s.camera_id,
            "plate": display(s.plate),
        }
        for s in sorted(found.sightings, key=lambda s: s.read_at)
        if s.lat is not None and s.lon is not None
    ]
    return {"trail": trail, "max_rows": MAX_ROWS}


@router.get("/convoy")
def convoy_page(request: Request, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    defaults = {
        "plate": "",
        "window": "60",
        "min_co_sightings": "3",
        "min_cameras": "2",
        "min_score": f"{search.DEFAULT_MIN_SCORE:g}",
    }
    values = _query(request, {**defaults, **TIMES})
    ctx = _search_context(request, "anpr/convoy.html", values)
    if not _submitted(request):
        return render(request, ctx["template"], ctx)
    errors: dict[str, str] = ctx["errors"]
    plate = _checked(errors, lambda: checks.plate_of(values["plate"]), {})
    start, end = _times(values, errors)
    query = partial(
        search.convoy,
        plate=plate,
        window_s=_whole(values["window"], "window", 1, 3600, errors),
        min_co_sightings=_whole(values["min_co_sightings"], "min_co_sightings", 1, 1000, errors),
        min_cameras=_whole(values["min_cameras"], "min_cameras", 1, 1000, errors),
        min_score=_number(values["min_score"], "min_score", 0, search.MAX_SCORE, errors),
    )
    audit = ("convoy", plate or "", start, end)
    return _run(request, db, principal, ctx, audit, query, fields={"window_s": "window"})


@router.get("/clones")
def clones_page(request: Request, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    speed = f"{request.app.state.settings.anpr_max_speed_kmh:g}"
    values = _query(request, {"plate": "", "max_speed": speed, "min_confidence": "", **TIMES})
    ctx = _search_context(request, "anpr/clones.html", values)
    if not _submitted(request):
        return render(request, ctx["template"], ctx)
    errors: dict[str, str] = ctx["errors"]
    plate = None
    if values["plate"]:
        plate = _checked(errors, lambda: checks.plate_of(values["plate"]), {})
    start, end = _times(values, errors)
    confidence = None
    if values["min_confidence"]:
        confidence = _number(values["min_confidence"], "min_confidence", 0, 1, errors)
    query = partial(
        search.clones,
        max_speed_kmh=_number(values["max_speed"], "max_speed", 1, 1000, errors),
        plate=plate,
        min_confidence=confidence,
    )
    audit = ("clones", plate or "all plates", start, end)
    fields = {"max_speed_kmh": "max_speed"}
    return _run(request, db, principal, ctx, audit, query, fields=fields)


def _numbers(
    values: dict[str, str], limits: dict[str, tuple[float, float]], errors: dict[str, str]
) -> dict[str, float | None]:
    """Optional numbers: None when empty, else checked against their limits."""
    return {
        name: _number(values[name], name, low, high, errors) if values[name] else None
        for name, (low, high) in limits.items()
    }


PLACE_LIMITS = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0), "radius": (1.0, 100_000.0)}


@router.get("/visitors")
def visitors_page(request: Request, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    place = {"cameras": "", "lat": "", "lon": "", "radius": ""}
    defaults = {"from_hour": "", "to_hour": "", "min_days": "3"}
    values = _query(request, {**place, **defaults, **TIMES})
    ctx = _search_context(request, "anpr/visitors.html", values)
    if not _submitted(request):
        return render(request, ctx["template"], ctx)
    errors: dict[str, str] = ctx["errors"]
    cameras = checks.cameras_of(_store(request))
    ids = _checked(
        errors, lambda: checks.camera_ids_of([values["cameras"]], cameras, "cameras"), {}
    )
    n = _numbers(values, PLACE_LIMITS, errors)
    names = {"radius_m": "radius"}
    area = _checked(errors, lambda: checks.area_of(n["lat"], n["lon"], n["radius"]), names)
    if not ids and area is None and not errors:
        errors["cameras"] = "Name cameras, or give an area (latitude, longitude and radius)"
    start, end = _times(values, errors)
    hours = None
    if values["from_hour"] or values["to_hour"]:
        hours = (
            _whole(values["from_hour"], "from_hour", 0, 23, errors),
            _whole(values["to_hour"], "to_hour", 0, 24, errors),
        )
    query = partial(
        search.frequent_visitors,
        camera_ids=ids or None,
        area=None if ids else area,
        hours=hours,
        min_days=_whole(values["min_days"], "min_days", 1, 366, errors),
    )
    audit = ("visitors", checks.place_subject(ids or [], area) if ids or area else "", start, end)
    fields = {"hours": "from_hour", "camera_ids": "cameras", "area": "lat"}
    return _run(request, db, principal, ctx, audit, query, fields=fields)


@router.get("/stakeout")
def stakeout_page(request: Request, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    rows = range(1, STAKEOUT_ROWS + 1)
    places = {f"{f}_{n}": "" for n in rows for f in ("cameras", "start", "end")}
    values = _query(request, {**places, "min_windows": "2", **TIMES})
    ctx = _search_context(request, "anpr/stakeout.html", values)
    ctx["rows"] = list(rows)
    if not _submitted(request):
        return render(request, ctx["template"], ctx)
    errors: dict[str, str] = ctx["errors"]
    windows = _stakeout_windows(values, checks.cameras_of(_store(request)), rows, errors)
    min_windows = _whole(values["min_windows"], "min_windows", 1, STAKEOUT_ROWS, errors)
    if len(windows) < 2 and not errors:
        errors["cameras_1"] = "Fill in at least two places and times"
    if not errors and min_windows > len(windows):
        errors["min_windows"] = f"You gave {len(windows)} places; choose at most that many"
    first = min((w.start for w in windows), default=None)
    last = max((w.end for w in windows), default=None)
    subject = "; ".join(checks.place_subject(list(w.camera_ids or []), None) for w in windows)

    def query(engine: search.DuckDBEngine, **_granted: datetime) -> Any:
        return search.stakeout(engine, windows, min_windows=min_windows)

    fields = {"windows": "cameras_1", **{f"windows[{n - 1}]": f"cameras_{n}" for n in rows}}
    return _run(
        request, db, principal, ctx, ("stakeout", subject, first, last), query, None, fields
    )


def _stakeout_windows(
    values: dict[str, str], cameras: dict[str, Any], rows: range, errors: dict[str, str]
) -> list[search.PlaceWindow]:
    """The filled-in rows of the stakeout form as place/time windows; empty rows are skipped."""
    windows = []
    for n in rows:
        if not any(values[f"{f}_{n}"] for f in ("cameras", "start", "end")):
            continue
        field = f"cameras_{n}"
        ids: list[str] = (
            _checked(errors, partial(checks.camera_ids_of, [values[field]], cameras, field), {})
            or []
        )
        if not ids and field not in errors:
            errors[field] = f"Name the cameras of place {n}"
        start = parse_time(values[f"start_{n}"], f"start_{n}", errors)
        end = parse_time(values[f"end_{n}"], f"end_{n}", errors)
        if start and end and end <= start:
            errors[f"end_{n}"] = f"The end of window {n} must be after its start"
        if ids and start and end:
            windows.append(search.PlaceWindow(ids, None, start, end))
    return windows


@router.get("/county-lines")
def county_lines_page(request: Request, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    hub_fields = {"hub_camera": "", "hub_lat": "", "hub_lon": "", "radius": "2000"}
    defaults = {"min_distance": "30", "max_dwell": "6", "min_trips": "3"}
    values = _query(request, {**hub_fields, **defaults, **TIMES})
    ctx = _search_context(request, "anpr/county_lines.html", values)
    if not _submitted(request):
        return render(request, ctx["template"], ctx)
    errors: dict[str, str] = ctx["errors"]
    limits = {"hub_lat": PLACE_LIMITS["lat"], "hub_lon": PLACE_LIMITS["lon"]}
    n = _numbers(values, {**limits, "radius": PLACE_LIMITS["radius"]}, errors)
    cameras = checks.cameras_of(_store(request))
    hub = _checked(
        errors,
        lambda: checks.hub_of(
            cameras, values["hub_camera"] or None, n["hub_lat"], n["hub_lon"], n["radius"]
        ),
        {"radius_m": "radius"},
    )
    start, end = _times(values, errors)
    query = partial(
        search.county_lines,
        hub=hub,
        min_distance_km=_number(values["min_distance"], "min_distance", 1, 1000, errors),
        max_dwell_hours=_number(values["max_dwell"], "max_dwell", 0.25, 72, errors),
        min_trips=_whole(values["min_trips"], "min_trips", 1, 365, errors),
    )
    subject = f"hub {values['hub_camera']} {checks.place_subject([], hub)}" if hub else ""
    fields = {"min_distance_km": "min_distance", "max_dwell_hours": "max_dwell", "area": "radius"}
    return _run(
        request, db, principal, ctx, ("county_lines", subject, start, end), query, None, fields
    )


# --- hotlists and alerts --------------------------------------------------------------------

ENTRY_TLPS = [
    (TLP.amber.value, "TLP:AMBER – your force and forces it shares with (the usual choice)"),
    (TLP.amber_strict.value, "TLP:AMBER+STRICT – your force only"),
    (TLP.green.value, "TLP:GREEN – every police force on Peel"),
]
DONE = {
    "added": "Plate added to the hotlist. Reads of it now raise alerts.",
    "withdrawn": "Entry withdrawn. It no longer raises alerts.",
    "acknowledged": "Alert acknowledged",
}


def _form_text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _hotlists_page(
    request: Request,
    db: Session,
    principal: Principal,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    show_all = request.query_params.get("show") == "all"
    entries = hotlists.visible_entries(db, principal, include_expired=show_all)
    ctx = {
        **HELPERS,
        "entries": entries,
        "show_all": show_all,
        "values": values,
        "errors": errors,
        "tlp_choices": ENTRY_TLPS,
        "is_active": hotlists.is_active,
        "notice": DONE.get(request.query_params.get("done", "")),
    }
    return render(request, "anpr/hotlists.html", ctx, status)


@router.get("/hotlists")
def hotlists_page(request: Request, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    values = {"priority": "50", "list_name": hotlists.DEFAULT_LIST, "tlp": TLP.amber.value}
    return _hotlists_page(request, db, principal, values, {})


@router.post("/hotlists")
def hotlist_add(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    names = ("plate", "reason", "priority", "expires_at", "list_name", "tlp", "match_fuzzy")
    values = {n: _form_text(form, n) for n in names}
    errors: dict[str, str] = {}
    priority = _whole(values["priority"], "priority", 0, 100, errors)
    expires_at = _checked(errors, lambda: hotlists.parse_expiry(values["expires_at"]), {})
    if not errors:
        try:
            hotlists.create_entry(
                db,
                principal,
                values["plate"],
                values["reason"],
                priority,
                expires_at,
                values["tlp"],
                values["match_fuzzy"] == "yes",
                values["list_name"] or hotlists.DEFAULT_LIST,
            )
        except InvalidInput as exc:
            errors.update(exc.errors)
        else:
            return RedirectResponse("/anpr/hotlists?done=added", status_code=303)
    db.rollback()
    return _hotlists_page(request, db, principal, values, errors, 400)


@router.post("/hotlists/{entry_id}/withdraw")
def hotlist_withdraw(
    request: Request, entry_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    require_anpr_page(principal)
    hotlists.withdraw_entry(db, principal, entry_id, _form_text(form, "withdraw_reason"))
    return RedirectResponse("/anpr/hotlists?done=withdrawn", status_code=303)


@router.get("/alerts")
def alerts_page(request: Request, db: DB, principal: Person) -> Response:
    require_anpr_page(principal)
    open_only = request.query_params.get("show") == "open"
    cameras = known_cameras(db, principal, _store(request))
    rows = hotlists.visible_alerts(db, principal, unacknowledged=open_only, limit=200)
    editable = {a.id for a in rows if a.owner_org_id == principal.organisation_id}
    ctx = {
        **HELPERS,
        "alerts": [alert_view(a, cameras) for a in rows],
        "editable": editable,
        "open_only": open_only,
        "notice": DONE.get(request.query_params.get("done", "")),
        "refreshed": when(datetime.now(UTC)),
    }
    return render(request, "anpr/alerts.html", ctx)


@router.post("/alerts/{alert_id}/acknowledge")
def alert_acknowledge(
    request: Request, alert_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    require_anpr_page(principal)
    hotlists.acknowledge_alert(db, principal, alert_id, _form_text(form, "outcome"))
    return RedirectResponse("/anpr/alerts?done=acknowledged", status_code=303)
