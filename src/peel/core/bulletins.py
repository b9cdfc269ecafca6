"""Bulletins: labelled notices shared between agencies, read only through the access policy."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from peel.core.audit import changes_between, created, record_audit
from peel.core.db import utcnow
from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.models import Bulletin, Organisation, RecordRecipient, RecordShare, User
from peel.core.policy import (
    EDITOR_ROLES,
    Forbidden,
    Labelled,
    access_record,
    visible_clause,
)
from peel.core.principal import Principal
from peel.core.schemas import BulletinCreate, BulletinUpdate, ShareCreate
from peel.core.service import organisation_by_code, user_by_email

RECORD_TYPE = Bulletin.record_type


def _audited(values: dict[str, object], tlp: TLP) -> dict[str, object]:
    """RED text is for named people only, so its audit trail keeps a digest, not the words."""
    if TLP(tlp) != TLP.red:
        return values
    return {
        key: (
            "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()
            if key in ("title", "body") and value is not None
            else value
        )
        for key, value in values.items()
    }


def _recipient_users(session: Session, emails: list[str]) -> list[User]:
    users = []
    for index, email in enumerate(emails):
        user = user_by_email(session, str(email))
        if user is None:
            raise InvalidInput({f"recipients[{index}]": f"No user has the email {email}"})
        users.append(user)
    return users


def create_bulletin(session: Session, actor: Principal, data: BulletinCreate) -> Bulletin:
    if not actor.is_authenticated or not actor.has_any(*EDITOR_ROLES):
        raise Forbidden("Only officers, analysts, supervisors and admins write bulletins")
    recipients = _recipient_users(session, [str(e) for e in data.recipients])
    if data.tlp == TLP.red and actor.user_id:
        own = session.get(User, actor.user_id)
        if own is not None and own not in recipients:
            recipients.append(own)
    if data.tlp == TLP.red and not recipients:
        raise InvalidInput({"recipients": "A TLP:RED bulletin needs at least one named recipient"})
    bulletin = Bulletin(
        owner_org_id=actor.organisation_id,
        tlp=data.tlp,
        title=data.title.strip(),
        body=data.body,
        created_by_id=actor.user_id,
    )
    session.add(bulletin)
    session.flush()
    for user in recipients:
        session.add(
            RecordRecipient(record_type=RECORD_TYPE, record_id=bulletin.id, user_id=user.id)
        )
    record_audit(
        session,
        actor,
        "bulletin.create",
        RECORD_TYPE,
        bulletin.id,
        created(
            _audited(
                {
                    "title": bulletin.title,
                    "tlp": bulletin.tlp,
                    "body": bulletin.body,
                    "recipients": [u.email for u in recipients],
                },
                bulletin.tlp,
            )
        ),
        record_org_id=bulletin.owner_org_id,
    )
    session.flush()
    return bulletin


def list_bulletins(
    session: Session, actor: Principal, limit: int = 50, offset: int = 0
) -> tuple[list[Bulletin], int]:
    where = visible_clause(actor, Bulletin, RECORD_TYPE)
    total = session.scalar(select(func.count()).select_from(Bulletin).where(where)) or 0
    rows = session.scalars(
        select(Bulletin)
        .where(where)
        .order_by(Bulletin.created_at.desc(), Bulletin.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def get_bulletin(session: Session, actor: Principal, bulletin_id: str) -> tuple[Bulletin, Labelled]:
    return access_record(session, actor, Bulletin, bulletin_id)


def update_bulletin(
    session: Session, actor: Principal, bulletin_id: str, data: BulletinUpdate
) -> Bulletin:
    action = "relabel" if data.tlp is not None else "edit"
    bulletin, labelled = access_record(session, actor, Bulletin, bulletin_id, action)
    if data.tlp == TLP.red and not labelled.recipient_user_ids:
        raise InvalidInput({"tlp": "Add named recipients before labelling a bulletin TLP:RED"})
    audit_tlp = TLP.red if TLP.red in (labelled.tlp, data.tlp) else labelled.tlp
    before = _audited(
        {"title": bulletin.title, "body": bulletin.body, "tlp": bulletin.tlp}, audit_tlp
    )
    for field in ("title", "body", "tlp"):
        value = getattr(data, field)
        if value is not None:
            setattr(bulletin, field, value)
    session.flush()
    after = _audited(
        {"title": bulletin.title, "body": bulletin.body, "tlp": bulletin.tlp}, audit_tlp
    )
    record_audit(
        session,
        actor,
        "bulletin.update",
        RECORD_TYPE,
        bulletin.id,
        changes_between(before, after),
        record_org_id=bulletin.owner_org_id,
    )
    return bulletin


def share_bulletin(
    session: Session, actor: Principal, bulletin_id: str, data: ShareCreate
) -> RecordShare:
    bulletin, _ = access_record(session, actor, Bulletin, bulletin_id, "relabel")
    org: Organisation = organisation_by_code(session, data.organisation)
    if org.id == bulletin.owner_org_id:
        raise InvalidInput({"organisation": "A bulletin is always visible to its owner"})
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise InvalidInput({"expires_at": "The expiry must be in the future"})
    share = session.scalar(
        select(RecordShare).where(
            RecordShare.record_type == RECORD_TYPE,
            RecordShare.record_id == bulletin.id,
            RecordShare.organisation_id == org.id,
        )
    )
    existed = share is not None
    old_expiry: datetime | None = share.expires_at if share else None
    if share is None:
        share = RecordShare(
            record_type=RECORD_TYPE,
            record_id=bulletin.id,
            organisation_id=org.id,
            created_by_id=actor.user_id,
        )
        session.add(share)
    share.expires_at = data.expires_at
    session.flush()
    record_audit(
        session,
        actor,
        "bulletin.share",
        RECORD_TYPE,
        bulletin.id,
        changes_between(
            {f"share:{org.code}": (old_expiry or "no expiry") if existed else None},
            {f"share:{org.code}": data.expires_at or "no expiry"},
        ),
        record_org_id=bulletin.owner_org_id,
    )
    return share


def unshare_bulletin(session: Session, actor: Principal, bulletin_id: str, org_code: str) -> None:
    bulletin, _ = access_record(session, actor, Bulletin, bulletin_id, "relabel")
    org = organisation_by_code(session, org_code)
    result = session.execute(
        delete(RecordShare).where(
            RecordShare.record_type == RECORD_TYPE,
            RecordShare.record_id == bulletin.id,
            RecordShare.organisation_id == org.id,
        )
    )
    if result.rowcount:  # type: ignore[attr-defined]
        record_audit(
            session,
            actor,
            "bulletin.unshare",
            RECORD_TYPE,
            bulletin.id,
            changes_between({f"share:{org.code}": "shared"}, {f"share:{org.code}": None}),
            record_org_id=bulletin.owner_org_id,
        )


def shares_of(session: Session, bulletin_id: str) -> list[tuple[RecordShare, Organisation]]:
    rows = session.execute(
        select(RecordShare, Organisation)
        .join(Organisation, Organisation.id == RecordShare.organisation_id)
        .where(RecordShare.record_type == RECORD_TYPE, RecordShare.record_id == bulletin_id)
        .order_by(Organisation.name)
    ).all()
    return [(share, org) for share, org in rows]
