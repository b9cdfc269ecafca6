"""What people decide: a reviewer's outcome for a flagged person, and corrections to linkage.

Indicators inform, people decide. A review decision (no further action, refer, strategy
discussion) records the RAG rating and the indicators the reviewer saw. A link decision (merge
or split) names person records the decider can see; analysis re-applies it every time it runs.
Both rest on what the deciding organisation could see, so both are labelled AMBER+STRICT: an
organisation's clients see fewer sources than it does, and must not read a rating, indicator
or record id that came from one they may not see. Both are written to the audit log, old and
new values, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.audit import changes_between, created, record_audit
from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.policy import NotFound, visible_clause
from peel.core.principal import Principal
from peel.fusion.enums import LinkDecisionKind, ReviewOutcome
from peel.fusion.models import (
    FusionIndicatorHit,
    FusionLinkDecision,
    FusionRecord,
    FusionReviewDecision,
)
from peel.fusion.queries import Viewer, entity_in_scope, viewer_of
from peel.fusion.schemas import MAX_DECISION_RECORDS, MAX_REASON, MIN_REASON

#: Only the deciding organisation sees a decision (its clients see fewer sources).
DECISION_LABEL = TLP.amber_strict
OUTCOMES = ", ".join(o.value for o in ReviewOutcome)
KINDS = ", ".join(k.value for k in LinkDecisionKind)


def checked_reason(reason: str) -> str:
    """The reason, trimmed; InvalidInput when it is too short to help the next reviewer."""
    text = (reason or "").strip()
    if len(text) < MIN_REASON:
        raise InvalidInput(
            {"reason": f"Give the reason for the decision in at least {MIN_REASON} characters"}
        )
    if len(text) > MAX_REASON:
        raise InvalidInput({"reason": f"Keep the reason under {MAX_REASON} characters"})
    return text


def _outcome(outcome: ReviewOutcome | str) -> ReviewOutcome:
    try:
        return ReviewOutcome(outcome)
    except ValueError:
        raise InvalidInput({"outcome": f"Choose one of: {OUTCOMES}"}) from None


def _latest(session: Session, actor: Principal, entity_id: str) -> FusionReviewDecision | None:
    return session.scalars(
        select(FusionReviewDecision)
        .where(
            FusionReviewDecision.entity_id == entity_id,
            visible_clause(actor, FusionReviewDecision, FusionReviewDecision.record_type),
        )
        .order_by(FusionReviewDecision.created_at.desc(), FusionReviewDecision.id.desc())
        .limit(1)
    ).first()


def _indicator_codes(session: Session, viewer: Viewer, entity_id: str) -> list[str]:
    """The indicators that fired for the entity in the viewer's scope (what they saw)."""
    return sorted(
        set(
            session.scalars(
                select(FusionIndicatorHit.code).where(
                    FusionIndicatorHit.scope == viewer.scope,
                    FusionIndicatorHit.entity_id == entity_id,
                )
            )
        )
    )


def record_review_decision(
    session: Session,
    actor: Principal,
    entity_id: str,
    outcome: ReviewOutcome | str,
    reason: str,
) -> FusionReviewDecision:
    """Record what the reviewer decided about an entity in their scope, and why; audited."""
    viewer = viewer_of(session, actor)
    chosen = _outcome(outcome)
    text = checked_reason(reason)
    entity = entity_in_scope(session, viewer, entity_id)
    codes = _indicator_codes(session, viewer, entity.id)
    previous = _latest(session, actor, entity.id)
    decision = FusionReviewDecision(
        entity_id=entity.id,
        outcome=chosen.value,
        reason=text,
        rag=entity.rag,
        indicators=codes,
        owner_org_id=actor.organisation_id,
        tlp=DECISION_LABEL,
        decided_by_id=actor.user_id,
    )
    session.add(decision)
    session.flush()
    before = {"outcome": previous.outcome, "reason": previous.reason} if previous else {}
    after = {"outcome": chosen.value, "reason": text, "rag": entity.rag, "indicators": codes}
    record_audit(
        session,
        actor,
        "fusion.review.decided",
        FusionReviewDecision.record_type,
        decision.id,
        changes=changes_between(before, after),
        detail=f"entity {entity.id}: {chosen.label}",
        record_org_id=actor.organisation_id,
    )
    return decision


def _kind(kind: LinkDecisionKind | str) -> LinkDecisionKind:
    try:
        return LinkDecisionKind(kind)
    except ValueError:
        raise InvalidInput({"kind": f"Choose one of: {KINDS}"}) from None


def _record_ids(field: str, ids: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
    if not unique:
        raise InvalidInput({field: "Name at least one person record"})
    if len(unique) > MAX_DECISION_RECORDS:
        raise InvalidInput({field: f"Name at most {MAX_DECISION_RECORDS} records"})
    return unique


def _check_records(session: Session, viewer: Viewer, ids: list[str]) -> None:
    """Every record must be one the actor can see (else not found) and a person."""
    rows = dict(
        session.execute(
            select(FusionRecord.id, FusionRecord.schema).where(
                FusionRecord.id.in_(ids), FusionRecord.source_id.in_(sorted(viewer.sources))
            )
        ).all()
    )
    for record_id in ids:
        if record_id not in rows:
            raise NotFound("fusion_record", record_id)
    others = [r for r in ids if rows[r] != "Person"]
    if others:
        raise InvalidInput(
            {"records": f"Only person records can be merged or split; {others[0]} is not one"}
        )


def record_link_decision(
    session: Session,
    actor: Principal,
    kind: LinkDecisionKind | str,
    left: Sequence[str],
    right: Sequence[str],
    reason: str,
) -> FusionLinkDecision:
    """Record a merge or split of person records; analysis applies it when it next runs."""
    viewer = viewer_of(session, actor)
    chosen = _kind(kind)
    text = checked_reason(reason)
    lefts, rights = _record_ids("left", left), _record_ids("right", right)
    both = sorted(set(lefts) & set(rights))
    if both:
        raise InvalidInput({"right": f"Record {both[0]} is on both sides; name it on one side"})
    _check_records(session, viewer, lefts + rights)
    decision = FusionLinkDecision(
        kind=chosen.value,
        left_records=lefts,
        right_records=rights,
        reason=text,
        owner_org_id=actor.organisation_id,
        tlp=DECISION_LABEL,
        decided_by_id=actor.user_id,
    )
    session.add(decision)
    session.flush()
    record_audit(
        session,
        actor,
        f"fusion.link.{chosen.value}",
        FusionLinkDecision.record_type,
        decision.id,
        changes=created({"kind": chosen.value, "left": lefts, "right": rights, "reason": text}),
        detail=f"{chosen.value} of {len(lefts)} and {len(rights)} person records",
        record_org_id=actor.organisation_id,
    )
    return decision
