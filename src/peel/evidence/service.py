"""Cases and evidence items: the rules, the access policy and the custody log in one place.

Every function takes the caller's session and adds its audit and custody events to the same
transaction, so an action and its record commit together or not at all. Items go through
:func:`access_item`, which applies the one access policy with the item's own shares and
those of its case.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from peel.core.audit import changes_between, created, record_audit
from peel.core.db import utcnow
from peel.core.enums import TLP, OrganisationType, Role
from peel.core.errors import InvalidInput
from peel.core.models import Organisation, RecordRecipient, RecordShare
from peel.core.policy import (
    EDITOR_ROLES,
    Forbidden,
    Labelled,
    NotFound,
    access_record,
    can_edit,
    can_relabel,
    can_view,
    labelled_of,
    visible_clause,
)
from peel.core.principal import Principal
from peel.core.service import organisation_by_code
from peel.evidence import custody
from peel.evidence.models import EvidenceCase, EvidenceHold, EvidenceItem, RetentionCategory

CASE = EvidenceCase.record_type
ITEM = EvidenceItem.record_type
HOLD_KINDS = {"legal": "Legal hold", "complaint": "Complaint", "investigation": "Investigation"}
ITEM_SOURCES = ("upload", "report", "bwv", "redaction", "api")
_REF_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ23456789"


# --- access ---------------------------------------------------------------------------------


def _shares(session: Session, record_type: str, record_id: str) -> set[str]:
    now = utcnow()
    return set(
        session.scalars(
            select(RecordShare.organisation_id).where(
                RecordShare.record_type == record_type,
                RecordShare.record_id == record_id,
                or_(RecordShare.expires_at.is_(None), RecordShare.expires_at > now),
            )
        )
    )


def _recipients(session: Session, record_type: str, record_id: str) -> set[str]:
    return set(
        session.scalars(
            select(RecordRecipient.user_id).where(
                RecordRecipient.record_type == record_type, RecordRecipient.record_id == record_id
            )
        )
    )


def item_labelled(session: Session, item: EvidenceItem) -> Labelled:
    """An item is seen by those its own label and shares allow, plus its case's shares."""
    shares = _shares(session, ITEM, item.id)
    recipients = _recipients(session, ITEM, item.id)
    if item.case_id:
        shares |= _shares(session, CASE, item.case_id)
        recipients |= _recipients(session, CASE, item.case_id)
    return Labelled(
        owner_org_id=item.owner_org_id,
        tlp=TLP(item.tlp),
        shared_org_ids=frozenset(shares),
        recipient_user_ids=frozenset(recipients),
    )


def access_case(
    session: Session, actor: Principal, case_id: str, action: str = "view"
) -> tuple[EvidenceCase, Labelled]:
    return access_record(session, actor, EvidenceCase, case_id, action)


def case_by_reference(session: Session, actor: Principal, reference: str) -> EvidenceCase:
    case_id = session.scalar(
        select(EvidenceCase.id).where(EvidenceCase.reference == reference.strip().upper())
    )
    if case_id is None:
        raise NotFound(CASE, reference)
    return access_case(session, actor, case_id)[0]


def access_item(
    session: Session, actor: Principal, item_id: str, action: str = "view"
) -> tuple[EvidenceItem, Labelled]:
    """The one door to an item: missing and forbidden look the same; AMBER+ reads audited."""
    item = session.get(EvidenceItem, item_id) if isinstance(item_id, str) else None
    if item is None:
        raise NotFound(ITEM, str(item_id))
    labelled = item_labelled(session, item)
    if not can_view(actor, labelled):
        raise NotFound(ITEM, item_id)
    checks = {"view": can_view, "edit": can_edit, "relabel": can_relabel}
    if not checks[action](actor, labelled):
        raise Forbidden(f"You may view this evidence item but not {action} it")
    if action == "view" and labelled.tlp.is_sensitive:
        record_audit(
            session,
            actor,
            "evidence_item.read",
            ITEM,
            item.id,
            detail=f"TLP:{labelled.tlp.value}",
            record_org_id=item.owner_org_id,
        )
    return item, labelled


def visible_cases(
    session: Session,
    actor: Principal,
    *,
    status: str | None = None,
    query: str | None = None,
    limit: int = 200,
) -> list[EvidenceCase]:
    stmt = select(EvidenceCase).where(visible_clause(actor, EvidenceCase, CASE))
    if status:
        stmt = stmt.where(EvidenceCase.status == status)
    if query:
        pattern = f"%{query.strip().lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(EvidenceCase.reference).like(pattern),
                func.lower(EvidenceCase.title).like(pattern),
            )
        )
    return list(session.scalars(stmt.order_by(EvidenceCase.created_at.desc()).limit(limit)))


def _item_visible_clause(actor: Principal) -> ColumnElement[bool]:
    """The SQL twin of ``can_view(item_labelled(...))``: own label and shares, or the case's."""
    own = visible_clause(actor, EvidenceItem, ITEM)
    if not actor.is_authenticated:
        return own
    now = utcnow()

    def case_shared_with(org_id: str) -> ColumnElement[bool]:
        return EvidenceItem.case_id.in_(
            select(RecordShare.record_id).where(
                RecordShare.record_type == CASE,
                RecordShare.organisation_id == org_id,
                or_(RecordShare.expires_at.is_(None), RecordShare.expires_at > now),
            )
        )

    assert actor.organisation_id
    via_case = [
        and_(
            EvidenceItem.tlp.in_([TLP.amber.value, TLP.amber_strict.value]),
            case_shared_with(actor.organisation_id),
        )
    ]
    if actor.client_of_id:
        via_case.append(
            and_(EvidenceItem.tlp == TLP.amber.value, case_shared_with(actor.client_of_id))
        )
    if actor.user_id:
        via_case.append(
            and_(
                EvidenceItem.tlp == TLP.red.value,
                EvidenceItem.case_id.in_(
                    select(RecordRecipient.record_id).where(
                        RecordRecipient.record_type == CASE,
                        RecordRecipient.user_id == actor.user_id,
                    )
                ),
            )
        )
    return or_(own, *via_case)


def items_of_case(session: Session, actor: Principal, case: EvidenceCase) -> list[EvidenceItem]:
    items = session.scalars(
        select(EvidenceItem)
        .where(EvidenceItem.case_id == case.id, _item_visible_clause(actor))
        .order_by(EvidenceItem.added_at, EvidenceItem.id)
    ).all()
    return list(items)


def items_shared_with(session: Session, actor: Principal) -> list[EvidenceItem]:
    """Items another organisation shared with the caller's (directly or with their case)."""
    if not actor.organisation_id:
        return []
    stmt = (
        select(EvidenceItem)
        .where(EvidenceItem.owner_org_id != actor.organisation_id, _item_visible_clause(actor))
        .where(EvidenceItem.tlp != TLP.green.value, EvidenceItem.tlp != TLP.clear.value)
        .order_by(EvidenceItem.added_at.desc())
        .limit(500)
    )
    return list(session.scalars(stmt))


def unfiled_items(session: Session, actor: Principal) -> list[EvidenceItem]:
    """Items of the caller's organisation not yet in a case (docked body-worn video)."""
    return list(
        session.scalars(
            select(EvidenceItem)
            .where(
                EvidenceItem.case_id.is_(None),
                EvidenceItem.owner_org_id == actor.organisation_id,
                EvidenceItem.status != "deleted",
                visible_clause(actor, EvidenceItem, ITEM),
            )
            .order_by(EvidenceItem.captured_at.desc(), EvidenceItem.added_at.desc())
            .limit(500)
        )
    )


def _require_editor(actor: Principal) -> None:
    if not actor.organisation_id or not actor.has_any(*EDITOR_ROLES):
        raise Forbidden("Only officers, supervisors, analysts and admins manage evidence")


# --- retention categories ------------------------------------------------------------------


@dataclass(frozen=True)
class DefaultCategory:
    code: str
    name: str
    rule: str
    days: int | None
    review_days: int | None
    description: str


#: Starting rules for a force; each force can change them (``peel evidence categories``).
DEFAULT_CATEGORIES = (
    DefaultCategory(
        "bwv-non-evidential",
        "Body-worn video, not evidential",
        "fixed",
        31,
        None,
        "Deleted 31 days after capture unless it is added to a case or held (common force "
        "practice; some forces use 28 or 30 days).",
    ),
    DefaultCategory(
        "public-submission",
        "Sent by the public, not yet evidential",
        "fixed",
        90,
        None,
        "Photos and videos from online reports not taken into a case.",
    ),
    DefaultCategory(
        "evidential",
        "Evidential (case material)",
        "case",
        6 * 365,
        6 * 365,
        "Kept while the case is open, then six years (the usual MoPI minimum before review).",
    ),
    DefaultCategory(
        "public-protection",
        "Public protection (MoPI group 1)",
        "review",
        None,
        10 * 365,
        "Never deleted automatically; reviewed every ten years.",
    ),
)


def ensure_categories(session: Session, organisation_id: str) -> list[RetentionCategory]:
    existing = list(
        session.scalars(
            select(RetentionCategory).where(RetentionCategory.organisation_id == organisation_id)
        )
    )
    if existing:
        return existing
    rows = [
        RetentionCategory(
            organisation_id=organisation_id,
            code=d.code,
            name=d.name,
            rule=d.rule,
            days=d.days,
            review_days=d.review_days,
            description=d.description,
        )
        for d in DEFAULT_CATEGORIES
    ]
    session.add_all(rows)
    session.flush()
    return rows


def categories_of(session: Session, organisation_id: str) -> dict[str, RetentionCategory]:
    """The force's categories; the defaults (unsaved) when it has not stored any yet."""
    stored = list(
        session.scalars(
            select(RetentionCategory).where(RetentionCategory.organisation_id == organisation_id)
        )
    )
    if stored:
        return {c.code: c for c in stored}
    return {
        d.code: RetentionCategory(
            organisation_id=organisation_id,
            code=d.code,
            name=d.name,
            rule=d.rule,
            days=d.days,
            review_days=d.review_days,
            description=d.description,
        )
        for d in DEFAULT_CATEGORIES
    }


def set_category(
    session: Session,
    actor: Principal,
    code: str,
    name: str,
    rule: str,
    days: int | None,
    review_days: int | None = None,
    description: str = "",
) -> RetentionCategory:
    """Add or change one of the caller's force's retention categories (supervisor or admin)."""
    if not actor.organisation_id or not actor.has_any(Role.admin, Role.supervisor):
        raise Forbidden("Only a supervisor or admin changes retention categories")
    errors = {}
    if rule not in ("fixed", "case", "review"):
        errors["rule"] = "Use fixed, case or review"
    if rule in ("fixed", "case") and (days is None or days < 1):
        errors["days"] = "A fixed or case rule needs a number of days of at least 1"
    if not code or len(code) > 40 or not all(c.isalnum() or c == "-" for c in code):
        errors["code"] = "Use up to 40 letters, digits and hyphens"
    if errors:
        raise InvalidInput(errors)
    categories = {c.code: c for c in ensure_categories(session, actor.organisation_id)}
    row = categories.get(code)
    old = (
        {"name": row.name, "rule": row.rule, "days": row.days, "review_days": row.review_days}
        if row
        else {}
    )
    if row is None:
        row = RetentionCategory(organisation_id=actor.organisation_id, code=code)
        session.add(row)
    row.name, row.rule, row.days, row.review_days = name or code, rule, days, review_days
    row.description = description
    session.flush()
    new = {"name": row.name, "rule": rule, "days": days, "review_days": review_days}
    record_audit(
        session,
        actor,
        "evidence.retention_category",
        "evidence_retention_category",
        code,
        changes_between(old, new),
        record_org_id=actor.organisation_id,
    )
    return row


# --- cases ------------------------------------------------------------------------------


def _new_reference(session: Session) -> str:
    year = utcnow().year
    while True:
        suffix = "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))
        reference = f"EV-{year}-{suffix}"
        if session.scalar(select(EvidenceCase.id).where(EvidenceCase.reference == reference)):
            continue
        return reference


def open_case(
    session: Session,
    actor: Principal,
    title: str,
    description: str = "",
    tlp: TLP = TLP.amber,
    officer_in_charge: str | None = None,
    report_id: str | None = None,
) -> EvidenceCase:
    _require_editor(actor)
    title = title.strip()
    if not 3 <= len(title) <= 200:
        raise InvalidInput({"title": "Give the case a title of 3 to 200 characters"})
    if TLP(tlp) in (TLP.clear, TLP.green):
        raise InvalidInput({"tlp": "Evidence is AMBER, AMBER+STRICT or RED, never CLEAR or GREEN"})
    assert actor.organisation_id
    ensure_categories(session, actor.organisation_id)
    case = EvidenceCase(
        reference=_new_reference(session),
        owner_org_id=actor.organisation_id,
        tlp=TLP(tlp),
        title=title,
        description=description.strip()[:20000],
        officer_in_charge=(officer_in_charge or actor.display_name)[:300],
        report_id=report_id,
        created_by_id=actor.user_id,
    )
    session.add(case)
    session.flush()
    if TLP(tlp) == TLP.red and actor.user_id:
        session.add(RecordRecipient(record_type=CASE, record_id=case.id, user_id=actor.user_id))
    record_audit(
        session,
        actor,
        "evidence_case.create",
        CASE,
        case.id,
        created({"reference": case.reference, "title": title, "tlp": case.tlp}),
        record_org_id=case.owner_org_id,
    )
    custody.append_event(
        session,
        "case_opened",
        actor,
        case_id=case.id,
        owner_org_id=case.owner_org_id,
        reference=case.reference,
    )
    return case


def set_case_status(
    session: Session, actor: Principal, case_id: str, status: str, reason: str = ""
) -> EvidenceCase:
    case, _ = access_case(session, actor, case_id, "edit")
    if status not in ("open", "closed"):
        raise InvalidInput({"status": "Use open or closed"})
    if case.status == status:
        return case
    old = case.status
    case.status = status
    case.closed_at = utcnow() if status == "closed" else None
    record_audit(
        session,
        actor,
        "evidence_case.status",
        CASE,
        case.id,
        changes_between({"status": old}, {"status": status}),
        detail=reason or None,
        record_org_id=case.owner_org_id,
    )
    custody.append_event(
        session,
        "case_closed" if status == "closed" else "case_reopened",
        actor,
        case_id=case.id,
        owner_org_id=case.owner_org_id,
        reason=reason,
    )
    return case


# --- items ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewItem:
    sha256: str
    size: int
    content_type: str
    kind: str
    name: str
    source: str
    source_ref: str = ""
    description: str = ""
    categories: tuple[str, ...] = ()
    captured_at: datetime | None = None
    captured_until: datetime | None = None
    device_id: str | None = None
    captured_by: str | None = None
    capture: dict[str, Any] | None = None
    derived_from_id: str | None = None
    derivation: dict[str, Any] | None = None


def add_item(
    session: Session,
    actor: Principal,
    data: NewItem,
    case: EvidenceCase | None = None,
    tlp: TLP | None = None,
) -> EvidenceItem:
    """Record one stored file as an evidence item, with its 'received' custody event."""
    _require_editor(actor)
    assert actor.organisation_id
    if data.source not in ITEM_SOURCES:
        raise InvalidInput({"source": f"Use one of {', '.join(ITEM_SOURCES)}"})
    if case is not None:
        if case.owner_org_id != actor.organisation_id:
            raise Forbidden("Only the owning force adds evidence to a case")
        if case.status != "open":
            raise InvalidInput({"case": f"Case {case.reference} is closed; reopen it first"})
    categories = categories_of(session, actor.organisation_id)
    unknown = [c for c in data.categories if c not in categories]
    if unknown:
        raise InvalidInput(
            {
                "categories": f"Unknown retention category {unknown[0]!r}; use one of "
                + ", ".join(sorted(categories))
            }
        )
    item = EvidenceItem(
        case_id=case.id if case else None,
        owner_org_id=actor.organisation_id,
        tlp=TLP(tlp or (case.tlp if case else TLP.amber)),
        name=(data.name.strip() or "file")[:255],
        description=data.description[:20000],
        sha256=data.sha256,
        size=data.size,
        content_type=data.content_type[:100],
        kind=data.kind,
        source=data.source,
        source_ref=data.source_ref[:200],
        derived_from_id=data.derived_from_id,
        derivation=data.derivation,
        categories=list(dict.fromkeys(data.categories)),
        captured_at=data.captured_at,
        captured_until=data.captured_until,
        device_id=data.device_id,
        captured_by=data.captured_by,
        capture=data.capture or {},
        preview_status="pending" if data.kind in ("image", "video", "audio") else "none",
        added_by_id=actor.user_id,
        added_by=actor.audit_name,
    )
    session.add(item)
    session.flush()
    if item.tlp == TLP.red and actor.user_id:
        session.add(RecordRecipient(record_type=ITEM, record_id=item.id, user_id=actor.user_id))
    record_audit(
        session,
        actor,
        "evidence_item.create",
        ITEM,
        item.id,
        created(
            {
                "name": item.name,
                "sha256": item.sha256,
                "size": item.size,
                "source": item.source,
                "case": case.reference if case else None,
            }
        ),
        record_org_id=item.owner_org_id,
    )
    details: dict[str, Any] = {
        "sha256": item.sha256,
        "size": item.size,
        "name": item.name,
        "content_type": item.content_type,
        "source": item.source,
        "source_ref": item.source_ref,
    }
    if data.device_id:
        details["device_id"] = data.device_id
    if data.captured_by:
        details["captured_by"] = data.captured_by
    if data.derived_from_id:
        details["derived_from"] = data.derived_from_id
        details["derivation"] = data.derivation
    custody.append_event(
        session,
        "received",
        actor,
        case_id=item.case_id,
        item_id=item.id,
        owner_org_id=item.owner_org_id,
        **details,
    )
    return item


def file_item(session: Session, actor: Principal, item_id: str, case_id: str) -> EvidenceItem:
    """Put an unfiled item (docked body-worn video, say) into a case: it becomes evidential."""
    item, _ = access_item(session, actor, item_id, "edit")
    case, _ = access_case(session, actor, case_id, "edit")
    if item.status != "present":
        raise InvalidInput({"item": f"{item.name} was deleted on {item.deleted_at:%d %B %Y}"})
    if item.case_id == case.id:
        return item
    if item.case_id is not None:
        raise InvalidInput({"item": f"{item.name} already belongs to another case"})
    if case.status != "open":
        raise InvalidInput({"case": f"Case {case.reference} is closed; reopen it first"})
    item.case_id = case.id
    if TLP(case.tlp).rank > TLP(item.tlp).rank:
        # A file never stays less restricted than the case it joins.
        record_audit(
            session,
            actor,
            "evidence_item.relabel",
            ITEM,
            item.id,
            changes_between({"tlp": item.tlp}, {"tlp": case.tlp}),
            detail=f"raised to the label of case {case.reference}",
            record_org_id=item.owner_org_id,
        )
        item.tlp = TLP(case.tlp)
        if item.tlp == TLP.red and actor.user_id:
            session.add(RecordRecipient(record_type=ITEM, record_id=item.id, user_id=actor.user_id))
    if "evidential" not in item.categories:
        item.categories = [*item.categories, "evidential"]
    record_audit(
        session,
        actor,
        "evidence_item.file",
        ITEM,
        item.id,
        changes_between({"case": None}, {"case": case.reference}),
        record_org_id=item.owner_org_id,
    )
    custody.append_event(
        session,
        "filed",
        actor,
        case_id=case.id,
        item_id=item.id,
        owner_org_id=item.owner_org_id,
        reference=case.reference,
    )
    return item


def set_item_categories(
    session: Session, actor: Principal, item_id: str, codes: Sequence[str], reason: str
) -> EvidenceItem:
    item, _ = access_item(session, actor, item_id, "edit")
    if not actor.has_any(Role.supervisor, Role.admin):
        raise Forbidden("Only a supervisor or admin changes how long evidence is kept")
    categories = categories_of(session, item.owner_org_id)
    unknown = [c for c in codes if c not in categories]
    if unknown:
        raise InvalidInput({"categories": f"Unknown retention category {unknown[0]!r}"})
    if not reason.strip():
        raise InvalidInput({"reason": "Say why the retention is changing"})
    old = list(item.categories)
    item.categories = list(dict.fromkeys(codes))
    record_audit(
        session,
        actor,
        "evidence_item.retention",
        ITEM,
        item.id,
        changes_between({"categories": old}, {"categories": item.categories}),
        detail=reason,
        record_org_id=item.owner_org_id,
    )
    custody.append_event(
        session,
        "retention_changed",
        actor,
        case_id=item.case_id,
        item_id=item.id,
        owner_org_id=item.owner_org_id,
        old=old,
        new=item.categories,
        reason=reason,
    )
    return item


def record_access(
    session: Session,
    actor: Principal | str,
    item: EvidenceItem,
    kind: str,
    what: str,
    *,
    audit_actor: Principal | None = None,
    **details: Any,
) -> None:
    """A view or download: audited and appended to the custody log."""
    if audit_actor is not None:
        record_audit(
            session,
            audit_actor,
            f"evidence_item.{kind}",
            ITEM,
            item.id,
            detail=what,
            record_org_id=item.owner_org_id,
        )
    custody.append_event(
        session,
        kind,
        actor,
        case_id=item.case_id,
        item_id=item.id,
        owner_org_id=item.owner_org_id,
        what=what,
        **details,
    )


# --- holds ------------------------------------------------------------------------------


def place_hold(
    session: Session,
    actor: Principal,
    kind: str,
    reason: str,
    *,
    case_id: str | None = None,
    item_id: str | None = None,
) -> EvidenceHold:
    """Stop deletion of a case's items (or one item) whatever their retention says."""
    if kind not in HOLD_KINDS:
        raise InvalidInput({"kind": "Use legal, complaint or investigation"})
    if not reason.strip():
        raise InvalidInput({"reason": "Say why the hold is needed (e.g. the complaint reference)"})
    if (case_id is None) == (item_id is None):
        raise InvalidInput({"target": "Hold either a case or one item"})
    items: list[EvidenceItem]
    target_case: str | None
    if case_id:
        case, _ = access_case(session, actor, case_id, "edit")
        owner, target_case = case.owner_org_id, case.id
        items = list(session.scalars(select(EvidenceItem).where(EvidenceItem.case_id == case.id)))
    else:
        assert item_id
        item, _ = access_item(session, actor, item_id, "edit")
        if item.status != "present":
            raise InvalidInput({"item": f"{item.name} is deleted or being deleted"})
        owner, target_case, items = item.owner_org_id, item.case_id, [item]
    hold = EvidenceHold(
        owner_org_id=owner,
        case_id=case_id,
        item_id=item_id,
        kind=kind,
        reason=reason.strip()[:2000],
        placed_by=actor.audit_name,
    )
    session.add(hold)
    session.flush()
    record_audit(
        session,
        actor,
        "evidence.hold",
        "evidence_hold",
        hold.id,
        created({"kind": kind, "case_id": case_id, "item_id": item_id, "reason": hold.reason}),
        record_org_id=owner,
    )
    custody.append_events(
        session,
        [
            custody.NewEvent(
                "held",
                actor.audit_name,
                target_case,
                i.id,
                owner,
                {"hold": hold.id, "hold_kind": kind, "reason": hold.reason},
            )
            for i in items
        ]
        or [
            custody.NewEvent(
                "held",
                actor.audit_name,
                target_case,
                None,
                owner,
                {"hold": hold.id, "hold_kind": kind},
            )
        ],
    )
    return hold


def release_hold(session: Session, actor: Principal, hold_id: str, reason: str) -> EvidenceHold:
    """Releasing a hold needs a supervisor or admin of the owning force."""
    hold = session.get(EvidenceHold, hold_id) if isinstance(hold_id, str) else None
    if hold is None or hold.owner_org_id != actor.organisation_id:
        raise NotFound("evidence_hold", str(hold_id))
    if hold.case_id:
        access_case(session, actor, hold.case_id, "edit")
    elif hold.item_id:
        access_item(session, actor, hold.item_id, "edit")
    if not actor.has_any(Role.supervisor, Role.admin):
        raise Forbidden("Only a supervisor or admin releases a hold")
    if hold.released_at is not None:
        raise InvalidInput({"hold": "This hold was already released"})
    if not reason.strip():
        raise InvalidInput({"reason": "Say why the hold can end"})
    hold.released_at = utcnow()
    hold.released_by = actor.audit_name
    hold.release_reason = reason.strip()[:2000]
    record_audit(
        session,
        actor,
        "evidence.hold_release",
        "evidence_hold",
        hold.id,
        changes_between({"released": False}, {"released": True}),
        detail=reason,
        record_org_id=hold.owner_org_id,
    )
    custody.append_event(
        session,
        "released",
        actor,
        case_id=hold.case_id,
        item_id=hold.item_id,
        owner_org_id=hold.owner_org_id,
        hold=hold.id,
        reason=hold.release_reason,
    )
    return hold


def active_holds(
    session: Session, *, case_id: str | None = None, item: EvidenceItem | None = None
) -> list[EvidenceHold]:
    clauses = []
    if case_id:
        clauses.append(EvidenceHold.case_id == case_id)
    if item is not None:
        clauses.append(EvidenceHold.item_id == item.id)
        if item.case_id:
            clauses.append(EvidenceHold.case_id == item.case_id)
    if not clauses:
        return []
    return list(
        session.scalars(
            select(EvidenceHold)
            .where(EvidenceHold.released_at.is_(None), or_(*clauses))
            .order_by(EvidenceHold.placed_at)
        )
    )


def holds_of_org(session: Session, actor: Principal) -> list[EvidenceHold]:
    """The force's holds on cases and items the person may see."""
    rows = session.scalars(
        select(EvidenceHold)
        .where(EvidenceHold.owner_org_id == actor.organisation_id)
        .order_by(EvidenceHold.released_at.is_not(None), EvidenceHold.placed_at.desc())
        .limit(500)
    )
    visible = []
    for hold in rows:
        if hold.case_id:
            case = session.get(EvidenceCase, hold.case_id)
            ok = case is not None and can_view(actor, labelled_of(session, case))
        else:
            item = session.get(EvidenceItem, hold.item_id) if hold.item_id else None
            ok = item is not None and can_view(actor, item_labelled(session, item))
        if ok:
            visible.append(hold)
    return visible


# --- sharing with other organisations --------------------------------------------------------


def share(
    session: Session,
    actor: Principal,
    org_code: str,
    *,
    case_id: str | None = None,
    item_ids: Sequence[str] = (),
    expires_at: datetime | None = None,
) -> list[RecordShare]:
    """Share a whole case, or chosen items, with another organisation (the CPS, say).

    Sending a case file to the prosecutor is the investigating officer's own job, so any
    editor of the owning force may share with a prosecutor; any other organisation needs a
    supervisor or admin.
    """
    if (case_id is None) == (not item_ids):
        raise InvalidInput({"target": "Share either a case or chosen items"})
    org: Organisation = organisation_by_code(session, org_code)
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput({"expires_at": "The expiry must be in the future"})
    action = "edit" if org.type == OrganisationType.prosecutor else "relabel"
    targets: list[tuple[str, str, str, str | None]] = []  # (record type, id, owner, case id)
    items: list[EvidenceItem] = []
    if case_id:
        case, labelled = access_case(session, actor, case_id, action)
        if labelled.tlp == TLP.red:
            raise InvalidInput({"organisation": "A RED case goes to named people, not to orgs"})
        targets.append((CASE, case.id, case.owner_org_id, case.id))
        items = list(session.scalars(select(EvidenceItem).where(EvidenceItem.case_id == case.id)))
    else:
        for item_id in item_ids:
            item, labelled = access_item(session, actor, item_id, action)
            if labelled.tlp == TLP.red:
                raise InvalidInput({"items": f"{item.name} is RED: share it with named people"})
            targets.append((ITEM, item.id, item.owner_org_id, item.case_id))
            items.append(item)
    rows = []
    for record_type, record_id, owner, _case in targets:
        if org.id == owner:
            raise InvalidInput({"organisation": "Evidence is always visible to its own force"})
        row = session.scalar(
            select(RecordShare).where(
                RecordShare.record_type == record_type,
                RecordShare.record_id == record_id,
                RecordShare.organisation_id == org.id,
            )
        )
        old = row.expires_at if row else None
        if row is None:
            row = RecordShare(
                record_type=record_type,
                record_id=record_id,
                organisation_id=org.id,
                created_by_id=actor.user_id,
            )
            session.add(row)
        row.expires_at = expires_at
        rows.append(row)
        record_audit(
            session,
            actor,
            f"{record_type}.share",
            record_type,
            record_id,
            changes_between(
                {f"share:{org.code}": old}, {f"share:{org.code}": expires_at or "no expiry"}
            ),
            record_org_id=owner,
        )
    session.flush()
    custody.append_events(
        session,
        [
            custody.NewEvent(
                "shared",
                actor.audit_name,
                item.case_id,
                item.id,
                item.owner_org_id,
                {
                    "with": org.code,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                    "tlp": str(TLP(item.tlp).value),
                },
            )
            for item in items
        ],
    )
    return rows


def unshare(
    session: Session,
    actor: Principal,
    org_code: str,
    *,
    case_id: str | None = None,
    item_id: str | None = None,
) -> None:
    org = organisation_by_code(session, org_code)
    if case_id:
        case, _ = access_case(session, actor, case_id, "relabel")
        record_type, record_id, owner = CASE, case.id, case.owner_org_id
        items = list(session.scalars(select(EvidenceItem).where(EvidenceItem.case_id == case.id)))
    elif item_id:
        item, _ = access_item(session, actor, item_id, "relabel")
        record_type, record_id, owner, items = ITEM, item.id, item.owner_org_id, [item]
    else:
        raise InvalidInput({"target": "Name a case or an item"})
    result = session.execute(
        delete(RecordShare).where(
            RecordShare.record_type == record_type,
            RecordShare.record_id == record_id,
            RecordShare.organisation_id == org.id,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise InvalidInput({"organisation": f"This was not shared with {org.name}"})
    record_audit(
        session,
        actor,
        f"{record_type}.unshare",
        record_type,
        record_id,
        changes_between({f"share:{org.code}": "shared"}, {f"share:{org.code}": None}),
        record_org_id=owner,
    )
    custody.append_events(
        session,
        [
            custody.NewEvent(
                "unshared", actor.audit_name, i.case_id, i.id, i.owner_org_id, {"with": org.code}
            )
            for i in items
        ],
    )


def shares_of(
    session: Session, record_type: str, record_id: str
) -> list[tuple[RecordShare, Organisation]]:
    rows = session.execute(
        select(RecordShare, Organisation)
        .join(Organisation, Organisation.id == RecordShare.organisation_id)
        .where(RecordShare.record_type == record_type, RecordShare.record_id == record_id)
        .order_by(Organisation.name)
    ).all()
    return [(row[0], row[1]) for row in rows]


def case_labelled(session: Session, case: EvidenceCase) -> Labelled:
    return labelled_of(session, case)


def check_hash(session: Session, actor: Principal, store: Any, item_id: str) -> bool:
    """Re-read the stored bytes now; record in custody and audit whether they still match."""
    import hashlib

    item, _ = access_item(session, actor, item_id)
    if item.status != "present":
        raise InvalidInput({"item": f"{item.name} was deleted; only its record remains"})
    digest = hashlib.sha256()
    computed: str | None
    try:
        for chunk in store.iter_chunks(item.sha256, 1 << 20):
            digest.update(chunk)
        computed = digest.hexdigest()
    except (KeyError, FileNotFoundError):
        computed = None
    match = computed == item.sha256
    custody.append_event(
        session,
        "hashed",
        actor,
        case_id=item.case_id,
        item_id=item.id,
        owner_org_id=item.owner_org_id,
        sha256=item.sha256,
        computed=computed or "file missing",
        match=match,
    )
    record_audit(
        session,
        actor,
        "evidence_item.hash_check",
        ITEM,
        item.id,
        detail="the SHA-256 matches" if match else f"MISMATCH: now {computed or 'file missing'}",
        record_org_id=item.owner_org_id,
    )
    return match
