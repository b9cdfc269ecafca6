"""Tracking a report with its reference and code: progress, messages, more evidence."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from peel.core.deps import DB, AppSettings, CsrfForm
from peel.core.errors import InvalidInput
from peel.core.policy import Forbidden
from peel.core.security import constant_time_equal
from peel.reporting import flows, service
from peel.reporting.evidence import store_form_file
from peel.reporting.models import Report
from peel.web.templating import render

router = APIRouter(include_in_schema=False, prefix="/track")

TRACK_COOKIE = "peel_track"
WRONG = "The reference or tracking code is not right. Check both and try again."


def _limited(request: Request) -> Response | None:
    limiter = request.app.state.track_limiter
    client = request.client.host if request.client else "unknown"
    if limiter.allow(client):
        return None
    return render(
        request,
        "reporting/track.html",
        {
            "errors": {
                "reference": "Too many attempts. Try again in "
                f"{limiter.retry_after(client) // 60 + 1} minutes."
            },
            "values": {},
        },
        status=429,
    )


def _remember(response: Response, settings: AppSettings, report: Report) -> Response:
    value = f"{report.id}.{service.tracking_cookie_value(settings.secret_key, report)}"
    response.set_cookie(
        TRACK_COOKIE,
        value,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=settings.served_over_tls,
        path="/track",
    )
    return response


def _tracked(request: Request, db: Session, settings: AppSettings, reference: str) -> Report | None:
    """The report this browser proved it may track, if it is the one named in the URL."""
    report_id, _, proof = (request.cookies.get(TRACK_COOKIE) or "").partition(".")
    report = db.get(Report, report_id) if report_id else None
    if report is None or report.reference != service.normalise_reference(reference):
        return None
    expected = service.tracking_cookie_value(settings.secret_key, report)
    return report if constant_time_equal(expected, proof) else None


@router.get("")
def track_form(request: Request) -> Response:
    return render(request, "reporting/track.html", {"errors": {}, "values": {}})


@router.post("")
def track(request: Request, form: CsrfForm, db: DB, settings: AppSettings) -> Response:
    values = {k: str(form.get(k, "")).strip()[:40] for k in ("reference", "code")}
    errors = {
        k: f"Enter your {label}"
        for k, label in (("reference", "reference"), ("code", "tracking code"))
        if not values[k]
    }
    if errors:
        return render(request, "reporting/track.html", {"errors": errors, "values": values}, 400)
    blocked = _limited(request)
    if blocked is not None:
        return blocked
    report = service.report_by_tracking(db, values["reference"], values["code"])
    if report is None:
        return render(
            request, "reporting/track.html", {"errors": {"reference": WRONG}, "values": values}, 400
        )
    return _remember(
        RedirectResponse(f"/track/{report.reference}", status_code=303), settings, report
    )


@router.get("/{reference}/open")
def open_link(
    request: Request, reference: str, code: str, db: DB, settings: AppSettings
) -> Response:
    """The emailed link: check the code, keep the proof in a cookie, drop the code from the URL."""
    blocked = _limited(request)
    if blocked is not None:
        return blocked
    report = service.report_by_tracking(db, reference, code[:40])
    if report is None:
        return render(
            request,
            "reporting/track.html",
            {"errors": {"reference": WRONG}, "values": {"reference": reference}},
            400,
        )
    return _remember(
        RedirectResponse(f"/track/{report.reference}", status_code=303), settings, report
    )


def _status_page(
    request: Request,
    db: Session,
    report: Report,
    errors: dict[str, str],
    notice: str | None = None,
    status: int = 200,
) -> Response:
    original = (
        db.scalar(select(Report.reference).where(Report.id == report.duplicate_of_id))
        if report.duplicate_of_id
        else None
    )
    return render(
        request,
        "reporting/status.html",
        {
            "report": report,
            "events": service.events_of(db, report),
            "messages": service.messages_of(db, report),
            "errors": errors,
            "notice": notice,
            "category": service.category_label(report.category),
            "original": original,
            "open": report.status not in flows.CLOSED,
        },
        status=status,
    )


@router.get("/{reference}")
def status(request: Request, reference: str, db: DB, settings: AppSettings) -> Response:
    report = _tracked(request, db, settings, reference)
    if report is None:
        return RedirectResponse("/track", status_code=303)
    return _status_page(request, db, report, {})


@router.post("/{reference}/reply")
def reply(
    request: Request, reference: str, form: CsrfForm, db: DB, settings: AppSettings
) -> Response:
    report = _tracked(request, db, settings, reference)
    if report is None:
        return RedirectResponse("/track", status_code=303)
    body = str(form.get("message", "")).strip()
    if not body or len(body) > 5000:
        return _status_page(
            request, db, report, {"message": "Write a message of up to 5000 characters"}, status=400
        )
    try:
        flows.reporter_reply(db, report, body)
    except Forbidden as exc:
        return _status_page(request, db, report, {"message": str(exc)}, status=400)
    return _status_page(request, db, report, {}, notice="Message sent to the officer")


@router.post("/{reference}/evidence")
async def more_evidence(
    request: Request, reference: str, form: CsrfForm, db: DB, settings: AppSettings
) -> Response:
    report = _tracked(request, db, settings, reference)
    if report is None:
        return RedirectResponse("/track", status_code=303)
    items = []
    try:
        for upload in form.getlist("evidence"):
            if isinstance(upload, UploadFile):
                item = await store_form_file(
                    request.app.state.blobs,
                    request.app.state.scanner,
                    upload,
                    settings.form_upload_max_bytes,
                )
                if item is not None:
                    items.append(item)
        if not items:
            raise InvalidInput({"evidence": "Choose a photo or video to add"})
        flows.reporter_adds_evidence(db, report, items)
    except (InvalidInput, Forbidden) as exc:
        errors = exc.errors if isinstance(exc, InvalidInput) else {"evidence": str(exc)}
        return _status_page(request, db, report, errors, status=400)
    count = len(items)
    return _status_page(
        request,
        db,
        report,
        {},
        notice=f"{count} file{'s' if count != 1 else ''} added to your report",
    )
