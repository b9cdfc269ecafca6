"""Digital evidence pages: cases, files, sharing, holds, retention and the custody log.

The same capabilities as ``/api/v1/evidence`` for people in a browser. Every page works
without JavaScript; the case page adds resumable uploads (``static/evidence/upload.js``).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from peel.core import service as core_service
from peel.core.audit import record_audit
from peel.core.blobstore import BlobStore, BlobTooLarge
from peel.core.config import Settings
from peel.core.db import utcnow
from peel.core.deps import DB, AppSettings, CsrfForm, Person
from peel.core.enums import TLP, JobStatus, OrganisationType, Role
from peel.core.errors import InvalidInput
from peel.core.jobs import get_job, visible_jobs
from peel.core.policy import EDITOR_ROLES, Forbidden, NotFound, can_edit, can_relabel, can_view
from peel.core.principal import Principal
from peel.core.scan import Scanner
from peel.core.sniff import EVIDENCE_KINDS, KIND_NOUNS, UploadRefused, check_declared, sniff
from peel.core.uploads import completed_upload
from peel.evidence import custody, intake, jobs, links, retention, service, web
from peel.evidence.models import CustodyEvent, EvidenceCase, EvidenceHold, EvidenceItem
from peel.reporting.evidence import SNIFF_BYTES, check_for_viruses
from peel.reporting.staff_pages import BROWSER_IMAGES
from peel.web.templating import render

router = APIRouter(include_in_schema=False)

CASE_TLPS = [
    (TLP.amber.value, "TLP:AMBER – your force, organisations you share it with and their clients"),
    (TLP.amber_strict.value, "TLP:AMBER+STRICT – your force and organisations you share it with"),
    (TLP.red.value, "TLP:RED – named people only (at first, just you)"),
]
CASE_STATUSES = [("", "Open and closed"), ("open", "Open"), ("closed", "Closed")]
SOURCES = {
    "upload": "Uploaded by staff",
    "report": "Online report",
    "bwv": "Body-worn video dock",
    "redaction": "Redacted copy",
    "api": "Records system (API)",
}
RULES = [
    ("fixed", "Fixed: a number of days after capture"),
    ("case", "Case: a number of days after the case closes (kept while it is open)"),
    ("review", "Review: kept until a person reviews it"),
]
SUPERVISORS = (Role.supervisor, Role.admin)
MAX_FORM_FILES = 20
#: Entry fields every custody event has; the timeline shows the others as details.
_EVENT_FIELDS = {"log", "index", "at", "kind", "case_id", "item_id", "org", "actor"}

DONE = {
    "opened": "Case opened. Add its files below.",
    "uploaded": "Files added. Thumbnails and previews are being made; reload to see them.",
    "imported": "The report’s photos and videos were added to the case",
    "nothing": "Nothing new: the report’s files are already in this case",
    "shared": "Shared",
    "unshared": "Sharing stopped",
    "revoked": "Share link withdrawn",
    "held": "Hold placed: nothing it covers can be deleted",
    "released": "Hold released",
    "closed": "Case closed",
    "reopened": "Case reopened",
    "filed": "Added to the case",
    "retention": "Retention categories changed",
    "deleted": "Deleted. The record, its hash and its custody log remain.",
    "published": "Signed tree head published",
    "category": "Retention category saved",
}


# --- small helpers --------------------------------------------------------------------------


def _kind_label(kind: str) -> str:
    return KIND_NOUNS.get(kind, kind).capitalize()


def _preview_view(item: EvidenceItem) -> str | None:
    """How the item page shows the file: image, thumb, video, audio or not at all."""
    playable = item.preview_sha256 is not None or item.preview_status == "original"
    if item.status != "present":
        return None
    if item.kind == "image":
        if playable and item.content_type in BROWSER_IMAGES:
            return "image"
        return "thumb" if item.thumb_sha256 else None
    if item.kind in ("video", "audio") and playable:
        return item.kind
    return None


def _preview_type(item: EvidenceItem) -> str:
    if item.preview_sha256:
        return "video/mp4"
    if item.kind == "video":
        return "video/webm" if "webm" in str(item.capture.get("container", "")) else "video/mp4"
    return item.content_type


def _countdown(decision: retention.Decision | None, now: datetime) -> str:
    if decision is None:
        return "Deleted"
    if decision.held_by:
        return "Kept: on hold"
    if decision.delete_after is None:
        why = decision.reasons[0] if decision.reasons else "no rule gives a date"
        return f"Kept with no deletion date ({why})"
    if decision.due:
        return "Due for deletion now"
    days = (decision.delete_after - now).days
    left = "less than a day" if days < 1 else f"{days} day{'' if days == 1 else 's'}"
    return f"Deleted after {decision.delete_after:%d %b %Y} (in {left})"


HELPERS: dict[str, Any] = {
    "kind_label": _kind_label,
    "source_label": lambda source: SOURCES.get(source, source),
    "hold_label": lambda kind: service.HOLD_KINDS.get(kind, kind),
    "event_label": lambda kind: custody.EVENT_KINDS.get(kind, kind),
    "preview_view": _preview_view,
    "countdown": _countdown,
}


def _text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _chosen(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v][:500]


def _field_errors(exc: InvalidInput, fields: dict[str, str], default: str) -> dict[str, str]:
    """The service's field names mapped to the form controls each message belongs to."""
    errors: dict[str, str] = {}
    for key, message in exc.errors.items():
        errors.setdefault(fields.get(key.split("[")[0], default), message)
    return errors


def _last_moment_of(value: str, field: str, errors: dict[str, str]) -> datetime | None:
    """A YYYY-MM-DD date as the end of that day (UTC): sharing lasts through the day named."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        errors[field] = "Enter the date as YYYY-MM-DD, for example 2027-01-31"
        return None
    return day + timedelta(days=1, seconds=-1)


def _whole_number(value: str, field: str, errors: dict[str, str]) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 6:
        errors[field] = "Enter a whole number of days, for example 31"
        return None
    return int(value)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _require(principal: Principal, roles: tuple[Role, ...], message: str) -> None:
    if not principal.has_any(*roles):
        raise Forbidden(message)


def _event_rows(events: list[CustodyEvent]) -> list[dict[str, Any]]:
    rows = []
    for event in events:
        try:
            entry = json.loads(event.entry)
        except ValueError:
            entry = {}
        details = [
            (key.replace("_", " "), v if isinstance(v, str) else json.dumps(v))
            for key, v in entry.items()
            if key not in _EVENT_FIELDS and v not in (None, "", [], {})
        ]
        rows.append({"event": event, "details": details})
    return rows


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


# --- the evidence home page and new cases ---------------------------------------------------


@router.get("/evidence")
def evidence_home(
    request: Request,
    db: DB,
    principal: Person,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    wanted = status if status in ("open", "closed") else None
    query = (q or "").strip()
    cases = service.visible_cases(db, principal, status=wanted, query=query or None)
    return render(
        request,
        "evidence/index.html",
        {
            "cases": cases,
            "q": query,
            "status": wanted or "",
            "status_choices": CASE_STATUSES,
            "can_open": principal.has_any(*EDITOR_ROLES),
        },
    )


def _new_case_form(
    request: Request, errors: dict[str, str], values: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "evidence/case_new.html",
        {"errors": errors, "values": values, "tlp_choices": CASE_TLPS},
        status,
    )


@router.get("/evidence/cases/new")
def case_new(request: Request, principal: Person) -> Response:
    _require(principal, EDITOR_ROLES, "Only officers, supervisors, analysts and admins open cases")
    values = {"tlp": TLP.amber.value, "officer_in_charge": principal.display_name}
    return _new_case_form(request, {}, values)


@router.post("/evidence/cases/new")
def case_create(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    values = {
        "title": _text(form, "title", 300),
        "description": _text(form, "description", 20000),
        "tlp": _text(form, "tlp", 20),
        "officer_in_charge": _text(form, "officer_in_charge", 300),
    }
    errors: dict[str, str] = {}
    if values["tlp"] not in {value for value, _ in CASE_TLPS}:
        errors["tlp"] = "Choose AMBER, AMBER+STRICT or RED"
    if not errors:
        try:
            case = service.open_case(
                db,
                principal,
                values["title"],
                values["description"],
                TLP(values["tlp"]),
                values["officer_in_charge"] or None,
            )
        except InvalidInput as exc:
            errors = _field_errors(exc, {"tlp": "tlp", "description": "description"}, "title")
        else:
            return _redirect(f"/evidence/cases/{case.id}?done=opened")
    db.rollback()
    return _new_case_form(request, errors, values, 400)


# --- one case -------------------------------------------------------------------------------


def _holds_of_case(
    db: Session, case: EvidenceCase, items: list[EvidenceItem]
) -> list[EvidenceHold]:
    covers = [EvidenceHold.case_id == case.id]
    if items:
        covers.append(EvidenceHold.item_id.in_([i.id for i in items]))
    return list(
        db.scalars(
            select(EvidenceHold)
            .where(EvidenceHold.released_at.is_(None), or_(*covers))
            .order_by(EvidenceHold.placed_at)
        )
    )


def _shares_of_case(
    db: Session, case: EvidenceCase, items: list[EvidenceItem]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"share": s, "org": o, "item": None}
        for s, o in service.shares_of(db, service.CASE, case.id)
    ]
    for item in items:
        rows += [
            {"share": s, "org": o, "item": item}
            for s, o in service.shares_of(db, service.ITEM, item.id)
        ]
    return rows


def _bundles_of(db: Session, principal: Principal, reference: str) -> list[Any]:
    """Court bundles of this case the person exported and may download."""
    return [
        job
        for job in visible_jobs(db, principal)
        if job.kind == "evidence.export"
        and job.started_by_id == principal.user_id
        and (job.params or {}).get("case") == reference
    ]


def _case_page(
    request: Request,
    db: Session,
    principal: Principal,
    case_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    case, labelled = service.access_case(db, principal, case_id)
    items = service.items_of_case(db, principal, case)
    own = principal.organisation_id == case.owner_org_id
    editable = can_edit(principal, labelled)
    sharable = can_relabel(principal, labelled)
    holds = _holds_of_case(db, case, items) if own else []
    held = {h.item_id for h in holds if h.item_id}
    if any(h.case_id == case.id for h in holds):
        held |= {i.id for i in items}
    settings: Settings = request.app.state.settings
    defaults = {"link_days": str(settings.evidence_share_link_days), "link_watermark": "yes"}
    return render(
        request,
        "evidence/case.html",
        {
            **HELPERS,
            "case": case,
            "items": items,
            "present": [i for i in items if i.status == "present"],
            "holds": holds,
            "held": held,
            "own": own,
            "editable": editable,
            "sharable": sharable,
            "is_open": case.status == "open",
            "can_release": own and principal.has_any(*SUPERVISORS),
            "shares": _shares_of_case(db, case, items) if editable else [],
            # Officers send a case to the prosecutor; wider sharing needs a supervisor.
            "organisations": [
                o
                for o in core_service.list_organisations(db)
                if o.id != case.owner_org_id
                and (sharable or (editable and o.type == OrganisationType.prosecutor))
            ],
            "links": links.links_of_case(db, case.id) if sharable else [],
            "bundles": _bundles_of(db, principal, case.reference),
            "hold_choices": list(service.HOLD_KINDS.items()),
            "max_form_mb": settings.form_upload_max_bytes // (1024 * 1024),
            "errors": errors or {},
            "values": {**defaults, **(values or {})},
            "notice": DONE.get(done or ""),
            "now": utcnow(),
        },
        status,
    )


@router.get("/evidence/cases/{case_id}")
def case_page(
    request: Request,
    case_id: str,
    db: DB,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _case_page(request, db, principal, case_id, done=done)


def _store_file(
    store: BlobStore, scanner: Scanner, upload: UploadFile, max_bytes: int, description: str
) -> service.NewItem | None:
    """Store one file from the plain form after checking its bytes are evidence Peel takes."""
    name = (upload.filename or "").strip()
    head = upload.file.read(SNIFF_BYTES)
    if not name and not head:
        return None  # the file input was left empty
    if not head:
        raise InvalidInput({"files": f"The file {name} is empty"})
    try:
        verdict = check_declared(sniff(head), upload.content_type, name, EVIDENCE_KINDS)
    except UploadRefused as exc:
        raise InvalidInput({"files": f"{name}: {exc.reason}"}) from None
    writer = store.writer(max_bytes=max_bytes)
    try:
        writer.write(head)
        while chunk := upload.file.read(1 << 20):
            writer.write(chunk)
        ref = writer.commit()
    except BlobTooLarge:
        raise InvalidInput(
            {
                "files": f"{name} is larger than {max_bytes // (1024 * 1024)} MB; turn on "
                "JavaScript to send large files with the resumable uploader"
            }
        ) from None
    finally:
        writer.abort()
    check_for_viruses(store, scanner, ref.sha256, name, "files")
    return service.NewItem(
        sha256=ref.sha256,
        size=ref.size,
        content_type=verdict.content_type or "application/octet-stream",
        kind=verdict.kind or "document",
        name=name[:255] or "file",
        source="upload",
        description=description,
    )


def _describe_new(request: Request, principal: Principal, items: list[EvidenceItem]) -> None:
    """Start making thumbnails and previews; the caller has committed the new items."""
    jobs.submit_processing(
        request.app.state.jobs,
        request.app.state.blobs,
        principal,
        [i.id for i in items],
        f"Describe {items[0].name}" if len(items) == 1 else f"Describe {len(items)} files",
    )


@router.post("/evidence/cases/{case_id}/files")
def case_files(
    request: Request,
    case_id: str,
    form: CsrfForm,
    db: DB,
    settings: AppSettings,
    principal: Person,
) -> Response:
    """The plain form: files sent with the page itself (no JavaScript)."""
    case, _ = service.access_case(db, principal, case_id, "edit")
    description = _text(form, "description", 20000)
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    store, scanner = request.app.state.blobs, request.app.state.scanner
    try:
        if len(files) > MAX_FORM_FILES:
            raise InvalidInput({"files": f"Add up to {MAX_FORM_FILES} files at a time"})
        stored = [
            new
            for f in files
            if (new := _store_file(store, scanner, f, settings.form_upload_max_bytes, description))
        ]
        if not stored:
            raise InvalidInput({"files": "Choose one or more files to add"})
        added = [service.add_item(db, principal, new, case=case) for new in stored]
    except InvalidInput as exc:
        db.rollback()
        errors = _field_errors(exc, {}, "files")
        values = {"description": description}
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    db.commit()
    _describe_new(request, principal, added)
    return _redirect(f"/evidence/cases/{case_id}?done=uploaded#items")


@router.post("/evidence/cases/{case_id}/uploads")
def case_uploads(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """Finished resumable uploads (``upload_id``, one or more) become items of the case."""
    case, _ = service.access_case(db, principal, case_id, "edit")
    description = _text(form, "description", 20000)
    store, scanner = request.app.state.blobs, request.app.state.scanner
    added: list[EvidenceItem] = []
    try:
        upload_ids = _chosen(form, "upload_id")
        if not upload_ids:
            raise InvalidInput({"files": "No finished upload was named; upload the files again"})
        for upload_id in upload_ids:
            upload = completed_upload(db, upload_id, None, principal=principal, field="files")
            name = upload.filename or "upload"
            check_for_viruses(store, scanner, upload.sha256 or "", name, "files")
            added.append(
                intake.add_from_upload(
                    db, principal, upload_id, case=case, description=description, field="files"
                )
            )
    except InvalidInput as exc:
        db.rollback()
        errors = _field_errors(exc, {}, "files")
        if _wants_json(request):
            return JSONResponse({"errors": errors}, status_code=400)
        return _case_page(request, db, principal, case_id, errors=errors, status=400)
    result = [{"id": i.id, "name": i.name, "url": f"/evidence/items/{i.id}"} for i in added]
    db.commit()
    _describe_new(request, principal, added)
    if _wants_json(request):
        return JSONResponse({"items": result})
    return _redirect(f"/evidence/cases/{case_id}?done=uploaded#items")


@router.post("/evidence/cases/{case_id}/report")
def case_import_report(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    reference = _text(form, "report_reference", 20)
    case, _ = service.access_case(db, principal, case_id, "edit")
    try:
        if not reference:
            raise InvalidInput({"report": "Enter the online report’s reference, like 7KQ3-M9XD"})
        items = intake.import_report_attachments(db, principal, case, reference)
    except InvalidInput as exc:
        db.rollback()
        errors = _field_errors(exc, {}, "report_reference")
        values = {"report_reference": reference}
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    db.commit()
    if not items:
        return _redirect(f"/evidence/cases/{case_id}?done=nothing#items")
    _describe_new(request, principal, items)
    return _redirect(f"/evidence/cases/{case_id}?done=imported#items")


@router.post("/evidence/cases/{case_id}/shares")
def case_share(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    case, _ = service.access_case(db, principal, case_id, "edit")  # the service checks the rest
    values: dict[str, Any] = {
        "share_organisation": _text(form, "share_organisation", 40),
        "share_expires": _text(form, "share_expires", 20),
        "share_items": _chosen(form, "share_items"),
    }
    errors: dict[str, str] = {}
    expires_at = _last_moment_of(values["share_expires"], "share_expires", errors)
    if not values["share_organisation"]:
        errors["share_organisation"] = "Choose the organisation to share with"
    if not errors:
        try:
            wanted = set(values["share_items"])
            if wanted:
                ids = [i.id for i in service.items_of_case(db, principal, case) if i.id in wanted]
                if len(ids) != len(wanted):
                    raise InvalidInput({"items": "Every item must belong to this case"})
                service.share(
                    db, principal, values["share_organisation"], item_ids=ids, expires_at=expires_at
                )
            else:
                org = values["share_organisation"]
                service.share(db, principal, org, case_id=case.id, expires_at=expires_at)
        except InvalidInput as exc:
            fields = {"expires_at": "share_expires", "items": "share_items"}
            errors = _field_errors(exc, fields, "share_organisation")
    if errors:
        db.rollback()
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    return _redirect(f"/evidence/cases/{case_id}?done=shared#sharing")


@router.post("/evidence/cases/{case_id}/shares/{organisation}/remove")
def case_unshare(
    case_id: str, organisation: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    service.unshare(db, principal, organisation, case_id=case_id)
    return _redirect(f"/evidence/cases/{case_id}?done=unshared#sharing")


@router.post("/evidence/items/{item_id}/shares/{organisation}/remove")
def item_unshare(
    item_id: str, organisation: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    item, _ = service.access_item(db, principal, item_id)
    service.unshare(db, principal, organisation, item_id=item.id)
    if item.case_id:
        return _redirect(f"/evidence/cases/{item.case_id}?done=unshared#sharing")
    return _redirect(f"/evidence/items/{item_id}?done=unshared")


@router.post("/evidence/cases/{case_id}/links")
def case_link(
    request: Request,
    case_id: str,
    form: CsrfForm,
    db: DB,
    settings: AppSettings,
    principal: Person,
) -> Response:
    """Create a share link; its address and one-time code are shown on this response only."""
    service.access_case(db, principal, case_id, "relabel")
    values: dict[str, Any] = {
        "link_name": _text(form, "link_name", 200),
        "link_email": _text(form, "link_email", 254),
        "link_purpose": _text(form, "link_purpose", 300),
        "link_days": _text(form, "link_days", 6),
        "link_watermark": _text(form, "link_watermark", 5),
        "link_items": _chosen(form, "link_items"),
    }
    errors: dict[str, str] = {}
    days = _whole_number(values["link_days"], "link_days", errors)
    if not errors and (days is None or not 1 <= days <= 365):
        errors["link_days"] = "Enter a number of days from 1 to 365"
    if not errors:
        try:
            link, token, code = links.create_link(
                db,
                principal,
                case_id,
                recipient_name=values["link_name"],
                recipient_email=values["link_email"],
                purpose=values["link_purpose"],
                item_ids=values["link_items"],
                days=days or settings.evidence_share_link_days,
                watermark=values["link_watermark"] == "yes",
            )
        except InvalidInput as exc:
            fields = {
                "recipient_name": "link_name",
                "recipient_email": "link_email",
                "expires_at": "link_days",
                "items": "link_items",
            }
            errors = _field_errors(exc, fields, "link_name")
    if errors:
        db.rollback()
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    response = render(
        request,
        "evidence/link_created.html",
        {
            "link": link,
            "case": db.get(EvidenceCase, link.case_id),
            "url": f"{base}/evidence/link/{token}",
            "code": code,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/evidence/links/{link_id}/revoke")
def link_revoke(link_id: str, form: CsrfForm, db: DB, principal: Person) -> Response:
    link = links.revoke_link(db, principal, link_id)
    return _redirect(f"/evidence/cases/{link.case_id}?done=revoked#links")


@router.post("/evidence/cases/{case_id}/holds")
def case_hold(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values = {
        "hold_kind": _text(form, "hold_kind", 20),
        "hold_reason": _text(form, "hold_reason"),
        "hold_item": _text(form, "hold_item", 64),
    }
    try:
        case, _ = service.access_case(db, principal, case_id)
        kind, reason = values["hold_kind"], values["hold_reason"]
        if values["hold_item"]:
            item, _ = service.access_item(db, principal, values["hold_item"])
            if item.case_id != case.id:
                raise InvalidInput({"target": "That file is not in this case"})
            service.place_hold(db, principal, kind, reason, item_id=item.id)
        else:
            service.place_hold(db, principal, kind, reason, case_id=case.id)
    except InvalidInput as exc:
        db.rollback()
        fields = {"kind": "hold_kind", "reason": "hold_reason", "target": "hold_item"}
        errors = _field_errors(exc, fields, "hold_reason")
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    return _redirect(f"/evidence/cases/{case_id}?done=held#holds")


@router.post("/evidence/cases/{case_id}/holds/{hold_id}/release")
def case_hold_release(
    request: Request, case_id: str, hold_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    try:
        service.release_hold(db, principal, hold_id, _text(form, "reason"))
    except InvalidInput as exc:
        db.rollback()
        errors = {f"release-{hold_id}": next(iter(exc.errors.values()))}
        return _case_page(request, db, principal, case_id, errors=errors, status=400)
    return _redirect(f"/evidence/cases/{case_id}?done=released#holds")


@router.post("/evidence/cases/{case_id}/status")
def case_status(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    wanted = _text(form, "status", 10)
    reason = _text(form, "status_reason")
    try:
        case = service.set_case_status(db, principal, case_id, wanted, reason)
    except InvalidInput as exc:
        db.rollback()
        errors = _field_errors(exc, {}, "status_reason")
        values = {"status_reason": reason}
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    done = "closed" if case.status == "closed" else "reopened"
    return _redirect(f"/evidence/cases/{case_id}?done={done}")


@router.post("/evidence/cases/{case_id}/export")
def case_export(
    request: Request,
    case_id: str,
    form: CsrfForm,
    db: DB,
    settings: AppSettings,
    principal: Person,
) -> Response:
    """Start writing the court bundle; the job page shows its progress."""
    case, _ = service.access_case(db, principal, case_id)
    case_key, reference = case.id, case.reference
    db.commit()
    job_id = jobs.submit_export(
        request.app.state.jobs, request.app.state.blobs, settings, principal, case_key, reference
    )
    return _redirect(f"/jobs/{job_id}")


@router.get("/evidence/exports/{job_id}")
def export_download(job_id: str, db: DB, settings: AppSettings, principal: Person) -> Response:
    """The zip of a finished court bundle, for the person who asked for it."""
    job = get_job(db, principal, job_id)
    result = job.result or {}
    path = Path(str(result.get("path") or "."))
    case_id = (job.params or {}).get("case_id")
    if isinstance(case_id, str):
        service.access_case(db, principal, case_id)  # access may have ended since the export
    if (
        job.kind != "evidence.export"
        or job.status != JobStatus.done
        or job.started_by_id != principal.user_id
        or path.resolve().parent != jobs.exports_dir(settings).resolve()
        or not path.is_file()
    ):
        raise NotFound("court bundle", job_id)
    record_audit(
        db,
        principal,
        "evidence.bundle_download",
        "job",
        job.id,
        detail=f"{result.get('case', '')}: {path.name}",
        record_org_id=job.organisation_id,
    )
    return FileResponse(
        path,
        media_type="application/zip",
        filename=path.name,
        headers={"Cache-Control": "private, no-store"},
    )


# --- one item -------------------------------------------------------------------------------


def _capture_rows(item: EvidenceItem) -> list[tuple[str, str]]:
    """What was read from the file and its source, in words, for the summary list."""
    capture = item.capture or {}
    rows: list[tuple[str, str]] = []
    if item.captured_at:
        until = f" to {item.captured_until:%d %b %Y %H:%M:%S} UTC" if item.captured_until else ""
        rows.append(("Captured", f"{item.captured_at:%d %b %Y %H:%M:%S} UTC{until}"))
    camera = " ".join(str(capture[k]) for k in ("camera_make", "camera_model") if capture.get(k))
    if item.device_id or camera:
        rows.append(("Device", ", ".join(x for x in (item.device_id or "", camera) if x)))
    if item.captured_by:
        rows.append(("Officer or person who captured it", item.captured_by))
    if "gps_latitude" in capture and "gps_longitude" in capture:
        rows.append(("GPS", f"{capture['gps_latitude']}, {capture['gps_longitude']}"))
    if capture.get("duration_seconds") is not None:
        rows.append(("Duration", f"{float(capture['duration_seconds']):.1f} seconds"))
    codecs = [
        f"{k.split('_')[0]} {capture[k]}" for k in ("video_codec", "audio_codec") if k in capture
    ]
    if codecs:
        rows.append(("Codecs", ", ".join(codecs)))
    if capture.get("width") and capture.get("height"):
        rate = f" at {capture['frame_rate']} frames a second" if capture.get("frame_rate") else ""
        rows.append(("Resolution", f"{capture['width']} × {capture['height']} pixels{rate}"))
    return rows


def _visible(db: Session, principal: Principal, item: EvidenceItem | None) -> bool:
    return item is not None and can_view(principal, service.item_labelled(db, item))


def _case_options(db: Session, principal: Principal) -> list[tuple[str, str]]:
    """Open cases the person may add files to, as (id, label) choices."""
    if not principal.has_any(*EDITOR_ROLES):
        return []
    return [
        (c.id, f"{c.reference}: {c.title}")
        for c in service.visible_cases(db, principal, status="open")
        if c.owner_org_id == principal.organisation_id
    ]


def _hash_result(db: Session, item: EvidenceItem) -> dict[str, Any] | None:
    """The latest hash check of this item, from the custody log itself."""
    event = db.scalar(
        select(CustodyEvent)
        .where(CustodyEvent.item_id == item.id, CustodyEvent.kind == "hashed")
        .order_by(CustodyEvent.seq.desc())
        .limit(1)
    )
    if event is None:
        return None
    entry: dict[str, Any] = json.loads(event.entry)
    return {**entry, "event": event}


def _item_page(
    request: Request,
    db: Session,
    principal: Principal,
    item_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    done: str | None = None,
    status: int = 200,
    viewed: bool = False,
) -> Response:
    item, labelled = service.access_item(db, principal, item_id)
    if viewed:
        service.record_access(db, principal, item, "viewed", "item page", audit_actor=principal)
    own = principal.organisation_id == item.owner_org_id
    editable = can_edit(principal, labelled)
    holds = service.active_holds(db, item=item) if own else []
    categories = service.categories_of(db, item.owner_org_id) if own else {}
    decision = (
        retention.decide(item, item.case, categories, holds, utcnow())
        if own and item.status == "present"
        else None
    )
    derived_from = db.get(EvidenceItem, item.derived_from_id) if item.derived_from_id else None
    copies = db.scalars(select(EvidenceItem).where(EvidenceItem.derived_from_id == item.id))
    present = item.status == "present"
    return render(
        request,
        "evidence/item.html",
        {
            **HELPERS,
            "item": item,
            "case_visible": item.case is not None
            and can_view(principal, service.case_labelled(db, item.case)),
            "tlp": labelled.tlp,
            "own": own,
            "editable": editable,
            "present": present,
            "can_delete": editable and present and principal.has_any(*SUPERVISORS),
            "can_watermark": present
            and item.kind in ("image", "video")
            and not (item.kind == "video" and item.size > web.MAX_WATERMARK_VIDEO_BYTES),
            "preview_type": _preview_type(item),
            "capture_rows": _capture_rows(item),
            "derived_from": derived_from if _visible(db, principal, derived_from) else None,
            "copies": [c for c in copies if _visible(db, principal, c)],
            "holds": holds,
            "decision": decision,
            "categories": list(categories.values()),
            "case_options": _case_options(db, principal)
            if editable and item.case_id is None and present
            else [],
            "events": _event_rows(custody.events_for(db, item_ids=[item.id])),
            "hash_check": _hash_result(db, item) if done == "hashed" else None,
            "hold_choices": list(service.HOLD_KINDS.items()),
            "errors": errors or {},
            "values": {"categories": list(item.categories), **(values or {})},
            "notice": DONE.get(done or ""),
            "now": utcnow(),
        },
        status,
    )


@router.get("/evidence/items/{item_id}")
def item_page(
    request: Request,
    item_id: str,
    db: DB,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _item_page(request, db, principal, item_id, done=done, viewed=True)


@router.get("/evidence/items/{item_id}/thumb")
def item_thumb(request: Request, item_id: str, db: DB, principal: Person) -> Response:
    item, _ = service.access_item(db, principal, item_id)
    if item.status != "present" or not item.thumb_sha256:
        raise NotFound("thumbnail", item_id)
    name = f"{Path(item.name).stem or 'evidence'}-thumbnail.jpg"
    return web.stream_blob(request, request.app.state.blobs, item.thumb_sha256, name, "image/jpeg")


@router.get("/evidence/items/{item_id}/preview")
def item_preview(request: Request, item_id: str, db: DB, principal: Person) -> Response:
    item, _ = service.access_item(db, principal, item_id)
    if item.status != "present":
        raise NotFound("preview", item_id)
    if item.preview_sha256:
        sha256 = item.preview_sha256
    elif item.preview_status == "original":
        sha256 = item.sha256
    else:
        raise NotFound("preview", item_id)
    store = request.app.state.blobs
    if sha256 == item.sha256 and web.reads_from_start(request, item.size):
        # The preview is the original itself: its bytes leaving are recorded like any view.
        service.record_access(db, principal, item, "viewed", "preview", audit_actor=principal)
        db.commit()
    return web.stream_blob(request, store, sha256, item.name, _preview_type(item))


@router.get("/evidence/items/{item_id}/download")
def item_download(
    request: Request, item_id: str, db: DB, principal: Person, watermark: int = 0
) -> Response:
    """The original bytes, or a copy with the person's name across it; both are logged."""
    item, _ = service.access_item(db, principal, item_id)
    if item.status != "present":
        raise NotFound("evidence file", item_id)
    store = request.app.state.blobs
    if not watermark:
        if web.reads_from_start(request, item.size):
            service.record_access(
                db, principal, item, "downloaded", "original", audit_actor=principal
            )
        db.commit()
        return web.stream_blob(
            request, store, item.sha256, item.name, item.content_type, download=True
        )
    viewer = f"{principal.display_name} ({principal.organisation_name})"
    try:
        response = web.watermarked(store, item, viewer)
    except InvalidInput as exc:
        errors = _field_errors(exc, {}, "watermark")
        return _item_page(request, db, principal, item_id, errors=errors, status=400)
    service.record_access(
        db, principal, item, "downloaded", "watermarked copy", audit_actor=principal
    )
    db.commit()
    return response


@router.post("/evidence/items/{item_id}/hash")
def item_hash(
    request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """Re-read the stored bytes now and record whether they still match the hash taken in."""
    service.check_hash(db, principal, request.app.state.blobs, item_id)
    return _redirect(f"/evidence/items/{item_id}?done=hashed")


@router.post("/evidence/items/{item_id}/file")
def item_file(
    request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """Add an unfiled item (docked body-worn video, say) to a case."""
    case_id = _text(form, "case_id", 64)
    back = _text(form, "back", 20)
    try:
        if not case_id:
            raise InvalidInput({"case": "Choose the case to add it to"})
        service.file_item(db, principal, item_id, case_id)
    except InvalidInput as exc:
        db.rollback()
        message = next(iter(exc.errors.values()))
        if back == "unfiled":
            errors = {f"case-{item_id}": message}
            return _unfiled_page(request, db, principal, errors=errors, status=400)
        return _item_page(request, db, principal, item_id, errors={"case_id": message}, status=400)
    if back == "unfiled":
        return _redirect("/evidence/unfiled?done=filed")
    return _redirect(f"/evidence/items/{item_id}?done=filed")


@router.post("/evidence/items/{item_id}/retention")
def item_retention(
    request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values: dict[str, Any] = {
        "categories": _chosen(form, "categories"),
        "retention_reason": _text(form, "retention_reason"),
    }
    try:
        service.set_item_categories(
            db, principal, item_id, values["categories"], values["retention_reason"]
        )
    except InvalidInput as exc:
        db.rollback()
        errors = _field_errors(exc, {"reason": "retention_reason"}, "categories")
        return _item_page(request, db, principal, item_id, errors=errors, values=values, status=400)
    return _redirect(f"/evidence/items/{item_id}?done=retention")


@router.post("/evidence/items/{item_id}/holds")
def item_hold(
    request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values = {"hold_kind": _text(form, "hold_kind", 20), "hold_reason": _text(form, "hold_reason")}
    try:
        service.place_hold(
            db, principal, values["hold_kind"], values["hold_reason"], item_id=item_id
        )
    except InvalidInput as exc:
        db.rollback()
        errors = _field_errors(exc, {"kind": "hold_kind"}, "hold_reason")
        return _item_page(request, db, principal, item_id, errors=errors, values=values, status=400)
    return _redirect(f"/evidence/items/{item_id}?done=held")


@router.post("/evidence/items/{item_id}/delete")
def item_delete(
    request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """Delete the file's bytes (supervisors and admins); refused while a hold covers it."""
    reason = _text(form, "delete_reason")
    service.access_item(db, principal, item_id, "edit")
    _require(principal, SUPERVISORS, "Only a supervisor or admin deletes evidence")
    db.commit()  # deletion runs in its own transactions
    try:
        retention.delete_item(
            request.app.state.sessions, request.app.state.blobs, principal, item_id, reason
        )
    except InvalidInput as exc:
        errors = _field_errors(exc, {"reason": "delete_reason"}, "delete_reason")
        values = {"delete_reason": reason}
        return _item_page(request, db, principal, item_id, errors=errors, values=values, status=400)
    return _redirect(f"/evidence/items/{item_id}?done=deleted")


# --- across cases ---------------------------------------------------------------------------


def _unfiled_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    items = service.unfiled_items(db, principal)
    now = utcnow()
    holds: dict[str, list[EvidenceHold]] = {}
    categories = {}
    if items and principal.organisation_id:
        categories = service.categories_of(db, principal.organisation_id)
        for hold in db.scalars(
            select(EvidenceHold).where(
                EvidenceHold.released_at.is_(None),
                EvidenceHold.item_id.in_([i.id for i in items]),
            )
        ):
            holds.setdefault(hold.item_id or "", []).append(hold)
    rows = [
        {"item": i, "decision": retention.decide(i, None, categories, holds.get(i.id, []), now)}
        for i in items
    ]
    return render(
        request,
        "evidence/unfiled.html",
        {
            **HELPERS,
            "rows": rows,
            "case_options": _case_options(db, principal),
            "errors": errors or {},
            "notice": DONE.get(done or ""),
            "now": now,
        },
        status,
    )


@router.get("/evidence/unfiled")
def unfiled_page(
    request: Request,
    db: DB,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _unfiled_page(request, db, principal, done=done)


@router.get("/evidence/shared")
def shared_page(request: Request, db: DB, principal: Person) -> Response:
    """What other organisations shared with the person's own, grouped by case."""
    names = {o.id: o.name for o in core_service.list_organisations(db)}
    groups: dict[str, dict[str, Any]] = {}
    for item in service.items_shared_with(db, principal):
        key = item.case.reference if item.case else ""
        group = groups.get(key)
        if group is None:
            case = item.case
            group = groups[key] = {
                "case": case,
                "case_visible": case is not None
                and can_view(principal, service.case_labelled(db, case)),
                "owner": names.get(item.owner_org_id, ""),
                "items": [],
            }
        group["items"].append(item)
    return render(request, "evidence/shared.html", {**HELPERS, "groups": list(groups.values())})


def _hold_target(db: Session, principal: Principal, hold: EvidenceHold) -> dict[str, str] | None:
    """Where a hold applies, as a link, if the person may see that case or item."""
    if hold.item_id:
        item = db.get(EvidenceItem, hold.item_id)
        if item is not None and _visible(db, principal, item):
            return {"href": f"/evidence/items/{item.id}", "text": f"File {item.name}"}
        return None
    case = db.get(EvidenceCase, hold.case_id) if hold.case_id else None
    if case is not None and can_view(principal, service.case_labelled(db, case)):
        return {
            "href": f"/evidence/cases/{case.id}",
            "text": f"Case {case.reference}: {case.title}",
        }
    return None


def _holds_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    holds = service.holds_of_org(db, principal)
    rows = [{"hold": h, "target": _hold_target(db, principal, h)} for h in holds]
    return render(
        request,
        "evidence/holds.html",
        {
            **HELPERS,
            "active": [r for r, h in zip(rows, holds, strict=True) if h.released_at is None],
            "released": [r for r, h in zip(rows, holds, strict=True) if h.released_at],
            "can_release": principal.has_any(*SUPERVISORS),
            "errors": errors or {},
            "notice": DONE.get(done or ""),
        },
        status,
    )


@router.get("/evidence/holds")
def holds_page(
    request: Request,
    db: DB,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _holds_page(request, db, principal, done=done)


@router.post("/evidence/holds/{hold_id}/release")
def hold_release(
    request: Request, hold_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    try:
        service.release_hold(db, principal, hold_id, _text(form, "reason"))
    except InvalidInput as exc:
        db.rollback()
        errors = {f"release-{hold_id}": next(iter(exc.errors.values()))}
        return _holds_page(request, db, principal, errors=errors, status=400)
    return _redirect("/evidence/holds?done=released")


# --- retention ------------------------------------------------------------------------------


def _plan_for(db: Session, principal: Principal) -> list[retention.Decision]:
    """The force's retention plan, leaving out RED items the person is not named on."""
    if not principal.organisation_id:
        return []
    return retention.plan(db, organisation_id=principal.organisation_id, visible_to=principal)


def _retention_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    decisions = _plan_for(db, principal)
    categories = (
        list(service.categories_of(db, principal.organisation_id).values())
        if principal.organisation_id
        else []
    )
    return render(
        request,
        "evidence/retention.html",
        {
            "due": [d for d in decisions if d.will_delete],
            "held": [d for d in decisions if d.due and d.held_by],
            "scheduled": [d for d in decisions if d.delete_after and not d.due][:200],
            "kept": len([d for d in decisions if d.delete_after is None]),
            "categories": categories,
            "rules": dict(RULES),
            "rule_choices": RULES,
            "can_manage": principal.has_any(*SUPERVISORS),
            "errors": errors or {},
            "values": values or {"rule": "fixed"},
            "notice": DONE.get(done or ""),
            "now": utcnow(),
        },
        status,
    )


@router.get("/evidence/retention")
def retention_page(
    request: Request,
    db: DB,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
    change: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    values = None
    if change and principal.organisation_id:
        row = service.categories_of(db, principal.organisation_id).get(change)
        if row is not None:
            values = {
                "code": row.code,
                "name": row.name,
                "rule": row.rule,
                "days": "" if row.days is None else str(row.days),
                "review_days": "" if row.review_days is None else str(row.review_days),
                "description": row.description,
            }
    return _retention_page(request, db, principal, values=values, done=done)


@router.post("/evidence/retention/run")
def retention_run(
    request: Request, form: CsrfForm, db: DB, settings: AppSettings, principal: Person
) -> Response:
    _require(principal, SUPERVISORS, "Only a supervisor or admin runs retention")
    db.commit()
    job_id = jobs.submit_retention(
        request.app.state.jobs,
        request.app.state.blobs,
        settings,
        principal,
        principal.organisation_id,
    )
    return _redirect(f"/jobs/{job_id}")


@router.post("/evidence/retention/categories")
def retention_category(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    names = ("code", "name", "rule", "days", "review_days", "description")
    values = {name: _text(form, name, 120 if name != "description" else 2000) for name in names}
    values["code"] = values["code"].lower()
    errors: dict[str, str] = {}
    days = _whole_number(values["days"], "days", errors)
    review_days = _whole_number(values["review_days"], "review_days", errors)
    if not errors:
        try:
            service.set_category(
                db,
                principal,
                values["code"],
                values["name"],
                values["rule"],
                days,
                review_days,
                values["description"],
            )
        except InvalidInput as exc:
            errors = _field_errors(exc, {"rule": "rule", "days": "days"}, "code")
    if errors:
        db.rollback()
        return _retention_page(request, db, principal, errors=errors, values=values, status=400)
    return _redirect("/evidence/retention?done=category#categories")


# --- the custody log ------------------------------------------------------------------------


@router.get("/evidence/log")
def custody_log(
    request: Request,
    db: DB,
    settings: AppSettings,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    size, root = custody.head(db)
    signer = custody.signer_for(settings)
    heads = [
        {
            "tree_size": h.tree_size,
            "root": h.root_hash.hex(),
            "at": datetime.fromtimestamp(h.timestamp_ms / 1000, UTC),
            "key_id": h.key_id,
            "signature": base64.b64encode(h.signature).decode(),
        }
        for h in custody.tree_heads(db, 20)
    ]
    return render(
        request,
        "evidence/log.html",
        {
            "size": size,
            "root": root.hex(),
            "heads": heads,
            "key_pem": signer.public_key_pem().decode(),
            "key_id": signer.key_id,
            "notice": DONE.get(done or ""),
        },
    )


@router.post("/evidence/log/heads")
def publish_head(form: CsrfForm, db: DB, settings: AppSettings, principal: Person) -> Response:
    custody.publish_tree_head(db, custody.signer_for(settings))
    return _redirect("/evidence/log?done=published")
