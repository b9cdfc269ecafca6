"""What the fusion API and pages show: the review queue, entities with their evidence, groups.

Every model here is built by :mod:`peel.fusion.queries` from the viewer's own scope, so a
response never holds a fact from a source its viewer may not see.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from peel.fusion.enums import LinkDecisionKind, ReviewOutcome

#: Reasons shorter than this say too little for the next reviewer to act on.
MIN_REASON = 10
MAX_REASON = 5000
#: Record ids one link decision may name on each side.
MAX_DECISION_RECORDS = 500


class SourceRef(BaseModel):
    """Where a fact comes from: the source and the agency that owns it."""

    id: str
    code: str
    name: str
    agency: str = Field(description="The organisation that owns the source")
    tlp: str


class Fact(BaseModel):
    """One property of a record, with its label, as the source recorded it."""

    property: str
    label: str
    values: list[str]


class MemberRecord(BaseModel):
    """One source record that belongs to the entity."""

    record_id: str
    schema_name: str = Field(description="Entity type of the record (Person, Event, …)")
    caption: str
    source: SourceRef
    source_key: str
    row_number: int
    match_probability: float = Field(
        description="Strongest match probability to another record of the entity"
    )
    facts: list[Fact]


class Comparison(BaseModel):
    """How one field compared between two records, and the weight it added."""

    name: str
    level: str
    weight: float | None


class LinkEvidence(BaseModel):
    """Why two records were judged to be the same person."""

    record_a: str
    record_b: str
    match_probability: float
    match_weight: float
    comparisons: list[Comparison]


class PossibleMatch(BaseModel):
    """Another person in the scope a record nearly matched (below the join threshold)."""

    entity_id: str
    caption: str
    link: LinkEvidence


class TimelineEvent(BaseModel):
    """One event the entity was involved in, from any agency the viewer may see."""

    record_id: str
    on: date | None
    kind: str
    kind_label: str
    category: str
    description: str
    outcome: str
    markers: list[str]
    role: str
    role_label: str
    person_record_id: str
    source: SourceRef


class EvidenceRecord(BaseModel):
    """A record an indicator or a group link rests on."""

    record_id: str
    schema_name: str
    caption: str
    on: date | None
    summary: str
    source: SourceRef | None = Field(description="None when the record is no longer held")


class IndicatorHitRead(BaseModel):
    """An indicator that fired, what it means, where it comes from, and its evidence."""

    code: str
    title: str
    description: str
    category: str
    published_source: str
    severity: str
    weight: float
    detail: str
    latest_on: date | None
    evidence: list[EvidenceRecord]


class IndicatorBrief(BaseModel):
    code: str
    title: str
    weight: float


class ReviewDecisionRead(BaseModel):
    id: str
    entity_id: str
    outcome: ReviewOutcome
    outcome_label: str
    reason: str
    rag: str
    indicators: list[str]
    decided_by: str
    organisation: str
    tlp: str
    created_at: datetime


class LinkDecisionRead(BaseModel):
    id: str
    kind: LinkDecisionKind
    left: list[str]
    right: list[str]
    reason: str
    decided_by: str
    organisation: str
    created_at: datetime
    withdrawn_at: datetime | None


class NetworkNode(BaseModel):
    """A person, address, event, … in a network chart, placed by a seeded spring layout."""

    id: str
    schema_name: str
    label: str
    href: str | None = Field(description="The entity page, when the node is an entity")
    rag: str
    hops: int = Field(description="Links from the chart's focus (0 for the focus itself)")
    key: bool = Field(description="The focus of an entity chart, or a group's key person")
    x: float = Field(description="Horizontal position from 0 to 1")
    y: float = Field(description="Vertical position from 0 to 1")


class NetworkEdge(BaseModel):
    source: str
    target: str
    kind: str
    label: str
    agencies: list[str]
    records: list[str] = Field(description="The relations' or facts' record ids")


class Network(BaseModel):
    nodes: list[NetworkNode]
    edges: list[NetworkEdge]
    left_out: int = Field(description="Nodes within reach that the chart leaves out")


class GroupRef(BaseModel):
    id: str
    label: str
    size: int


class EntityDetail(BaseModel):
    """Everything the entity page shows, all of it within the viewer's scope."""

    id: str
    schema_name: str
    caption: str
    date_of_birth: date | None
    is_child: bool
    rag: str
    score: float
    record_count: int
    source_count: int
    agencies: list[str]
    group: GroupRef | None
    records: list[MemberRecord]
    links: list[LinkEvidence]
    possible_matches: list[PossibleMatch]
    timeline: list[TimelineEvent]
    indicators: list[IndicatorHitRead]
    network: Network
    decisions: list[ReviewDecisionRead]
    link_decisions: list[LinkDecisionRead]
    computed_at: datetime | None


class QueueItem(BaseModel):
    entity_id: str
    caption: str
    date_of_birth: date | None
    is_child: bool
    rag: str
    score: float
    record_count: int
    source_count: int
    indicators: list[IndicatorBrief]
    indicator_count: int
    latest_decision: ReviewDecisionRead | None


class QueuePage(BaseModel):
    items: list[QueueItem]
    total: int
    page: int
    pages: int
    per_page: int
    rag: str | None
    counts: dict[str, int] = Field(description="Flagged entities by RAG rating")
    analysed: bool = Field(description="Whether analysis has run for the viewer's sources")
    computed_at: datetime | None


class GroupLink(BaseModel):
    """A tie between two people of a group, and the records it rests on."""

    source: str
    target: str
    source_caption: str
    target_caption: str
    kind: str = Field(description="associate, co-offending, shared-phone or shared-vehicle")
    label: str
    evidence: list[EvidenceRecord]


class KeyPerson(BaseModel):
    entity_id: str
    caption: str
    betweenness: float = Field(description="Betweenness centrality in the group, 0 to 1")
    degree: float = Field(description="Share of the group's other members they are tied to")
    links: list[GroupLink] = Field(description="The ties that put them at the centre")


class GroupSummary(BaseModel):
    id: str
    label: str
    size: int
    density: float
    key_people: list[KeyPerson]


class GroupMember(BaseModel):
    entity_id: str
    caption: str
    rag: str
    is_child: bool
    key: bool


class GroupEdge(BaseModel):
    a: str
    b: str
    a_caption: str
    b_caption: str
    weight: float
    evidence: list[EvidenceRecord]


class GroupDetail(GroupSummary):
    members: list[GroupMember]
    edges: list[GroupEdge]
    network: Network


class RunRead(BaseModel):
    id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    stats: dict[str, Any]
    error: str


class RunStarted(BaseModel):
    job_id: str
    link: str = Field(description="Where to follow the job's progress")


class ReviewDecisionCreate(BaseModel):
    outcome: ReviewOutcome
    reason: str = Field(min_length=MIN_REASON, max_length=MAX_REASON)


class LinkDecisionCreate(BaseModel):
    kind: LinkDecisionKind = Field(
        description="merge: all these records are one person; split: no record on the left "
        "is the same person as any on the right"
    )
    left: list[str] = Field(min_length=1, max_length=MAX_DECISION_RECORDS)
    right: list[str] = Field(min_length=1, max_length=MAX_DECISION_RECORDS)
    reason: str = Field(min_length=MIN_REASON, max_length=MAX_REASON)
