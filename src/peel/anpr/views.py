"""The live ANPR API: camera back-offices post reads; hotlists; alerts; the live alert stream.

``POST /api/v1/anpr/reads`` takes up to 10,000 reads from a police force's back office (an
API client of the force, or of an organisation registered as the force's client) and answers
with what was accepted, refused (each problem naming ``reads[i].field``) and alerted. Reads
land in Parquet within ``anpr_flush_seconds``; alerts are raised before the answer is sent.

``GET /anpr/alerts/stream`` is a server-sent event stream for signed-in police searchers:
each ``alert`` event carries one alert the listener may view (checked per listener and
alert), a comment every 15 seconds keeps proxies from closing it, and ``Last-Event-ID``
replays what a reconnecting browser missed. A stream lasts at most ten minutes; the browser
reconnects by itself, which checks its sign-in and roles again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from peel.anpr import hotlists, plates
from peel.anpr.live import AlertListener, AlertMessage, LiveIngest, alert_message
from peel.anpr.models import AnprAlert, AnprHotlistEntry
from peel.anpr.service import can_use_anpr
from peel.core.deps import DB, Authenticated, CurrentPrincipal
from peel.core.enums import TLP, OrganisationType
from peel.core.models import Organisation
from peel.core.policy import EDITOR_ROLES, Forbidden, can_view
from peel.core.principal import Principal
from peel.core.views import problem_responses, refuse_nul_characters

#: Reads accepted in one request, and the largest body (about 800 bytes a read).
MAX_READS = 10_000
MAX_BODY_BYTES = 8 * 1024 * 1024
#: What a browser waits before reconnecting a dropped stream, and how often it hears from us.
RETRY_MS = 3000
HEARTBEAT_SECONDS = 15.0
#: Alerts replayed to a stream that reconnects with Last-Event-ID.
MAX_REPLAY = 200
#: A stream ends after this long and the browser reconnects, so its sign-in is checked again.
STREAM_SECONDS = 600.0

api = APIRouter(
    prefix="/api/v1/anpr",
    tags=["anpr"],
    dependencies=[Depends(refuse_nul_characters)],
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
router = APIRouter()

EntryId = Annotated[str, PathParam(min_length=1, max_length=32)]
AlertId = Annotated[str, PathParam(min_length=1, max_length=32)]
Scalar = str | int | float | bool | None


# --- schemas ------------------------------------------------------------------------------


class ReadsIn(BaseModel):
    reads: list[dict[str, Scalar]] = Field(
        max_length=MAX_READS,
        description="Reads: camera_id, plate, read_at (ISO 8601) and optionally confidence, "
        "make, model, colour, direction, lat, lon, read_id",
    )
    source: str = Field(default="", max_length=300, description="The back office's name")


class ReadProblem(BaseModel):
    field: str = Field(description="e.g. reads[3].read_at")
    problem: str


class ReadsResult(BaseModel):
    accepted: int
    rejected: int
    duplicates: int = Field(description="Accepted reads already received (not stored twice)")
    alerts: int
    problems: list[ReadProblem]


class HotlistEntryIn(BaseModel):
    plate: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=hotlists.MAX_REASON)
    priority: int = Field(default=50, ge=0, le=100)
    expires_at: AwareDatetime | None = None
    tlp: TLP = TLP.amber
    match_fuzzy: bool = Field(default=False, description="Also alert on look-alike plates")
    list_name: str = Field(default=hotlists.DEFAULT_LIST, min_length=1, max_length=100)


class HotlistEntryRead(BaseModel):
    id: str
    plate: str
    plate_display: str
    list_name: str
    reason: str
    priority: int
    expires_at: datetime | None
    match_fuzzy: bool
    tlp: str
    owner_org_id: str
    owner: str
    created_at: datetime
    withdrawn_at: datetime | None
    withdrawn_reason: str
    active: bool


class WithdrawIn(BaseModel):
    reason: str = Field(default="", max_length=hotlists.MAX_REASON)


class AlertRead(BaseModel):
    id: str
    entry_id: str
    read_id: str
    plate: str
    plate_read: str
    camera_id: str
    read_at: datetime
    match: str
    priority: int
    tlp: str
    owner_org_id: str
    reason: str
    list_name: str
    created_at: datetime
    acknowledged_at: datetime | None
    outcome: str


class AcknowledgeIn(BaseModel):
    outcome: str = Field(default="", max_length=hotlists.MAX_REASON)


def entry_read(entry: AnprHotlistEntry) -> HotlistEntryRead:
    return HotlistEntryRead(
        id=entry.id,
        plate=entry.plate,
        plate_display=plates.display(entry.plate),
        list_name=entry.list_name,
        reason=entry.reason,
        priority=entry.priority,
        expires_at=entry.expires_at,
        match_fuzzy=entry.match_fuzzy,
        tlp=TLP(entry.tlp).value,
        owner_org_id=entry.owner_org_id,
        owner=entry.owner_org.name if entry.owner_org else "",
        created_at=entry.created_at,
        withdrawn_at=entry.withdrawn_at,
        withdrawn_reason=entry.withdrawn_reason,
        active=hotlists.is_active(entry),
    )


def alert_read(alert: AnprAlert) -> AlertRead:
    entry = alert.entry
    return AlertRead(
        id=alert.id,
        entry_id=alert.hotlist_entry_id,
        read_id=alert.read_id,
        plate=alert.plate,
        plate_read=alert.plate_read,
        camera_id=alert.camera_id,
        read_at=alert.read_at,
        match=alert.match,
        priority=alert.priority,
        tlp=TLP(alert.tlp).value,
        owner_org_id=alert.owner_org_id,
        reason=entry.reason if entry else "",
        list_name=entry.list_name if entry else "",
        created_at=alert.created_at,
        acknowledged_at=alert.acknowledged_at,
        outcome=alert.outcome,
    )


# --- reads from camera back offices ---------------------------------------------------------


def _live(request: Request) -> LiveIngest:
    live: LiveIngest = request.app.state.anpr_live
    return live


def reads_force(db: Session, principal: Principal) -> str:
    """The force whose cameras the caller may report reads for, or Forbidden.

    A police force's API client or searcher, or an API client of an organisation registered
    as the force's client (a camera back-office contractor), with an editing role.
    """
    if principal.is_person:
        if can_use_anpr(principal) and principal.organisation_id:
            return principal.organisation_id
        raise Forbidden("Only a police force's officers or camera back offices may send reads")
    if principal.organisation_id and principal.has_any(*EDITOR_ROLES):
        if principal.organisation_type == OrganisationType.police_force:
            return principal.organisation_id
        if principal.client_of_id:
            parent = db.get(Organisation, principal.client_of_id)
            if parent is not None and parent.type == OrganisationType.police_force:
                return parent.id
    raise Forbidden(
        "Reads come from a police force's camera back office: use an API token of the force "
        "(or of its registered client) with the officer, analyst, supervisor or admin role"
    )


def reads_caller(db: DB, principal: Authenticated) -> tuple[Principal, str]:
    """The caller and its force; the request's own transaction ends here.

    Signing in with a token records its last use in the request's transaction; the intake
    writes alerts in sessions of its own, which on SQLite would wait for that one to end.
    """
    force_id = reads_force(db, principal)
    db.commit()
    return principal, force_id


async def limit_body(request: Request) -> None:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, f"Send at most {MAX_BODY_BYTES} bytes ({MAX_READS} reads)")


def _problem(problem: dict[str, Any]) -> ReadProblem:
    """A validation problem of row N (numbered from 1) as ``reads[N-1].field``."""
    line = int(problem.get("line", 1))
    text = str(problem.get("problem", ""))
    text = text.removeprefix(f"row {line}: ")
    field = str(problem.get("field") or "record")
    return ReadProblem(field=f"reads[{line - 1}].{field}", problem=text)


@api.post(
    "/reads",
    status_code=202,
    dependencies=[Depends(limit_body)],
    summary="Send reads from a camera back office",
)
async def post_reads(
    request: Request,
    body: ReadsIn,
    caller: Annotated[tuple[Principal, str], Depends(reads_caller)],
) -> ReadsResult:
    """Check the reads against the hotlists now; they land in the store within seconds.

    Valid reads are accepted even when others are refused; repeats of a read already
    received (same ``read_id``, or camera, plate and time) are accepted but stored once.
    """
    principal, force_id = caller
    rows: list[dict[str, Any]] = [dict(read) for read in body.reads]
    result = await _live(request).submit(
        rows,
        "http",
        body.source or principal.display_name,
        principal.audit_name,
        owner_org_id=force_id,
    )
    return ReadsResult(
        accepted=result.accepted,
        rejected=result.rejected,
        duplicates=result.duplicates,
        # Only alerts the sender may see are counted: a read of a plate on another force's
        # list must not tell the sender that the plate is listed.
        alerts=sum(can_view(principal, alert.labelled) for alert in result.alerts),
        problems=[_problem(p) for p in result.problems],
    )


# --- hotlists -------------------------------------------------------------------------------


@api.get("/hotlists")
def list_hotlist(
    db: DB,
    principal: Authenticated,
    include_expired: Annotated[
        bool, Query(description="Also list expired and withdrawn entries")
    ] = False,
) -> list[HotlistEntryRead]:
    """Hotlist entries the caller may see, most urgent first."""
    return [entry_read(e) for e in hotlists.visible_entries(db, principal, include_expired)]


@api.post("/hotlists", status_code=201)
def add_to_hotlist(db: DB, principal: Authenticated, body: HotlistEntryIn) -> HotlistEntryRead:
    """Put a plate on the caller's force hotlist; reads match it from the next batch on."""
    entry = hotlists.create_entry(
        db,
        principal,
        body.plate,
        body.reason,
        body.priority,
        body.expires_at,
        body.tlp,
        body.match_fuzzy,
        body.list_name,
    )
    return entry_read(entry)


@api.post("/hotlists/{entry_id}/withdraw")
def withdraw_from_hotlist(
    db: DB, principal: Authenticated, entry_id: EntryId, body: WithdrawIn | None = None
) -> HotlistEntryRead:
    """Stop an entry raising alerts (the owning force only)."""
    entry = hotlists.withdraw_entry(db, principal, entry_id, body.reason if body else "")
    return entry_read(entry)


# --- alerts ---------------------------------------------------------------------------------


@api.get("/alerts")
def list_alerts(
    db: DB,
    principal: Authenticated,
    since: Annotated[AwareDatetime | None, Query(description="Raised at or after")] = None,
    unacknowledged: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertRead]:
    """Alerts the caller may see, newest first."""
    rows = hotlists.visible_alerts(db, principal, since, unacknowledged, limit)
    return [alert_read(a) for a in rows]


@api.post("/alerts/{alert_id}/acknowledge")
def acknowledge(
    db: DB, principal: Authenticated, alert_id: AlertId, body: AcknowledgeIn | None = None
) -> AlertRead:
    """Record that the owning force has dealt with an alert, and the outcome."""
    return alert_read(
        hotlists.acknowledge_alert(db, principal, alert_id, body.outcome if body else "")
    )


# --- the live stream ------------------------------------------------------------------------


def sse_event(alert: AlertMessage) -> str:
    """One server-sent ``alert`` event."""
    data = json.dumps(alert.view(), separators=(",", ":"), ensure_ascii=False)
    return f"id: {alert.id}\nevent: alert\ndata: {data}\n\n"


def _replay(
    db: Session, principal: Principal, live: LiveIngest, last_id: str
) -> list[AlertMessage]:
    rows = hotlists.alerts_after(db, principal, last_id[:32], MAX_REPLAY)
    return [alert_message(a, live.camera_info(a.camera_id)) for a in rows]


async def _events(
    listener: AlertListener, backlog: list[AlertMessage], heartbeat: float
) -> AsyncIterator[str]:
    sent: set[str] = set()
    ends = time.monotonic() + STREAM_SECONDS
    try:
        yield f"retry: {RETRY_MS}\n\n: connected\n\n"
        for alert in backlog:
            sent.add(alert.id)
            yield sse_event(alert)
        while time.monotonic() < ends:
            try:
                async with asyncio.timeout(heartbeat):
                    arrived = await listener.get()
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if arrived is None:
                return
            if arrived.id not in sent:
                yield sse_event(arrived)
    finally:
        listener.close()


@router.get("/anpr/alerts/stream", include_in_schema=False)
async def alert_stream(request: Request, db: DB, principal: CurrentPrincipal) -> Response:
    """Alerts as they happen (text/event-stream) for signed-in police searchers."""
    if not principal.is_person:
        raise HTTPException(401, "Sign in to follow live alerts")
    if not can_use_anpr(principal):
        raise Forbidden("Live ANPR alerts are for police officers, analysts and supervisors")
    live = _live(request)
    listener = live.broadcaster.listen(principal)
    last_id = request.headers.get("last-event-id", "").strip()
    try:
        backlog = await asyncio.to_thread(_replay, db, principal, live, last_id) if last_id else []
    except BaseException:
        listener.close()
        raise
    return StreamingResponse(
        _events(listener, backlog, live.heartbeat_seconds),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


router.include_router(api)
