"""Staff pages for online reports: the force's triage queue, one report, and its evidence."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from peel.core.blobstore import BlobStore
from peel.core.db import utcnow
from peel.core.deps import DB, AppSettings, CsrfForm, Person
from peel.core.errors import InvalidInput
from peel.core.geo import to_grid_reference
from peel.core.models import User
from peel.core.policy import NotFound, can_edit, labelled_of
from peel.core.principal import Principal
from peel.core.streaming import (
    stream_blob,
)
from peel.reporting import flows, service
from peel.reporting.enums import (
    CATEGORIES,
    CATEGORY_BY_SLUG,
    THRIVE,
    MessageDirection,
    Rating,
    ReportStatus,
)
from peel.reporting.enums import Response as TriageResponse
from peel.reporting.models import Report, ReportAttachment
from peel.reporting.schemas import (
    AssignIn,
    CloseIn,
    CrimeIn,
    DuplicateIn,
    MessageIn,
    TriageIn,
)
from peel.web.templating import render

router = APIRouter(include_in_schema=False, prefix="/staff/reports")

PAGE_SIZE = 25

STATUS_CHOICES = [(s.value, s.label) for s in ReportStatus]
RATING_CHOICES = [(r.value, r.value.capitalize()) for r in Rating]
RESPONSE_CHOICES = [(r.value, r.label) for r in TriageResponse]
THRIVE_LABELS = {
    "threat": "Threat",
    "harm": "Harm",
    "risk": "Risk",
    "investigation": "Investigation",
    "vulnerability": "Vulnerability",
    "engagement": "Engagement",
}
#: Home Office Counting Rules groups of the crime categories, in the order first used.
COUNTING_GROUPS = list(dict.fromkeys(c.counting_group for c in CATEGORIES if c.is_crime))

DONE_NOTICES = {
    "triage": "Report graded",
    "assign": "Report assigned",
    "crime": "Crime recorded",
    "duplicate": "Report linked as a duplicate",
    "close": "Report closed",
    "message": "Message sent to the reporter",
}

#: Types a browser shows in <img> and <video>; other evidence is offered as a download.
BROWSER_IMAGES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp"}
)
BROWSER_VIDEOS = frozenset({"video/mp4", "video/webm", "video/quicktime", "video/x-m4v"})
_INLINE_TYPE = re.compile(r"^(image|video)/[a-z0-9][a-z0-9.+-]{0,80}$")


# --- small helpers the templates use ----------------------------------------------------------


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def age_text(then: datetime, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: "less than a minute", "3 hours", "2 days"."""
    seconds = max(0, int(((now or utcnow()) - then).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 1:
        return "less than a minute"
    if hours < 1:
        return _plural(minutes, "minute")
    if days < 1:
        return _plural(hours, "hour")
    if days < 14:
        return _plural(days, "day")
    if days < 60:
        return _plural(days // 7, "week")
    if days < 730:
        return _plural(days // 30, "month")
    return _plural(days // 365, "year")


def grid_reference(report: Report, digits: int = 8) -> str | None:
    if report.easting is None or report.northing is None:
        return None
    try:
        return to_grid_reference(report.easting, report.northing, digits)
    except ValueError:
        return None


def location_summary(report: Report) -> str:
    """One short place for the queue: postcode, else grid reference, else what they wrote."""
    if report.postcode:
        return report.postcode
    reference = grid_reference(report)
    if reference:
        return reference
    if report.location_text:
        text = report.location_text.strip()
        return text if len(text) <= 40 else text[:39] + "…"
    return "No location"


def flag_class(flag: str) -> str:
    """Repeat flags are orange; the words that may mean vulnerability are red."""
    return "govuk-tag--orange" if flag.startswith("repeat ") else "govuk-tag--red"


def map_points(reports: list[Report]) -> list[dict[str, Any]]:
    """The reports that have a position, as plain data for the map's data-points attribute."""
    return [
        {
            "id": r.id,
            "reference": r.reference,
            "category": service.category_label(r.category),
            "status": ReportStatus(r.status).label,
            "lat": round(r.lat, 6),
            "lon": round(r.lon, 6),
        }
        for r in reports
        if r.lat is not None and r.lon is not None
    ]


def _status_label(value: str) -> str:
    try:
        return ReportStatus(value).label
    except ValueError:
        return value


def _response_label(value: str | None) -> str:
    if not value:
        return ""
    try:
        return TriageResponse(value).label
    except ValueError:
        return value


LOCATION_SOURCES = {
    "map": "a point on a map",
    "latlon": "latitude and longitude",
    "postcode": "a postcode",
    "plus_code": "a Plus Code",
    "grid_reference": "an OS grid reference",
    "bng": "easting and northing",
}


def _location_source_label(source: str) -> str:
    return LOCATION_SOURCES.get(source, source.replace("_", " "))


def _paragraphs(text: str | None) -> list[str]:
    return [line for line in (text or "").splitlines() if line.strip()]


def _attachment_view(item: ReportAttachment) -> str:
    if item.kind == "image" and item.content_type in BROWSER_IMAGES:
        return "image"
    if item.kind == "video" and item.content_type in BROWSER_VIDEOS:
        return "video"
    return "link"


HELPERS: dict[str, Any] = {
    "age_text": age_text,
    "category_label": service.category_label,
    "status_label": _status_label,
    "response_label": _response_label,
    "flag_class": flag_class,
    "location_summary": location_summary,
    "paragraphs": _paragraphs,
    "location_source_label": _location_source_label,
    "attachment_view": _attachment_view,
}


# --- the queue ----------------------------------------------------------------------------


@router.get("")
def report_queue(
    request: Request,
    db: DB,
    principal: Person,
    status: Annotated[str | None, Query(max_length=24)] = None,
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
) -> Response:
    wanted = status if status in {s.value for s in ReportStatus} else None
    rows, total = service.list_reports(db, principal, wanted, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return render(
        request,
        "reporting/staff/queue.html",
        {
            **HELPERS,
            "reports": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "status": wanted or "",
            "status_choices": [("", "All statuses"), *STATUS_CHOICES],
            "points": map_points(rows),
            "now": utcnow(),
        },
    )


# --- one report ---------------------------------------------------------------------------


def _defaults(report: Report) -> dict[str, str]:
    """What the forms show before anyone types: the report's current grading and so on."""
    values = {f"thrive_{k}": v for k, v in (report.thrive or {}).items()}
    values["response"] = report.response or ""
    values["team"] = report.assigned_team or ""
    category = CATEGORY_BY_SLUG.get(report.category)
    values["counting_category"] = report.counting_category or (
        category.counting_group if category and category.is_crime else ""
    )
    return values


def _report_page(
    request: Request,
    db: Session,
    principal: Principal,
    report_id: str,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    """The report page; ``done`` names the action just taken, for the success banner."""
    report = service.get_report(db, principal, report_id)
    notice = DONE_NOTICES.get(done or "")
    if done == "message" and not report.reporter_email:
        notice = (
            "Message saved. The reporter gave no email address, so they will see it "
            "when they next check their report."
        )
    assigned = db.get(User, report.assigned_to_id) if report.assigned_to_id else None
    original = (
        db.scalar(select(Report.reference).where(Report.id == report.duplicate_of_id))
        if report.duplicate_of_id
        else None
    )
    is_open = report.status not in flows.CLOSED
    category = CATEGORY_BY_SLUG.get(report.category)
    return render(
        request,
        "reporting/staff/report.html",
        {
            **HELPERS,
            "report": report,
            "category": category,
            "grid_reference": grid_reference(report, 10),
            "assigned": assigned,
            "original_reference": original,
            "events": service.events_of(db, report),
            "messages": service.messages_of(db, report),
            "to_reporter": MessageDirection.to_reporter.value,
            "can_act": is_open and can_edit(principal, labelled_of(db, report)),
            "is_open": is_open,
            "errors": errors or {},
            "values": {**_defaults(report), **(values or {})},
            "thrive": [(k, THRIVE_LABELS[k]) for k in THRIVE],
            "rating_choices": RATING_CHOICES,
            "response_choices": RESPONSE_CHOICES,
            "counting_choices": [("", "Choose a counting category")]
            + [(g, g) for g in COUNTING_GROUPS],
            "points": map_points([report]),
            "notice": notice,
            "now": utcnow(),
        },
        status,
    )


@router.get("/{report_id}")
def report_detail(
    request: Request,
    report_id: str,
    db: DB,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _report_page(request, db, principal, report_id, done=done)


def _errors_from(
    exc: ValidationError | InvalidInput, fields: dict[str, str], default: str
) -> dict[str, str]:
    """Model field names to the form control each message should point at."""
    errors: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        for error in exc.errors():
            loc = ".".join(str(p) for p in error.get("loc", ()))
            message = str(error.get("msg", "Check this answer")).removeprefix("Value error, ")
            errors.setdefault(fields.get(loc, fields.get(loc.split(".")[0], default)), message)
    else:
        for key, message in exc.errors.items():
            errors.setdefault(fields.get(key.split("[")[0], default), message)
    return errors


def _act(
    request: Request,
    db: Session,
    principal: Principal,
    report_id: str,
    action: str,
    values: dict[str, str],
    run: Callable[[], Report],
    fields: dict[str, str],
    default: str,
    errors: dict[str, str] | None = None,
) -> Response:
    """Run one staff action; redirect with a banner, or show the page again with errors."""
    if not errors:
        try:
            report = run()
        except (ValidationError, InvalidInput) as exc:
            errors = _errors_from(exc, fields, default)
        else:
            return RedirectResponse(f"/staff/reports/{report.id}?done={action}", status_code=303)
    db.rollback()
    return _report_page(request, db, principal, report_id, errors, values, status=400)


def _text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


@router.post("/{report_id}/triage")
def report_triage(
    request: Request, report_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    names = [f"thrive_{k}" for k in THRIVE] + ["response", "triage_note"]
    values = {name: _text(form, name) for name in names}
    errors: dict[str, str] = {}
    for key in THRIVE:
        if values[f"thrive_{key}"] not in {r.value for r in Rating}:
            errors[f"thrive_{key}"] = f"Choose low, medium or high for {THRIVE_LABELS[key].lower()}"
    if values["response"] not in {r.value for r in TriageResponse}:
        errors["response"] = "Choose the response"

    def run() -> Report:
        data = TriageIn.model_validate(
            {
                "thrive": {k: values[f"thrive_{k}"] for k in THRIVE},
                "response": values["response"],
                "note": values["triage_note"],
            }
        )
        return flows.triage(db, principal, report_id, data)

    fields = {f"thrive.{k}": f"thrive_{k}" for k in THRIVE} | {
        "response": "response",
        "note": "triage_note",
    }
    return _act(
        request, db, principal, report_id, "triage", values, run, fields, "thrive_threat", errors
    )


@router.post("/{report_id}/assign")
def report_assign(
    request: Request, report_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values = {name: _text(form, name) for name in ("user_email", "team")}

    def run() -> Report:
        data = AssignIn(user_email=values["user_email"] or None, team=values["team"] or None)
        return flows.assign(db, principal, report_id, data)

    fields = {"user_email": "user_email", "team": "team"}
    return _act(request, db, principal, report_id, "assign", values, run, fields, "user_email")


@router.post("/{report_id}/crime")
def report_crime(
    request: Request, report_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values = {"counting_category": _text(form, "counting_category")}
    errors: dict[str, str] = {}
    if values["counting_category"] not in COUNTING_GROUPS:
        errors["counting_category"] = "Choose the Home Office counting category"

    def run() -> Report:
        data = CrimeIn(counting_category=values["counting_category"])
        return flows.record_crime(db, principal, report_id, data)

    fields = {"counting_category": "counting_category"}
    return _act(
        request,
        db,
        principal,
        report_id,
        "crime",
        values,
        run,
        fields,
        "counting_category",
        errors,
    )


@router.post("/{report_id}/duplicate")
def report_duplicate(
    request: Request, report_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values = {"duplicate_reference": _text(form, "duplicate_reference")}

    def run() -> Report:
        data = DuplicateIn(reference=values["duplicate_reference"])
        return flows.link_duplicate(db, principal, report_id, data)

    fields = {"reference": "duplicate_reference"}
    return _act(
        request,
        db,
        principal,
        report_id,
        "duplicate",
        values,
        run,
        fields,
        "duplicate_reference",
    )


@router.post("/{report_id}/close")
def report_close(
    request: Request, report_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values = {"outcome": _text(form, "outcome")}

    def run() -> Report:
        return flows.close(db, principal, report_id, CloseIn(outcome=values["outcome"]))

    return _act(
        request, db, principal, report_id, "close", values, run, {"outcome": "outcome"}, "outcome"
    )


@router.post("/{report_id}/message")
def report_message(
    request: Request,
    report_id: str,
    form: CsrfForm,
    db: DB,
    settings: AppSettings,
    principal: Person,
) -> Response:
    values = {"message_body": _text(form, "message_body")}
    errors: dict[str, str] = {}
    if service.get_report(db, principal, report_id, "edit").status in flows.CLOSED:
        errors["message_body"] = "This report is closed; the reporter can make a new report"

    def run() -> Report:
        data = MessageIn(body=values["message_body"])
        report = flows.message_reporter(db, principal, report_id, data.body)
        flows.notify_reporter(
            request.app.state.notifier,
            settings,
            report,
            "There is a new message about your report.",
        )
        return report

    return _act(
        request,
        db,
        principal,
        report_id,
        "message",
        values,
        run,
        {"body": "message_body"},
        "message_body",
        errors,
    )


# --- evidence -------------------------------------------------------------------------------


@router.get("/{report_id}/attachments/{attachment_id}")
def report_attachment(
    request: Request, report_id: str, attachment_id: str, db: DB, principal: Person
) -> Response:
    """Stream one piece of evidence; the report read is audited first (TLP:AMBER)."""
    report = service.get_report(db, principal, report_id)
    item = db.get(ReportAttachment, attachment_id)
    blobs: BlobStore = request.app.state.blobs
    if item is None or item.report_id != report.id or not blobs.exists(item.sha256):
        raise NotFound("report attachment", attachment_id)
    inline = bool(_INLINE_TYPE.match(item.content_type)) and "svg" not in item.content_type
    return stream_blob(
        request, blobs, item.sha256, item.original_name, item.content_type, inline=inline
    )
