"""Sources, their records and relations, linkage, and what analysis derives from them.

Facts (``fusion_record``, ``fusion_relation``) belong to one source and are visible to
exactly those who may see that source (its owning agency, TLP label and shares). Everything
derived (entities, groups, indicator hits, the review queue) is computed per *scope*: the set
of sources one audience may see, so that nothing derived ever rests on a fact its viewer
could not see. See ``docs/fusion.md``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from peel.core.db import Base, new_id, utcnow
from peel.core.enums import TLP


class FusionSource(Base):
    """One agency's data set: what it is, the legal basis for sharing it, and who may see it.

    Visibility follows the core policy: owner organisation + TLP label + organisations it is
    shared with (``RecordShare`` rows of record type ``fusion_source``). RED is not allowed:
    named-recipient data is not for bulk fusion.
    """

    __tablename__ = "fusion_source"
    record_type = "fusion_source"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: Short unique code (lower case letters, digits, hyphens) used on the command line.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: safeguarding, law_enforcement, consent or other (see ``enums.LegalBasis``).
    legal_basis_kind: Mapped[str] = mapped_column(String(32))
    legal_basis: Mapped[str] = mapped_column(Text)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    tlp: Mapped[TLP] = mapped_column(String(16), default=TLP.amber)
    #: The YAML mapping from the agency's columns onto Peel's entity types.
    mapping: Mapped[str] = mapped_column(Text, default="")
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    relation_count: Mapped[int] = mapped_column(Integer, default=0)
    last_imported_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FusionImport(Base):
    """One attempt to import a file into a source, kept whether it landed or not."""

    __tablename__ = "fusion_import"
    __table_args__ = (Index("ix_fusion_import_source_time", "source_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(ForeignKey("fusion_source.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    #: csv, excel, json or parquet
    file_format: Mapped[str] = mapped_column(String(16))
    #: done or failed
    status: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[int] = mapped_column(Integer, default=0)
    relations: Mapped[int] = mapped_column(Integer, default=0)
    #: [{"row": 12, "column": "dob", "problem": "..."}], at most the first 200.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FusionRecord(Base):
    """One fact: an entity (Person, Address, Event, …) as one source recorded it.

    ``id`` is derived from (source, entity type, the source's own key), so re-importing a
    corrected file keeps ids stable and two agencies' "ID 42" never collide.
    """

    __tablename__ = "fusion_record"
    __table_args__ = (
        Index("ix_fusion_record_source_schema", "source_id", "schema"),
        Index("ix_fusion_record_schema", "schema"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("fusion_source.id", ondelete="CASCADE"))
    #: Entity type name from the entity-type YAML: Person, Address, Vehicle, Phone, Email,
    #: Organisation, Event.
    schema: Mapped[str] = mapped_column(String(32))
    #: The source's own identifier for this entity (joined key columns).
    source_key: Mapped[str] = mapped_column(String(300))
    caption: Mapped[str] = mapped_column(String(300), default="")
    #: Typed, multi-valued properties: {"given_name": ["Amy"], "date_of_birth": ["2011-03-02"]}.
    properties: Mapped[dict[str, list[Any]]] = mapped_column(JSON, default=dict)
    #: When it happened (Events) — drives timelines and time-window indicators.
    occurred_on: Mapped[date | None] = mapped_column(Date, default=None, index=True)
    #: First data row of the file that gave this record (1 = first row after the header).
    row_number: Mapped[int] = mapped_column(Integer, default=0)


class FusionRelation(Base):
    """A relation one source recorded between two of its records (lives at, involved in…)."""

    __tablename__ = "fusion_relation"
    __table_args__ = (
        Index("ix_fusion_relation_from", "from_record_id"),
        Index("ix_fusion_relation_to", "to_record_id"),
        Index("ix_fusion_relation_source", "source_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("fusion_source.id", ondelete="CASCADE"))
    #: lives_at, involved_in, associate_of, parent_of, attends, occurred_at, uses
    kind: Mapped[str] = mapped_column(String(32))
    from_record_id: Mapped[str] = mapped_column(String(40))
    to_record_id: Mapped[str] = mapped_column(String(40))
    #: For involved_in: victim, suspect, witness, missing person, patient, pupil, …
    role: Mapped[str] = mapped_column(String(64), default="")
    properties: Mapped[dict[str, list[Any]]] = mapped_column(JSON, default=dict)
    row_number: Mapped[int] = mapped_column(Integer, default=0)


class FusionMatch(Base):
    """A pair of person records Splink scored above the keep threshold, with its evidence."""

    __tablename__ = "fusion_match"
    __table_args__ = (Index("ix_fusion_match_b", "record_b"),)

    record_a: Mapped[str] = mapped_column(String(40), primary_key=True)
    record_b: Mapped[str] = mapped_column(String(40), primary_key=True)
    match_probability: Mapped[float] = mapped_column(Float)
    match_weight: Mapped[float] = mapped_column(Float)
    #: Per comparison: {"family_name": {"level": "Jaro-Winkler >= 0.92", "weight": 6.1}, …}
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    run_id: Mapped[str] = mapped_column(String(32), index=True)


class FusionLinkDecision(Base):
    """A practitioner's merge or split, re-applied every time linkage runs again.

    merge: every record in ``left_records`` and ``right_records`` is one person.
    split: no record in ``left_records`` is the same person as any in ``right_records``.
    """

    __tablename__ = "fusion_link_decision"
    record_type = "fusion_link_decision"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(8))
    left_records: Mapped[list[str]] = mapped_column(JSON)
    right_records: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    tlp: Mapped[TLP] = mapped_column(String(16), default=TLP.amber)
    decided_by_id: Mapped[str | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)


class FusionRun(Base):
    """One run of linkage and analysis: when, how it went, what it found, the model it used."""

    __tablename__ = "fusion_run"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: running, done or failed
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    #: {"records": …, "persons": …, "pairs": …, "scopes": …, "seconds": …}
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The trained Splink model (settings with m and u probabilities).
    model: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("user_account.id"))


class FusionScope(Base):
    """A set of sources one audience may see; every derived row belongs to one scope."""

    __tablename__ = "fusion_scope"

    #: sha256 of the sorted source ids (see ``service.scope_key``).
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_ids: Mapped[list[str]] = mapped_column(JSON)
    run_id: Mapped[str] = mapped_column(String(32))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FusionEntity(Base):
    """A person, address, vehicle, … as the records one scope can see resolve to."""

    __tablename__ = "fusion_entity"
    __table_args__ = (
        Index("ix_fusion_entity_queue", "scope", "schema", "score"),
        Index("ix_fusion_entity_group", "scope", "group_id"),
    )

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Stable while the entity keeps its earliest record: "e" + that record's id.
    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    schema: Mapped[str] = mapped_column(String(32))
    caption: Mapped[str] = mapped_column(String(300))
    record_count: Mapped[int] = mapped_column(Integer, default=1)
    source_count: Mapped[int] = mapped_column(Integer, default=1)
    date_of_birth: Mapped[date | None] = mapped_column(Date, default=None)
    is_child: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Sum of the weights of the indicators that fired; 0 when none did.
    score: Mapped[float] = mapped_column(Float, default=0)
    #: red, amber, green, or "" when no indicator fired.
    rag: Mapped[str] = mapped_column(String(8), default="")
    group_id: Mapped[str | None] = mapped_column(String(48), default=None)
    centrality: Mapped[float] = mapped_column(Float, default=0)


class FusionEntityMember(Base):
    """Which record belongs to which entity in a scope, and how strongly it is linked."""

    __tablename__ = "fusion_entity_member"
    __table_args__ = (Index("ix_fusion_member_entity", "scope", "entity_id"),)

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(48))
    #: Strongest match probability to another record of the entity (1.0 alone or exact key).
    match_probability: Mapped[float] = mapped_column(Float, default=1.0)


class FusionGroup(Base):
    """A community detected in the association and co-offending network of one scope."""

    __tablename__ = "fusion_group"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    #: Entity ids of the members.
    members: Mapped[list[str]] = mapped_column(JSON)
    #: [{"entity_id": …, "betweenness": …, "degree": …, "links": [[a, b, kind, [record ids]]]}]
    key_people: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: Association edges inside the group: [[entity a, entity b, weight, [record ids]]]
    edges: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    #: How tightly knit: edges inside / possible edges.
    density: Mapped[float] = mapped_column(Float, default=0)


class FusionIndicatorHit(Base):
    """An indicator that fired for an entity in a scope, with the records that made it fire."""

    __tablename__ = "fusion_indicator_hit"
    __table_args__ = (Index("ix_fusion_hit_entity", "scope", "entity_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(48))
    #: Indicator code from ``indicators.yaml`` (e.g. "missing-3-in-90").
    code: Mapped[str] = mapped_column(String(64))
    weight: Mapped[float] = mapped_column(Float)
    #: What fired, in words, naming no fact outside ``evidence``.
    detail: Mapped[str] = mapped_column(Text, default="")
    #: Record ids (facts) that made it fire, every one inside the scope.
    evidence: Mapped[list[str]] = mapped_column(JSON)
    latest_on: Mapped[date | None] = mapped_column(Date, default=None)


class FusionReviewDecision(Base):
    """A safeguarding reviewer's decision on a flagged entity, with the reason; audited.

    Labelled like any protected record: visible to the deciding organisation (AMBER+STRICT,
    since the rating and indicators rest on the sources that organisation may see).
    """

    __tablename__ = "fusion_review_decision"
    __table_args__ = (Index("ix_fusion_review_entity", "entity_id", "created_at"),)
    record_type = "fusion_review_decision"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    entity_id: Mapped[str] = mapped_column(String(48))
    #: no_further_action, refer, strategy_discussion
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    #: The RAG rating and indicator codes the reviewer saw when deciding.
    rag: Mapped[str] = mapped_column(String(8), default="")
    indicators: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    tlp: Mapped[TLP] = mapped_column(String(16), default=TLP.amber)
    decided_by_id: Mapped[str | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
