"""One analysis run: link people across sources, then derive entities, groups and risk per scope.

Steps, each reporting progress: (1) score every pair of person records (Splink) and keep the
pairs above the keep threshold; (2) find the scopes — for every organisation with someone who
may use fusion, the set of sources it may see; (3) for each scope, from that scope's facts
only: cluster people (pairs between records in the scope, and practitioners' decisions made
by organisations that see no source outside it), resolve addresses, phones, vehicles …
deterministically, build the entity graph, detect groups, fire indicators and rate each
person; (4) write it all, one transaction per scope, and the run.

Nothing is written until everything is computed, so a failure leaves the previous results in
place and marks the run failed with its error.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from peel.core.audit import record_audit
from peel.core.config import Settings
from peel.core.db import new_id, transaction, utcnow
from peel.core.enums import Role
from peel.core.models import Organisation, User, UserRole
from peel.core.policy import Forbidden
from peel.core.principal import Principal
from peel.fusion import linkage
from peel.fusion.graph import (
    Context,
    EntityGraph,
    Facts,
    Group,
    Record,
    Relation,
    association_network,
    best_record,
    detect_groups,
    resolve_entities,
)
from peel.fusion.indicators import Hit, IndicatorSet, evaluate, load_indicators
from peel.fusion.models import (
    FusionEntity,
    FusionEntityMember,
    FusionGroup,
    FusionIndicatorHit,
    FusionLinkDecision,
    FusionMatch,
    FusionRecord,
    FusionRelation,
    FusionRun,
    FusionScope,
    FusionSource,
)
from peel.fusion.persons import person_rows
from peel.fusion.service import (
    FUSION_ROLES,
    SOURCE_MANAGER_ROLES,
    can_use_fusion,
    scope_key,
    visible_source_ids,
)

Progress = Callable[[float, str], None]
DERIVED = (FusionEntity, FusionEntityMember, FusionGroup, FusionIndicatorHit)
#: A deployment may put its own indicator rules here (under the fusion data folder).
INDICATORS_FILE = "indicators.yaml"


def may_run(actor: Principal) -> bool:
    """Analysts, supervisors and administrators (or the platform operator) start runs."""
    if actor.is_platform_admin and not actor.is_authenticated:
        return True
    return can_use_fusion(actor) and actor.has_any(*SOURCE_MANAGER_ROLES)


# --- reading the facts ------------------------------------------------------------------------


def load_facts(session: Session) -> Facts:
    """Every record and relation, with each source's owning agency."""
    records = {
        rid: Record(rid, src, schema, caption or "", props or {}, on)
        for rid, src, schema, caption, props, on in session.execute(
            select(
                FusionRecord.id,
                FusionRecord.source_id,
                FusionRecord.schema,
                FusionRecord.caption,
                FusionRecord.properties,
                FusionRecord.occurred_on,
            )
        )
    }
    relations = [
        Relation(rid, src, kind, a, b, role or "", props or {})
        for rid, src, kind, a, b, role, props in session.execute(
            select(
                FusionRelation.id,
                FusionRelation.source_id,
                FusionRelation.kind,
                FusionRelation.from_record_id,
                FusionRelation.to_record_id,
                FusionRelation.role,
                FusionRelation.properties,
            )
        )
    ]
    agency_of, names = {}, {}
    for sid, org_id, org_name in session.execute(
        select(FusionSource.id, FusionSource.owner_org_id, Organisation.name).join(
            Organisation, Organisation.id == FusionSource.owner_org_id
        )
    ):
        agency_of[sid], names[org_id] = org_id, org_name
    return Facts(records, relations, agency_of, names)


def fusion_scopes(session: Session) -> dict[str, frozenset[str]]:
    """Scope key -> sources, one for each distinct view an organisation using fusion has."""
    roles: dict[str, set[Any]] = defaultdict(set)
    for org_id, role in session.execute(
        select(User.organisation_id, UserRole.role)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.is_active.is_(True), UserRole.role.in_([r.value for r in FUSION_ROLES]))
    ):
        roles[org_id].add(Role(role))
    scopes: dict[str, frozenset[str]] = {}
    for org in session.scalars(select(Organisation).where(Organisation.id.in_(roles))):
        sources = visible_source_ids(session, _audience(org, frozenset(roles[org.id])))
        if sources:
            scopes[scope_key(sources)] = sources
    return scopes


def _audience(org: Organisation, roles: frozenset[Role] = frozenset()) -> Principal:
    """The members of one organisation, as the access policy sees them."""
    return Principal(
        organisation_id=org.id,
        organisation_name=org.name,
        organisation_type=org.type,
        client_of_id=org.client_of_id,
        roles=roles,
        display_name=f"fusion users of {org.code}",
    )


def active_decisions(session: Session) -> list[FusionLinkDecision]:
    return list(
        session.scalars(
            select(FusionLinkDecision)
            .where(FusionLinkDecision.withdrawn_at.is_(None))
            .order_by(FusionLinkDecision.created_at, FusionLinkDecision.id)
        )
    )


def deciders_sources(
    session: Session, decisions: Sequence[FusionLinkDecision]
) -> dict[str, frozenset[str]]:
    """Decision id -> the sources its organisation may see now: what it may rest on."""
    owners = {d.owner_org_id for d in decisions}
    seen = {
        org.id: visible_source_ids(session, _audience(org))
        for org in session.scalars(select(Organisation).where(Organisation.id.in_(owners)))
    }
    return {d.id: seen.get(d.owner_org_id, frozenset()) for d in decisions}


def decisions_for(inputs: ScopeInputs, source_ids: frozenset[str]) -> list[FusionLinkDecision]:
    """The decisions a scope may apply: those whose organisation sees no source outside the
    scope and still sees every record it named. A merge or split can rest on anything its
    organisation saw, so applying it in a narrower scope would reveal a hidden fact."""
    records = inputs.facts.records
    out = []
    for decision in inputs.decisions:
        seen = inputs.decided_over.get(decision.id, frozenset())
        named = {
            records[r].source_id
            for r in (*decision.left_records, *decision.right_records)
            if r in records
        }
        if seen <= source_ids and named <= seen:
            out.append(decision)
    return out


def constraints_within(
    decisions: Iterable[FusionLinkDecision], records: frozenset[str]
) -> list[linkage.LinkConstraint]:
    """Practitioners' decisions, each cut down to the records a scope holds."""
    out = []
    for decision in decisions:
        left = tuple(sorted(r for r in decision.left_records if r in records))
        right = tuple(sorted(r for r in decision.right_records if r in records))
        if decision.kind == "merge" and len(set(left) | set(right)) >= 2:
            together = sorted(set(left) | set(right))
            out.append(linkage.LinkConstraint("merge", (together[0],), tuple(together[1:])))
        elif decision.kind == "split" and left and right:
            out.append(linkage.LinkConstraint("split", left, right))
    return out


# --- one scope --------------------------------------------------------------------------------


@dataclass
class ScopeResult:
    """Everything derived for one scope, ready to write."""

    key: str
    source_ids: frozenset[str]
    entities: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    hits: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScopeInputs:
    """What every scope is computed from: all facts, all scored pairs, and the rules."""

    facts: Facts
    pairs: pa.Table
    decisions: Sequence[FusionLinkDecision]
    indicators: IndicatorSet
    as_of: date
    threshold: float
    #: Decision id -> the sources its organisation may see (see :func:`decisions_for`).
    decided_over: Mapping[str, frozenset[str]] = field(default_factory=dict)


def scope_pairs(pairs: pa.Table, records: Sequence[str]) -> pa.Table:
    """Only the pairs between two records of the scope: nothing links through a hidden one."""
    if pairs.num_rows == 0:
        return pairs
    wanted = pa.array(records, pa.string())
    both = pc.and_(pc.is_in(pairs["record_a"], wanted), pc.is_in(pairs["record_b"], wanted))
    return pairs.filter(both)


def identifier_table(facts: Facts, persons: Sequence[str]) -> pa.Table:
    """NHS, NI and PNC numbers of the scope's person records, so differing numbers never join."""
    columns: dict[str, list[str | None]] = {"record_id": list(persons)}
    for name in linkage.IDENTIFIER_COLUMNS:
        columns[name] = [facts.records[p].first(name) or None for p in persons]
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def analyse_scope(inputs: ScopeInputs, key: str, source_ids: frozenset[str]) -> ScopeResult:
    """Entities, groups and indicator hits for one scope, from its own facts only."""
    facts = inputs.facts.within(source_ids)
    persons = sorted(r.id for r in facts.records.values() if r.schema == "Person")
    pairs = scope_pairs(inputs.pairs, persons)
    rules = constraints_within(decisions_for(inputs, source_ids), frozenset(persons))
    clusters = (
        linkage.cluster(
            persons, pairs, inputs.threshold, rules, identifiers=identifier_table(facts, persons)
        )
        if persons
        else {}
    )
    graph = EntityGraph(facts, resolve_entities(facts.records.values(), clusters))
    network = association_network(graph)
    groups = detect_groups(network, {e: graph.caption(e) for e in network.nodes})
    context = Context(graph, network, groups, inputs.as_of)
    hits = {p: evaluate(inputs.indicators, context, p) for p in graph.entities("Person")}
    result = ScopeResult(key, source_ids)
    result.entities = _entity_rows(key, context, hits, inputs.indicators)
    result.members = _member_rows(key, graph, pairs, inputs.threshold)
    result.groups = [_group_row(key, g) for g in groups]
    result.hits = [_hit_row(key, e, h) for e, found in hits.items() for h in found]
    result.stats = _scope_stats(facts, result, len(persons))
    return result


def _entity_rows(
    key: str, context: Context, hits: Mapping[str, list[Hit]], indicators: IndicatorSet
) -> list[dict[str, Any]]:
    graph = context.graph
    rows = []
    for entity, schema in sorted(graph.schema_of.items()):
        records = graph.records_of(entity)
        score, rag = indicators.rate(hits.get(entity, []))
        group = context.group_of.get(entity)
        rows.append(
            {
                "scope": key,
                "id": entity,
                "schema": schema,
                "caption": (best_record(records).caption or schema)[:300],
                "record_count": len(records),
                "source_count": len({r.source_id for r in records}),
                "date_of_birth": context.date_of_birth(entity) if schema == "Person" else None,
                "is_child": schema == "Person" and context.is_child(entity),
                "score": score,
                "rag": rag,
                "group_id": group.id if group else None,
                "centrality": group.betweenness.get(entity, 0.0) if group else 0.0,
            }
        )
    return rows


def _member_rows(
    key: str, graph: EntityGraph, pairs: pa.Table, threshold: float
) -> list[dict[str, Any]]:
    """Each record's entity, and its strongest match to another record of that entity."""
    strongest: dict[str, float] = {}
    if pairs.num_rows:
        columns = pairs.select(["record_a", "record_b", "match_probability"]).to_pydict()
        for a, b, p in zip(*columns.values(), strict=True):
            if p >= threshold and graph.entity_of.get(a) == graph.entity_of.get(b):
                strongest[a] = max(strongest.get(a, 0.0), p)
                strongest[b] = max(strongest.get(b, 0.0), p)
    return [
        {
            "scope": key,
            "record_id": rid,
            "entity_id": eid,
            "match_probability": round(strongest.get(rid, 1.0), 6),
        }
        for rid, eid in sorted(graph.entity_of.items())
    ]


def _group_row(key: str, group: Group) -> dict[str, Any]:
    return {
        "scope": key,
        "id": group.id,
        "label": group.label[:200],
        "size": len(group.members),
        "members": group.members,
        "key_people": group.key_people,
        "edges": group.edges,
        "density": group.density,
    }


def _hit_row(key: str, entity: str, hit: Hit) -> dict[str, Any]:
    return {
        "id": new_id(),
        "scope": key,
        "entity_id": entity,
        "code": hit.code,
        "weight": hit.weight,
        "detail": hit.detail,
        "evidence": hit.evidence,
        "latest_on": hit.latest_on,
    }


def _scope_stats(facts: Facts, result: ScopeResult, person_records: int) -> dict[str, Any]:
    people = [e for e in result.entities if e["schema"] == "Person"]
    rag: dict[str, int] = defaultdict(int)
    for entity in people:
        rag[entity["rag"] or "none"] += 1
    return {
        "sources": len(result.source_ids),
        "source_ids": sorted(result.source_ids),
        "records": len(facts.records),
        "person_records": person_records,
        "entities": len(result.entities),
        "persons": len(people),
        "children": sum(1 for e in people if e["is_child"]),
        "groups": len(result.groups),
        "hits": len(result.hits),
        "red": rag["red"],
        "amber": rag["amber"],
        "green": rag["green"],
    }


# --- writing ----------------------------------------------------------------------------------


def write_matches(session: Session, pairs: pa.Table, run_id: str) -> None:
    """Replace every stored pair with this run's pairs (those above the keep threshold)."""
    session.execute(delete(FusionMatch))
    batch = 20_000
    for start in range(0, pairs.num_rows, batch):
        part = pairs.slice(start, batch).to_pydict()
        rows = [
            {
                "record_a": a,
                "record_b": b,
                "match_probability": float(p),
                "match_weight": float(w),
                "evidence": json.loads(e) if e else {},
                "run_id": run_id,
            }
            for a, b, p, w, e in zip(
                part["record_a"],
                part["record_b"],
                part["match_probability"],
                part["match_weight"],
                part["evidence"],
                strict=True,
            )
        ]
        session.execute(insert(FusionMatch), rows)


def write_scope(session: Session, result: ScopeResult, run_id: str) -> None:
    """Replace one scope's derived rows with this run's."""
    for model in DERIVED:
        session.execute(delete(model).where(model.scope == result.key))
    for model, rows in (
        (FusionEntity, result.entities),
        (FusionEntityMember, result.members),
        (FusionGroup, result.groups),
        (FusionIndicatorHit, result.hits),
    ):
        for start in range(0, len(rows), 20_000):
            session.execute(insert(model), rows[start : start + 20_000])
    scope = session.get(FusionScope, result.key) or FusionScope(key=result.key)
    scope.source_ids = sorted(result.source_ids)
    scope.run_id = run_id
    scope.computed_at = utcnow()
    scope.stats = result.stats
    session.add(scope)


def drop_scopes(session: Session, keep: Iterable[str]) -> int:
    """Remove the derived rows of scopes nobody has any more."""
    kept = set(keep)
    stale = [k for k in session.scalars(select(FusionScope.key)) if k not in kept]
    for model in DERIVED:
        session.execute(delete(model).where(model.scope.in_(stale)))
    session.execute(delete(FusionScope).where(FusionScope.key.in_(stale)))
    return len(stale)


# --- the run ----------------------------------------------------------------------------------


def run_analysis(
    sessions: sessionmaker[Session],
    actor: Principal,
    settings: Settings,
    *,
    as_of: date | None = None,
    progress: Progress | None = None,
    spark: Any = None,
) -> str:
    """Link, analyse every scope and record the run; returns the run id (audited)."""
    if not may_run(actor):
        raise Forbidden("Only analysts, supervisors and administrators may run fusion analysis")
    report = progress or (lambda fraction, message: None)
    with transaction(sessions) as session:
        run = FusionRun(created_by_id=actor.user_id)
        session.add(run)
        session.flush()
        run_id = run.id
    try:
        stats, model = _run_steps(sessions, settings, run_id, as_of, report, spark)
    except Exception as exc:
        _finish(sessions, actor, run_id, "failed", {}, {}, f"{type(exc).__name__}: {exc}")
        raise
    _finish(sessions, actor, run_id, "done", stats, model, "")
    report(1.0, "Done")
    return run_id


def _run_steps(
    sessions: sessionmaker[Session],
    settings: Settings,
    run_id: str,
    as_of: date | None,
    report: Progress,
    spark: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    began = time.perf_counter()
    seconds: dict[str, float] = {}
    rules = indicator_rules(settings)  # a bad rule file fails the run before linkage starts
    report(0.0, "Reading records")
    with transaction(sessions) as session:
        facts = load_facts(session)
        scopes = fusion_scopes(session)
        decisions = active_decisions(session)
        decided_over = deciders_sources(session, decisions)
    seconds["read"] = time.perf_counter() - began
    lapsed = time.perf_counter()
    day = as_of or datetime.now(UTC).date()
    result = _link(facts, settings, day, report, spark)
    seconds["link"] = time.perf_counter() - lapsed
    inputs = ScopeInputs(
        facts, result.pairs, decisions, rules, day, settings.fusion_match_threshold, decided_over
    )
    lapsed = time.perf_counter()
    results = []
    for n, (key, sources) in enumerate(sorted(scopes.items())):
        report(0.5 + 0.35 * n / max(len(scopes), 1), f"Analysing scope {n + 1} of {len(scopes)}")
        results.append(analyse_scope(inputs, key, sources))
    seconds["analyse"] = time.perf_counter() - lapsed
    lapsed = time.perf_counter()
    _write(sessions, result.pairs, results, run_id, report)
    seconds["write"] = time.perf_counter() - lapsed
    seconds["total"] = time.perf_counter() - began
    stats = _run_stats(facts, result, results, inputs.as_of, seconds)
    return stats, result.model


def indicator_rules(settings: Settings) -> IndicatorSet:
    """The deployment's own rules (``<data>/fusion/indicators.yaml``) or the shipped set."""
    path = settings.fusion_dir / INDICATORS_FILE
    return load_indicators(path if path.is_file() else None)


def _link(
    facts: Facts, settings: Settings, day: date, report: Progress, spark: Any
) -> linkage.LinkageResult:
    """Score every pair of person records across all sources (progress 5–50 %)."""
    addresses = {k: r for k, r in facts.records.items() if r.schema == "Address"}
    lives_at = [r for r in facts.relations if r.kind == "lives_at"]
    persons = person_rows(facts.of_schema("Person"), addresses, lives_at, day)
    report(0.05, f"Linking {persons.num_rows:,} person records")
    config = linkage.LinkageConfig(
        match_threshold=settings.fusion_match_threshold,
        keep_threshold=settings.fusion_keep_threshold,
        engine=settings.fusion_engine,
    )
    return linkage.score_pairs(
        persons, config, lambda f, message: report(0.05 + 0.45 * f, message), spark
    )


def _write(
    sessions: sessionmaker[Session],
    pairs: pa.Table,
    results: Sequence[ScopeResult],
    run_id: str,
    report: Progress,
) -> None:
    report(0.85, f"Writing {pairs.num_rows:,} scored pairs")
    with transaction(sessions) as session:
        write_matches(session, pairs, run_id)
    for n, result in enumerate(results):
        report(0.9 + 0.09 * n / max(len(results), 1), f"Writing scope {n + 1} of {len(results)}")
        with transaction(sessions) as session:
            write_scope(session, result, run_id)
    with transaction(sessions) as session:
        drop_scopes(session, [r.key for r in results])


def _run_stats(
    facts: Facts,
    linked: linkage.LinkageResult,
    results: Sequence[ScopeResult],
    as_of: date,
    seconds: dict[str, float],
) -> dict[str, Any]:
    totals = {k: sum(r.stats[k] for r in results) for k in ("entities", "groups", "hits")}
    return {
        "as_of": as_of.isoformat(),
        "records": len(facts.records),
        "relations": len(facts.relations),
        "persons": sum(1 for r in facts.records.values() if r.schema == "Person"),
        "pairs": linked.pairs.num_rows,
        "linkage": linked.stats,
        "scopes": len(results),
        **totals,
        "by_scope": [{"scope": r.key, **r.stats} for r in results],
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


def _finish(
    sessions: sessionmaker[Session],
    actor: Principal,
    run_id: str,
    status: str,
    stats: dict[str, Any],
    model: dict[str, Any],
    error: str,
) -> None:
    """Record how the run ended, and audit it."""
    with transaction(sessions) as session:
        run = session.get(FusionRun, run_id)
        assert run is not None
        run.status, run.stats, run.model, run.error = status, stats, model, error[:4000]
        run.finished_at = utcnow()
        summary = (
            f"scopes={stats.get('scopes', 0)} entities={stats.get('entities', 0)} "
            f"groups={stats.get('groups', 0)} hits={stats.get('hits', 0)}"
        )
        record_audit(
            session,
            actor,
            "fusion.analysis.run",
            "fusion_run",
            run_id,
            changes={"status": [None, status]},
            detail=summary if status == "done" else f"failed: {error[:500]}",
        )
