"""/api/v1/reports: submission for apps and partner systems, triage for records systems."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request

from peel.core.deps import DB, AppSettings, Authenticated, CurrentPrincipal
from peel.core.geo import Location
from peel.core.views import MAX_OFFSET, problem_responses, refuse_nul_characters
from peel.reporting import flows, service
from peel.reporting.evidence import attachments_from_uploads, locate
from peel.reporting.schemas import (
    AssignIn,
    CloseIn,
    CrimeIn,
    DuplicateIn,
    MessageIn,
    MessageRead,
    ReportCreate,
    ReportCreated,
    ReportRead,
    TriageIn,
)

router = APIRouter(
    prefix="/api/v1/reports",
    tags=["reports"],
    dependencies=[Depends(refuse_nul_characters)],
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 429),
)


def _client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("", status_code=201)
def submit(
    request: Request,
    data: ReportCreate,
    db: DB,
    settings: AppSettings,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[str | None, Header(max_length=64)] = None,
) -> ReportCreated:
    """Submit a report (no sign-in needed; rate-limited per client)."""
    limiter = request.app.state.report_limiter
    if not principal.is_authenticated and not limiter.allow(_client_key(request)):
        raise HTTPException(
            429,
            "Too many reports from this address; try again later",
            headers={"Retry-After": str(limiter.retry_after(_client_key(request)))},
        )
    location: Location | None
    location, area = locate(request.app, data.location)
    attachments = attachments_from_uploads(
        db, data.uploads, request.app.state.blobs, request.app.state.scanner
    )
    key = "api:" + (idempotency_key or service.new_tracking_secret())
    actor = principal if principal.is_authenticated else service.PUBLIC
    report, secret = service.submit_report(
        db, settings, data, location, area, attachments, key, actor
    )
    if secret is None:
        raise HTTPException(409, f"This submission was already received as {report.reference}")
    flows.notify_reporter(
        request.app.state.notifier, settings, report, "Thank you: we have received your report."
    )
    return ReportCreated(id=report.id, reference=report.reference, tracking_secret=secret)


@router.get("")
def list_reports(
    db: DB,
    principal: Authenticated,
    status: Annotated[str | None, Query(max_length=24)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[ReportRead]:
    rows, _ = service.list_reports(db, principal, status, limit, offset)
    return [ReportRead.model_validate(r) for r in rows]


@router.get("/{report_id}")
def get_report(report_id: str, db: DB, principal: Authenticated) -> ReportRead:
    return ReportRead.model_validate(service.get_report(db, principal, report_id))


@router.post("/{report_id}/triage")
def triage(report_id: str, data: TriageIn, db: DB, principal: Authenticated) -> ReportRead:
    return ReportRead.model_validate(flows.triage(db, principal, report_id, data))


@router.post("/{report_id}/assign")
def assign(report_id: str, data: AssignIn, db: DB, principal: Authenticated) -> ReportRead:
    return ReportRead.model_validate(flows.assign(db, principal, report_id, data))


@router.post("/{report_id}/crime")
def record_crime(report_id: str, data: CrimeIn, db: DB, principal: Authenticated) -> ReportRead:
    return ReportRead.model_validate(flows.record_crime(db, principal, report_id, data))


@router.post("/{report_id}/duplicate")
def duplicate(report_id: str, data: DuplicateIn, db: DB, principal: Authenticated) -> ReportRead:
    return ReportRead.model_validate(flows.link_duplicate(db, principal, report_id, data))


@router.post("/{report_id}/close")
def close(report_id: str, data: CloseIn, db: DB, principal: Authenticated) -> ReportRead:
    return ReportRead.model_validate(flows.close(db, principal, report_id, data))


@router.get("/{report_id}/messages")
def messages(report_id: str, db: DB, principal: Authenticated) -> list[MessageRead]:
    report = service.get_report(db, principal, report_id)
    return [MessageRead.model_validate(m) for m in service.messages_of(db, report)]


@router.post("/{report_id}/messages", status_code=201)
def send_message(
    request: Request,
    report_id: str,
    data: MessageIn,
    db: DB,
    settings: AppSettings,
    principal: Authenticated,
) -> MessageRead:
    report = flows.message_reporter(db, principal, report_id, data.body)
    flows.notify_reporter(
        request.app.state.notifier, settings, report, "There is a new message about your report."
    )
    return MessageRead.model_validate(service.messages_of(db, report)[-1])
