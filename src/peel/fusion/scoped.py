"""Reading within the viewer's scope: their sources, the records they may see, decisions.

Every fusion read starts from :func:`viewer_of`: the viewer's scope key and the sources in it
(:func:`peel.fusion.service.principal_scope`). A record is shown only when its source is one
the viewer may see, even when a derived row names it, so a stale or mistaken derived row can
hide a link but never reveal a fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.config import Settings, get_settings
from peel.core.models import Organisation, User
from peel.core.policy import visible_clause
from peel.core.principal import Principal
from peel.fusion.enums import ReviewOutcome
from peel.fusion.indicators import load_indicators, shipped_indicators
from peel.fusion.models import (
    FusionLinkDecision,
    FusionRecord,
    FusionReviewDecision,
    FusionSource,
)
from peel.fusion.schema import entity_model
from peel.fusion.schemas import (
    EvidenceRecord,
    Fact,
    LinkDecisionRead,
    ReviewDecisionRead,
    SourceRef,
)
from peel.fusion.service import principal_scope, require_fusion

#: Longest entity or group id; anything longer cannot be one.
MAX_ID = 48
#: Ids bound in one IN (…) clause: well inside SQLite's and PostgreSQL's limits.
CHUNK = 500


def chunked(ids: Sequence[str]) -> Iterator[list[str]]:
    """``ids`` in slices small enough for one query's IN clause."""
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


@dataclass(frozen=True)
class Viewer:
    """Who is looking, the scope they see, and the sources in it."""

    principal: Principal
    scope: str
    sources: frozenset[str]


def viewer_of(session: Session, principal: Principal) -> Viewer:
    """The caller's scope, after checking they may use fusion at all."""
    require_fusion(principal)
    key, sources = principal_scope(session, principal)
    return Viewer(principal, key, sources)


# --- what each indicator means, from the indicator rules -----------------------------------


@dataclass(frozen=True)
class IndicatorAbout:
    """What an indicator means and the published practice it comes from."""

    code: str
    title: str
    description: str = ""
    category: str = ""
    source: str = ""
    severity: str = ""


@dataclass(frozen=True)
class IndicatorCatalogue:
    by_code: dict[str, IndicatorAbout]

    def get(self, code: str) -> IndicatorAbout:
        """The indicator's description; a code no longer in the rules is shown as itself."""
        return self.by_code.get(code) or IndicatorAbout(
            code=code,
            title=code.replace("-", " ").capitalize(),
            description="This indicator is no longer in the indicator rules.",
        )

    def title(self, code: str) -> str:
        return self.get(code).title


#: A deployment's own indicator rules, under the fusion data folder (as analysis reads them).
INDICATORS_FILE = "indicators.yaml"


def indicator_catalogue(settings: Settings | None = None) -> IndicatorCatalogue:
    """Every indicator's title, description and published source, from the rules analysis
    uses: the deployment's own file when there is one, else the shipped set."""
    path = (settings or get_settings()).fusion_dir / INDICATORS_FILE
    if path.is_file():
        return _catalogue_of(str(path), path.stat().st_mtime_ns)
    return _catalogue_of(None, 0)


@lru_cache(maxsize=4)
def _catalogue_of(path: str | None, _changed: int) -> IndicatorCatalogue:
    rules = load_indicators(Path(path)) if path else shipped_indicators()
    return IndicatorCatalogue(
        {
            i.code: IndicatorAbout(
                code=i.code,
                title=i.title,
                description=i.description,
                category=i.category,
                source=i.source,
                severity=i.severity or "",
            )
            for i in rules.indicators
        }
    )


# --- sources, records and decisions as the pages show them ----------------------------------


def source_refs(session: Session, source_ids: Iterable[str]) -> dict[str, SourceRef]:
    """The sources with their owning agency's name, by id."""
    ids = sorted(set(source_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(FusionSource, Organisation.name)
        .join(Organisation, Organisation.id == FusionSource.owner_org_id)
        .where(FusionSource.id.in_(ids))
    ).all()
    return {
        s.id: SourceRef(id=s.id, code=s.code, name=s.name, agency=agency, tlp=str(s.tlp))
        for s, agency in rows
    }


def visible_records(
    session: Session, viewer: Viewer, ids: Iterable[str]
) -> dict[str, FusionRecord]:
    """The records among ``ids`` whose source the viewer may see."""
    wanted = sorted(set(ids))
    if not wanted or not viewer.sources:
        return {}
    found: dict[str, FusionRecord] = {}
    for chunk in chunked(wanted):
        rows = session.scalars(
            select(FusionRecord).where(
                FusionRecord.id.in_(chunk), FusionRecord.source_id.in_(sorted(viewer.sources))
            )
        )
        found.update({r.id: r for r in rows})
    return found


def first_value(record: FusionRecord, prop: str) -> str:
    values = (record.properties or {}).get(prop) or []
    return str(values[0]) if values else ""


def label_of(schema: str, prop: str, value: str) -> str:
    """An enum value's label (``ae-attendance`` → ``A&E attendance``), else the value."""
    etype = entity_model().entities.get(schema)
    spec = etype.properties.get(prop) if etype else None
    return spec.label_of(value) if spec else value


def record_summary(record: FusionRecord) -> str:
    """One line saying what a record is: an event's kind and category, a person's birth date."""
    if record.schema == "Event":
        kind = label_of("Event", "kind", first_value(record, "kind")) or "Event"
        parts = [kind, first_value(record, "category"), first_value(record, "description")]
        return " – ".join(p for p in parts if p)
    if record.schema == "Person":
        born = first_value(record, "date_of_birth")
        return f"{record.caption}, born {born}" if born else record.caption
    return record.caption


def facts_of(record: FusionRecord) -> list[Fact]:
    """Every property of a record in the entity type's order, values labelled."""
    etype = entity_model().entities.get(record.schema)
    props = record.properties or {}
    order = list(etype.properties) if etype else []
    names = [p for p in order if props.get(p)] + sorted(p for p in props if p not in order)
    facts = []
    for name in names:
        values = [label_of(record.schema, name, str(v)) for v in props.get(name) or []]
        spec = etype.properties.get(name) if etype else None
        facts.append(Fact(property=name, label=spec.label if spec else name, values=values))
    return facts


def hidden_records(session: Session, viewer: Viewer, ids: Iterable[str]) -> set[str]:
    """The records among ``ids`` held in a source the viewer may not see."""
    wanted = sorted(set(ids))
    hidden: set[str] = set()
    for chunk in chunked(wanted):
        rows = session.execute(
            select(FusionRecord.id, FusionRecord.source_id).where(FusionRecord.id.in_(chunk))
        )
        hidden.update(r for r, source in rows if source not in viewer.sources)
    return hidden


def evidence_records(
    session: Session, viewer: Viewer, ids: Sequence[str], refs: dict[str, SourceRef] | None = None
) -> list[EvidenceRecord] | None:
    """The records named as evidence, or None when one is held in a source the viewer cannot
    see (the finding that rests on it must then not be shown at all)."""
    if hidden_records(session, viewer, ids):
        return None
    records = visible_records(session, viewer, ids)
    refs = (
        refs if refs is not None else source_refs(session, (r.source_id for r in records.values()))
    )
    out = []
    for record_id in ids:
        record = records.get(record_id)
        if record is None:
            out.append(
                EvidenceRecord(
                    record_id=record_id,
                    schema_name="",
                    caption="Record no longer held",
                    on=None,
                    summary="The source was imported again since analysis ran; run it again.",
                    source=None,
                )
            )
            continue
        out.append(
            EvidenceRecord(
                record_id=record.id,
                schema_name=record.schema,
                caption=record.caption,
                on=record.occurred_on,
                summary=record_summary(record),
                source=refs.get(record.source_id),
            )
        )
    return sorted(out, key=lambda e: (e.on is None, e.on or datetime.min.date(), e.record_id))


def _names(session: Session, user_ids: set[str], org_ids: set[str]) -> tuple[dict, dict]:
    users = dict(session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all())
    orgs = dict(
        session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))
        ).all()
    )
    return users, orgs


def review_decisions(
    session: Session, principal: Principal, entity_ids: Sequence[str]
) -> list[ReviewDecisionRead]:
    """Review decisions on these entities that the viewer may see, newest first."""
    if not entity_ids:
        return []
    rows = list(
        session.scalars(
            select(FusionReviewDecision)
            .where(
                FusionReviewDecision.entity_id.in_(list(entity_ids)),
                visible_clause(principal, FusionReviewDecision, FusionReviewDecision.record_type),
            )
            .order_by(FusionReviewDecision.created_at.desc(), FusionReviewDecision.id.desc())
        )
    )
    users, orgs = _names(
        session, {r.decided_by_id for r in rows if r.decided_by_id}, {r.owner_org_id for r in rows}
    )
    return [decision_read(r, users, orgs) for r in rows]


def decision_read(
    row: FusionReviewDecision, users: dict[str, str], orgs: dict[str, str]
) -> ReviewDecisionRead:
    outcome = ReviewOutcome(row.outcome)
    return ReviewDecisionRead(
        id=row.id,
        entity_id=row.entity_id,
        outcome=outcome,
        outcome_label=outcome.label,
        reason=row.reason,
        rag=row.rag,
        indicators=list(row.indicators or []),
        decided_by=users.get(row.decided_by_id or "", "An API client"),
        organisation=orgs.get(row.owner_org_id, ""),
        tlp=str(row.tlp),
        created_at=row.created_at,
    )


def link_decisions(
    session: Session, principal: Principal, record_ids: set[str]
) -> list[LinkDecisionRead]:
    """Visible merge and split decisions naming any of these records, newest first."""
    rows = [
        r
        for r in session.scalars(
            select(FusionLinkDecision)
            .where(visible_clause(principal, FusionLinkDecision, FusionLinkDecision.record_type))
            .order_by(FusionLinkDecision.created_at.desc())
            .limit(2000)
        )
        if record_ids.intersection(r.left_records or [])
        or record_ids.intersection(r.right_records or [])
    ]
    users, orgs = _names(
        session, {r.decided_by_id for r in rows if r.decided_by_id}, {r.owner_org_id for r in rows}
    )
    return [link_decision_read(r, users, orgs) for r in rows]


def link_decision_read(
    row: FusionLinkDecision, users: dict[str, str], orgs: dict[str, str]
) -> LinkDecisionRead:
    return LinkDecisionRead(
        id=row.id,
        kind=row.kind,
        left=list(row.left_records),
        right=list(row.right_records),
        reason=row.reason,
        decided_by=users.get(row.decided_by_id or "", "An API client"),
        organisation=orgs.get(row.owner_org_id, ""),
        created_at=row.created_at,
        withdrawn_at=row.withdrawn_at,
    )
