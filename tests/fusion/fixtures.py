"""Factories that put fusion sources, records and relations straight into the database.

They write exactly what an import would (ids from ``schema.record_id``/``relation_id``,
captions, ``occurred_on``) and share sources the way the core does (``RecordShare`` rows of
record type ``fusion_source``), so tests of linkage, analysis and pages need no files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from peel.core.enums import TLP
from peel.core.models import Organisation, RecordShare
from peel.fusion.enums import LegalBasis
from peel.fusion.models import FusionRecord, FusionRelation, FusionSource
from peel.fusion.schema import caption_for, entity_model, record_id, relation_id

OrgRef = Organisation | str


def _org_id(org: OrgRef) -> str:
    return org if isinstance(org, str) else org.id


def make_source(
    db: Session,
    owner: OrgRef,
    code: str = "test-source",
    *,
    tlp: TLP = TLP.amber,
    share_with: Sequence[OrgRef] = (),
    name: str | None = None,
    legal_basis_kind: LegalBasis = LegalBasis.safeguarding,
    legal_basis: str = "Children Act 2004 s.11",
    mapping: str = "",
    created_by_id: str | None = None,
) -> FusionSource:
    """A source owned by ``owner`` at ``tlp``, shared with each organisation in ``share_with``."""
    source = FusionSource(
        code=code,
        name=name or code.replace("-", " ").title(),
        description="",
        legal_basis_kind=legal_basis_kind.value,
        legal_basis=legal_basis,
        owner_org_id=_org_id(owner),
        tlp=tlp,
        mapping=mapping,
        created_by_id=created_by_id,
    )
    db.add(source)
    db.flush()
    for org in share_with:
        db.add(
            RecordShare(
                record_type=FusionSource.record_type,
                record_id=source.id,
                organisation_id=_org_id(org),
                created_by_id=created_by_id,
            )
        )
    db.flush()
    return source


def _as_lists(properties: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in properties.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        out[name] = [v.isoformat() if isinstance(v, date) else str(v) for v in values]
    return out


def add_record(
    db: Session,
    source: FusionSource,
    schema: str,
    key: str,
    properties: Mapping[str, Any] | None = None,
    *,
    row_number: int = 1,
) -> FusionRecord:
    """One record as an import would store it; values may be strings, dates or lists."""
    etype = entity_model().entity(schema)
    props = _as_lists(properties or {})
    unknown = set(props) - set(etype.properties)
    if unknown:
        raise ValueError(f"{schema} has no properties {sorted(unknown)}")
    occurred = None
    if etype.date_property and props.get(etype.date_property):
        occurred = date.fromisoformat(props[etype.date_property][0])
    record = FusionRecord(
        id=record_id(source.id, schema, key),
        source_id=source.id,
        schema=schema,
        source_key=key,
        caption=caption_for(etype, props),
        properties=props,
        occurred_on=occurred,
        row_number=row_number,
    )
    db.add(record)
    db.flush()
    return record


def add_person(
    db: Session,
    source: FusionSource,
    key: str,
    given_name: str,
    family_name: str,
    date_of_birth: date | str | None = None,
    **properties: Any,
) -> FusionRecord:
    """A Person record; extra keyword arguments are further properties (sex, markers, …)."""
    props = {"given_name": given_name, "family_name": family_name, **properties}
    if date_of_birth is not None:
        props["date_of_birth"] = date_of_birth
    return add_record(db, source, "Person", key, props)


def add_event(
    db: Session,
    source: FusionSource,
    key: str,
    kind: str,
    on: date | str,
    **properties: Any,
) -> FusionRecord:
    """An Event record of ``kind`` (e.g. ``missing-episode``) on a date."""
    return add_record(db, source, "Event", key, {"kind": kind, "date": on, **properties})


def add_relation(
    db: Session,
    source: FusionSource,
    kind: str,
    from_record: FusionRecord,
    to_record: FusionRecord,
    role: str = "",
    properties: Mapping[str, Any] | None = None,
    *,
    row_number: int = 1,
) -> FusionRelation:
    """A relation the source recorded between two of its records (checked against the types)."""
    relation_kind = entity_model().relation(kind)
    if from_record.schema not in relation_kind.from_types:
        raise ValueError(f"{kind} cannot start at a {from_record.schema}")
    if to_record.schema not in relation_kind.to_types:
        raise ValueError(f"{kind} cannot end at a {to_record.schema}")
    relation = FusionRelation(
        id=relation_id(source.id, kind, from_record.id, to_record.id, role),
        source_id=source.id,
        kind=kind,
        from_record_id=from_record.id,
        to_record_id=to_record.id,
        role=role,
        properties=_as_lists(properties or {}),
        row_number=row_number,
    )
    db.add(relation)
    db.flush()
    return relation
