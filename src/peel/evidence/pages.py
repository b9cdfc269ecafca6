"""Digital evidence pages: the evidence home, new cases and one case.

The same capabilities as ``/api/v1/evidence`` for people in a browser. Every page works
without JavaScript; the case page adds resumable uploads (``static/evidence/upload.js``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from peel.core import service as core_service
from peel.core.audit import record_audit
from peel.core.blobstore import BlobStore, BlobTooLarge
from peel.core.config import Settings
from peel.core.db import utcnow
from peel.core.deps import DB, AppSettings, CsrfForm, Person
from peel.core.enums import TLP, JobStatus, OrganisationType
from peel.core.errors import InvalidInput
from peel.core.jobs import get_job, visible_jobs
from peel.core.policy import EDITOR_ROLES, NotFound, can_edit, can_relabel
from peel.core.principal import Principal
from peel.core.scan import Scanner
from peel.core.sniff import EVIDENCE_KINDS, UploadRefused, check_declared, sniff
from peel.evidence import intake, jobs, links, service, web
from peel.evidence.models import EvidenceCase, EvidenceHold, EvidenceItem
from peel.evidence.pagekit import (
    CASE_STATUSES,
    CASE_TLPS,
    DONE,
    HELPERS,
    MAX_FORM_FILES,
    SUPERVISORS,
    chosen,
    field_errors,
    last_moment_of,
    redirect,
    require,
    text,
    wants_json,
    whole_number,
)
from peel.reporting.evidence import SNIFF_BYTES, check_for_viruses
from peel.web.templating import render

router = APIRouter(include_in_schema=False)


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
    require(principal, EDITOR_ROLES, "Only officers, supervisors, analysts and admins open cases")
    values = {"tlp": TLP.amber.value, "officer_in_charge": principal.display_name}
    return _new_case_form(request, {}, values)


@router.post("/evidence/cases/new")
def case_create(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    values = {
        "title": text(form, "title", 300),
        "description": text(form, "description", 20000),
        "tlp": text(form, "tlp", 20),
        "officer_in_charge": text(form, "officer_in_charge", 300),
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
            errors = field_errors(exc, {"tlp": "tlp", "description": "description"}, "title")
        else:
            return redirect(f"/evidence/cases/{case.id}?done=opened")
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
    description = text(form, "description", 20000)
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
        errors = field_errors(exc, {}, "files")
        values = {"description": description}
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    db.commit()
    web.describe_new(request, principal, added)
    return redirect(f"/evidence/cases/{case_id}?done=uploaded#items")


@router.post("/evidence/cases/{case_id}/uploads")
def case_uploads(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """Finished resumable uploads (``upload_id``, one or more) become items of the case."""
    case, _ = service.access_case(db, principal, case_id, "edit")
    description = text(form, "description", 20000)
    store, scanner = request.app.state.blobs, request.app.state.scanner
    added: list[EvidenceItem] = []
    try:
        upload_ids = chosen(form, "upload_id")
        if not upload_ids:
            raise InvalidInput({"files": "No finished upload was named; upload the files again"})
        for upload_id in upload_ids:
            added.append(
                intake.add_from_upload(
                    db,
                    principal,
                    upload_id,
                    case=case,
                    description=description,
                    field="files",
                    store=store,
                    scanner=scanner,
                )
            )
    except InvalidInput as exc:
        db.rollback()
        errors = field_errors(exc, {}, "files")
        if wants_json(request):
            return JSONResponse({"errors": errors}, status_code=400)
        return _case_page(request, db, principal, case_id, errors=errors, status=400)
    result = [{"id": i.id, "name": i.name, "url": f"/evidence/items/{i.id}"} for i in added]
    db.commit()
    web.describe_new(request, principal, added)
    if wants_json(request):
        return JSONResponse({"items": result})
    return redirect(f"/evidence/cases/{case_id}?done=uploaded#items")


@router.post("/evidence/cases/{case_id}/report")
def case_import_report(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    reference = text(form, "report_reference", 20)
    case, _ = service.access_case(db, principal, case_id, "edit")
    try:
        if not reference:
            raise InvalidInput({"report": "Enter the online report’s reference, like 7KQ3-M9XD"})
        items = intake.import_report_attachments(db, principal, case, reference)
    except InvalidInput as exc:
        db.rollback()
        errors = field_errors(exc, {}, "report_reference")
        values = {"report_reference": reference}
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    db.commit()
    if not items:
        return redirect(f"/evidence/cases/{case_id}?done=nothing#items")
    web.describe_new(request, principal, items)
    return redirect(f"/evidence/cases/{case_id}?done=imported#items")


@router.post("/evidence/cases/{case_id}/shares")
def case_share(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    case, _ = service.access_case(db, principal, case_id, "edit")  # the service checks the rest
    values: dict[str, Any] = {
        "share_organisation": text(form, "share_organisation", 40),
        "share_expires": text(form, "share_expires", 20),
        "share_items": chosen(form, "share_items"),
    }
    errors: dict[str, str] = {}
    expires_at = last_moment_of(values["share_expires"], "share_expires", errors)
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
            errors = field_errors(exc, fields, "share_organisation")
    if errors:
        db.rollback()
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    return redirect(f"/evidence/cases/{case_id}?done=shared#sharing")


@router.post("/evidence/cases/{case_id}/shares/{organisation}/remove")
def case_unshare(
    case_id: str, organisation: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    service.unshare(db, principal, organisation, case_id=case_id)
    return redirect(f"/evidence/cases/{case_id}?done=unshared#sharing")


@router.post("/evidence/items/{item_id}/shares/{organisation}/remove")
def item_unshare(
    item_id: str, organisation: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    item, _ = service.access_item(db, principal, item_id)
    service.unshare(db, principal, organisation, item_id=item.id)
    if item.case_id:
        return redirect(f"/evidence/cases/{item.case_id}?done=unshared#sharing")
    return redirect(f"/evidence/items/{item_id}?done=unshared")


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
        "link_name": text(form, "link_name", 200),
        "link_email": text(form, "link_email", 254),
        "link_purpose": text(form, "link_purpose", 300),
        "link_days": text(form, "link_days", 6),
        "link_watermark": text(form, "link_watermark", 5),
        "link_items": chosen(form, "link_items"),
    }
    errors: dict[str, str] = {}
    days = whole_number(values["link_days"], "link_days", errors)
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
            errors = field_errors(exc, fields, "link_name")
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
    return redirect(f"/evidence/cases/{link.case_id}?done=revoked#links")


@router.post("/evidence/cases/{case_id}/holds")
def case_hold(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values = {
        "hold_kind": text(form, "hold_kind", 20),
        "hold_reason": text(form, "hold_reason"),
        "hold_item": text(form, "hold_item", 64),
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
        errors = field_errors(exc, fields, "hold_reason")
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    return redirect(f"/evidence/cases/{case_id}?done=held#holds")


@router.post("/evidence/cases/{case_id}/holds/{hold_id}/release")
def case_hold_release(
    request: Request, case_id: str, hold_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    try:
        service.release_hold(db, principal, hold_id, text(form, "reason"))
    except InvalidInput as exc:
        db.rollback()
        errors = {f"release-{hold_id}": next(iter(exc.errors.values()))}
        return _case_page(request, db, principal, case_id, errors=errors, status=400)
    return redirect(f"/evidence/cases/{case_id}?done=released#holds")


@router.post("/evidence/cases/{case_id}/status")
def case_status(
    request: Request, case_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    wanted = text(form, "status", 10)
    reason = text(form, "status_reason")
    try:
        case = service.set_case_status(db, principal, case_id, wanted, reason)
    except InvalidInput as exc:
        db.rollback()
        errors = field_errors(exc, {}, "status_reason")
        values = {"status_reason": reason}
        return _case_page(request, db, principal, case_id, errors=errors, values=values, status=400)
    done = "closed" if case.status == "closed" else "reopened"
    return redirect(f"/evidence/cases/{case_id}?done={done}")


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
    return redirect(f"/jobs/{job_id}")


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
