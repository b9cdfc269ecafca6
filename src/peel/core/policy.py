"""The one access policy: who may see and change a protected record (TLP 2.0 + organisation).

Rules (derived from FIRST's TLP 2.0 definitions; see docs/security.md):

* CLEAR        anyone, signed in or not.
* GREEN        anyone signed in to an organisation on the platform (the community).
* AMBER        the owning organisation, organisations it was shared with, and the
               clients of either (an organisation registered as ``client_of`` them).
* AMBER+STRICT the owning organisation and organisations it was shared with; no clients.
* RED          the named recipients only (people, never API clients or whole organisations).

Shares past their expiry count for nothing. Roles decide what a person may do with a record
they can see; they never widen what a label allows. Missing and forbidden look the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import Session

from peel.core.db import utcnow
from peel.core.enums import TLP, Role
from peel.core.models import RecordRecipient, RecordShare
from peel.core.principal import Principal


class NotFound(LookupError):
    """The record does not exist or the caller may not know that it does."""

    def __init__(self, record_type: str, record_id: str) -> None:
        super().__init__(f"No {record_type.replace('_', ' ')} with id {record_id!r}")
        self.record_type = record_type
        self.record_id = record_id


class Forbidden(PermissionError):
    """The caller can see the record (or the list) but may not do this to it."""


@dataclass(frozen=True)
class Labelled:
    """What the policy needs to know about one protected record."""

    owner_org_id: str
    tlp: TLP
    shared_org_ids: frozenset[str] = frozenset()
    recipient_user_ids: frozenset[str] = frozenset()


EDITOR_ROLES = (Role.admin, Role.officer, Role.supervisor, Role.analyst)
LABELLER_ROLES = (Role.admin, Role.supervisor)


def can_view(principal: Principal, record: Labelled) -> bool:
    tlp = TLP(record.tlp)
    if tlp == TLP.clear:
        return True
    if not principal.is_authenticated:
        return False
    if tlp == TLP.green:
        return True
    if tlp == TLP.red:
        return principal.user_id is not None and principal.user_id in record.recipient_user_ids
    audience = {record.owner_org_id, *record.shared_org_ids}
    if principal.organisation_id in audience:
        return True
    return (
        tlp == TLP.amber
        and principal.client_of_id is not None
        and (principal.client_of_id in audience)
    )


def can_edit(principal: Principal, record: Labelled) -> bool:
    """Only the owning organisation's editors change a record they can see."""
    return (
        can_view(principal, record)
        and principal.organisation_id == record.owner_org_id
        and principal.has_any(*EDITOR_ROLES)
    )


def can_relabel(principal: Principal, record: Labelled) -> bool:
    """Changing a label, shares or recipients needs a supervisor or admin of the owner."""
    return can_edit(principal, record) and principal.has_any(*LABELLER_ROLES)


def visible_clause(principal: Principal, model: Any, record_type: str) -> ColumnElement[bool]:
    """The SQL twin of :func:`can_view`, for listing many records in one query."""
    tlp = model.tlp
    if not principal.is_authenticated:
        return tlp == TLP.clear.value
    now = utcnow()
    active_share = and_(
        RecordShare.record_type == record_type,
        RecordShare.record_id == model.id,
        or_(RecordShare.expires_at.is_(None), RecordShare.expires_at > now),
    )
    org = principal.organisation_id
    in_audience = or_(
        model.owner_org_id == org,
        exists().where(active_share, RecordShare.organisation_id == org),
    )
    client_of = principal.client_of_id
    via_client = (
        or_(
            model.owner_org_id == client_of,
            exists().where(active_share, RecordShare.organisation_id == client_of),
        )
        if client_of
        else false()
    )
    named = (
        exists().where(
            RecordRecipient.record_type == record_type,
            RecordRecipient.record_id == model.id,
            RecordRecipient.user_id == principal.user_id,
        )
        if principal.user_id
        else false()
    )
    return or_(
        tlp.in_([TLP.clear.value, TLP.green.value]),
        and_(tlp == TLP.amber.value, or_(in_audience, via_client)),
        and_(tlp == TLP.amber_strict.value, in_audience),
        and_(tlp == TLP.red.value, named),
    )


def labelled_of(session: Session, record: Any) -> Labelled:
    """Load the shares and named recipients that go with one record."""
    record_type = record.record_type
    now = utcnow()
    shares = session.scalars(
        select(RecordShare.organisation_id).where(
            RecordShare.record_type == record_type,
            RecordShare.record_id == record.id,
            or_(RecordShare.expires_at.is_(None), RecordShare.expires_at > now),
        )
    ).all()
    recipients = session.scalars(
        select(RecordRecipient.user_id).where(
            RecordRecipient.record_type == record_type, RecordRecipient.record_id == record.id
        )
    ).all()
    return Labelled(
        owner_org_id=record.owner_org_id,
        tlp=TLP(record.tlp),
        shared_org_ids=frozenset(shares),
        recipient_user_ids=frozenset(recipients),
    )


R = TypeVar("R")


def access_record(
    session: Session, principal: Principal, model: type[R], record_id: str, action: str = "view"
) -> tuple[R, Labelled]:
    """The one door to a protected record; ``action`` is view, edit or relabel.

    Reads of AMBER and above are written to the audit log in the caller's transaction.
    """
    from peel.core.audit import record_audit

    record_type: str = model.record_type  # type: ignore[attr-defined]
    record = session.get(model, record_id) if isinstance(record_id, str) else None
    if record is None:
        raise NotFound(record_type, str(record_id))
    labelled = labelled_of(session, record)
    if not can_view(principal, labelled):
        raise NotFound(record_type, record_id)
    checks = {"view": can_view, "edit": can_edit, "relabel": can_relabel}
    if not checks[action](principal, labelled):
        raise Forbidden(f"You may view this {record_type} but not {action} it")
    if action == "view" and labelled.tlp.is_sensitive:
        record_audit(
            session,
            principal,
            f"{record_type}.read",
            record_type,
            record_id,
            detail=f"TLP:{labelled.tlp.value}",
            record_org_id=labelled.owner_org_id,
        )
    return record, labelled
