"""The entity graph of one scope: records resolved into entities, the links between them,
the association and co-offending network over people, its groups and their key people, and
the view of it all that indicators read (:class:`Context`: events, ages, homes).

Every link keeps the record ids behind it, so a group, a key person or an indicator can show
exactly which facts put it there. Everything here works on the facts of one scope only.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from typing import Any

import graspologic_native as gn
import networkx as nx

#: Roles that make two people involved in the same event co-offenders.
CO_OFFENDING_ROLES = frozenset({"suspect", "offender", "arrested", "associate"})
#: How strongly each kind of tie binds two people in the association network.
TIE_WEIGHTS = {"associate": 1.0, "co-offending": 1.0, "shared-phone": 0.5, "shared-vehicle": 0.5}
#: An event with more co-involved people than this is a crowd, not a co-offending group.
MAX_CO_INVOLVED = 30
#: A phone or vehicle used by more people than this (a switchboard, a hire van) ties nobody.
MAX_SHARED_USERS = 10
#: Groups smaller than this are not reported; larger than ``MAX_GROUP`` are split again.
MIN_GROUP = 5
MAX_GROUP = 50
#: A group's ties must weigh at least this many times what a bare chain of its members would
#: (size - 1): a community carved out of a sparse web of one-off contacts is not a group.
MIN_COHESION = 2.0
#: Under this age on the analysis date, a person is a child.
CHILD_AGE = 18
#: How many key people a group names.
KEY_PEOPLE = 3
LEIDEN_SEED = 42


@dataclass(frozen=True, slots=True)
class Record:
    """One fact as analysis sees it (a ``FusionRecord`` without the database)."""

    id: str
    source_id: str
    schema: str
    caption: str = ""
    properties: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    occurred_on: date | None = None

    def values(self, name: str) -> list[str]:
        return [str(v) for v in self.properties.get(name) or () if str(v).strip()]

    def first(self, name: str) -> str:
        found = self.values(name)
        return found[0] if found else ""


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation one source recorded between two of its records."""

    id: str
    source_id: str
    kind: str
    from_id: str
    to_id: str
    role: str = ""
    properties: Mapping[str, Sequence[Any]] = field(default_factory=dict)


@dataclass
class Facts:
    """Records and relations, with the agency (owning organisation) behind each source."""

    records: dict[str, Record]
    relations: list[Relation]
    agency_of: dict[str, str] = field(default_factory=dict)
    agency_names: dict[str, str] = field(default_factory=dict)

    def within(self, source_ids: Iterable[str]) -> Facts:
        """Only the facts of these sources: what one scope may rest on."""
        allowed = frozenset(source_ids)
        records = {k: r for k, r in self.records.items() if r.source_id in allowed}
        relations = [
            r
            for r in self.relations
            if r.source_id in allowed and r.from_id in records and r.to_id in records
        ]
        agencies = {s: a for s, a in self.agency_of.items() if s in allowed}
        return Facts(records, relations, agencies, self.agency_names)

    def of_schema(self, schema: str) -> list[Record]:
        return [r for r in self.records.values() if r.schema == schema]


# --- deterministic entity resolution for everything but people ------------------------------


def normal_postcode(raw: str) -> str:
    compact = "".join(raw.split()).upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


def normal_text(raw: str) -> str:
    """Upper case words without punctuation: "12, High St." -> "12 HIGH ST"."""
    return " ".join(re.sub(r"[^0-9A-Za-z]+", " ", raw).upper().split())


def identity_keys(record: Record) -> list[str]:
    """The keys under which two records of the same type are the same thing."""
    schema = record.schema
    if schema == "Address":
        keys = [f"uprn:{normal_text(u)}" for u in record.values("uprn")]
        line1, postcode = record.first("line1"), record.first("postcode")
        if line1 and postcode:
            keys.append(f"addr:{normal_postcode(postcode)}|{normal_text(line1)}")
        return keys
    if schema == "Phone":
        return [f"phone:{re.sub(r'[^0-9]', '', n)}" for n in record.values("number")]
    if schema == "Email":
        return [f"email:{a.strip().lower()}" for a in record.values("address")]
    if schema == "Vehicle":
        return [f"vrm:{normal_text(v).replace(' ', '')}" for v in record.values("registration")]
    if schema == "Organisation":
        keys = [f"urn:{normal_text(u)}" for u in record.values("urn")]
        return keys + [f"org:{normal_text(n)}" for n in record.values("name")]
    return []


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def resolve_entities(
    records: Iterable[Record], person_clusters: Mapping[str, str]
) -> dict[str, str]:
    """Record id -> entity id ("e" + the smallest member record id).

    People come from linkage (``person_clusters``: record id -> cluster id); addresses,
    phones, emails, vehicles and organisations join when they share a normalised key;
    each event is its own entity.
    """
    groups = _UnionFind()
    owner_of_key: dict[tuple[str, str], str] = {}
    ids: list[str] = []
    for record in records:
        ids.append(record.id)
        if record.schema == "Person":
            groups.union(record.id, person_clusters.get(record.id, record.id))
            continue
        groups.find(record.id)
        for key in identity_keys(record):
            first = owner_of_key.setdefault((record.schema, key), record.id)
            groups.union(first, record.id)
    return {rid: "e" + groups.find(rid) for rid in ids}


# --- the entity graph --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """One relation between two entities, with the records at either end."""

    kind: str
    role: str
    from_entity: str
    to_entity: str
    from_record: str
    to_record: str
    relation_id: str
    properties: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    @property
    def records(self) -> tuple[str, str]:
        return (self.from_record, self.to_record)

    def other(self, entity: str) -> str:
        return self.to_entity if entity == self.from_entity else self.from_entity

    def record_at(self, entity: str) -> str:
        return self.from_record if entity == self.from_entity else self.to_record


class EntityGraph:
    """People, addresses, vehicles, phones, emails, events and organisations of one scope."""

    def __init__(self, facts: Facts, entity_of: Mapping[str, str]) -> None:
        self.facts = facts
        self.entity_of = dict(entity_of)
        members: dict[str, list[str]] = defaultdict(list)
        for rid, eid in self.entity_of.items():
            members[eid].append(rid)
        self.members = {e: sorted(rs) for e, rs in members.items()}
        self.schema_of = {e: facts.records[rs[0]].schema for e, rs in self.members.items()}
        self.links: dict[str, list[Link]] = defaultdict(list)
        for rel in facts.relations:
            a, b = self.entity_of.get(rel.from_id), self.entity_of.get(rel.to_id)
            if a is None or b is None or a == b:
                continue
            link = Link(rel.kind, rel.role, a, b, rel.from_id, rel.to_id, rel.id, rel.properties)
            self.links[a].append(link)
            self.links[b].append(link)

    def records_of(self, entity: str) -> list[Record]:
        return [self.facts.records[r] for r in self.members.get(entity, ())]

    def entities(self, schema: str) -> list[str]:
        return sorted(e for e, s in self.schema_of.items() if s == schema)

    def links_of(self, entity: str, kind: str, outgoing: bool | None = None) -> list[Link]:
        """Links of one kind touching ``entity``; ``outgoing`` True/False picks a direction."""
        return [
            link
            for link in self.links.get(entity, ())
            if link.kind == kind and (outgoing is None or (link.from_entity == entity) == outgoing)
        ]

    def caption(self, entity: str) -> str:
        return best_record(self.records_of(entity)).caption or entity

    def to_networkx(self) -> nx.MultiDiGraph:
        """The whole entity graph, one edge per relation, for charts and exploration."""
        graph = nx.MultiDiGraph()
        for entity, schema in self.schema_of.items():
            graph.add_node(entity, schema=schema, caption=self.caption(entity))
        seen: set[str] = set()
        for links in self.links.values():
            for link in links:
                if link.relation_id in seen:
                    continue
                seen.add(link.relation_id)
                graph.add_edge(
                    link.from_entity,
                    link.to_entity,
                    key=link.relation_id,
                    kind=link.kind,
                    role=link.role,
                    records=list(link.records),
                )
        return graph


def best_record(records: Sequence[Record]) -> Record:
    """The fullest record (most property values), earliest id on a tie: it names the entity."""
    return min(records, key=lambda r: (-sum(len(r.values(p)) for p in r.properties), r.id))


# --- the association and co-offending network -----------------------------------------------


def association_network(graph: EntityGraph) -> nx.Graph:
    """People tied by ``associate_of``, co-offending and shared phones or vehicles.

    Each edge has ``weight`` (the sum of its ties' weights) and ``ties``: kind -> the record
    ids behind it (both people's records, and the event, phone or vehicle that ties them).
    """
    network = nx.Graph()
    for person in graph.entities("Person"):
        for link in graph.links_of(person, "associate_of", outgoing=True):
            if graph.schema_of[link.to_entity] == "Person":
                _tie(network, person, link.to_entity, "associate", link.records)
    for event in graph.entities("Event"):
        _co_involved(network, graph, event)
    for schema, kind in (("Phone", "shared-phone"), ("Vehicle", "shared-vehicle")):
        for thing in graph.entities(schema):
            _shared(network, graph, thing, kind)
    return network


def _tie(network: nx.Graph, a: str, b: str, kind: str, records: Iterable[str]) -> None:
    if a == b:
        return
    if not network.has_edge(a, b):
        network.add_edge(a, b, weight=0.0, ties={})
    data = network.edges[a, b]
    data["weight"] += TIE_WEIGHTS[kind]
    kept = data["ties"].setdefault(kind, [])
    kept.extend(r for r in records if r not in kept)


def _co_involved(network: nx.Graph, graph: EntityGraph, event: str) -> None:
    people: dict[str, list[str]] = defaultdict(list)
    for link in graph.links_of(event, "involved_in", outgoing=False):
        if link.role in CO_OFFENDING_ROLES:
            people[link.from_entity].append(link.from_record)
    if len(people) > MAX_CO_INVOLVED:
        return
    event_record = graph.members[event][0]
    for a, b in combinations(sorted(people), 2):
        _tie(network, a, b, "co-offending", [*people[a], *people[b], event_record])


def _shared(network: nx.Graph, graph: EntityGraph, thing: str, kind: str) -> None:
    users: dict[str, list[str]] = defaultdict(list)
    for link in graph.links_of(thing, "uses", outgoing=False):
        users[link.from_entity] += [link.from_record, link.to_record]
    if len(users) > MAX_SHARED_USERS:
        return
    for a, b in combinations(sorted(users), 2):
        _tie(network, a, b, kind, [*users[a], *users[b]])


def tie_records(network: nx.Graph, a: str, b: str) -> list[str]:
    """Every record id behind the tie between two people, in a stable order."""
    ties = network.edges[a, b]["ties"]
    return sorted({r for records in ties.values() for r in records})


# --- groups ---------------------------------------------------------------------------------


@dataclass
class Group:
    """A community of people in the association network, with its key people."""

    id: str
    label: str
    members: list[str]
    edges: list[list[Any]]
    density: float
    key_people: list[dict[str, Any]]
    betweenness: dict[str, float]


def communities(
    network: nx.Graph, *, max_size: int = MAX_GROUP, seed: int = LEIDEN_SEED
) -> list[set[str]]:
    """Connected groups of people of at most ``max_size`` (unless they cannot be split).

    A connected component small enough is one community as it stands (modularity would
    always cut it, however tight); a larger one is split by Leiden, and any part still
    larger than ``max_size`` is split again at a rising resolution.
    """
    pending = [set(c) for c in nx.connected_components(network) if len(c) > 1]
    out: list[set[str]] = []
    while pending:
        part = pending.pop()
        pieces = _split(network.subgraph(part), seed) if len(part) > max_size else [part]
        if len(pieces) <= 1:
            out.append(part)  # small enough, or as tight as it gets
        else:
            pending.extend(pieces)
    return sorted(out, key=lambda c: (-len(c), min(c)))


def _leiden(network: nx.Graph, resolution: float, seed: int) -> list[set[str]]:
    edges = [(a, b, float(d["weight"])) for a, b, d in network.edges(data=True)]
    if not edges:
        return [set(network.nodes)]
    _quality, assignment = gn.leiden(edges=edges, resolution=resolution, seed=seed, trials=2)
    parts: dict[int, set[str]] = defaultdict(set)
    for node, part in assignment.items():
        parts[part].add(node)
    return list(parts.values())


def _split(sub: nx.Graph, seed: int) -> list[set[str]]:
    """Split one oversized community, raising the resolution until it comes apart."""
    resolution = 1.0
    while resolution <= 64:
        pieces = _leiden(sub, resolution, seed)
        if len(pieces) > 1:
            return pieces
        resolution *= 2
    return [set(sub.nodes)]


def detect_groups(
    network: nx.Graph,
    captions: Mapping[str, str],
    *,
    min_size: int = MIN_GROUP,
    max_size: int = MAX_GROUP,
    min_cohesion: float = MIN_COHESION,
    seed: int = LEIDEN_SEED,
) -> list[Group]:
    """Cohesive groups of ``min_size``..``max_size`` people, largest first, with key people."""
    groups = []
    for members in communities(network, max_size=max_size, seed=seed):
        sub = network.subgraph(members)
        if len(members) >= min_size and cohesion(sub) >= min_cohesion:
            groups.append(_group(sub.copy(), captions))
    return groups


def cohesion(sub: nx.Graph) -> float:
    """The weight of a community's ties per member beyond the first (a chain scores 1)."""
    size = sub.number_of_nodes()
    total = sum(float(d["weight"]) for _a, _b, d in sub.edges(data=True))
    return total / (size - 1) if size > 1 else 0.0


def _group(sub: nx.Graph, captions: Mapping[str, str]) -> Group:
    members = sorted(sub.nodes)
    for _a, _b, data in sub.edges(data=True):
        data["distance"] = 1.0 / float(data["weight"])
    betweenness = nx.betweenness_centrality(sub, weight="distance", normalized=True)
    degree = nx.degree_centrality(sub)
    ranked = sorted(members, key=lambda e: (-betweenness[e], -degree[e], e))[:KEY_PEOPLE]
    key_people = [
        {
            "entity_id": e,
            "betweenness": round(betweenness[e], 4),
            "degree": round(degree[e], 4),
            "links": _links_of(sub, e),
        }
        for e in ranked
    ]
    edges = [
        [a, b, round(float(d["weight"]), 3), tie_records(sub, a, b)]
        for a, b, d in sorted(sub.edges(data=True), key=lambda t: tuple(sorted(t[:2])))
    ]
    edges = [[min(a, b), max(a, b), w, r] for a, b, w, r in edges]
    size = len(members)
    possible = size * (size - 1) / 2
    lead = captions.get(ranked[0], ranked[0])
    return Group(
        id="g" + members[0][1:],
        label=f"Group of {size} around {lead}",
        members=members,
        edges=edges,
        density=round(sub.number_of_edges() / possible, 4) if possible else 0.0,
        key_people=key_people,
        betweenness={e: round(betweenness[e], 4) for e in members},
    )


def _links_of(sub: nx.Graph, entity: str) -> list[list[Any]]:
    """[a, b, kind, [record ids]] for each tie of one person inside the group."""
    out: list[list[Any]] = []
    for other in sorted(sub.neighbors(entity)):
        for kind, records in sorted(sub.edges[entity, other]["ties"].items()):
            out.append([entity, other, kind, sorted(records)])
    return out


def group_ties(network: nx.Graph, group: Group, entity: str) -> list[str]:
    """The record ids of the ties that put ``entity`` in ``group``."""
    members = set(group.members)
    records: set[str] = set()
    for other in network.neighbors(entity):
        if other in members:
            records.update(tie_records(network, entity, other))
    return sorted(records)


def most_common(values: Iterable[str]) -> str | None:
    """The most frequent value (the smallest on a tie), or None."""
    counts = Counter(v for v in values if v)
    if not counts:
        return None
    return min(counts, key=lambda v: (-counts[v], v))


# --- one scope as indicators see it -------------------------------------------------------------


@dataclass(frozen=True)
class EventLink:
    """An event a person is involved in, through which of the person's records, in what role."""

    event: Record
    role: str
    person_record: str

    @property
    def on(self) -> date | None:
        return self.event.occurred_on

    @property
    def records(self) -> tuple[str, str]:
        return (self.person_record, self.event.id)


@dataclass
class Context:
    """A scope's graph, its association network and groups, and the analysis date."""

    graph: EntityGraph
    network: nx.Graph
    groups: list[Group]
    as_of: date
    group_of: dict[str, Group] = field(default_factory=dict)
    _events: dict[str, list[EventLink]] = field(default_factory=dict)
    _dob: dict[str, date | None] = field(default_factory=dict)
    _homes: dict[str, list[Link]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.group_of = {m: g for g in self.groups for m in g.members}

    def events(self, person: str) -> list[EventLink]:
        """Events up to the analysis date that this person is involved in."""
        if person not in self._events:
            records = self.graph.facts.records
            links = [
                EventLink(records[link.to_record], link.role, link.from_record)
                for link in self.graph.links_of(person, "involved_in", outgoing=True)
            ]
            self._events[person] = [e for e in links if e.on is None or e.on <= self.as_of]
        return self._events[person]

    def date_of_birth(self, person: str) -> date | None:
        if person not in self._dob:
            values = [v for r in self.graph.records_of(person) for v in r.values("date_of_birth")]
            best = most_common(values)
            self._dob[person] = _date_or_none(best)
        return self._dob[person]

    def age(self, person: str) -> int | None:
        born = self.date_of_birth(person)
        if born is None or born > self.as_of:
            return None
        before_birthday = (self.as_of.month, self.as_of.day) < (born.month, born.day)
        return self.as_of.year - born.year - int(before_birthday)

    def is_child(self, person: str) -> bool:
        age = self.age(person)
        return age is not None and age < CHILD_AGE

    def agency(self, record_id: str) -> str:
        source = self.graph.facts.records[record_id].source_id
        return self.graph.facts.agency_of.get(source, source)

    def caption(self, entity: str, records: Iterable[str]) -> str:
        """The entity's name as the given records (the evidence) tell it."""
        cited = set(records)
        mine = [r for r in self.graph.records_of(entity) if r.id in cited]
        return (best_record(mine).caption or self.graph.schema_of[entity]) if mine else entity

    def current_homes(self, person: str) -> list[Link]:
        """``lives_at`` links that have begun and not ended by the analysis date."""
        if person not in self._homes:
            today = self.as_of.isoformat()
            out = []
            for link in self.graph.links_of(person, "lives_at", outgoing=True):
                began = [str(v) for v in link.properties.get("from") or ()]
                ended = [str(v) for v in link.properties.get("to") or ()]
                if (began and min(began) > today) or (ended and max(ended) < today):
                    continue
                out.append(link)
            self._homes[person] = out
        return self._homes[person]


def _date_or_none(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
