"""Retention: when each item may go, why, and deleting it without losing the record.

Every rule that applies to an item gives a date (or "keep until reviewed"); the longest
wins. Case evidence is kept while its case is open. A hold (legal, complaint,
investigation) blocks deletion whatever the rules say.

Deletion runs in three steps so the record and the bytes never disagree: the item is marked
``deleting`` (committed), the bytes are removed, then it is marked ``deleted`` with a custody
event (committed). A run that stops half-way leaves items ``deleting``, which the next run
finishes. Bytes another present item or report still uses are kept for that one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peel.core.audit import changes_between, record_audit
from peel.core.blobstore import BlobStore
from peel.core.db import transaction, utcnow
from peel.core.enums import Role
from peel.core.errors import InvalidInput
from peel.core.policy import Forbidden, can_view
from peel.core.principal import SYSTEM, Principal
from peel.evidence import custody, service
from peel.evidence.models import EvidenceCase, EvidenceHold, EvidenceItem, RetentionCategory
from peel.reporting.models import ReportAttachment

FAR_FUTURE = "until reviewed"


@dataclass
class Decision:
    item_id: str
    name: str
    case_reference: str | None
    owner_org_id: str
    #: When the longest applicable rule allows deletion; None: keep (case open or review rule).
    delete_after: datetime | None
    reasons: list[str] = field(default_factory=list)
    held_by: list[str] = field(default_factory=list)
    due: bool = False

    @property
    def will_delete(self) -> bool:
        return self.due and not self.held_by

    def to_json(self) -> dict[str, object]:
        return {
            "item_id": self.item_id,
            "name": self.name,
            "case": self.case_reference,
            "delete_after": self.delete_after.isoformat() if self.delete_after else None,
            "due": self.due,
            "held_by": self.held_by,
            "will_delete": self.will_delete,
            "reasons": self.reasons,
        }


def _start(item: EvidenceItem) -> datetime:
    return item.captured_at or item.added_at


def decide(
    item: EvidenceItem,
    case: EvidenceCase | None,
    categories: dict[str, RetentionCategory],
    holds: list[EvidenceHold],
    now: datetime,
) -> Decision:
    """Apply every rule; the longest wins; holds block."""
    decision = Decision(
        item.id, item.name, case.reference if case else None, item.owner_org_id, None
    )
    keep_forever = False
    latest: datetime | None = None
    codes = list(item.categories)
    if case is not None and "evidential" not in codes and "evidential" in categories:
        codes.append("evidential")
    if not codes:
        decision.reasons.append("No retention category: kept until someone categorises it")
        keep_forever = True
    for code in codes:
        category = categories.get(code)
        if category is None:
            decision.reasons.append(f"Unknown category {code!r}: kept")
            keep_forever = True
            continue
        if category.rule == "review":
            keep_forever = True
            decision.reasons.append(f"{category.name}: kept until reviewed")
        elif category.rule == "fixed":
            until = _start(item) + timedelta(days=category.days or 0)
            decision.reasons.append(f"{category.name}: {category.days} days from capture")
            latest = until if latest is None or until > latest else latest
        elif category.rule == "case":
            if case is None:
                decision.reasons.append(f"{category.name}: not in a case, rule waits")
                keep_forever = True
            elif case.status != "closed" or case.closed_at is None:
                decision.reasons.append(f"{category.name}: case {case.reference} is open")
                keep_forever = True
            else:
                until = case.closed_at + timedelta(days=category.days or 0)
                decision.reasons.append(
                    f"{category.name}: {category.days} days after the case closed"
                )
                latest = until if latest is None or until > latest else latest
    decision.delete_after = None if keep_forever else latest
    decision.due = decision.delete_after is not None and decision.delete_after <= now
    decision.held_by = [f"{service.HOLD_KINDS.get(h.kind, h.kind)}: {h.reason}" for h in holds]
    return decision


def plan(
    session: Session,
    *,
    organisation_id: str | None = None,
    now: datetime | None = None,
    visible_to: Principal | None = None,
) -> list[Decision]:
    """A decision for every present item (of one force, or all), soonest first.

    With ``visible_to``, only items that person may see (a RED item's name stays hidden).
    """
    now = now or utcnow()
    stmt = select(EvidenceItem).where(EvidenceItem.status == "present")
    if organisation_id:
        stmt = stmt.where(EvidenceItem.owner_org_id == organisation_id)
    items = list(session.scalars(stmt))
    holds = list(session.scalars(select(EvidenceHold).where(EvidenceHold.released_at.is_(None))))
    by_item: dict[str, list[EvidenceHold]] = {}
    by_case: dict[str, list[EvidenceHold]] = {}
    for hold in holds:
        if hold.item_id:
            by_item.setdefault(hold.item_id, []).append(hold)
        if hold.case_id and not hold.item_id:
            by_case.setdefault(hold.case_id, []).append(hold)
    categories: dict[str, dict[str, RetentionCategory]] = {}
    decisions = []
    if visible_to is not None:
        items = [i for i in items if can_view(visible_to, service.item_labelled(session, i))]
    for item in items:
        if item.owner_org_id not in categories:
            categories[item.owner_org_id] = service.categories_of(session, item.owner_org_id)
        item_holds = by_item.get(item.id, []) + by_case.get(item.case_id or "", [])
        decisions.append(decide(item, item.case, categories[item.owner_org_id], item_holds, now))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    decisions.sort(key=lambda d: (d.delete_after or far, d.name))
    return decisions


def _bytes_still_needed(session: Session, sha256: str, item_id: str) -> str | None:
    other = session.scalar(
        select(EvidenceItem.id).where(
            EvidenceItem.sha256 == sha256,
            EvidenceItem.id != item_id,
            EvidenceItem.status == "present",
        )
    )
    if other:
        return f"evidence item {other}"
    report = session.scalar(
        select(ReportAttachment.report_id).where(ReportAttachment.sha256 == sha256)
    )
    return f"report {report}" if report else None


def delete_item(
    sessions: sessionmaker[Session],
    store: BlobStore,
    actor: Principal,
    item_id: str,
    reason: str,
    *,
    check_access: bool = True,
) -> None:
    """Delete one item's bytes and keep a tombstone; refused while any hold covers it."""
    with transaction(sessions) as session:
        if check_access:
            item, _ = service.access_item(session, actor, item_id, "edit")
            if not actor.has_any(Role.supervisor, Role.admin):
                raise Forbidden("Only a supervisor or admin deletes evidence by hand")
        else:
            found = session.get(EvidenceItem, item_id)
            if found is None:
                raise LookupError(item_id)
            item = found
        if item.status == "deleted":
            raise InvalidInput({"item": f"{item.name} was already deleted"})
        holds = service.active_holds(session, item=item)
        if holds:
            names = "; ".join(f"{service.HOLD_KINDS[h.kind]} ({h.reason})" for h in holds)
            raise InvalidInput({"item": f"{item.name} cannot be deleted while on hold: {names}"})
        if not reason.strip():
            raise InvalidInput({"reason": "Say why the item is being deleted"})
        item.status = "deleting"
        item.deletion_reason = reason.strip()[:2000]
    _finish_deletion(sessions, store, actor, item_id)


def _finish_deletion(
    sessions: sessionmaker[Session], store: BlobStore, actor: Principal, item_id: str
) -> None:
    with transaction(sessions) as session:
        item = session.get(EvidenceItem, item_id)
        if item is None or item.status != "deleting":
            return  # another run finished it
        sha256, derived = item.sha256, [item.thumb_sha256, item.preview_sha256]
        kept_for = _bytes_still_needed(session, sha256, item.id)
    if kept_for is None:
        store.delete(sha256)
        for extra in derived:  # the thumbnail and preview of the same bytes go with them
            if extra:
                store.delete(extra)
    with transaction(sessions) as session:
        item = session.get(EvidenceItem, item_id)
        if item is None or item.status != "deleting":
            return
        item.status = "deleted"
        item.deleted_at = utcnow()
        item.thumb_sha256 = item.preview_sha256 = None
        item.preview_status = "none"
        record_audit(
            session,
            actor,
            "evidence_item.delete",
            service.ITEM,
            item.id,
            changes_between({"status": "present"}, {"status": "deleted"}),
            detail=item.deletion_reason,
            record_org_id=item.owner_org_id,
        )
        details: dict[str, object] = {
            "sha256": item.sha256,
            "reason": item.deletion_reason,
            "bytes_removed": kept_for is None,
        }
        if kept_for:
            details["bytes_kept_for"] = kept_for
        custody.append_event(
            session,
            "deleted",
            actor,
            case_id=item.case_id,
            item_id=item.id,
            owner_org_id=item.owner_org_id,
            **details,
        )


def run(
    sessions: sessionmaker[Session],
    store: BlobStore,
    *,
    dry_run: bool,
    organisation_id: str | None = None,
    actor: Principal = SYSTEM,
    now: datetime | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[Decision]:
    """Finish interrupted deletions, then delete every due item that no hold covers."""
    with transaction(sessions) as session:
        decisions = plan(session, organisation_id=organisation_id, now=now)
        stuck = list(
            session.scalars(select(EvidenceItem.id).where(EvidenceItem.status == "deleting"))
        )
    due = [d for d in decisions if d.will_delete]
    if dry_run:
        return decisions
    for item_id in stuck:
        with transaction(sessions) as session:
            stuck_item = session.scalars(
                select(EvidenceItem)
                .where(EvidenceItem.id == item_id)
                .with_for_update(of=EvidenceItem)
            ).one()
            if service.active_holds(session, item=stuck_item):
                stuck_item.status = "present"  # a hold arrived before the deletion finished
                continue
        _finish_deletion(sessions, store, actor, item_id)
    for number, decision in enumerate(due, start=1):
        with transaction(sessions) as session:
            # Decide again under a row lock: a hold, a new case or category since the plan
            # was made wins.
            item = session.scalars(
                select(EvidenceItem)
                .where(EvidenceItem.id == decision.item_id)
                .with_for_update(of=EvidenceItem)
            ).one_or_none()
            if item is None or item.status != "present":
                continue
            fresh = decide(
                item,
                item.case,
                service.categories_of(session, item.owner_org_id),
                service.active_holds(session, item=item),
                now or utcnow(),
            )
            if not fresh.will_delete:
                continue
            item.status = "deleting"
            item.deletion_reason = ("Retention: " + "; ".join(fresh.reasons))[:2000]
        _finish_deletion(sessions, store, actor, decision.item_id)
        if progress:
            progress(100 * number / len(due), f"{number} of {len(due)} items deleted")
    return decisions
