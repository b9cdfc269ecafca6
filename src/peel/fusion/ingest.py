"""Importing a file into a source: check every row, then replace the source's facts at once.

All or nothing. Every row is checked against the mapping first (up to 200 problems are
collected, each naming its row and column); only a file without problems changes anything.
Then, in the caller's transaction, the source's old records and relations are deleted and the
new ones inserted in bulk, the source's counts are updated, the attempt is kept as a
``FusionImport`` and ``fusion.source.imported`` is audited. Record ids come from (source, type,
key), so re-importing a corrected file keeps the ids of unchanged entities.

Within one file, the same key twice is the same entity: its rows' values are merged (a
conflicting single value, such as two dates of birth, is kept as two values — the agency's
data says both).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from sqlalchemy import JSON, delete, insert, select
from sqlalchemy import Table as SqlTable
from sqlalchemy.orm import Session, sessionmaker

from peel.core.audit import changes_between, record_audit
from peel.core.config import get_settings
from peel.core.db import transaction, utcnow
from peel.core.principal import Principal
from peel.fusion import readers, sources
from peel.fusion.mapping import (
    EntityMapping,
    PropertyRule,
    SourceMapping,
    ValueRule,
    missing_columns,
)
from peel.fusion.models import FusionImport, FusionRecord, FusionRelation, FusionSource
from peel.fusion.readers import FileRejected, Row, Table
from peel.fusion.schema import RelationKind, caption_for, entity_model, record_id, relation_id

#: Problems collected before checking stops.
MAX_ERRORS = 200
#: Rows per INSERT batch.
INSERT_BATCH = 5000
#: How often (in rows) progress is reported.
PROGRESS_EVERY = 5000
_RECORDS = cast(SqlTable, FusionRecord.__table__)
_RELATIONS = cast(SqlTable, FusionRelation.__table__)
MAX_KEY_LENGTH = 300
#: Distinct raw values whose normalised form is remembered during one import.
MAX_REMEMBERED = 500_000

#: progress(stage, done, total): stage is "checking" or "storing"; total may be unknown.
Progress = Callable[[str, int, int | None], None]


class ImportRejected(ValueError):
    """The file has problems, so nothing was imported; each error names its row and column.

    ``errors`` holds dicts ``{"row", "column", "sheet"?, "problem"}``; row 0 means the file
    or its header as a whole.
    """

    def __init__(
        self,
        errors: list[dict[str, Any]],
        *,
        rows: int = 0,
        file_format: str = "",
        truncated: bool = False,
    ) -> None:
        self.errors = errors[:MAX_ERRORS]
        self.rows = rows
        self.file_format = file_format
        self.truncated = truncated or len(errors) > MAX_ERRORS
        more = " (and more)" if self.truncated else ""
        first = describe_error(errors[0]) if errors else "no details"
        super().__init__(f"{len(self.errors)} problem(s){more}; nothing was imported. {first}")


def describe_error(error: Mapping[str, Any]) -> str:
    """One problem as a sentence: "row 3, column dob: expected …"."""
    where = []
    if error.get("sheet"):
        where.append(f"sheet {error['sheet']}")
    if error.get("row"):
        where.append(f"row {error['row']}")
    if error.get("column"):
        where.append(f"column {error['column']}")
    return (", ".join(where) + ": " if where else "") + str(error.get("problem", ""))


# --- checking rows ----------------------------------------------------------------------------


@dataclass
class RecordDraft:
    id: str
    schema: str
    source_key: str
    properties: dict[str, list[str]]
    row_number: int


@dataclass
class RelationDraft:
    id: str
    kind: str
    from_record_id: str
    to_record_id: str
    role: str
    properties: dict[str, list[str]]
    row_number: int


@dataclass
class PreparedImport:
    """A checked file, ready to store."""

    file_format: str
    rows: int = 0
    records: dict[str, RecordDraft] = field(default_factory=dict)
    relations: dict[str, RelationDraft] = field(default_factory=dict)


def _merge(into: dict[str, list[str]], extra: Mapping[str, list[str]]) -> None:
    for name, values in extra.items():
        known = into.setdefault(name, [])
        known.extend(v for v in values if v not in known)


class _Checker:
    """Turns rows into drafts, collecting problems instead of stopping at the first."""

    def __init__(self, source_id: str, mapping: SourceMapping, table: Table) -> None:
        self.source_id = source_id
        self.mapping = mapping
        self.sheet = table.sheet
        self.prepared = PreparedImport(table.format)
        self.errors: list[dict[str, Any]] = []
        self.seen: dict[tuple[int, str], str | ValueError] = {}

    def error(self, row: int, column: str, problem: str) -> None:
        entry: dict[str, Any] = {"row": row, "column": column, "problem": problem}
        if self.sheet:
            entry["sheet"] = self.sheet
        self.errors.append(entry)

    def normalised(self, mapped: PropertyRule, raw: str) -> str | ValueError:
        """A raw value normalised (remembered: agencies' files repeat their values a lot)."""
        key = (id(mapped), raw)
        found = self.seen.get(key)
        if found is None:
            if len(self.seen) > MAX_REMEMBERED:
                self.seen.clear()
            try:
                if "\x00" in raw:
                    raise ValueError("contains the NUL character, which cannot be stored")
                found = mapped.property.normalise(raw, mapped.rule.format)
            except ValueError as error:
                found = error
            self.seen[key] = found
        return found

    def values(self, rules: tuple[PropertyRule, ...], row: Row, owner: str) -> dict[str, list[str]]:
        """Each mapped property's normalised values in this row."""
        found: dict[str, list[str]] = {}
        for mapped in rules:
            rule, prop = mapped.rule, mapped.property
            raws = rule.raw_values(row.values)
            if not raws and rule.required:
                self.error(row.number, rule.column or "", f"{owner}.{prop.name} is required")
            for raw in raws:
                value = self.normalised(mapped, raw)
                if isinstance(value, ValueError):
                    self.error(row.number, rule.column or "", f"{owner}.{prop.name}: {value}")
                    continue
                known = found.setdefault(prop.name, [])
                if value not in known:
                    known.append(value)
        return found

    def entity(self, entity: EntityMapping, row: Row) -> str | None:
        key = entity.key_of(row.values)
        if key is None:
            return None
        if "\x00" in key:
            self.error(row.number, ", ".join(entity.key), "the key contains the NUL character")
            return None
        if len(key) > MAX_KEY_LENGTH:
            column = ", ".join(entity.key)
            self.error(row.number, column, f"the key is longer than {MAX_KEY_LENGTH} characters")
            return None
        props = self.values(entity.properties, row, entity.name)
        rid = record_id(self.source_id, entity.schema.name, key)
        draft = self.prepared.records.get(rid)
        if draft is None:
            draft = RecordDraft(rid, entity.schema.name, key, {}, row.number)
            self.prepared.records[rid] = draft
        _merge(draft.properties, props)
        return rid

    def relations(self, row: Row, ids: Mapping[str, str | None]) -> None:
        for relation in self.mapping.relations:
            start, end = ids.get(relation.from_entity), ids.get(relation.to_entity)
            if start is None or end is None or start == end:
                continue
            if relation.when is not None and not relation.when.holds(row.values):
                continue
            if relation.kind.symmetric:
                start, end = min(start, end), max(start, end)
            props = self.values(relation.properties, row, relation.kind.name)
            for role in self.roles(relation.role, relation.kind, row):
                rid = relation_id(self.source_id, relation.kind.name, start, end, role)
                draft = self.prepared.relations.get(rid)
                if draft is None:
                    draft = RelationDraft(rid, relation.kind.name, start, end, role, {}, row.number)
                    self.prepared.relations[rid] = draft
                _merge(draft.properties, props)

    def roles(self, rule: ValueRule | None, kind: RelationKind, row: Row) -> list[str]:
        """The row's roles for a relation ([""] for kinds without roles)."""
        if rule is None:
            return [""]
        raws = rule.raw_values(row.values)
        if not raws:
            roles = ", ".join(kind.roles or ())
            self.error(row.number, rule.column or "", f"{kind.name} needs a role ({roles})")
        roles_found: list[str] = []
        for raw in raws:
            try:
                roles_found.append(kind.normalise_role(raw))
            except ValueError as error:
                self.error(row.number, rule.column or "", f"{kind.name} role: {error}")
        return roles_found

    def row(self, row: Row) -> None:
        ids = {name: self.entity(entity, row) for name, entity in self.mapping.entities.items()}
        self.relations(row, ids)


def _file_errors(problem: FileRejected) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "row": problem.row,
        "column": problem.column,
        "problem": problem.problem,
    }
    if problem.sheet:
        entry["sheet"] = problem.sheet
    return [entry]


def _open(data: bytes, filename: str, mapping: SourceMapping, max_bytes: int) -> Table:
    try:
        table = readers.read_table(
            data, filename, max_bytes=max_bytes, format=mapping.format,
            sheet=mapping.sheet, records=mapping.records,
        )  # fmt: skip
    except FileRejected as problem:
        raise ImportRejected(_file_errors(problem)) from None
    absent = missing_columns(mapping, table.columns)
    if absent:
        shown = ", ".join(c for c in table.columns if c) or "none"
        errors = [
            {"row": 0, "column": column, "problem": f"the mapping ({path}) reads column "
             f"{column!r}, which the file does not have; its columns are: {shown}"}
            for column, path in absent.items()
        ]  # fmt: skip
        raise ImportRejected(errors, file_format=table.format)
    return table


def prepare_import(
    source_id: str,
    mapping: SourceMapping,
    data: bytes,
    filename: str,
    *,
    max_bytes: int,
    progress: Progress | None = None,
) -> PreparedImport:
    """Read and check every row; :class:`ImportRejected` lists the problems (at most 200)."""
    table = _open(data, filename, mapping, max_bytes)
    checker = _Checker(source_id, mapping, table)
    rows = 0
    try:
        for row in table.rows:
            rows = row.number
            checker.row(row)
            if len(checker.errors) >= MAX_ERRORS:
                raise ImportRejected(
                    checker.errors, rows=rows, file_format=table.format, truncated=True
                )
            if progress is not None and rows % PROGRESS_EVERY == 0:
                progress("checking", rows, table.row_count)
    except FileRejected as problem:
        raise ImportRejected(
            checker.errors + _file_errors(problem), rows=rows, file_format=table.format
        ) from None
    if checker.errors:
        raise ImportRejected(checker.errors, rows=rows, file_format=table.format)
    checker.prepared.rows = rows
    if progress is not None:
        progress("checking", rows, rows)
    return checker.prepared


# --- storing ----------------------------------------------------------------------------------


def _record_rows(source_id: str, prepared: PreparedImport) -> Iterator[dict[str, Any]]:
    model = entity_model()
    for draft in prepared.records.values():
        etype = model.entities[draft.schema]
        occurred = None
        if etype.date_property and draft.properties.get(etype.date_property):
            occurred = date.fromisoformat(draft.properties[etype.date_property][0])
        yield {
            "id": draft.id,
            "source_id": source_id,
            "schema": draft.schema,
            "source_key": draft.source_key,
            "caption": caption_for(etype, draft.properties),
            "properties": draft.properties,
            "occurred_on": occurred,
            "row_number": draft.row_number,
        }


def _relation_rows(source_id: str, prepared: PreparedImport) -> Iterator[dict[str, Any]]:
    for draft in prepared.relations.values():
        yield {
            "id": draft.id,
            "source_id": source_id,
            "kind": draft.kind,
            "from_record_id": draft.from_record_id,
            "to_record_id": draft.to_record_id,
            "role": draft.role,
            "properties": draft.properties,
            "row_number": draft.row_number,
        }


class _BatchWriter:
    """Writes rows in batches: COPY on PostgreSQL (psycopg), executemany INSERT elsewhere.

    Either way the rows go through the session's own connection, so they commit or roll back
    with the caller's transaction; batching keeps a large file from flooding memory.
    """

    def __init__(self, session: Session, progress: Progress | None, total: int) -> None:
        self.session = session
        self.progress = progress
        self.total = total
        self.done = 0
        connection = session.connection()
        self.copy = (
            connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"
        )

    def write(self, table: SqlTable, rows: Iterator[dict[str, Any]]) -> None:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= INSERT_BATCH:
                self._flush(table, batch)
                batch = []
        if batch:
            self._flush(table, batch)

    def _flush(self, table: SqlTable, batch: list[dict[str, Any]]) -> None:
        if self.copy:
            self._copy(table, batch)
        else:
            self.session.execute(insert(table), batch)
        self.done += len(batch)
        if self.progress is not None:
            self.progress("storing", self.done, self.total)

    def _copy(self, table: SqlTable, batch: list[dict[str, Any]]) -> None:
        columns = list(batch[0])
        json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
        lines = []
        for row in batch:
            cells = (json.dumps(row[c]) if c in json_columns else row[c] for c in columns)
            lines.append("\t".join(_copy_text(cell) for cell in cells))
        raw = self.session.connection().connection.driver_connection
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            copy.write("\n".join(lines) + "\n")


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One value in COPY's text format: \\N for null, tabs and line breaks escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, date):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def replace_facts(
    session: Session,
    source: FusionSource,
    prepared: PreparedImport,
    progress: Progress | None = None,
) -> None:
    """Delete the source's records and relations and insert the prepared ones instead."""
    session.flush()
    for stale in [
        obj for obj in session.identity_map.values()
        if isinstance(obj, FusionRecord | FusionRelation) and obj.source_id == source.id
    ]:  # fmt: skip
        session.expunge(stale)
    session.execute(delete(_RELATIONS).where(FusionRelation.source_id == source.id))
    session.execute(delete(_RECORDS).where(FusionRecord.source_id == source.id))
    writer = _BatchWriter(session, progress, len(prepared.records) + len(prepared.relations))
    writer.write(_RECORDS, _record_rows(source.id, prepared))
    writer.write(_RELATIONS, _relation_rows(source.id, prepared))
    if progress is not None:
        progress("storing", writer.total, writer.total)


def _max_bytes(max_bytes: int | None) -> int:
    return max_bytes if max_bytes is not None else get_settings().fusion_max_upload_mb * readers.MB


def import_file(
    session: Session,
    actor: Principal,
    source: FusionSource,
    data: bytes,
    filename: str,
    mapping_yaml: str | None = None,
    *,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> FusionImport:
    """Replace a source's records and relations with a file's (all or nothing); audited.

    ``mapping_yaml`` (when given) is used instead of the source's stored mapping and, when the
    import succeeds, stored as the source's mapping. Raises :class:`ImportRejected` with every
    problem (row and column) and changes nothing when the file has any problem.
    """
    source = sources.access_source(session, actor, source.id, "manage")
    text = mapping_yaml if mapping_yaml is not None else source.mapping
    mapping = sources.checked_mapping(text)
    prepared = prepare_import(
        source.id, mapping, data, filename, max_bytes=_max_bytes(max_bytes), progress=progress
    )
    return _land(session, actor, source, prepared, text, data, filename, progress)


def _land(
    session: Session,
    actor: Principal,
    source: FusionSource,
    prepared: PreparedImport,
    mapping_text: str,
    data: bytes,
    filename: str,
    progress: Progress | None,
) -> FusionImport:
    """Store a checked file in place of the source's facts; count, keep and audit the import."""
    before: dict[str, Any] = {"records": source.record_count, "relations": source.relation_count}
    before["mapping"] = source.mapping
    replace_facts(session, source, prepared, progress)
    source.record_count = len(prepared.records)
    source.relation_count = len(prepared.relations)
    source.last_imported_at = utcnow()
    source.mapping = mapping_text
    attempt = FusionImport(
        source_id=source.id,
        filename=_short_name(filename),
        sha256=hashlib.sha256(data).hexdigest(),
        file_format=prepared.file_format,
        status="done",
        rows=prepared.rows,
        records=source.record_count,
        relations=source.relation_count,
        errors=[],
        created_by_id=actor.user_id,
    )
    session.add(attempt)
    session.flush()
    after = {"records": attempt.records, "relations": attempt.relations, "mapping": mapping_text}
    detail = (
        f"{attempt.filename}: {prepared.rows} rows, {attempt.records} records, "
        f"{attempt.relations} relations (import {attempt.id})"
    )
    record_audit(
        session, actor, "fusion.source.imported", sources.SOURCE, source.id,
        changes_between(before, after), detail=detail, record_org_id=source.owner_org_id,
    )  # fmt: skip
    return attempt


def _short_name(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()) or "upload"
    return name[:300]


def _format_or_unknown(data: bytes, filename: str) -> str:
    try:
        return readers.detect_format(data, filename)
    except FileRejected:
        return "unknown"


def record_rejected_import(
    sessions: sessionmaker[Session],
    actor: Principal,
    source_id: str,
    filename: str,
    data: bytes,
    errors: list[dict[str, Any]],
    *,
    rows: int = 0,
    file_format: str | None = None,
) -> FusionImport:
    """Keep a failed attempt (with its first 200 problems) in a transaction of its own; audited."""
    file_format = file_format or _format_or_unknown(data, filename)
    with transaction(sessions) as session:
        source = sources.access_source(session, actor, source_id, "manage")
        attempt = FusionImport(
            source_id=source.id,
            filename=_short_name(filename),
            sha256=hashlib.sha256(data).hexdigest(),
            file_format=file_format,
            status="failed",
            rows=rows,
            errors=errors[:MAX_ERRORS],
            created_by_id=actor.user_id,
        )
        session.add(attempt)
        session.flush()
        detail = f"{attempt.filename}: {len(attempt.errors)} problem(s); nothing was imported"
        record_audit(
            session, actor, "fusion.source.import_rejected", sources.SOURCE, source.id,
            detail=f"{detail} (import {attempt.id})", record_org_id=source.owner_org_id,
        )  # fmt: skip
    return attempt


def list_imports(
    session: Session, actor: Principal, source: FusionSource, limit: int = 100
) -> list[FusionImport]:
    """A source's import attempts, newest first (for anyone who may see the source)."""
    source = sources.access_source(session, actor, source.id, "view")
    query = (
        select(FusionImport)
        .where(FusionImport.source_id == source.id)
        .order_by(FusionImport.created_at.desc(), FusionImport.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
