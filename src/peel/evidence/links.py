"""Share links for someone without an account (a defence solicitor, say).

A link is a long random token (only its SHA-256 is stored) plus an eight-digit code sent
separately; the code works once, after five wrong tries the link locks, and the link stops
working at its expiry or when the owning force revokes it. Each view and download through a
link is audited and appended to the custody log under the recipient's name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.audit import changes_between, created, record_audit
from peel.core.db import utcnow
from peel.core.errors import InvalidInput
from peel.core.principal import Principal
from peel.core.security import hash_password, token_digest, verify_password
from peel.evidence import custody, service
from peel.evidence.models import EvidenceItem, ShareLink

MAX_CODE_TRIES = 5
COOKIE_PREFIX = "peel_link_"


class LinkUnavailable(LookupError):
    """The link is unknown, expired, revoked or locked; the message says which."""


def create_link(
    session: Session,
    actor: Principal,
    case_id: str,
    *,
    recipient_name: str,
    recipient_email: str,
    purpose: str = "",
    item_ids: Sequence[str] = (),
    expires_at: datetime | None = None,
    days: int = 14,
    watermark: bool = True,
) -> tuple[ShareLink, str, str]:
    """Create a link; returns (link, token, code). Token and code are shown only once."""
    case, labelled = service.access_case(session, actor, case_id, "relabel")
    errors = {}
    if not recipient_name.strip():
        errors["recipient_name"] = "Name the person the link is for"
    if "@" not in recipient_email or len(recipient_email) > 254:
        errors["recipient_email"] = "Give the recipient's email address, like name@example.com"
    expires_at = expires_at or utcnow() + timedelta(days=days)
    if expires_at <= utcnow():
        errors["expires_at"] = "The expiry must be in the future"
    if expires_at > utcnow() + timedelta(days=365):
        errors["expires_at"] = "A link lasts at most a year"
    if errors:
        raise InvalidInput(errors)
    case_items = {
        i.id: i for i in service.items_of_case(session, actor, case) if i.status == "present"
    }
    chosen = list(item_ids) or list(case_items)
    missing = [i for i in chosen if i not in case_items]
    if missing:
        raise InvalidInput({"items": f"Item {missing[0]} is not a present item of this case"})
    if not chosen:
        raise InvalidInput({"items": "The case has no items to share"})
    token = secrets.token_urlsafe(32)
    code = f"{secrets.randbelow(10**8):08d}"
    link = ShareLink(
        owner_org_id=case.owner_org_id,
        case_id=case.id,
        item_ids=chosen,
        recipient_name=recipient_name.strip()[:200],
        recipient_email=recipient_email.strip()[:254],
        purpose=purpose.strip()[:300],
        token_hash=token_digest(token),
        code_hash=hash_password(code),
        watermark=watermark,
        expires_at=expires_at,
        created_by=actor.audit_name,
    )
    session.add(link)
    session.flush()
    record_audit(
        session,
        actor,
        "evidence_link.create",
        "evidence_share_link",
        link.id,
        created(
            {
                "case": case.reference,
                "recipient": f"{link.recipient_name} <{link.recipient_email}>",
                "items": len(chosen),
                "expires_at": expires_at,
                "watermark": watermark,
            }
        ),
        record_org_id=case.owner_org_id,
    )
    custody.append_events(
        session,
        [
            custody.NewEvent(
                "shared",
                actor.audit_name,
                case.id,
                item_id,
                case.owner_org_id,
                {
                    "link": link.id,
                    "with": f"{link.recipient_name} <{link.recipient_email}>",
                    "expires_at": expires_at.isoformat(),
                    "tlp": str(labelled.tlp.value),
                },
            )
            for item_id in chosen
        ],
    )
    return link, token, code


def links_of_case(session: Session, case_id: str) -> list[ShareLink]:
    return list(
        session.scalars(
            select(ShareLink).where(ShareLink.case_id == case_id).order_by(ShareLink.created_at)
        )
    )


def revoke_link(session: Session, actor: Principal, link_id: str) -> ShareLink:
    link = session.get(ShareLink, link_id) if isinstance(link_id, str) else None
    if link is None:
        raise service.NotFound("evidence_share_link", str(link_id))
    service.access_case(session, actor, link.case_id, "relabel")
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        link.revoked_by = actor.audit_name
        record_audit(
            session,
            actor,
            "evidence_link.revoke",
            "evidence_share_link",
            link.id,
            changes_between({"revoked": False}, {"revoked": True}),
            record_org_id=link.owner_org_id,
        )
        custody.append_events(
            session,
            [
                custody.NewEvent(
                    "unshared",
                    actor.audit_name,
                    link.case_id,
                    item_id,
                    link.owner_org_id,
                    {"link": link.id, "with": link.recipient_email},
                )
                for item_id in link.item_ids
            ],
        )
    return link


def find_link(session: Session, token: str) -> ShareLink:
    """The usable link for this token, or :class:`LinkUnavailable` saying why not."""
    link = session.scalar(select(ShareLink).where(ShareLink.token_hash == token_digest(token)))
    if link is None:
        raise LinkUnavailable("This link is not valid. Check you copied all of it.")
    if link.revoked_at is not None:
        raise LinkUnavailable(
            "This link was withdrawn by the force that shared it. Ask them for a new one."
        )
    if link.expires_at <= utcnow():
        raise LinkUnavailable(
            f"This link expired on {link.expires_at:%d %B %Y at %H:%M} UTC. "
            "Ask the force that shared it for a new one."
        )
    if link.failed_codes >= MAX_CODE_TRIES:
        raise LinkUnavailable(
            "This link is locked after too many wrong codes. Ask the force for a new one."
        )
    return link


def link_principal(link: ShareLink) -> Principal:
    """How the recipient appears in the audit log."""
    return Principal(
        display_name=f"share link {link.id[:8]}: {link.recipient_name} <{link.recipient_email}>"
    )


def check_code(session: Session, link: ShareLink, code: str) -> bool:
    """Accept the one-time code once; wrong codes count towards locking the link."""
    digits = "".join(ch for ch in code if ch.isdigit())
    session.refresh(link, with_for_update=True)  # parallel guesses queue, none is lost
    if link.failed_codes >= MAX_CODE_TRIES:
        raise LinkUnavailable(
            "This link is locked after too many wrong codes. Ask the force for a new one."
        )
    if link.code_used_at is not None:
        raise LinkUnavailable(
            "The code for this link has already been used. Ask the force for a new link."
        )
    if len(digits) != 8 or not verify_password(link.code_hash, digits):
        link.failed_codes += 1
        record_audit(
            session,
            link_principal(link),
            "evidence_link.bad_code",
            "evidence_share_link",
            link.id,
            detail=f"wrong code ({link.failed_codes} of {MAX_CODE_TRIES})",
            record_org_id=link.owner_org_id,
        )
        return False
    link.code_used_at = utcnow()
    record_audit(
        session,
        link_principal(link),
        "evidence_link.open",
        "evidence_share_link",
        link.id,
        record_org_id=link.owner_org_id,
    )
    return True


def cookie_value(secret_key: str, link: ShareLink) -> str:
    """Proof in the recipient's browser that they entered the code for this link."""
    message = f"{link.id}:{link.token_hash}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def cookie_valid(secret_key: str, link: ShareLink, value: str | None) -> bool:
    return bool(value) and hmac.compare_digest(cookie_value(secret_key, link), value or "")


def items_of_link(session: Session, link: ShareLink) -> list[EvidenceItem]:
    items = session.scalars(
        select(EvidenceItem).where(EvidenceItem.id.in_(link.item_ids)).order_by(EvidenceItem.name)
    )
    return [i for i in items if i.case_id == link.case_id]


def item_of_link(session: Session, link: ShareLink, item_id: str) -> EvidenceItem:
    if item_id not in link.item_ids:
        raise service.NotFound(service.ITEM, item_id)
    item = session.get(EvidenceItem, item_id)
    if item is None or item.case_id != link.case_id or item.status != "present":
        raise service.NotFound(service.ITEM, item_id)
    return item


def record_link_access(session: Session, link: ShareLink, item: EvidenceItem, kind: str) -> None:
    who = link_principal(link)
    service.record_access(
        session,
        who.display_name,
        item,
        kind,
        f"through share link to {link.recipient_email}",
        audit_actor=who,
        link=link.id,
    )
