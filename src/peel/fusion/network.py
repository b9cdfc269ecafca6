"""Network charts from the records: an entity's ego network, and a group's network.

Nodes are the entities of the viewer's scope (a record no entity holds stands for itself);
edges are the relations the viewer's sources recorded between their records. Places and
events linked to many people are drawn but not followed further, and the chart holds at most
:data:`MAX_NETWORK_NODES` nodes, so a school of a thousand pupils does not swamp a child's
chart. Positions come from :mod:`peel.fusion.charts`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from peel.fusion import charts
from peel.fusion.models import (
    FusionEntity,
    FusionEntityMember,
    FusionRecord,
    FusionRelation,
)
from peel.fusion.schema import entity_model
from peel.fusion.schemas import (
    GroupEdge,
    GroupMember,
    Network,
    NetworkEdge,
    NetworkNode,
)
from peel.fusion.scoped import Viewer, chunked, source_refs, visible_records

#: Nodes an entity's network chart shows at most; the rest are counted, not drawn.
MAX_NETWORK_NODES = 60
#: A node linked to more than this many others (a school, a hostel) is drawn but not expanded.
HUB_LINKS = 20


# --- network charts -------------------------------------------------------------------------


@dataclass
class _Graph:
    """Entities reached so far, the records behind each, and the relations between them."""

    viewer: Viewer
    owner: dict[str, str]  # record id -> node id
    records: dict[str, FusionRecord]
    hops: dict[str, int]
    left_out: int = 0


def _member_rows(session: Session, viewer: Viewer, column: Any, ids: list[str]) -> dict[str, str]:
    """Record id -> entity id of the scope's members whose ``column`` is among ``ids``."""
    rows: dict[str, str] = {}
    for chunk in chunked(ids):
        rows.update(
            session.execute(
                select(FusionEntityMember.record_id, FusionEntityMember.entity_id).where(
                    FusionEntityMember.scope == viewer.scope, column.in_(chunk)
                )
            ).all()
        )
    return rows


def _owners(session: Session, viewer: Viewer, record_ids: Iterable[str]) -> dict[str, str]:
    """Each record's entity in the scope (a record no entity holds stands for itself)."""
    ids = sorted(set(record_ids))
    owners = _member_rows(session, viewer, FusionEntityMember.record_id, ids)
    return {r: owners.get(r, r) for r in ids}


def relations_of(
    session: Session, viewer: Viewer, record_ids: Sequence[str]
) -> list[FusionRelation]:
    """Relations touching these records, recorded by sources the viewer may see."""
    found: dict[str, FusionRelation] = {}
    for chunk in chunked(sorted(set(record_ids))):
        found.update(
            (r.id, r)
            for r in session.scalars(
                select(FusionRelation).where(
                    or_(
                        FusionRelation.from_record_id.in_(chunk),
                        FusionRelation.to_record_id.in_(chunk),
                    ),
                    FusionRelation.source_id.in_(sorted(viewer.sources)),
                )
            )
        )
    return sorted(found.values(), key=lambda r: r.id)


def _members_of(session: Session, viewer: Viewer, node_ids: Iterable[str]) -> dict[str, str]:
    """Record id -> node id for every record of these nodes (entity ids or bare record ids)."""
    ids = sorted(set(node_ids))
    rows = _member_rows(session, viewer, FusionEntityMember.entity_id, ids)
    held = set(rows.values())
    rows.update({n: n for n in ids if n not in held})
    return rows


def _expand(session: Session, graph: _Graph, frontier: set[str], hop: int) -> set[str]:
    """Add the neighbours of the frontier nodes; returns the nodes added."""
    members = _members_of(session, graph.viewer, frontier)
    visible = visible_records(session, graph.viewer, members)
    graph.records.update(visible)
    graph.owner.update({r: members[r] for r in visible})
    relations = relations_of(session, graph.viewer, sorted(visible))
    ends = {x for r in relations for x in (r.from_record_id, r.to_record_id)} - set(visible)
    shown = visible_records(session, graph.viewer, ends)
    owners = _owners(session, graph.viewer, shown)
    neighbours: dict[str, set[str]] = defaultdict(set)
    for rel in relations:
        for here, there in (
            (rel.from_record_id, rel.to_record_id),
            (rel.to_record_id, rel.from_record_id),
        ):
            if here in visible and there in owners and owners[there] != graph.owner[here]:
                neighbours[graph.owner[here]].add(owners[there])
    added: set[str] = set()
    for node in sorted(frontier):
        new = sorted(neighbours[node] - set(graph.hops))
        if hop > 1 and len(neighbours[node]) > HUB_LINKS:
            graph.left_out += len(new)
            continue
        room = MAX_NETWORK_NODES - len(graph.hops)
        graph.left_out += max(0, len(new) - room)
        for other in new[: max(0, room)]:
            graph.hops[other] = hop
            added.add(other)
    return added


def ego_network(session: Session, viewer: Viewer, entity: FusionEntity, hops: int = 2) -> Network:
    """The entity and everything within ``hops`` links of it, as far as the viewer may see."""
    graph = _Graph(viewer, {}, {}, {entity.id: 0})
    frontier = {entity.id}
    for hop in range(1, hops + 1):
        frontier = _expand(session, graph, frontier, hop)
        if not frontier:
            break
    members = _members_of(session, viewer, set(graph.hops) - set(graph.owner.values()))
    graph.records.update(visible_records(session, viewer, members))
    graph.owner.update({r: members[r] for r in graph.records if r in members})
    return _network_of(session, graph, focus={entity.id})


def _network_of(session: Session, graph: _Graph, focus: set[str]) -> Network:
    """Nodes and the edges between them, from the relations among their records."""
    viewer = graph.viewer
    relations = relations_of(session, viewer, sorted(graph.owner))
    refs = source_refs(session, {r.source_id for r in relations})
    kinds = entity_model().relations
    edges: dict[tuple[str, str, str], NetworkEdge] = {}
    for rel in relations:
        a, b = graph.owner.get(rel.from_record_id), graph.owner.get(rel.to_record_id)
        if a is None or b is None or a == b:
            continue
        kind = kinds.get(rel.kind)
        label = kind.label if kind else rel.kind
        if rel.role:
            label += f" ({(kind.roles or {}).get(rel.role, rel.role) if kind else rel.role})"
        edge = edges.setdefault(
            (a, b, label),
            NetworkEdge(source=a, target=b, kind=rel.kind, label=label, agencies=[], records=[]),
        )
        agency = refs[rel.source_id].agency if rel.source_id in refs else ""
        if agency and agency not in edge.agencies:
            edge.agencies.append(agency)
        edge.records.append(rel.id)
    return charts.placed(_nodes(session, graph, focus), list(edges.values()), graph.left_out)


def _nodes(session: Session, graph: _Graph, focus: set[str]) -> list[NetworkNode]:
    entities = {
        e.id: e
        for e in session.scalars(
            select(FusionEntity).where(
                FusionEntity.scope == graph.viewer.scope, FusionEntity.id.in_(sorted(graph.hops))
            )
        )
    }
    nodes = []
    for node_id, hop in graph.hops.items():
        entity = entities.get(node_id)
        record = graph.records.get(node_id)
        if entity is None and record is None:
            continue
        label = entity.caption if entity else (record.caption if record else node_id)
        nodes.append(
            NetworkNode(
                id=node_id,
                schema_name=entity.schema if entity else (record.schema if record else ""),
                label=label or node_id,
                href=f"/fusion/entities/{node_id}" if entity else None,
                rag=entity.rag if entity else "",
                hops=hop,
                key=node_id in focus,
                x=0.5,
                y=0.5,
            )
        )
    return nodes


def group_network(members: list[GroupMember], edges: list[GroupEdge]) -> Network:
    nodes = [
        NetworkNode(
            id=m.entity_id,
            schema_name="Person",
            label=m.caption,
            href=f"/fusion/entities/{m.entity_id}",
            rag=m.rag,
            hops=0 if m.key else 1,
            key=m.key,
            x=0.5,
            y=0.5,
        )
        for m in members
    ]
    lines = [
        NetworkEdge(
            source=e.a,
            target=e.b,
            kind="associate_of",
            label=f"Tied (weight {e.weight:g})",
            agencies=sorted({x.source.agency for x in e.evidence if x.source}),
            records=[x.record_id for x in e.evidence],
        )
        for e in edges
    ]
    return charts.placed(nodes, lines)
