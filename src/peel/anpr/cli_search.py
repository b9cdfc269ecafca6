"""``peel anpr history|convoy|clones|visitors|stakeout|county-lines``: investigative search.

Every search names who is asking (``--as``) and why (``--reason``); it is checked and written
to the audit log (committed) before it runs. Times are ISO 8601; a time without a zone is UTC.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from peel.anpr import search
from peel.anpr.cli import AsUser, console, person, sessions
from peel.anpr.plates import display
from peel.anpr.service import SearchRequest, authorise_search
from peel.core.cli import friendly_errors
from peel.core.config import get_settings
from peel.core.db import transaction
from peel.core.errors import InvalidInput

T = TypeVar("T")
DEFAULT_DAYS = 7


class EngineName(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


Reason = Annotated[
    str, typer.Option("--reason", help="Why you are searching (an incident or case reference)")
]
From = Annotated[
    str | None,
    typer.Option("--from", help=f"ISO 8601 start; default {DEFAULT_DAYS} days before --to"),
]
To = Annotated[str | None, typer.Option("--to", help="ISO 8601 end; default now")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
EngineOpt = Annotated[
    EngineName, typer.Option("--engine", help="duckdb (this machine) or spark (local Spark)")
]
Limit = Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Most rows shown")]
Cameras = Annotated[
    list[str] | None, typer.Option("--camera", help="Camera id; repeat, or separate by commas")
]
Lat = Annotated[float | None, typer.Option("--lat", help="Centre of an area (degrees)")]
Lon = Annotated[float | None, typer.Option("--lon", help="Centre of an area (degrees)")]
Radius = Annotated[float, typer.Option("--radius-m", help="Radius of the area in metres")]


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 date or time; no zone means UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput({option: f"expected an ISO 8601 date or time, got {text!r}"}) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def time_range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    stop = parse_time(end, "--to") if end else datetime.now(UTC)
    begin = parse_time(start, "--from") if start else stop - timedelta(days=DEFAULT_DAYS)
    if stop <= begin:
        raise InvalidInput({"--to": "must be after --from"})
    return begin, stop


def camera_list(raw: list[str] | None) -> list[str]:
    ids: list[str] = []
    for part in raw or []:
        ids += [p for p in part.replace(",", " ").split() if p and p not in ids]
    return ids


def area_of(lat: float | None, lon: float | None, radius_m: float) -> search.Area | None:
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        raise InvalidInput({"--lat": "an area needs both --lat and --lon"})
    return search.Area(lat, lon, radius_m)


def authorise(
    as_user: str, kind: str, subject: str, start: datetime, end: datetime, reason: str
) -> SearchRequest:
    """Check the searcher and audit the search, committed before it runs."""
    with transaction(sessions()) as session:
        principal = person(session, as_user)
        return authorise_search(
            session, principal, get_settings(), SearchRequest(kind, subject, start, end, reason)
        )


@contextmanager
def engine_for(name: EngineName) -> Iterator[search.Engine]:
    """The chosen engine over this instance's read store."""
    from peel.anpr.store import ReadStore

    store = ReadStore(Path(get_settings().anpr_dir))
    if name == EngineName.duckdb:
        yield search.DuckDBEngine(store)
        return
    try:
        from peel.anpr.spark import SparkEngine, local_spark
    except ImportError as exc:  # pragma: no cover - pyspark is an optional extra
        raise InvalidInput({"--engine": "spark needs pyspark: pip install 'peel[spark]'"}) from exc
    spark = local_spark("peel-anpr-cli")
    try:
        yield SparkEngine(store, spark)
    finally:
        spark.stop()


def run(name: EngineName, query: Callable[[search.Engine], T]) -> T:
    with engine_for(name) as engine:
        return query(engine)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_json(rows: Any) -> None:
    console.print_json(json.dumps(rows, default=_json_default, ensure_ascii=False))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``peel anpr``."""
    app.command("history")(friendly_errors(history))
    app.command("convoy")(friendly_errors(convoy))
    app.command("clones")(friendly_errors(clones))
    app.command("visitors")(friendly_errors(visitors))
    app.command("stakeout")(friendly_errors(stakeout))
    app.command("county-lines")(friendly_errors(county_lines))


# --- commands ---------------------------------------------------------------------------------


def history(
    plate: Annotated[str, typer.Argument(help="The number plate, e.g. 'AB51 CDE'")],
    as_user: AsUser,
    reason: Reason,
    start: From = None,
    end: To = None,
    fuzzy: Annotated[bool, typer.Option("--fuzzy", help="Also look-alike plates")] = False,
    as_json: Json = False,
    engine: EngineOpt = EngineName.duckdb,
) -> None:
    """Every read of a plate, oldest first; first and last seen."""
    wanted = search.plate_of(plate, "PLATE")
    granted = authorise(as_user, "history", wanted, *time_range(start, end), reason)
    found = run(engine, lambda e: search.history(e, wanted, granted.start, granted.end, fuzzy))
    if as_json:
        print_json(asdict(found))
        return
    table = Table("read at (UTC)", "camera", "plate read", "lat", "lon", "confidence", "seen as")
    for s in found.sightings:
        table.add_row(
            _when(s.read_at),
            s.camera_name or s.camera_id,
            s.plate_raw,
            f"{s.lat:.5f}" if s.lat is not None else "",
            f"{s.lon:.5f}" if s.lon is not None else "",
            f"{s.confidence:.2f}" if s.confidence is not None else "",
            " ".join(v for v in (s.colour, s.make, s.model) if v),
        )
    console.print(table)
    console.print(
        f"{display(wanted)}: {len(found.sightings)} reads at {found.distinct_cameras} cameras; "
        f"first {_when(found.first_seen) or '—'}, last {_when(found.last_seen) or '—'}"
    )


def convoy(
    plate: Annotated[str, typer.Argument(help="The target's number plate")],
    as_user: AsUser,
    reason: Reason,
    window: Annotated[
        int, typer.Option("--window", min=1, max=3600, help="Seconds either side of the target")
    ] = 60,
    min_co_sightings: Annotated[int, typer.Option(min=1, help="Fewest co-sightings")] = 3,
    min_cameras: Annotated[int, typer.Option(min=1, help="Fewest distinct cameras")] = 2,
    min_score: Annotated[
        float,
        typer.Option(
            "--min-score",
            min=0,
            max=search.MAX_SCORE,
            help="Lowest score listed (4: a 1 in 10,000 chance); 0 lists every candidate",
        ),
    ] = search.DEFAULT_MIN_SCORE,
    start: From = None,
    end: To = None,
    limit: Limit = 50,
    as_json: Json = False,
    engine: EngineOpt = EngineName.duckdb,
) -> None:
    """Vehicles travelling with the target on several of its journeys, ranked by how unlikely
    that is by chance."""
    wanted = search.plate_of(plate, "PLATE")
    granted = authorise(as_user, "convoy", wanted, *time_range(start, end), reason)
    found = run(
        engine,
        lambda e: search.convoy(
            e,
            wanted,
            granted.start,
            granted.end,
            window,
            min_co_sightings,
            min_cameras,
            limit,
            min_score=min_score,
        ),
    )
    if as_json:
        print_json([asdict(c) for c in found])
        return
    table = Table(
        "plate", "journeys", "co-sightings", "cameras", "expected", "score", "first co-sighting"
    )
    for c in found:
        first = c.evidence[0] if c.evidence else None
        table.add_row(
            display(c.plate),
            str(c.occasions),
            str(c.co_sightings),
            str(c.distinct_cameras),
            f"{c.expected:.3f}",
            f"{c.score:.1f}",
            f"{first.camera_name or first.camera_id} {_when(first.other_read_at)} "
            f"({first.gap_s:+.0f} s)"
            if first
            else "",
        )
    console.print(table)
    console.print(
        "journeys = the target's separate journeys shared (one never counts); score = −log10 "
        "P(its own trips meet the target on that many journeys by chance), 4 is 1 in 10,000; "
        "expected = its trips expected to meet the target by chance."
    )
    if not found:
        console.print(
            f"No vehicle scored {min_score:g} or more: try a lower --min-score or a wider "
            "--from/--to range."
        )


def clones(
    as_user: AsUser,
    reason: Reason,
    plate: Annotated[str | None, typer.Option("--plate", help="Only this plate")] = None,
    max_speed: Annotated[
        float | None, typer.Option("--max-speed", help="km/h; default from settings")
    ] = None,
    min_confidence: Annotated[
        float | None, typer.Option("--min-confidence", min=0, max=1, help="Ignore weaker reads")
    ] = None,
    start: From = None,
    end: To = None,
    limit: Limit = 100,
    as_json: Json = False,
    engine: EngineOpt = EngineName.duckdb,
) -> None:
    """Plates seen where no one vehicle could be, or on a vehicle that does not match."""
    wanted = search.plate_of(plate, "--plate") if plate else None
    speed = max_speed or get_settings().anpr_max_speed_kmh
    granted = authorise(as_user, "clones", wanted or "all plates", *time_range(start, end), reason)
    found = run(
        engine,
        lambda e: search.clones(
            e, granted.start, granted.end, speed, wanted, min_confidence, limit
        ),
    )
    if as_json:
        print_json(
            [
                {"plate": f.plate, "reason": f.reason, "score": f.score, "evidence": f.evidence}
                for f in found
            ]
        )
        return
    table = Table("plate", "reason", "score", "evidence")
    for f in found:
        table.add_row(display(f.plate), f.reason, f"{f.score:.1f}", _evidence_line(f))
    console.print(table)


def _evidence_line(finding: search.CloneFinding) -> str:
    first = finding.evidence[0] if finding.evidence else {}
    if finding.reason == "impossible_travel" and first:
        a, b = first["from"], first["to"]
        more = f" (+{len(finding.evidence) - 1} more)" if len(finding.evidence) > 1 else ""
        return (
            f"{a['camera_name'] or a['camera_id']} → {b['camera_name'] or b['camera_id']}: "
            f"{first['distance_km']:.1f} km in {first['minutes']:.0f} min = "
            f"{first['implied_kmh']:.0f} km/h{more}"
        )
    parts = []
    for item in finding.evidence:
        seen = ", ".join(f"{v} ×{n}" for v, n in item["seen"].items())
        registered = f"register {item['registered']}; " if item["registered"] else ""
        parts.append(f"{item['attribute']}: {registered}seen {seen}")
    return "; ".join(parts)


def visitors(
    as_user: AsUser,
    reason: Reason,
    camera: Cameras = None,
    lat: Lat = None,
    lon: Lon = None,
    radius_m: Radius = 500.0,
    hours: Annotated[
        str | None, typer.Option("--hours", help="UTC hours FROM-TO, e.g. 22-6 (spans midnight)")
    ] = None,
    min_days: Annotated[int, typer.Option("--min-days", min=1, help="Fewest distinct days")] = 3,
    start: From = None,
    end: To = None,
    limit: Limit = 100,
    as_json: Json = False,
    engine: EngineOpt = EngineName.duckdb,
) -> None:
    """Plates that keep coming back to cameras (--camera) or an area (--lat/--lon/--radius-m)."""
    ids, area = camera_list(camera), area_of(lat, lon, radius_m)
    if bool(ids) == (area is not None):
        raise InvalidInput({"--camera": "name cameras (--camera) or an area (--lat/--lon)"})
    band = _hours(hours)
    subject = f"cameras {' '.join(ids)}" if ids else f"area {lat},{lon} r={radius_m:g} m"
    granted = authorise(as_user, "visitors", subject, *time_range(start, end), reason)
    found = run(
        engine,
        lambda e: search.frequent_visitors(
            e, granted.start, granted.end, ids or None, area, band, min_days, limit
        ),
    )
    if as_json:
        print_json([asdict(v) for v in found])
        return
    table = Table("plate", "days", "visits", "first seen", "last seen")
    for v in found:
        table.add_row(
            display(v.plate),
            str(v.distinct_days),
            str(v.visits),
            _when(v.first_seen),
            _when(v.last_seen),
        )
    console.print(table)


def _hours(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        first, last = (int(x) for x in text.split("-", 1))
    except ValueError as exc:
        raise InvalidInput({"--hours": "expected FROM-TO in whole hours, e.g. 22-6"}) from exc
    return first, last


def _window(text: str, n: int) -> search.PlaceWindow:
    """``CAM1,CAM2@FROM/TO`` or ``LAT,LON,RADIUS_M@FROM/TO``."""
    option = f"--window {n + 1}"
    place, _, times = text.partition("@")
    begin, _, stop = times.partition("/")
    if not (place and begin and stop):
        raise InvalidInput({option: "expected CAMERAS@FROM/TO or LAT,LON,RADIUS_M@FROM/TO"})
    start, end = parse_time(begin, option), parse_time(stop, option)
    parts = [p.strip() for p in place.split(",") if p.strip()]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return search.PlaceWindow(parts, None, start, end)
    if len(numbers) != 3:
        raise InvalidInput({option: "an area is LAT,LON,RADIUS_M"})
    return search.PlaceWindow(None, search.Area(*numbers), start, end)


def stakeout(
    as_user: AsUser,
    reason: Reason,
    window: Annotated[
        list[str],
        typer.Option(
            "--window",
            help="CAMERAS@FROM/TO or LAT,LON,RADIUS_M@FROM/TO (ISO 8601 times); repeat. "
            "The search's time range is the windows' own.",
        ),
    ],
    min_windows: Annotated[
        int | None, typer.Option("--min-windows", min=1, help="Default: every window")
    ] = None,
    as_json: Json = False,
    engine: EngineOpt = EngineName.duckdb,
) -> None:
    """Plates seen at k of n place/time windows (e.g. near each of a series of crimes)."""
    windows = [_window(w, n) for n, w in enumerate(window)]
    start, end = min(w.start for w in windows), max(w.end for w in windows)
    subject = "; ".join(window)
    authorise(as_user, "stakeout", subject, start, end, reason)
    found = run(engine, lambda e: search.stakeout(e, windows, min_windows))
    if as_json:
        print_json([asdict(h) for h in found])
        return
    table = Table("plate", "windows", "sightings")
    for h in found:
        table.add_row(
            display(h.plate),
            ", ".join(str(i + 1) for i in h.windows_matched),
            "; ".join(f"{s.camera_name or s.camera_id} {_when(s.read_at)}" for s in h.evidence),
        )
    console.print(table)


def county_lines(
    as_user: AsUser,
    reason: Reason,
    hub_camera: Annotated[
        str | None, typer.Option("--hub-camera", help="Hub centred on this camera")
    ] = None,
    lat: Lat = None,
    lon: Lon = None,
    radius_m: Radius = 2000.0,
    min_distance_km: Annotated[float, typer.Option(help="How far counts as away")] = 30.0,
    max_dwell_hours: Annotated[float, typer.Option(help="Longest time away from the hub")] = 6.0,
    min_trips: Annotated[int, typer.Option(min=1, help="Fewest round trips")] = 3,
    start: From = None,
    end: To = None,
    limit: Limit = 50,
    as_json: Json = False,
    engine: EngineOpt = EngineName.duckdb,
) -> None:
    """Vehicles making repeated short round trips from a hub to distant towns."""
    hub = _hub(hub_camera, lat, lon, radius_m)
    subject = f"hub {hub_camera or ''} {hub.lat:.5f},{hub.lon:.5f} r={radius_m:g} m"
    granted = authorise(as_user, "county_lines", subject, *time_range(start, end), reason)
    found = run(
        engine,
        lambda e: search.county_lines(
            e,
            granted.start,
            granted.end,
            hub,
            min_distance_km,
            max_dwell_hours,
            min_trips,
            limit,
        ),
    )
    if as_json:
        print_json([asdict(c) for c in found])
        return
    table = Table("plate", "trips", "score", "destinations")
    for c in found:
        table.add_row(display(c.plate), str(c.trips), f"{c.score:.1f}", ", ".join(c.destinations))
    console.print(table)


def _hub(camera: str | None, lat: float | None, lon: float | None, radius_m: float) -> search.Area:
    if camera:
        from peel.anpr.store import ReadStore

        store = ReadStore(Path(get_settings().anpr_dir))
        found = search.camera_positions(store).get(camera.strip())
        if found is None:
            raise InvalidInput({"--hub-camera": f"no camera with the id {camera!r}"})
        return search.Area(found[0], found[1], radius_m)
    area = area_of(lat, lon, radius_m)
    if area is None:
        raise InvalidInput({"--hub-camera": "name a hub camera or give --lat and --lon"})
    return area
