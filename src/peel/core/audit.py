"""The append-only audit log: written in the caller's transaction, searchable by auditors."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Select, event, func, or_, select
from sqlalchemy.orm import Session

from peel.core.models import AuditEvent
from peel.core.principal import Principal

request_id_var: ContextVar[str | None] = ContextVar("peel_request_id", default=None)
client_ip_var: ContextVar[str | None] = ContextVar("peel_client_ip", default=None)


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return (
            sorted(_plain(v) for v in value)
            if isinstance(value, set | frozenset)
            else [_plain(v) for v in value]
        )
    return value


def changes_between(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs."""
    out: dict[str, list[Any]] = {}
    for key in sorted(set(old) | set(new)):
        before, after = _plain(old.get(key)), _plain(new.get(key))
        if before != after:
            out[key] = [before, after]
    return out


def created(values: dict[str, Any]) -> dict[str, list[Any]]:
    return changes_between({}, {k: v for k, v in values.items() if v is not None})


def record_audit(
    session: Session,
    actor: Principal,
    action: str,
    record_type: str | None = None,
    record_id: str | None = None,
    changes: dict[str, list[Any]] | None = None,
    detail: str | None = None,
    record_org_id: str | None = None,
) -> AuditEvent:
    """Add one audit event to the caller's transaction (it commits or rolls back with it)."""
    event_row = AuditEvent(
        actor_user_id=actor.user_id,
        actor_client_id=actor.client_id,
        actor=actor.audit_name,
        organisation_id=actor.organisation_id,
        action=action,
        record_type=record_type,
        record_id=record_id,
        record_org_id=record_org_id,
        changes=changes or None,
        detail=detail,
        request_id=request_id_var.get(),
        ip=client_ip_var.get(),
    )
    session.add(event_row)
    return event_row


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditLogIsAppendOnly("audit events cannot be changed or deleted")


@dataclass
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    record_type: str | None = None
    record_id: str | None = None
    organisation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0


def _filtered(query: AuditQuery) -> Select[Any]:
    stmt = select(AuditEvent)
    if query.actor:
        stmt = stmt.where(AuditEvent.actor.ilike(f"%{_escape_like(query.actor)}%", escape="\\"))
    if query.action:
        stmt = stmt.where(AuditEvent.action.like(f"{_escape_like(query.action)}%", escape="\\"))
    if query.record_type:
        stmt = stmt.where(AuditEvent.record_type == query.record_type)
    if query.record_id:
        stmt = stmt.where(AuditEvent.record_id == query.record_id)
    if query.organisation_id:
        org = query.organisation_id
        stmt = stmt.where(or_(AuditEvent.organisation_id == org, AuditEvent.record_org_id == org))
    if query.since:
        stmt = stmt.where(AuditEvent.at >= query.since)
    if query.until:
        stmt = stmt.where(AuditEvent.at < query.until)
    if query.text:
        pattern = f"%{_escape_like(query.text)}%"
        stmt = stmt.where(
            or_(
                AuditEvent.detail.ilike(pattern, escape="\\"),
                AuditEvent.record_id.ilike(pattern, escape="\\"),
            )
        )
    return stmt


def search_audit(session: Session, query: AuditQuery) -> tuple[list[AuditEvent], int]:
    """Newest first, with the total number of matches for paging."""
    stmt = _filtered(query)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(AuditEvent.id.desc()).limit(query.limit).offset(query.offset)
    ).all()
    return [r for r in rows], total


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
