"""The public report form, one question a page, working without JavaScript."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from peel.core.db import utcnow
from peel.core.deps import DB, AppSettings, CsrfForm
from peel.core.errors import InvalidInput
from peel.core.security import new_session_token, token_digest
from peel.reporting import flows, service
from peel.reporting.enums import CATEGORIES, CATEGORY_BY_SLUG
from peel.reporting.evidence import attachments_from_uploads, locate, store_form_file
from peel.reporting.models import Report, ReportDraft
from peel.reporting.schemas import LocationIn, ReportCreate
from peel.web.templating import render

router = APIRouter(include_in_schema=False, prefix="/report")

DRAFT_COOKIE = "peel_report"
DRAFT_HOURS = 24
STEPS = ("what", "where", "when", "details", "evidence", "contact", "check")
LOCATION_CHOICES = [
    ("postcode", "A postcode"),
    ("map", "A point on a map"),
    ("latlon", "Latitude and longitude"),
    ("plus_code", "A Plus Code (Open Location Code)"),
    ("grid_reference", "An Ordnance Survey grid reference"),
    ("bng", "Easting and northing (British National Grid)"),
]
LOCATION_FIELDS = ("lat", "lon", "postcode", "plus_code", "grid_reference", "easting", "northing")
MAX_FORM_FILES = 10


def _draft(
    request: Request, db: Session, create: bool = False
) -> tuple[ReportDraft | None, str | None]:
    token = request.cookies.get(DRAFT_COOKIE)
    draft = db.get(ReportDraft, token_digest(token)) if token else None
    if draft is not None and draft.expires_at <= utcnow():
        db.delete(draft)
        draft = None
    if draft is None and create:
        token = new_session_token()
        draft = ReportDraft(
            token_hash=token_digest(token),
            answers={},
            attachments=[],
            expires_at=utcnow() + timedelta(hours=DRAFT_HOURS),
        )
        db.add(draft)
        db.flush()
    return draft, token


def _go(path: str, token: str | None = None, settings: AppSettings | None = None) -> Response:
    response = RedirectResponse(path, status_code=303)
    if token and settings is not None:
        response.set_cookie(
            DRAFT_COOKIE,
            token,
            max_age=DRAFT_HOURS * 3600,
            httponly=True,
            samesite="lax",
            secure=settings.served_over_tls,
            path="/report",
        )
    return response


def _next(step: str, request: Request) -> str:
    if request.query_params.get("change") and step != "check":
        return "/report/check"
    return "/report/" + STEPS[STEPS.index(step) + 1]


def _page(
    request: Request,
    step: str,
    draft: ReportDraft | None,
    errors: dict[str, str],
    values: dict[str, Any] | None = None,
    status: int = 200,
    **extra: Any,
) -> Response:
    answers = dict(draft.answers) if draft else {}
    answers.update(values or {})
    return render(
        request,
        f"reporting/{step}.html",
        {
            "answers": answers,
            "errors": errors,
            "step": step,
            "attachments": draft.attachments if draft else [],
            "back": "/report"
            if step == STEPS[0]
            else "/report/" + STEPS[STEPS.index(step) - 1]
            if step in STEPS
            else "/report",
            "change": bool(request.query_params.get("change")),
            **extra,
        },
        status=400 if errors else status,
    )


@router.get("")
def start(request: Request) -> Response:
    return render(request, "reporting/start.html", {"categories": CATEGORIES})


@router.get("/safety")
def safety(request: Request) -> Response:
    return render(request, "reporting/safety.html", {"errors": {}})


@router.post("/safety")
def safety_answer(request: Request, form: CsrfForm, db: DB, settings: AppSettings) -> Response:
    answer = form.get("danger")
    if answer not in ("yes", "no"):
        return render(
            request,
            "reporting/safety.html",
            {"errors": {"danger": "Select yes if anyone is in immediate danger"}},
            400,
        )
    if answer == "yes":
        return render(request, "reporting/call999.html", {})
    _, token = _draft(request, db, create=True)
    return _go("/report/what", token, settings)


def _need_draft(request: Request, db: Session) -> ReportDraft | None:
    draft, _ = _draft(request, db)
    return draft


@router.get("/{step}")
def step_page(request: Request, step: str, db: DB) -> Response:
    if step not in STEPS:
        return render(request, "errors/404.html", {}, status=404)
    draft = _need_draft(request, db)
    if draft is None:
        return RedirectResponse("/report/safety", status_code=303)
    extra: dict[str, Any] = {}
    if step == "check":
        extra = _summary(draft)
    return _page(
        request, step, draft, {}, categories=CATEGORIES, location_choices=LOCATION_CHOICES, **extra
    )


@router.post("/what")
def what(request: Request, form: CsrfForm, db: DB) -> Response:
    draft = _need_draft(request, db)
    if draft is None:
        return RedirectResponse("/report/safety", status_code=303)
    category = str(form.get("category", ""))
    if category not in CATEGORY_BY_SLUG:
        return _page(
            request, "what", draft, {"category": "Select what happened"}, categories=CATEGORIES
        )
    draft.answers = {**draft.answers, "category": category}
    return _go(_next("what", request))


@router.post("/where")
def where(request: Request, form: CsrfForm, db: DB) -> Response:
    draft = _need_draft(request, db)
    if draft is None:
        return RedirectResponse("/report/safety", status_code=303)
    values = {k: str(form.get(k, "")).strip()[:100] for k in (*LOCATION_FIELDS, "location_kind")}
    values["place"] = str(form.get("place", "")).strip()[:300]
    kind = values["location_kind"]
    if kind == "latlon":
        values["lat"] = str(form.get("lat_text", "")).strip()[:100]
        values["lon"] = str(form.get("lon_text", "")).strip()[:100]
    errors: dict[str, str] = {}
    if kind not in dict(LOCATION_CHOICES):
        errors["location_kind"] = "Select how you will tell us where it happened"
    else:
        try:
            data = LocationIn(
                kind=kind,
                description=values["place"],
                **{k: values[k] or None for k in LOCATION_FIELDS},
            )
            locate(request.app, data)
        except InvalidInput as exc:
            errors.update(exc.errors)
            if kind == "map" and ("lat" in errors or "lon" in errors):
                errors = {"map": "Choose a point on the map, or pick another way to give the place"}
            elif kind == "latlon":
                errors = {
                    {"lat": "lat_text", "lon": "lon_text"}.get(k, k): v for k, v in errors.items()
                }
    if errors:
        return _page(request, "where", draft, errors, values, location_choices=LOCATION_CHOICES)
    draft.answers = {**draft.answers, "location": values}
    return _go(_next("where", request))


def _parse_when(form: FormData) -> tuple[dict[str, str], dict[str, str], datetime | None]:
    values = {k: str(form.get(k, "")).strip()[:10] for k in ("day", "month", "year", "time")}
    values["unsure"] = "yes" if form.get("unsure") == "yes" else ""
    errors: dict[str, str] = {}
    try:
        day = datetime(int(values["year"]), int(values["month"]), int(values["day"]), tzinfo=UTC)
    except ValueError:
        return values, {"day": "Enter a real date, for example 27 3 2026"}, None
    if values["time"]:
        try:
            hour, minute = (int(p) for p in values["time"].split(":"))
            day = day.replace(hour=hour, minute=minute)
        except ValueError:
            errors["time"] = "Enter the time as hours and minutes, for example 21:30"
    if day > utcnow():
        errors["day"] = "The date must be today or in the past"
    elif day < utcnow() - timedelta(days=365 * 20):
        errors["day"] = "The date must be within the last 20 years"
    return values, errors, day


@router.post("/when")
def when(request: Request, form: CsrfForm, db: DB) -> Response:
    draft = _need_draft(request, db)
    if draft is None:
        return RedirectResponse("/report/safety", status_code=303)
    values, errors, moment = _parse_when(form)
    if errors:
        return _page(request, "when", draft, errors, values)
    values["iso"] = moment.isoformat() if moment else ""
    draft.answers = {**draft.answers, "when": values}
    return _go(_next("when", request))


@router.post("/details")
def details(request: Request, form: CsrfForm, db: DB) -> Response:
    draft = _need_draft(request, db)
    if draft is None:
        return RedirectResponse("/report/safety", status_code=303)
    limits = {
        "description": 10000,
        "victim": 2000,
        "witness": 2000,
        "suspect": 2000,
        "property_text": 4000,
    }
    values = {k: str(form.get(k, "")).strip() for k in limits}
    errors = {k: f"Keep this under {n} characters" for k, n in limits.items() if len(values[k]) > n}
    if len(values["description"]) < 10:
        errors["description"] = "Tell us what happened in at least a few words"
    if errors:
        return _page(request, "details", draft, errors, values)
    draft.answers = {**draft.answers, "details": values}
    return _go(_next("details", request))


@router.post("/evidence")
async def evidence(request: Request, form: CsrfForm, db: DB, settings: AppSettings) -> Response:
    draft = _need_draft(request, db)
    if draft is None:
        return RedirectResponse("/report/safety", status_code=303)
    files = [f for f in form.getlist("evidence") if isinstance(f, UploadFile)]
    attachments = list(draft.attachments)
    errors: dict[str, str] = {}
    for upload in files:
        if len(attachments) >= MAX_FORM_FILES:
            errors["evidence"] = f"You can add up to {MAX_FORM_FILES} files to a report"
            break
        try:
            item = await store_form_file(
                request.app.state.blobs,
                request.app.state.scanner,
                upload,
                settings.form_upload_max_bytes,
            )
        except InvalidInput as exc:
            errors.update(exc.errors)
            continue
        if item is not None:
            attachments.append(item.__dict__)
    for upload_id, token in zip(
        form.getlist("upload_id"), form.getlist("upload_token"), strict=False
    ):
        attachments.append({"upload_id": str(upload_id)[:32], "upload_token": str(token)[:200]})
    draft.attachments = attachments
    if errors:
        return _page(request, "evidence", draft, errors)
    if form.get("action") == "add":
        return _go("/report/evidence")
    return _go(_next("evidence", request))


@router.post("/contact")
def contact(request: Request, form: CsrfForm, db: DB) -> Response:
    draft = _need_draft(request, db)
    if draft is None:
        return RedirectResponse("/report/safety", status_code=303)
    values = {
        k: str(form.get(k, "")).strip()[:254]
        for k in ("anonymous", "reporter_name", "reporter_email", "reporter_phone")
    }
    errors: dict[str, str] = {}
    if values["anonymous"] not in ("yes", "no"):
        errors["anonymous"] = "Select whether you want to give your contact details"
    elif values["anonymous"] == "no":
        try:
            ReportCreate(
                category="other-crime",
                description="x" * 10,
                anonymous=False,
                reporter_name=values["reporter_name"] or None,
                reporter_email=values["reporter_email"] or None,
                reporter_phone=values["reporter_phone"] or None,
            )
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else "reporter_email"
                errors[field] = {
                    "reporter_email": "Enter an email address like name@example.com",
                    "reporter_phone": "Enter a phone number using digits, spaces and +",
                }.get(field, error["msg"])
        if not values["reporter_email"] and not values["reporter_phone"] and not errors:
            errors["reporter_email"] = (
                "Give an email address or a phone number, or choose to stay anonymous"
            )
    if errors:
        return _page(request, "contact", draft, errors, values)
    draft.answers = {**draft.answers, "contact": values}
    return _go(_next("contact", request))


def _submission(draft: ReportDraft) -> ReportCreate:
    answers = draft.answers
    location = answers.get("location") or {}
    details = answers.get("details") or {}
    contact = answers.get("contact") or {}
    when = answers.get("when") or {}
    anonymous = contact.get("anonymous") != "no"
    return ReportCreate(
        category=answers.get("category", ""),
        description=details.get("description", ""),
        occurred_at=datetime.fromisoformat(when["iso"]) if when.get("iso") else None,
        location=LocationIn(
            kind=location["location_kind"],
            description=location.get("place", ""),
            **{k: location.get(k) or None for k in LOCATION_FIELDS},
        )
        if location.get("location_kind")
        else None,
        victim=details.get("victim", ""),
        witness=details.get("witness", ""),
        suspect=details.get("suspect", ""),
        property_text=details.get("property_text", ""),
        anonymous=anonymous,
        reporter_name=None if anonymous else contact.get("reporter_name") or None,
        reporter_email=None if anonymous else contact.get("reporter_email") or None,
        reporter_phone=None if anonymous else contact.get("reporter_phone") or None,
        uploads=[
            {"id": a["upload_id"], "token": a["upload_token"]}
            for a in draft.attachments
            if "upload_id" in a
        ],
    )


def _summary(draft: ReportDraft) -> dict[str, Any]:
    answers = draft.answers
    category = CATEGORY_BY_SLUG.get(answers.get("category", ""))
    missing = [
        s
        for s, key in (
            ("what", "category"),
            ("where", "location"),
            ("when", "when"),
            ("details", "details"),
            ("contact", "contact"),
        )
        if not answers.get(key)
    ]
    return {
        "category": category,
        "missing": missing,
        "location_label": dict(LOCATION_CHOICES).get(
            (answers.get("location") or {}).get("location_kind", ""), ""
        ),
    }


@router.post("/submit")
def submit(request: Request, form: CsrfForm, db: DB, settings: AppSettings) -> Response:
    token = request.cookies.get(DRAFT_COOKIE)
    key = "form:" + token_digest(token) if token else None
    if key:
        earlier = db.scalar(select(Report).where(Report.submission_key == key))
        if earlier is not None:
            return render(request, "reporting/done.html", {"report": earlier, "secret": None})
    draft = _need_draft(request, db)
    if draft is None or key is None:
        return RedirectResponse("/report/safety", status_code=303)
    if form.get("website"):
        return _page(
            request, "check", draft, {"website": "Leave the last field empty"}, **_summary(draft)
        )
    limiter = request.app.state.report_limiter
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(client):
        return render(
            request,
            "errors/error.html",
            {
                "status": 429,
                "title": "Too many reports",
                "detail": "We have had many reports from your connection. Try again in an hour, "
                "or call 101.",
            },
            status=429,
        )
    summary = _summary(draft)
    if summary["missing"]:
        return _page(
            request,
            "check",
            draft,
            {"missing": "Answer every question before you send the report"},
            **summary,
        )
    try:
        data = _submission(draft)
        location, area = locate(request.app, data.location)
        items = [service.NewAttachment(**a) for a in draft.attachments if "sha256" in a]
        items += attachments_from_uploads(
            db, data.uploads, request.app.state.blobs, request.app.state.scanner
        )
        report, secret = service.submit_report(db, settings, data, location, area, items, key)
    except (ValidationError, InvalidInput) as exc:
        message = str(exc).splitlines()[0][:300]
        return _page(
            request, "check", draft, {"missing": f"Check your answers: {message}"}, **summary
        )
    db.delete(draft)
    flows.notify_reporter(
        request.app.state.notifier,
        settings,
        report,
        "Thank you: we have received your report.\n"
        "Keep your tracking code safe: you need it to see progress.",
    )
    return render(request, "reporting/done.html", {"report": report, "secret": secret})
