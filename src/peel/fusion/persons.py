"""The flat person table linkage works on: one row per Person record, with its home address.

Columns follow the linkage contract: ``record_id, source, given_name, family_name,
date_of_birth, sex, address, postcode, nhs_number, ni_number, pnc_id`` (strings; empty values
are null). The address is the record's current ``lives_at`` Address (line 1 and town), so
records of one person from different agencies can agree on where the person lives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.fusion.graph import Record, Relation
from peel.fusion.models import FusionRecord, FusionRelation

COLUMNS = (
    "record_id",
    "source",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "address",
    "postcode",
    "nhs_number",
    "ni_number",
    "pnc_id",
)
SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])


def person_rows(
    persons: Iterable[Record],
    addresses: Mapping[str, Record],
    lives_at: Iterable[Relation],
    as_of: date | None = None,
) -> pa.Table:
    """The flat table for these Person records, given the Address records they live at."""
    home = _homes(lives_at, addresses, as_of)
    columns: dict[str, list[str | None]] = {name: [] for name in COLUMNS}
    for person in persons:
        given, family = _names(person)
        address = home.get(person.id)
        row = {
            "record_id": person.id,
            "source": person.source_id,
            "given_name": given,
            "family_name": family,
            "date_of_birth": person.first("date_of_birth"),
            "sex": person.first("sex"),
            "address": _address_text(address) if address else "",
            "postcode": address.first("postcode") if address else "",
            "nhs_number": person.first("nhs_number"),
            "ni_number": person.first("ni_number"),
            "pnc_id": person.first("pnc_id"),
        }
        for name in COLUMNS:
            columns[name].append(row[name] or None)
    return pa.table(columns, schema=SCHEMA)


def _names(person: Record) -> tuple[str, str]:
    """Given and family name; a full name alone is split at its first and last word."""
    given, family = person.first("given_name"), person.first("family_name")
    if given or family:
        return given, family
    words = person.first("full_name").split()
    if not words:
        return "", ""
    return words[0], (words[-1] if len(words) > 1 else "")


def _address_text(address: Record) -> str:
    return ", ".join(v for v in (address.first("line1"), address.first("town")) if v)


def _homes(
    lives_at: Iterable[Relation], addresses: Mapping[str, Record], as_of: date | None
) -> dict[str, Record]:
    """Person record id -> the address it lives at now (latest ``from``; ended ones last)."""
    today = (as_of or date.today()).isoformat()
    best: dict[str, tuple[tuple[int, str], Record]] = {}
    for rel in lives_at:
        address = addresses.get(rel.to_id)
        if rel.kind != "lives_at" or address is None:
            continue
        ended = [str(v) for v in rel.properties.get("to") or () if str(v)]
        current = 0 if ended and min(ended) < today else 1
        began = max((str(v) for v in rel.properties.get("from") or ()), default="")
        rank = (current, began)
        held = best.get(rel.from_id)
        if held is None or rank > held[0] or (rank == held[0] and address.id < held[1].id):
            best[rel.from_id] = (rank, address)
    return {pid: address for pid, (_rank, address) in best.items()}


def person_table(
    session: Session, source_ids: Iterable[str] | None = None, as_of: date | None = None
) -> pa.Table:
    """The flat person table straight from the database (all sources, or only these)."""
    wanted = frozenset(source_ids) if source_ids is not None else None
    persons = _load_records(session, "Person", wanted)
    addresses = {r.id: r for r in _load_records(session, "Address", wanted)}
    stmt = select(
        FusionRelation.id,
        FusionRelation.source_id,
        FusionRelation.from_record_id,
        FusionRelation.to_record_id,
        FusionRelation.properties,
    ).where(FusionRelation.kind == "lives_at")
    if wanted is not None:
        stmt = stmt.where(FusionRelation.source_id.in_(wanted))
    relations = [
        Relation(rid, src, "lives_at", a, b, "", props or {})
        for rid, src, a, b, props in session.execute(stmt)
    ]
    return person_rows(persons, addresses, relations, as_of)


def _load_records(session: Session, schema: str, wanted: frozenset[str] | None) -> list[Record]:
    stmt = select(FusionRecord.id, FusionRecord.source_id, FusionRecord.properties).where(
        FusionRecord.schema == schema
    )
    if wanted is not None:
        stmt = stmt.where(FusionRecord.source_id.in_(wanted))
    return [Record(rid, src, schema, "", props or {}) for rid, src, props in session.execute(stmt)]
