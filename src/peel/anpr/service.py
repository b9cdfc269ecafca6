"""Who may use ANPR data, and the rule every search passes through before it runs.

Reads are national data in the style of the National ANPR Service: any police force's
officers, analysts and supervisors may search them, never partner agencies. Every search is
written to the audit log with who, why, what (plate, camera or area) and the time range, in
the caller's transaction. Searches reaching back further than ``anpr_open_search_days``
(90 by default) need a supervisor and a written justification of at least
:data:`MIN_JUSTIFICATION` characters; nothing older than the retention period exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from peel.core.audit import record_audit
from peel.core.config import Settings
from peel.core.enums import Role
from peel.core.errors import InvalidInput
from peel.core.policy import Forbidden
from peel.core.principal import Principal

#: Roles that may search reads and manage hotlists (within a police force).
SEARCH_ROLES = (Role.officer, Role.analyst, Role.supervisor)
#: Shortest reason accepted for any search, and for one beyond the open period.
MIN_REASON = 3
MIN_JUSTIFICATION = 20
#: Kinds of search, as written in the audit log (``anpr.search.<kind>``).
SEARCH_KINDS = (
    "history",
    "convoy",
    "clones",
    "visitors",
    "stakeout",
    "county_lines",
    "alerts",
)


def is_police(principal: Principal) -> bool:
    return principal.is_authenticated and principal.organisation_type == "police_force"


def can_use_anpr(principal: Principal) -> bool:
    """A police force's officer, analyst or supervisor (admins manage, they do not search)."""
    return is_police(principal) and principal.has_any(*SEARCH_ROLES)


def require_anpr(principal: Principal) -> None:
    if not can_use_anpr(principal):
        raise Forbidden("ANPR is for police officers, analysts and supervisors only")


@dataclass(frozen=True)
class SearchRequest:
    """One search as it will be audited: ``subject`` is a plate, camera ids or an area."""

    kind: str
    subject: str
    start: datetime
    end: datetime
    reason: str


def _utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput({field: "must include a time zone (UTC)"})
    return value.astimezone(UTC)


def open_period_start(settings: Settings, now: datetime | None = None) -> datetime:
    """The earliest time any permitted user may search without a supervisor's authority."""
    return (now or datetime.now(UTC)) - timedelta(days=settings.anpr_open_search_days)


def authorise_search(
    session: Session,
    principal: Principal,
    settings: Settings,
    request: SearchRequest,
    now: datetime | None = None,
) -> SearchRequest:
    """Check the searcher, the reason and the time range; audit the search; return it clamped.

    The returned request starts no earlier than the retention period allows. Raises
    :class:`Forbidden` (wrong person, or an old range without supervisor authority) or
    :class:`InvalidInput` naming the field that is wrong.
    """
    require_anpr(principal)
    if request.kind not in SEARCH_KINDS:
        raise InvalidInput({"kind": f"must be one of {', '.join(SEARCH_KINDS)}"})
    now = now or datetime.now(UTC)
    start = _utc(request.start, "start")
    end = _utc(request.end, "end")
    if end <= start:
        raise InvalidInput({"end": "must be after start"})
    reason = " ".join(request.reason.split())
    if len(reason) < MIN_REASON:
        raise InvalidInput(
            {"reason": "say why you are searching (an incident or case reference will do)"}
        )
    if len(reason) > 1000:
        raise InvalidInput({"reason": "must be at most 1000 characters"})
    if start < open_period_start(settings, now):
        if Role.supervisor not in principal.roles:
            raise Forbidden(
                f"Searching further back than {settings.anpr_open_search_days} days needs a "
                "supervisor's authority"
            )
        if len(reason) < MIN_JUSTIFICATION:
            raise InvalidInput(
                {
                    "reason": f"a search beyond {settings.anpr_open_search_days} days needs a "
                    f"justification of at least {MIN_JUSTIFICATION} characters"
                }
            )
    kept_from = now - timedelta(days=settings.anpr_retention_days)
    if end <= kept_from:
        raise InvalidInput(
            {
                "end": f"reads are kept for {settings.anpr_retention_days} days: nothing before "
                f"{kept_from:%d %b %Y %H:%M} UTC can be searched"
            }
        )
    start = max(start, kept_from)
    detail = json.dumps(
        {
            "subject": request.subject,
            "reason": reason,
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        ensure_ascii=False,
    )
    record_audit(
        session,
        principal,
        f"anpr.search.{request.kind}",
        "anpr_search",
        None,
        detail=detail,
        record_org_id=principal.organisation_id,
    )
    return SearchRequest(request.kind, request.subject, start, end, reason)
