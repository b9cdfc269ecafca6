"""Pages for someone without an account who was sent a share link (a defence solicitor, say).

The link's token is the secret in the address; the one-time code proves the right person
opened it, and a cookie scoped to the link's address remembers that. Every request checks the
link again, so a revoked or expired link stops at once, and every view and download is written
to the audit and custody logs under the recipient's name.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.blobstore import BlobStore
from peel.core.db import utcnow
from peel.core.deps import DB, AppSettings, CsrfForm
from peel.core.models import Organisation
from peel.core.security import token_digest
from peel.core.streaming import content_disposition
from peel.evidence import links, web
from peel.evidence.models import EvidenceItem, ShareLink
from peel.reporting.staff_pages import BROWSER_IMAGES
from peel.web.templating import render

router = APIRouter(include_in_schema=False)

PREFIX = "/evidence/link"
#: Tokens are 43 characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 200
BROWSER_AUDIO = frozenset({"audio/mpeg", "audio/mp4", "audio/ogg", "audio/wav"})
_CODE_SEPARATORS = re.compile(r"[\s-]")


def _home(token: str) -> str:
    return f"{PREFIX}/{token}"


def _unavailable(
    request: Request, db: Session, token: str, message: str, status: int | None = None
) -> Response:
    """The clear message for a link that cannot be used: 404 if unknown, else 410."""
    if status is None:
        known = len(token) <= MAX_TOKEN_LENGTH and db.scalar(
            select(ShareLink.id).where(ShareLink.token_hash == token_digest(token))
        )
        status = 410 if known else 404
    return render(request, "evidence/link/unavailable.html", {"message": message}, status)


def _find(request: Request, db: Session, token: str) -> ShareLink | Response:
    if len(token) > MAX_TOKEN_LENGTH:
        return _unavailable(request, db, token, "This link is not valid.", 404)
    try:
        return links.find_link(db, token)
    except links.LinkUnavailable as exc:
        return _unavailable(request, db, token, str(exc))


def _has_cookie(request: Request, settings: AppSettings, link: ShareLink) -> bool:
    value = request.cookies.get(links.COOKIE_PREFIX + link.id)
    return links.cookie_valid(settings.secret_key, link, value)


def _opened(
    request: Request, db: Session, settings: AppSettings, token: str
) -> ShareLink | Response:
    """The link if it is usable and this browser entered its code, else what to send instead."""
    found = _find(request, db, token)
    if isinstance(found, Response):
        return found
    if not _has_cookie(request, settings, found):
        return RedirectResponse(_home(token), status_code=303)
    return found


def size_text(size: int) -> str:
    """A file size as people read it: 512 bytes, 14 KB, 3.2 MB, 1.4 GB."""
    if size < 1000:
        return f"{size} byte{'' if size == 1 else 's'}"
    value, unit = size / 1000, "KB"
    for bigger in ("MB", "GB", "TB"):
        if value < 999.5:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"


def _about(db: Session, token: str, link: ShareLink) -> dict[str, object]:
    """What every link page says: who shared it, with whom, until when."""
    force = db.get(Organisation, link.owner_org_id)
    return {
        "link": link,
        "token": token,
        "home": _home(token),
        "force": force.name if force is not None else "the force that shared it",
        "size_text": size_text,
    }


def _code_form(
    request: Request,
    db: Session,
    token: str,
    link: ShareLink,
    error: str | None = None,
    status: int = 200,
) -> Response:
    context = _about(db, token, link)
    context["errors"] = {"code": error} if error else {}
    context["tries_left"] = links.MAX_CODE_TRIES - link.failed_codes
    return render(request, "evidence/link/code.html", context, status)


def _code_used(request: Request, db: Session, token: str, link: ShareLink) -> Response:
    return render(request, "evidence/link/used.html", _about(db, token, link), 403)


def display_of(link: ShareLink, item: EvidenceItem) -> str:
    """How the item page shows the item: image, video, audio, or none (download only)."""
    watermarked = link.watermark and item.kind in ("image", "video")
    if item.kind == "image" and (watermarked or item.content_type in BROWSER_IMAGES):
        return "image"
    if item.kind == "video":
        if watermarked:
            return "video" if item.size <= web.MAX_WATERMARK_VIDEO_BYTES else "none"
        if item.preview_sha256 or item.preview_status == "original":
            return "video"
    if item.kind == "audio" and item.content_type in BROWSER_AUDIO:
        return "audio"
    return "none"


def _viewer(link: ShareLink) -> str:
    return f"{link.recipient_name} <{link.recipient_email}>"


@router.get(PREFIX + "/{token}")
def link_home(request: Request, token: str, db: DB, settings: AppSettings) -> Response:
    """The items shared, once this browser has entered the code; otherwise the code form."""
    found = _find(request, db, token)
    if isinstance(found, Response):
        return found
    link = found
    if not _has_cookie(request, settings, link):
        if link.code_used_at is not None:
            return _code_used(request, db, token, link)
        return _code_form(request, db, token, link)
    items = links.items_of_link(db, link)
    context = _about(db, token, link)
    context["items"] = items
    context["missing"] = len(link.item_ids) - sum(1 for i in items if i.status == "present")
    return render(request, "evidence/link/items.html", context)


@router.post(PREFIX + "/{token}")
def link_code(
    request: Request, token: str, form: CsrfForm, db: DB, settings: AppSettings
) -> Response:
    """Check the one-time code; wrong codes count towards locking the link."""
    found = _find(request, db, token)
    if isinstance(found, Response):
        return found
    link = found
    if _has_cookie(request, settings, link):
        return RedirectResponse(_home(token), status_code=303)
    typed = str(form.get("code", "")).strip()[:40]
    code = _CODE_SEPARATORS.sub("", typed)
    if not code:
        return _code_form(request, db, token, link, "Enter the 8-digit code you were sent", 400)
    if len(code) != 8 or not code.isascii() or not code.isdigit():
        return _code_form(
            request, db, token, link, "Enter the code as 8 digits, like 1234 5678", 400
        )
    try:
        accepted = links.check_code(db, link, code)
    except links.LinkUnavailable:
        return _code_used(request, db, token, link)
    if not accepted:
        left = links.MAX_CODE_TRIES - link.failed_codes
        if left <= 0:
            try:
                links.find_link(db, token)
            except links.LinkUnavailable as exc:
                return _unavailable(request, db, token, str(exc), 410)
        tries = "1 more try" if left == 1 else f"{left} more tries"
        return _code_form(
            request,
            db,
            token,
            link,
            f"The code is not right. You have {tries} before the link locks.",
            400,
        )
    response = RedirectResponse(_home(token), status_code=303)
    response.set_cookie(
        links.COOKIE_PREFIX + link.id,
        links.cookie_value(settings.secret_key, link),
        max_age=max(1, int((link.expires_at - utcnow()).total_seconds())),
        path=_home(token),
        httponly=True,
        samesite="strict",
        secure=settings.served_over_tls,
    )
    return response


@router.get(PREFIX + "/{token}/items/{item_id}")
def link_item(
    request: Request, token: str, item_id: str, db: DB, settings: AppSettings
) -> Response:
    """One shared item, shown when the browser can; the view is recorded."""
    opened = _opened(request, db, settings, token)
    if isinstance(opened, Response):
        return opened
    item = links.item_of_link(db, opened, item_id)
    links.record_link_access(db, opened, item, "viewed")
    context = _about(db, token, opened)
    context["item"] = item
    context["display"] = display_of(opened, item)
    context["item_url"] = f"{_home(token)}/items/{item.id}"
    return render(request, "evidence/link/item.html", context)


@router.get(PREFIX + "/{token}/items/{item_id}/media")
def link_media(
    request: Request, token: str, item_id: str, db: DB, settings: AppSettings
) -> Response:
    """The bytes the item page shows: watermarked when the link says so."""
    opened = _opened(request, db, settings, token)
    if isinstance(opened, Response):
        return opened
    item = links.item_of_link(db, opened, item_id)
    store: BlobStore = request.app.state.blobs
    if opened.watermark and item.kind in ("image", "video"):
        response = web.watermarked(store, item, _viewer(opened))
        suffix = ".png" if item.kind == "image" else ".mp4"
        name = f"{Path(item.name).stem or 'evidence'}-watermarked{suffix}"
        response.headers["Content-Disposition"] = content_disposition("inline", name)
        return response
    if item.kind == "video" and item.preview_sha256:
        name = f"{Path(item.name).stem or 'evidence'}-preview.mp4"
        return web.stream_blob(request, store, item.preview_sha256, name, "video/mp4")
    if web.reads_from_start(request, item.size):
        # The original itself leaves: recorded like a download would be.
        links.record_link_access(db, opened, item, "viewed")
        db.commit()
    return web.stream_blob(request, store, item.sha256, item.name, item.content_type)


@router.get(PREFIX + "/{token}/items/{item_id}/download")
def link_download(
    request: Request, token: str, item_id: str, db: DB, settings: AppSettings
) -> Response:
    """Save the item (watermarked when the link says so); the download is recorded."""
    opened = _opened(request, db, settings, token)
    if isinstance(opened, Response):
        return opened
    item = links.item_of_link(db, opened, item_id)
    store: BlobStore = request.app.state.blobs
    if opened.watermark and item.kind in ("image", "video"):
        response = web.watermarked(store, item, _viewer(opened))
    else:
        response = web.stream_blob(
            request, store, item.sha256, item.name, item.content_type, download=True
        )
    links.record_link_access(db, opened, item, "downloaded")
    return response
