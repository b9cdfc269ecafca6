"""The read side of fusion: the review queue, an entity with all its evidence, groups, runs.

Everything is read from the viewer's own scope (:func:`peel.fusion.service.principal_scope`),
and a record is shown only when its source is one the viewer may see, even when a derived row
names it: a stale or mistaken derived row can then hide a link, never reveal a fact. Entity
and group ids are looked up within the scope, so an id outside it is "not found" like a
missing one. Reading the queue, an entity or a group writes an audit event in the caller's
transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from peel.core.audit import record_audit
from peel.core.config import Settings
from peel.core.errors import InvalidInput
from peel.core.models import Organisation
from peel.core.policy import NotFound, visible_clause
from peel.core.principal import Principal
from peel.fusion.enums import LegalBasis, Rag
from peel.fusion.models import (
    FusionEntity,
    FusionEntityMember,
    FusionGroup,
    FusionIndicatorHit,
    FusionMatch,
    FusionRecord,
    FusionRelation,
    FusionRun,
    FusionScope,
    FusionSource,
)
from peel.fusion.network import ego_network, group_network, relations_of
from peel.fusion.schema import entity_model
from peel.fusion.schemas import (
    Comparison,
    EntityDetail,
    GroupDetail,
    GroupEdge,
    GroupLink,
    GroupMember,
    GroupRef,
    GroupSummary,
    IndicatorBrief,
    IndicatorHitRead,
    KeyPerson,
    LinkEvidence,
    MemberRecord,
    PossibleMatch,
    QueueItem,
    QueuePage,
    ReviewDecisionRead,
    RunRead,
    SourceRef,
    TimelineEvent,
)
from peel.fusion.scoped import (
    MAX_ID,
    IndicatorCatalogue,
    Viewer,
    evidence_records,
    facts_of,
    first_value,
    hidden_records,
    indicator_catalogue,
    label_of,
    link_decisions,
    review_decisions,
    source_refs,
    viewer_of,
    visible_records,
)
from peel.fusion.service import require_fusion

PER_PAGE = 50
#: Indicators listed beside each queue entry (the entity page lists them all).
TOP_INDICATORS = 3
POSSIBLE_MATCHES = 10
RAG_ORDER = {Rag.red.value: 0, Rag.amber.value: 1, Rag.green.value: 2}


# --- the review queue -----------------------------------------------------------------------


def _rag_filter(rag: str | None) -> str | None:
    if rag in (None, ""):
        return None
    if rag not in RAG_ORDER:
        raise InvalidInput({"rag": "Choose red, amber or green, or leave empty for all"})
    return rag


def hits_by_entity(
    session: Session, viewer: Viewer, ids: list[str]
) -> dict[str, list[FusionIndicatorHit]]:
    """Indicator hits of these entities, strongest first, leaving out any hit that rests on
    a record held in a source the viewer may not see."""
    hits: dict[str, list[FusionIndicatorHit]] = defaultdict(list)
    if not ids:
        return hits
    rows = list(
        session.scalars(
            select(FusionIndicatorHit)
            .where(FusionIndicatorHit.scope == viewer.scope, FusionIndicatorHit.entity_id.in_(ids))
            .order_by(FusionIndicatorHit.weight.desc(), FusionIndicatorHit.code)
        )
    )
    hidden = hidden_records(session, viewer, {r for hit in rows for r in hit.evidence or []})
    for hit in rows:
        if not hidden.intersection(hit.evidence or []):
            hits[hit.entity_id].append(hit)
    return hits


def _flagged(viewer: Viewer) -> tuple[ColumnElement[bool], ...]:
    return (
        FusionEntity.scope == viewer.scope,
        FusionEntity.schema == "Person",
        FusionEntity.rag != "",
    )


def _flagged_counts(session: Session, viewer: Viewer) -> dict[str, int]:
    rows = session.execute(
        select(FusionEntity.rag, func.count()).where(*_flagged(viewer)).group_by(FusionEntity.rag)
    ).all()
    return {str(r): int(n) for r, n in rows}


def _queue_entities(
    session: Session, viewer: Viewer, rag: str | None, page: int
) -> list[FusionEntity]:
    """One page of the queue: children first, then red, amber, green, then by score."""
    rank = case(RAG_ORDER, value=FusionEntity.rag, else_=len(RAG_ORDER))
    stmt = select(FusionEntity).where(*_flagged(viewer))
    if rag:
        stmt = stmt.where(FusionEntity.rag == rag)
    order = (FusionEntity.is_child.desc(), rank, FusionEntity.score.desc(), FusionEntity.id)
    return list(
        session.scalars(stmt.order_by(*order).offset((page - 1) * PER_PAGE).limit(PER_PAGE))
    )


def review_queue(
    session: Session,
    principal: Principal,
    rag: str | None = None,
    page: int = 1,
    *,
    settings: Settings | None = None,
) -> QueuePage:
    """Flagged people in the viewer's scope: children first, then by RAG, then by score."""
    viewer = viewer_of(session, principal)
    chosen = _rag_filter(rag)
    page = max(1, page)
    counts = _flagged_counts(session, viewer)
    total = counts.get(chosen, 0) if chosen else sum(counts.values())
    entities = _queue_entities(session, viewer, chosen, page)
    items = _queue_items(session, viewer, entities, indicator_catalogue(settings))
    record_audit(
        session,
        principal,
        "fusion.queue.read",
        "fusion_scope",
        viewer.scope,
        detail=f"rag={chosen or 'all'} page={page} shown={len(items)}",
    )
    scope = session.get(FusionScope, viewer.scope)
    return QueuePage(
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        per_page=PER_PAGE,
        rag=chosen,
        counts={r: counts.get(r, 0) for r in RAG_ORDER},
        analysed=scope is not None,
        computed_at=scope.computed_at if scope else None,
    )


def _queue_items(
    session: Session, viewer: Viewer, entities: list[FusionEntity], catalogue: IndicatorCatalogue
) -> list[QueueItem]:
    ids = [e.id for e in entities]
    hits = hits_by_entity(session, viewer, ids)
    latest: dict[str, ReviewDecisionRead] = {}
    for decision in review_decisions(session, viewer.principal, ids):
        latest.setdefault(decision.entity_id, decision)
    return [
        QueueItem(
            entity_id=e.id,
            caption=e.caption,
            date_of_birth=e.date_of_birth,
            is_child=e.is_child,
            rag=e.rag,
            score=e.score,
            record_count=e.record_count,
            source_count=e.source_count,
            indicators=[
                IndicatorBrief(code=h.code, title=catalogue.title(h.code), weight=h.weight)
                for h in hits[e.id][:TOP_INDICATORS]
            ],
            indicator_count=len(hits[e.id]),
            latest_decision=latest.get(e.id),
        )
        for e in entities
    ]


# --- one entity -----------------------------------------------------------------------------


def entity_in_scope(session: Session, viewer: Viewer, entity_id: str) -> FusionEntity:
    """The entity with this id in the viewer's scope; missing and out of scope look alike."""
    entity = (
        session.get(FusionEntity, (viewer.scope, entity_id)) if len(entity_id) <= MAX_ID else None
    )
    if entity is None:
        raise NotFound("fusion_entity", entity_id)
    return entity


def _member_probabilities(session: Session, scope: str, entity_id: str) -> dict[str, float]:
    return dict(
        session.execute(
            select(FusionEntityMember.record_id, FusionEntityMember.match_probability).where(
                FusionEntityMember.scope == scope, FusionEntityMember.entity_id == entity_id
            )
        ).all()
    )


def comparisons_of(evidence: dict[str, Any] | None) -> list[Comparison]:
    out = []
    for name, value in (evidence or {}).items():
        item = value if isinstance(value, dict) else {"level": str(value)}
        weight = item.get("weight")
        out.append(
            Comparison(
                name=str(name),
                level=str(item.get("level", "")),
                weight=float(weight) if isinstance(weight, int | float) else None,
            )
        )
    return out


def _link(match: FusionMatch) -> LinkEvidence:
    return LinkEvidence(
        record_a=match.record_a,
        record_b=match.record_b,
        match_probability=match.match_probability,
        match_weight=match.match_weight,
        comparisons=comparisons_of(match.evidence),
    )


def _matches_touching(session: Session, ids: list[str]) -> list[FusionMatch]:
    if not ids:
        return []
    return list(
        session.scalars(
            select(FusionMatch)
            .where(or_(FusionMatch.record_a.in_(ids), FusionMatch.record_b.in_(ids)))
            .order_by(FusionMatch.match_probability.desc())
        )
    )


def links_and_near_misses(
    session: Session, viewer: Viewer, entity_id: str, members: set[str]
) -> tuple[list[LinkEvidence], list[PossibleMatch]]:
    """The evidence joining the entity's records, and other people they nearly matched."""
    matches = _matches_touching(session, sorted(members))
    links = [_link(m) for m in matches if m.record_a in members and m.record_b in members]
    outside = {m.record_b if m.record_a in members else m.record_a: m for m in matches}
    outside = {r: m for r, m in outside.items() if r not in members}
    shown = visible_records(session, viewer, outside)
    owners = dict(
        session.execute(
            select(FusionEntityMember.record_id, FusionEntityMember.entity_id).where(
                FusionEntityMember.scope == viewer.scope,
                FusionEntityMember.record_id.in_(sorted(shown)),
            )
        ).all()
    )
    entities = {
        e.id: e
        for e in session.scalars(
            select(FusionEntity).where(
                FusionEntity.scope == viewer.scope, FusionEntity.id.in_(set(owners.values()))
            )
        )
    }
    possible: list[PossibleMatch] = []
    for record_id, match in sorted(outside.items(), key=lambda kv: -kv[1].match_probability):
        other = entities.get(owners.get(record_id, ""))
        if record_id in shown and other is not None and other.id != entity_id:
            possible.append(
                PossibleMatch(entity_id=other.id, caption=other.caption, link=_link(match))
            )
    return links, possible[:POSSIBLE_MATCHES]


def _timeline_event(
    event: FusionRecord, relation: FusionRelation, member: str, source: SourceRef
) -> TimelineEvent:
    roles = entity_model().relation("involved_in").roles or {}
    role = relation.role
    kind = first_value(event, "kind")
    return TimelineEvent(
        record_id=event.id,
        on=event.occurred_on,
        kind=kind,
        kind_label=label_of("Event", "kind", kind) or "Event",
        category=first_value(event, "category"),
        description=first_value(event, "description"),
        outcome=first_value(event, "outcome"),
        markers=[str(m) for m in (event.properties or {}).get("markers") or []],
        role=role,
        role_label=roles.get(role, role.replace("-", " ").capitalize()),
        person_record_id=member,
        source=source,
    )


def timeline(
    session: Session, viewer: Viewer, members: set[str], refs: dict[str, SourceRef]
) -> list[TimelineEvent]:
    """Events any member record is related to, oldest first, each with its agency."""
    relations = relations_of(session, viewer, sorted(members))
    ends = {r.to_record_id if r.from_record_id in members else r.from_record_id for r in relations}
    events = {
        k: v for k, v in visible_records(session, viewer, ends).items() if v.schema == "Event"
    }
    refs.update(source_refs(session, {e.source_id for e in events.values()} - set(refs)))
    out: dict[tuple[str, str, str], TimelineEvent] = {}
    for rel in relations:
        ours = rel.from_record_id in members
        member, other = (
            (rel.from_record_id, rel.to_record_id)
            if ours
            else (rel.to_record_id, rel.from_record_id)
        )
        event = events.get(other)
        if event is not None:
            out[(event.id, member, rel.role)] = _timeline_event(
                event, rel, member, refs[event.source_id]
            )
    return sorted(
        out.values(), key=lambda t: (t.on is None, t.on or datetime.min.date(), t.record_id)
    )


def indicator_hits(
    session: Session,
    viewer: Viewer,
    entity_id: str,
    refs: dict[str, SourceRef],
    catalogue: IndicatorCatalogue,
) -> list[IndicatorHitRead]:
    """The indicators that fired, each with its published source and its evidence records."""
    out = []
    for hit in hits_by_entity(session, viewer, [entity_id])[entity_id]:
        evidence = evidence_records(session, viewer, list(hit.evidence or []))
        if evidence is None:
            continue  # rests on a fact the viewer may not see: never shown
        for item in evidence:
            if item.source is not None:
                refs.setdefault(item.source.id, item.source)
        about = catalogue.get(hit.code)
        out.append(
            IndicatorHitRead(
                code=hit.code,
                title=about.title,
                description=about.description,
                category=about.category,
                published_source=about.source,
                severity=about.severity,
                weight=hit.weight,
                detail=hit.detail,
                latest_on=hit.latest_on,
                evidence=evidence,
            )
        )
    return out


def member_records(
    session: Session, viewer: Viewer, probabilities: dict[str, float]
) -> tuple[list[MemberRecord], dict[str, SourceRef]]:
    records = visible_records(session, viewer, probabilities)
    refs = source_refs(session, {r.source_id for r in records.values()})
    members = [
        MemberRecord(
            record_id=r.id,
            schema_name=r.schema,
            caption=r.caption,
            source=refs[r.source_id],
            source_key=r.source_key,
            row_number=r.row_number,
            match_probability=probabilities[r.id],
            facts=facts_of(r),
        )
        for r in records.values()
    ]
    members.sort(key=lambda m: (m.source.agency, m.source.name, m.source_key))
    return members, refs


def _group_ref(session: Session, viewer: Viewer, group_id: str | None) -> GroupRef | None:
    group = session.get(FusionGroup, (viewer.scope, group_id)) if group_id else None
    return GroupRef(id=group.id, label=group.label, size=group.size) if group else None


def entity_detail(
    session: Session, principal: Principal, entity_id: str, *, settings: Settings | None = None
) -> EntityDetail:
    """The entity page: records, link evidence, timeline, indicators, network and decisions."""
    viewer = viewer_of(session, principal)
    entity = entity_in_scope(session, viewer, entity_id)
    records, refs = member_records(
        session, viewer, _member_probabilities(session, viewer.scope, entity.id)
    )
    members = {m.record_id for m in records}
    links, possible = links_and_near_misses(session, viewer, entity.id, members)
    events = timeline(session, viewer, members, refs)
    hits = indicator_hits(session, viewer, entity.id, refs, indicator_catalogue(settings))
    record_audit(
        session,
        principal,
        "fusion.entity.read",
        "fusion_entity",
        entity.id,
        detail=f"{len(records)} records from {len({m.source.id for m in records})} sources",
    )
    scope = session.get(FusionScope, viewer.scope)
    return EntityDetail(
        id=entity.id,
        schema_name=entity.schema,
        caption=entity.caption,
        date_of_birth=entity.date_of_birth,
        is_child=entity.is_child,
        rag=entity.rag,
        score=entity.score,
        record_count=entity.record_count,
        source_count=entity.source_count,
        agencies=sorted({r.source.agency for r in records}),
        group=_group_ref(session, viewer, entity.group_id),
        records=records,
        links=links,
        possible_matches=possible,
        timeline=events,
        indicators=hits,
        network=ego_network(session, viewer, entity),
        decisions=review_decisions(session, principal, [entity.id]),
        link_decisions=link_decisions(session, principal, members),
        computed_at=scope.computed_at if scope else None,
    )


# --- groups ---------------------------------------------------------------------------------


def _captions(session: Session, viewer: Viewer, ids: Iterable[str]) -> dict[str, FusionEntity]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {
        e.id: e
        for e in session.scalars(
            select(FusionEntity).where(
                FusionEntity.scope == viewer.scope, FusionEntity.id.in_(wanted)
            )
        )
    }


#: How the pages name the ties of the association network (``peel.fusion.graph``).
TIE_LABELS = {
    "associate": "Recorded as associates",
    "co-offending": "Involved in the same incident",
    "shared-phone": "Use the same phone",
    "shared-vehicle": "Use the same vehicle",
}


def tie_label(kind: str) -> str:
    return TIE_LABELS.get(kind, kind.replace("-", " ").replace("_", " ").capitalize())


def _key_links(
    session: Session, viewer: Viewer, links: list[list[Any]], entities: dict[str, FusionEntity]
) -> list[GroupLink]:
    """The ties that put a key person at the centre, each with its evidence records."""
    out = []
    for link in links:
        a, b, kind = str(link[0]), str(link[1]), str(link[2])
        evidence = evidence_records(session, viewer, [str(r) for r in (link[3:4] or [[]])[0]])
        if evidence is None or a not in entities or b not in entities:
            continue  # rests on a record the viewer may not see, or on a person gone since
        out.append(
            GroupLink(
                source=a,
                target=b,
                source_caption=entities[a].caption,
                target_caption=entities[b].caption,
                kind=kind,
                label=tie_label(kind),
                evidence=evidence,
            )
        )
    return out


def _key_people(
    session: Session, viewer: Viewer, group: FusionGroup, entities: dict[str, FusionEntity]
) -> list[KeyPerson]:
    people = []
    for item in group.key_people or []:
        entity = entities.get(str(item.get("entity_id")))
        if entity is None:
            continue
        people.append(
            KeyPerson(
                entity_id=entity.id,
                caption=entity.caption,
                betweenness=float(item.get("betweenness") or 0),
                degree=float(item.get("degree") or 0),
                links=_key_links(session, viewer, list(item.get("links") or []), entities),
            )
        )
    return people


def _summary(session: Session, viewer: Viewer, group: FusionGroup) -> GroupSummary:
    ids = {str(p.get("entity_id")) for p in group.key_people or []}
    for person in group.key_people or []:
        for link in person.get("links") or []:
            ids.update({str(link[0]), str(link[1])})
    entities = _captions(session, viewer, ids)
    return GroupSummary(
        id=group.id,
        label=group.label,
        size=group.size,
        density=group.density,
        key_people=_key_people(session, viewer, group, entities),
    )


def groups(session: Session, principal: Principal) -> list[GroupSummary]:
    """Groups detected in the viewer's scope, largest first."""
    viewer = viewer_of(session, principal)
    rows = list(
        session.scalars(
            select(FusionGroup)
            .where(FusionGroup.scope == viewer.scope)
            .order_by(FusionGroup.size.desc(), FusionGroup.id)
        )
    )
    record_audit(
        session,
        principal,
        "fusion.groups.read",
        "fusion_scope",
        viewer.scope,
        detail=f"{len(rows)} groups",
    )
    return [_summary(session, viewer, g) for g in rows]


def group_detail(session: Session, principal: Principal, group_id: str) -> GroupDetail:
    """One group: its members, the links among them with their evidence, and its chart."""
    viewer = viewer_of(session, principal)
    group = session.get(FusionGroup, (viewer.scope, group_id)) if len(group_id) <= MAX_ID else None
    if group is None:
        raise NotFound("fusion_group", group_id)
    summary = _summary(session, viewer, group)
    entities = _captions(session, viewer, group.members or [])
    keys = {p.entity_id for p in summary.key_people}
    members = [
        GroupMember(
            entity_id=e.id, caption=e.caption, rag=e.rag, is_child=e.is_child, key=e.id in keys
        )
        for e in sorted(entities.values(), key=lambda e: (e.id not in keys, e.caption, e.id))
    ]
    edges = _group_edges(session, viewer, group, entities)
    record_audit(
        session,
        principal,
        "fusion.group.read",
        "fusion_group",
        group.id,
        detail=f"{len(members)} members",
    )
    return GroupDetail(
        **summary.model_dump(),
        members=members,
        edges=edges,
        network=group_network(members, edges),
    )


def _group_edges(
    session: Session, viewer: Viewer, group: FusionGroup, entities: dict[str, FusionEntity]
) -> list[GroupEdge]:
    edges = []
    for item in group.edges or []:
        a, b = str(item[0]), str(item[1])
        records = [str(r) for r in (item[3] if len(item) > 3 else [])]
        evidence = evidence_records(session, viewer, records)
        if evidence is None or a not in entities or b not in entities:
            continue
        edges.append(
            GroupEdge(
                a=a,
                b=b,
                a_caption=entities[a].caption,
                b_caption=entities[b].caption,
                weight=float(item[2]) if len(item) > 2 else 1.0,
                evidence=evidence,
            )
        )
    return edges


# --- runs -----------------------------------------------------------------------------------


#: Figures about a run itself, which count nobody's records.
RUN_FIGURES = ("as_of", "seconds")
#: Figures of one scope, shown only to those whose scope it is.
SCOPE_FIGURES = (
    *("sources", "records", "person_records", "entities", "persons", "children"),
    *("groups", "hits", "red", "amber", "green"),
)


def own_run_stats(stats: dict[str, Any], scope: str) -> dict[str, Any]:
    """What a run found in this scope alone: totals over every source, or another scope's
    figures, would count records from sources the viewer may not see."""
    own: dict[str, Any] = next(
        (s for s in stats.get("by_scope") or [] if s.get("scope") == scope), {}
    )
    return {
        **{k: stats[k] for k in RUN_FIGURES if k in stats},
        **{k: own[k] for k in SCOPE_FIGURES if k in own},
    }


def recent_runs(session: Session, principal: Principal, limit: int = 20) -> list[RunRead]:
    """The latest linkage and analysis runs, with what each found in the viewer's scope."""
    viewer = viewer_of(session, principal)
    rows = session.scalars(select(FusionRun).order_by(FusionRun.started_at.desc()).limit(limit))
    return [
        RunRead(
            id=r.id,
            status=r.status,
            started_at=r.started_at,
            finished_at=r.finished_at,
            stats=own_run_stats(dict(r.stats or {}), viewer.scope),
            error=r.error,
        )
        for r in rows
    ]


# --- the overview ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRow:
    """A source the viewer may see, as the overview and the sources page list it."""

    source: FusionSource
    agency: str
    legal_basis_label: str


@dataclass(frozen=True)
class ScopeSummary:
    """What analysis found in the viewer's scope: counts only, no person named."""

    analysed: bool
    computed_at: datetime | None
    entities: int
    people: int
    flagged: dict[str, int]
    groups: int


def visible_sources(session: Session, principal: Principal) -> list[SourceRow]:
    """Every source the viewer may see, with its agency, by agency and name."""
    require_fusion(principal)
    rows = session.execute(
        select(FusionSource, Organisation.name)
        .join(Organisation, Organisation.id == FusionSource.owner_org_id)
        .where(visible_clause(principal, FusionSource, FusionSource.record_type))
        .order_by(Organisation.name, FusionSource.name)
    ).all()
    return [SourceRow(s, agency, legal_basis_label(s.legal_basis_kind)) for s, agency in rows]


def legal_basis_label(kind: str) -> str:
    try:
        return LegalBasis(kind).label
    except ValueError:
        return kind


def scope_summary(session: Session, principal: Principal) -> ScopeSummary:
    """Counts of entities, people, flags by RAG and groups in the viewer's scope."""
    viewer = viewer_of(session, principal)
    scope = session.get(FusionScope, viewer.scope)
    by_schema = dict(
        session.execute(
            select(FusionEntity.schema, func.count())
            .where(FusionEntity.scope == viewer.scope)
            .group_by(FusionEntity.schema)
        ).all()
    )
    flagged = dict(
        session.execute(
            select(FusionEntity.rag, func.count())
            .where(
                FusionEntity.scope == viewer.scope,
                FusionEntity.schema == "Person",
                FusionEntity.rag != "",
            )
            .group_by(FusionEntity.rag)
        ).all()
    )
    group_count = session.scalar(
        select(func.count()).select_from(FusionGroup).where(FusionGroup.scope == viewer.scope)
    )
    return ScopeSummary(
        analysed=scope is not None,
        computed_at=scope.computed_at if scope else None,
        entities=int(sum(by_schema.values())),
        people=int(by_schema.get("Person", 0)),
        flagged={r: int(flagged.get(r, 0)) for r in RAG_ORDER},
        groups=int(group_count or 0),
    )


def person_records(session: Session, principal: Principal, entity_id: str) -> list[str]:
    """The person records of an entity in the viewer's scope that the viewer may see."""
    viewer = viewer_of(session, principal)
    entity = entity_in_scope(session, viewer, entity_id)
    members = _member_probabilities(session, viewer.scope, entity.id)
    return sorted(
        r.id for r in visible_records(session, viewer, members).values() if r.schema == "Person"
    )
