"""Digital evidence pages for one file: preview, metadata, custody, download, retention."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.db import utcnow
from peel.core.deps import DB, CsrfForm, Person
from peel.core.errors import InvalidInput
from peel.core.policy import NotFound, can_edit, can_view
from peel.core.principal import Principal
from peel.evidence import custody, retention, service, web
from peel.evidence.models import CustodyEvent, EvidenceItem
from peel.evidence.oversight_pages import unfiled_view
from peel.evidence.pagekit import (
    DONE,
    HELPERS,
    SUPERVISORS,
    case_options,
    chosen,
    event_rows,
    field_errors,
    preview_type,
    redirect,
    require,
    text,
    visible,
)
from peel.web.templating import render

router = APIRouter(include_in_schema=False)


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
            "preview_type": preview_type(item),
            "capture_rows": _capture_rows(item),
            "derived_from": derived_from if visible(db, principal, derived_from) else None,
            "copies": [c for c in copies if visible(db, principal, c)],
            "holds": holds,
            "decision": decision,
            "categories": list(categories.values()),
            "case_options": case_options(db, principal)
            if editable and item.case_id is None and present
            else [],
            "events": event_rows(custody.events_for(db, item_ids=[item.id])),
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
    return web.stream_blob(request, store, sha256, item.name, preview_type(item))


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
        errors = field_errors(exc, {}, "watermark")
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
    return redirect(f"/evidence/items/{item_id}?done=hashed")


@router.post("/evidence/items/{item_id}/file")
def item_file(
    request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """Add an unfiled item (docked body-worn video, say) to a case."""
    case_id = text(form, "case_id", 64)
    back = text(form, "back", 20)
    try:
        if not case_id:
            raise InvalidInput({"case": "Choose the case to add it to"})
        service.file_item(db, principal, item_id, case_id)
    except InvalidInput as exc:
        db.rollback()
        message = next(iter(exc.errors.values()))
        if back == "unfiled":
            errors = {f"case-{item_id}": message}
            return unfiled_view(request, db, principal, errors=errors, status=400)
        return _item_page(request, db, principal, item_id, errors={"case_id": message}, status=400)
    if back == "unfiled":
        return redirect("/evidence/unfiled?done=filed")
    return redirect(f"/evidence/items/{item_id}?done=filed")


@router.post("/evidence/items/{item_id}/retention")
def item_retention(
    request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values: dict[str, Any] = {
        "categories": chosen(form, "categories"),
        "retention_reason": text(form, "retention_reason"),
    }
    try:
        service.set_item_categories(
            db, principal, item_id, values["categories"], values["retention_reason"]
        )
    except InvalidInput as exc:
        db.rollback()
        errors = field_errors(exc, {"reason": "retention_reason"}, "categories")
        return _item_page(request, db, principal, item_id, errors=errors, values=values, status=400)
    return redirect(f"/evidence/items/{item_id}?done=retention")


@router.post("/evidence/items/{item_id}/holds")
def item_hold(
    request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    values = {"hold_kind": text(form, "hold_kind", 20), "hold_reason": text(form, "hold_reason")}
    try:
        service.place_hold(
            db, principal, values["hold_kind"], values["hold_reason"], item_id=item_id
        )
    except InvalidInput as exc:
        db.rollback()
        errors = field_errors(exc, {"kind": "hold_kind"}, "hold_reason")
        return _item_page(request, db, principal, item_id, errors=errors, values=values, status=400)
    return redirect(f"/evidence/items/{item_id}?done=held")


@router.post("/evidence/items/{item_id}/delete")
def item_delete(
    request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """Delete the file's bytes (supervisors and admins); refused while a hold covers it."""
    reason = text(form, "delete_reason")
    service.access_item(db, principal, item_id, "edit")
    require(principal, SUPERVISORS, "Only a supervisor or admin deletes evidence")
    db.commit()  # deletion runs in its own transactions
    try:
        retention.delete_item(
            request.app.state.sessions, request.app.state.blobs, principal, item_id, reason
        )
    except InvalidInput as exc:
        errors = field_errors(exc, {"reason": "delete_reason"}, "delete_reason")
        values = {"delete_reason": reason}
        return _item_page(request, db, principal, item_id, errors=errors, values=values, status=400)
    return redirect(f"/evidence/items/{item_id}?done=deleted")
