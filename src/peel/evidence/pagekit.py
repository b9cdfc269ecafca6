"""What the evidence pages share: labels, form parsing, small views of records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from peel.core.enums import TLP, Role
from peel.core.errors import InvalidInput
from peel.core.policy import EDITOR_ROLES, Forbidden, can_view
from peel.core.principal import Principal
from peel.core.sniff import KIND_NOUNS
from peel.evidence import custody, retention, service
from peel.evidence.models import CustodyEvent, EvidenceItem
from peel.reporting.staff_pages import BROWSER_IMAGES

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
EVENT_FIELDS = {"log", "index", "at", "kind", "case_id", "item_id", "org", "actor"}

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


def kind_label(kind: str) -> str:
    return KIND_NOUNS.get(kind, kind).capitalize()


def preview_view(item: EvidenceItem) -> str | None:
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


def preview_type(item: EvidenceItem) -> str:
    if item.preview_sha256:
        return "video/mp4"
    if item.kind == "video":
        return "video/webm" if "webm" in str(item.capture.get("container", "")) else "video/mp4"
    return item.content_type


def countdown(decision: retention.Decision | None, now: datetime) -> str:
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
    "kind_label": kind_label,
    "source_label": lambda source: SOURCES.get(source, source),
    "hold_label": lambda kind: service.HOLD_KINDS.get(kind, kind),
    "event_label": lambda kind: custody.EVENT_KINDS.get(kind, kind),
    "preview_view": preview_view,
    "countdown": countdown,
}


def text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def chosen(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v][:500]


def field_errors(exc: InvalidInput, fields: dict[str, str], default: str) -> dict[str, str]:
    """The service's field names mapped to the form controls each message belongs to."""
    errors: dict[str, str] = {}
    for key, message in exc.errors.items():
        errors.setdefault(fields.get(key.split("[")[0], default), message)
    return errors


def last_moment_of(value: str, field: str, errors: dict[str, str]) -> datetime | None:
    """A YYYY-MM-DD date as the end of that day (UTC): sharing lasts through the day named."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        errors[field] = "Enter the date as YYYY-MM-DD, for example 2027-01-31"
        return None
    return day + timedelta(days=1, seconds=-1)


def whole_number(value: str, field: str, errors: dict[str, str]) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 6:
        errors[field] = "Enter a whole number of days, for example 31"
        return None
    return int(value)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def require(principal: Principal, roles: tuple[Role, ...], message: str) -> None:
    if not principal.has_any(*roles):
        raise Forbidden(message)


def event_rows(events: list[CustodyEvent]) -> list[dict[str, Any]]:
    rows = []
    for event in events:
        try:
            entry = json.loads(event.entry)
        except ValueError:
            entry = {}
        details = [
            (key.replace("_", " "), v if isinstance(v, str) else json.dumps(v))
            for key, v in entry.items()
            if key not in EVENT_FIELDS and v not in (None, "", [], {})
        ]
        rows.append({"event": event, "details": details})
    return rows


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def visible(db: Session, principal: Principal, item: EvidenceItem | None) -> bool:
    return item is not None and can_view(principal, service.item_labelled(db, item))


def case_options(db: Session, principal: Principal) -> list[tuple[str, str]]:
    """Open cases the person may add files to, as (id, label) choices."""
    if not principal.has_any(*EDITOR_ROLES):
        return []
    return [
        (c.id, f"{c.reference}: {c.title}")
        for c in service.visible_cases(db, principal, status="open")
        if c.owner_org_id == principal.organisation_id
    ]
