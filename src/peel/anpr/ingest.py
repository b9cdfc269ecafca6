"""Cameras, the vehicle register and number-plate reads into Peel, from CSV, NDJSON or Parquet.

* :func:`import_cameras` adds or updates a force's cameras (``camera_id, name, lat, lon``
  and optionally ``direction``) and rewrites ``cameras.parquet``; all or nothing.
* :func:`import_register` replaces ``register.parquet`` (``plate, make, model, colour`` and
  optionally ``keeper_area``); all or nothing.
* :func:`ingest_files` loads reads (``camera_id, plate, read_at``; optionally ``confidence,
  make, model, colour, read_id, direction, lat, lon``). Good rows land in the
  :class:`~peel.anpr.store.ReadStore`; refused rows go to ``quarantine/<batch_id>.csv``
  (``line, field, problem``, the row's original values under the file's column names, and
  ``record``: the raw text of a record that could not be read, or an NDJSON line), and the
  first 100 problems are kept on the :class:`~peel.anpr.models.AnprIngestBatch`.
* :func:`prepare_reads` judges small batches (HTTP, live feeds) by the same rules in Python.

Rules for a read, in the order they are judged (the first one broken is reported):

* ``camera_id`` is given, at most 64 characters, and names a known camera (judged last, so
  a row's other problems are named first).
* ``plate`` normalises (:func:`peel.anpr.plates.normalise`) to 1-10 letters and digits.
* ``read_at`` is ISO 8601 ending in ``Z`` or a UTC offset, e.g. ``2021-10-01T12:00:00Z``
  or ``...+01:00``, between 1970 and 2099. Local times without an offset are refused, not
  guessed: one hour of them each autumn happens twice. (A column mapping may name the time
  zone of a source's local times; see :data:`SEATTLE`.)
* ``confidence`` is 0-1; values above 1, up to 100, are percentages and are divided by 100.
* ``lat``/``lon`` (where a mobile camera was) are WGS84 degrees, both or neither.
* ``read_id`` is at most 64 characters and is stored as the md5 of ``camera_id|id|read_id``
  (so sources' numberings never collide); without one a read's id is the md5 of
  ``camera_id|plate|read_at in microseconds`` (:func:`peel.anpr.store.read_id_for`), so
  loading the same file twice adds nothing.

Problems name the physical line of a CSV or NDJSON file (a CSV header is line 1) or the row
of a Parquet file, and say which ("line 7: ...", "row 7: ..."). File reads are vectorised
in DuckDB: one pass judges every row with one SQL expression per rule, plates are normalised
once per distinct plate, and good rows go from DuckDB to Parquet without passing through
Python (:meth:`~peel.anpr.store.ReadStore.append_sql`).
"""

# ruff: noqa: S608 - SQL here is assembled from fixed fragments, column names quoted with
# _quote and literals with _text; values from the files never enter the SQL text.
from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal, TypedDict
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.anpr import store as st
from peel.anpr.models import AnprCamera, AnprIngestBatch
from peel.anpr.plates import MAX_PLATE_LENGTH, fuzzy_key, normalise
from peel.core.audit import changes_between, created, record_audit
from peel.core.config import Settings
from peel.core.db import new_id
from peel.core.enums import OrganisationType, Role
from peel.core.errors import InvalidInput
from peel.core.geo import wgs84_to_bng
from peel.core.models import Organisation
from peel.core.policy import Forbidden
from peel.core.principal import SYSTEM, Principal

FileFormat = Literal["csv", "ndjson", "parquet"]
#: ``progress(done_rows, total_rows)``
Progress = Callable[[int, int], None]

READ_REQUIRED = ("camera_id", "plate", "read_at")
READ_OPTIONAL = ("confidence", "make", "model", "colour", "read_id", "direction", "lat", "lon")
CAMERA_REQUIRED = ("camera_id", "name", "lat", "lon")
REGISTER_REQUIRED = ("plate", "make", "model", "colour")
#: Problems kept on an ingest batch (every one is in the quarantine file).
MAX_PROBLEMS = 100
#: Problems named in the error of an all-or-nothing import.
MAX_ERRORS_SHOWN = 50
MAX_ID_LENGTH = 64
MAX_HASH_LENGTH = 64
#: Who may import cameras, and who may load reads, for their own force.
CAMERA_ROLES = (Role.admin, Role.supervisor)
INGEST_ROLES = (Role.admin, Role.supervisor, Role.analyst)
#: A time that ends in Z or a numeric UTC offset straight after the clock time.
OFFSET_PATTERN = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)$"
_OFFSET = re.compile(OFFSET_PATTERN)
_HASH = re.compile(f"[0-9A-Z]{{1,{MAX_HASH_LENGTH}}}")
_TRIM = " \t\r\n"
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_NDJSON_DELIMITER = "\x1f"  # never inside valid JSON text, so each line is one value
_NO_OFFSET = "has no UTC offset: end it with Z or +hh:mm, for example 2021-10-01T12:00:00Z"
_NO_POSITION = "no position recorded: a read from a mobile camera needs its own lat and lon"
_RANGES = (
    ("confidence", 0, 100, "must be a number from 0 to 1 (or a percentage up to 100)"),
    ("lat", -90, 90, "must be a number from -90 to 90"),
    ("lon", -180, 180, "must be a number from -180 to 180"),
)
_QUARANTINE_FIXED = ("line", "field", "problem", "record")


class Problem(TypedDict):
    """A refused row: its line (or row) number, the field at fault and what is wrong."""

    line: int
    field: str
    problem: str


@dataclass(frozen=True)
class IngestResult:
    """What one file did: rows read, landed, already stored, refused; where refusals went."""

    batch_id: str
    source_name: str
    rows_read: int
    rows_landed: int
    rows_duplicate: int
    rows_rejected: int
    quarantine_path: Path | None
    days: list[date]
    seconds: float
    problems: list[Problem] = field(default_factory=list)
    #: Cameras the column mapping created (mobile cameras seen for the first time).
    cameras_created: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Rows read per second."""
        return self.rows_read / self.seconds if self.seconds > 0 else float(self.rows_read)


@dataclass(frozen=True)
class CameraImportResult:
    created: int
    updated: int
    unchanged: int
    total: int


@dataclass(frozen=True)
class RegisterImportResult:
    rows: int
    path: Path


@dataclass(frozen=True)
class KnownCamera:
    """What checking a read needs to know about its camera."""

    camera_id: str
    owner_org_id: str
    lat: float
    lon: float


@dataclass(frozen=True)
class ReadMapping:
    """How a source's own columns become reads.

    ``columns`` maps Peel's field names to the source's columns. ``local_time_format`` (for
    ``strptime``) and ``time_zone`` (IANA) read local times, turned into UTC with
    :mod:`zoneinfo` at the offset in force at the start of each local hour (in the autumn's
    repeated hour, the first, summer-time, reading). ``hashed_plates`` keeps each plate as
    an opaque hash of up to 64 letters and digits (upper-cased; its own fuzzy key).
    ``camera_name`` creates a camera, named from the template, for each new ``camera_id``,
    at the median position of its reads; ``position_required`` refuses reads that carry no
    position of their own.
    """

    name: str
    description: str
    columns: dict[str, str]
    delimiter: str | None = None
    local_time_format: str | None = None
    time_zone: str | None = None
    hashed_plates: bool = False
    null_values: tuple[str, ...] = ()
    position_required: bool = False
    camera_name: str | None = None


STANDARD = ReadMapping(
    "standard",
    "Peel's columns: camera_id, plate, read_at (ISO 8601 with an offset) and optional ones",
    {name: name for name in READ_REQUIRED + READ_OPTIONAL},
)
#: The Seattle Police Department ALPR export (``../shared/data/anpr/``), pipe-separated:
#:
#: ===============  ==========================================================================
#: ``device``       ``camera_id``: one mobile camera (patrol car) each, created on first sight
#:                  as "SPD mobile <device>" at the median of its reads, owned by ``--force``
#: ``plate_hash``   ``plate`` and ``plate_raw``: a 40-character hash kept as an opaque plate
#:                  (upper-cased; its own fuzzy key, so fuzzy search cannot apply)
#: ``dt``           ``read_at``: ``MM/DD/YYYY - HH:MM:SS`` in Seattle local time
#:                  (America/Los_Angeles), converted to UTC with zoneinfo
#: ``lat``, ``lon`` the car's position for the read; "NA" when unknown, and such reads are
#:                  refused (quarantined), since a mobile camera has no fixed place
#: ===============  ==========================================================================
#:
#: ``zipcode``, ``location``, ``address`` and the census columns (incomes, home values,
#: population by race) are not read. The file has no read ids, confidence, make or colour.
SEATTLE = ReadMapping(
    "seattle",
    "Seattle Police ALPR export (pipe-separated, hashed plates, mobile cameras, local time)",
    {"camera_id": "device", "plate": "plate_hash", "read_at": "dt", "lat": "lat", "lon": "lon"},
    delimiter="|",
    local_time_format="%m/%d/%Y - %H:%M:%S",
    time_zone="America/Los_Angeles",
    hashed_plates=True,
    null_values=("NA",),
    position_required=True,
    camera_name="SPD mobile {}",
)
MAPPINGS: dict[str, ReadMapping] = {"seattle": SEATTLE}


# --- who may load data, and the cameras reads are checked against -------------------------


def _require(actor: Principal, owner_org_id: str | None, roles: Sequence[Role], what: str) -> None:
    """Platform admins and the system; otherwise the owning force's people with ``roles``."""
    if actor == SYSTEM or actor.is_platform_admin:
        return
    if actor.organisation_type != OrganisationType.police_force or not actor.has_any(*roles):
        names = ", ".join(role.label.lower() for role in roles)
        raise Forbidden(f"{what} is for a police force's people in these roles: {names}")
    if owner_org_id is not None and owner_org_id != actor.organisation_id:
        raise Forbidden(f"{what} is only for your own force")


def cameras_for_reads(cameras: Iterable[AnprCamera]) -> dict[str, KnownCamera]:
    """The ``cameras`` mapping :func:`prepare_reads` checks camera ids against."""
    return {c.id: KnownCamera(c.id, c.owner_org_id, float(c.lat), float(c.lon)) for c in cameras}


def snapshot_cameras(session: Session, store: st.ReadStore) -> Path:
    """Rewrite ``cameras.parquet`` from every camera in the session (flushed first)."""
    session.flush()
    return store.write_cameras(
        {
            "camera_id": c.id,
            "name": c.name,
            "lat": c.lat,
            "lon": c.lon,
            "easting": c.easting,
            "northing": c.northing,
            "direction": c.direction,
            "owner_org_id": c.owner_org_id,
        }
        for c in session.scalars(select(AnprCamera).order_by(AnprCamera.id))
    )


def _projected(lat: float, lon: float) -> tuple[float, float]:
    """British National Grid metres. Far from Britain (Seattle, say) these are the
    projection's arithmetic rather than grid references; where even that fails, 0, 0."""
    try:
        return wgs84_to_bng(lat, lon)
    except ValueError:
        return 0.0, 0.0


# --- files: what they are, how many lines ---------------------------------------------------


def detect_format(path: Path) -> FileFormat:
    """CSV, NDJSON or Parquet (optionally gzipped text), by content; anything else refused."""
    if not path.is_file():
        raise InvalidInput({str(path): "is not a file"})
    compressed = _is_gzip(path)
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as handle:
            head = handle.read(8192)
    except (OSError, EOFError):
        raise InvalidInput({path.name: "is not a readable gzip file"}) from None
    if not head.strip():
        raise InvalidInput({path.name: "is empty"})
    if head[:4] == b"PAR1":
        if compressed:
            raise InvalidInput({path.name: "is gzipped Parquet; decompress it first"})
        return "parquet"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] == b"{":
        return "ndjson"
    if text[:1] == b"[":
        raise InvalidInput({path.name: "is a JSON array; give one JSON object per line (NDJSON)"})
    first = text.split(b"\n", 1)[0]
    if b"\x00" not in head and any(d in first for d in (b",", b"|", b";", b"\t")):
        return "csv"
    raise InvalidInput({path.name: "is not CSV, NDJSON or Parquet"})


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _open_text(path: Path) -> IO[str]:
    if _is_gzip(path):
        return io.TextIOWrapper(
            gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace", newline=""
        )
    return path.open(encoding="utf-8-sig", errors="replace", newline="")


def _physical_lines(path: Path) -> int:
    """Lines in a (possibly gzipped) text file; a last line without a newline counts."""
    count, last = 0, b"\n"
    with gzip.open(path, "rb") if _is_gzip(path) else path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)


@dataclass(frozen=True)
class _Source:
    """A file checked and ready to load: format, columns (lower-case to as written), size."""

    path: Path
    fmt: FileFormat
    columns: dict[str, str]
    delimiter: str
    lines: int
    rows: int
    types: dict[str, pa.DataType]

    @property
    def unit(self) -> str:
        return "row" if self.fmt == "parquet" else "line"


def _describe(path: Path, wanted: Sequence[str], delimiter: str | None = None) -> _Source:
    """Look at a file before loading it: its format, header, required columns and size."""
    fmt = detect_format(path)
    if fmt == "parquet":
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise InvalidInput({path.name: f"cannot be read as Parquet: {exc}"}) from None
        schema = parquet.schema_arrow
        columns = _columns_by_name(path, schema.names, wanted)
        types = {key: schema.field(name).type for key, name in columns.items()}
        rows = parquet.metadata.num_rows
        return _Source(path, fmt, columns, "", rows, rows, types)
    lines = _physical_lines(path)
    if fmt == "ndjson":
        return _Source(path, fmt, {}, "", lines, lines, {})
    with _open_text(path) as handle:
        first = handle.readline()
    if delimiter is None:
        delimiter = max(",|;\t", key=first.count)
    header = next(csv.reader([first], delimiter=delimiter), [])
    columns = _columns_by_name(path, header, wanted)
    return _Source(path, fmt, columns, delimiter, lines, max(lines - 1, 0), {})


def _columns_by_name(path: Path, names: Sequence[str], wanted: Sequence[str]) -> dict[str, str]:
    """Lower-cased column names to the names as written, after checking the required ones."""
    found: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key in found:
            raise InvalidInput({path.name: f"the column {name.strip()!r} appears twice"})
        found[key] = name
    missing = [name for name in wanted if name.lower() not in found]
    if missing:
        have = ", ".join(n.strip() for n in found.values()) or "none"
        raise InvalidInput(
            {path.name: f"missing columns {', '.join(missing)} (the file has: {have})"}
        )
    return found


# --- files into DuckDB: raw(_line, <field>...) ----------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _problem(line: int, field_name: str, unit: str, message: str) -> Problem:
    return Problem(line=line, field=field_name, problem=f"{unit} {line}: {message}")


#: A record that could not be read at all, with its original text for the quarantine file.
Malformed = tuple[Problem, str]


def _load(
    con: duckdb.DuckDBPyConnection, source: _Source, fields: Mapping[str, str]
) -> list[Malformed]:
    """Make ``raw(_line, <field>...)``; ``fields`` maps our names to the file's columns.

    Columns the file lacks are NULL. Returns the records that are not records at all
    (malformed CSV, lines that are not JSON objects).
    """
    try:
        if source.fmt == "parquet":
            picks = ", ".join(
                f"{_quote(source.columns[col.lower()])} AS {name}"
                if col.lower() in source.columns
                else f"NULL::VARCHAR AS {name}"
                for name, col in fields.items()
            )
            path = _text(str(source.path))
            con.execute(
                "CREATE OR REPLACE TEMP VIEW raw AS SELECT file_row_number + 1 AS _line, "
                f"{picks} FROM read_parquet({path}, file_row_number=true)"
            )
            return []
        if source.fmt == "ndjson":
            return _load_ndjson(con, source, fields)
        return _load_csv(con, source, fields)
    except duckdb.Error as exc:
        raise InvalidInput({source.path.name: f"cannot be read as {source.fmt}: {exc}"}) from None


def _compression(source: _Source) -> str:
    return "gzip" if _is_gzip(source.path) else "none"


def _load_ndjson(
    con: duckdb.DuckDBPyConnection, source: _Source, fields: Mapping[str, str]
) -> list[Malformed]:
    """One row per physical line (so line numbers are exact), parsed by DuckDB's JSON."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw_text AS SELECT record FROM read_csv(?, "
        "columns={'record': 'VARCHAR'}, header=false, auto_detect=false, "
        f"delim={_text(_NDJSON_DELIMITER)}, quote='', escape='', "
        f"compression={_text(_compression(source))})",
        [str(source.path)],
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw_lines AS SELECT _line, record, json_valid(record) "
        "AND json_type(CASE WHEN json_valid(record) THEN record END::JSON) = 'OBJECT' AS ok "
        "FROM (SELECT rowid + 1 AS _line, record FROM raw_text) "
        f"WHERE trim(coalesce(record, ''), {_text(_TRIM)}) <> ''"
    )
    paths = ", ".join(_text(f'$."{col}"') for col in fields.values())
    picks = ", ".join(f"v[{i + 1}] AS {name}" for i, name in enumerate(fields))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE raw AS SELECT _line, {picks}, record AS _record FROM "
        f"(SELECT _line, record, json_extract_string(record, [{paths}]) AS v "
        "FROM raw_lines WHERE ok)"
    )
    bad = con.sql("SELECT _line, record FROM raw_lines WHERE NOT ok ORDER BY 1").fetchall()
    return [(_problem(int(n), "record", "line", "not a JSON object"), str(r)) for n, r in bad]


def _load_csv(
    con: duckdb.DuckDBPyConnection, source: _Source, fields: Mapping[str, str]
) -> list[Malformed]:
    """DuckDB's CSV reader with malformed records set aside, then the lines they came from."""
    names = list(source.columns)
    types = ", ".join(f"{_text(f'c{i}')}: 'VARCHAR'" for i in range(len(names)))
    con.execute("DROP TABLE IF EXISTS peel_rejects; DROP TABLE IF EXISTS peel_scans")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE raw_csv AS SELECT * FROM read_csv(?, columns={{{types}}}, "
        f"header=true, auto_detect=false, delim={_text(source.delimiter)}, quote='\"', "
        "escape='\"', ignore_errors=true, store_rejects=true, rejects_table='peel_rejects', "
        f"rejects_scan='peel_scans', compression={_text(_compression(source))})",
        [str(source.path)],
    )
    rejects = con.sql(
        "SELECT line, first(csv_line ORDER BY column_idx), first(error_message ORDER BY "
        "column_idx) FROM peel_rejects GROUP BY line ORDER BY line"
    ).fetchall()
    (kept,) = con.sql("SELECT count(*) FROM raw_csv").fetchall()[0]
    texts = [str(text or "") for _, text, _ in rejects]
    lines, bad_lines = _csv_lines(source, int(kept), [int(r[0]) for r in rejects], texts)
    con.register("peel_lines", pa.table({"_line": lines}))
    picks = ", ".join(
        f"c{names.index(col.lower())} AS {name}" if col.lower() in names else f"NULL AS {name}"
        for name, col in fields.items()
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE raw AS SELECT l._line, {picks} "
        "FROM raw_csv POSITIONAL JOIN peel_lines l"
    )
    con.unregister("peel_lines")
    return [
        (_problem(line, "record", "line", f"not a well-formed CSV record ({message})"), text)
        for line, text, (_, _, message) in zip(bad_lines, texts, rejects, strict=True)
    ]


def _csv_lines(
    source: _Source, kept: int, reported: list[int], texts: list[str]
) -> tuple[np.ndarray, list[int]]:
    """File lines of the kept records and of the malformed ones (the header is line 1).

    Exact and fast when every record is one line; otherwise Python's csv module finds where
    each record starts (blank lines, values spanning lines).
    """
    if source.lines == 1 + kept + len(reported) and not any("\n" in t for t in texts):
        return _ordinals(kept, reported), reported
    good: list[int] = []
    bad: list[int] = []
    with _open_text(source.path) as handle:
        reader = csv.reader(handle, delimiter=source.delimiter)
        next(reader, None)
        previous = reader.line_num
        for row in reader:
            if row:
                (good if len(row) == len(source.columns) else bad).append(previous + 1)
            previous = reader.line_num
    if len(good) == kept and len(bad) == len(reported):
        return np.asarray(good, dtype=np.int64), bad
    return _ordinals(kept, reported), reported


def _ordinals(count: int, skipped: Sequence[int]) -> np.ndarray:
    """Lines 2, 3, … of ``count`` kept records when the ``skipped`` lines are left out."""
    lines = np.arange(2, count + 2, dtype=np.int64)
    if skipped:
        skips = np.sort(np.asarray(skipped, dtype=np.int64))
        before = skips - 2 - np.arange(len(skips))
        lines += np.searchsorted(before, np.arange(count), side="right")
    return lines


# --- reads: one SQL expression per rule -----------------------------------------------------


def _kind(source: _Source, column: str) -> str:
    """How a column arrives: text, number, tz (timestamp with zone), naive or other."""
    kind = source.types.get(column.lower())
    if source.fmt != "parquet" or kind is None:
        return "text"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    if pa.types.is_timestamp(kind):
        return "tz" if kind.tz else "naive"
    return "other"


def _shown(name: str) -> str:
    """An original value, quoted, for a message (``r`` is the row as it was in the file)."""
    return f"'\"' || coalesce(CAST(r.{name} AS VARCHAR), '') || '\"'"


class _ReadSQL:
    """The SQL judging the rows of ``raw`` as reads, for one file and mapping.

    ``peel_src`` holds typed values; ``judged`` adds the plate, its fuzzy key and the number
    of the first rule a row breaks (``problem_code``; NULL for a good read). Messages are
    built only for refused rows (``rejected``), from their original values.
    """

    def __init__(self, source: _Source, mapping: ReadMapping) -> None:
        self.source = source
        self.mapping = mapping
        self.kinds = {name: _kind(source, col) for name, col in mapping.columns.items()}
        if self.kinds["read_at"] not in ("text", "tz"):
            found = "has no time zone" if self.kinds["read_at"] == "naive" else "is not text"
            raise InvalidInput(
                {
                    source.path.name: f"its read_at column {found}: give ISO 8601 text with a "
                    "UTC offset, or a timestamp with time zone"
                }
            )
        self.rules = self._rules()

    # --- values

    def text(self, name: str) -> str:
        """Trimmed text; NULL when empty (or one of the mapping's null values)."""
        if name not in self.mapping.columns:
            return "NULL::VARCHAR"
        if self.kinds[name] != "text":
            return f"CAST(r.{name} AS VARCHAR)"
        expr = f"nullif(trim(r.{name}, {_text(_TRIM)}), '')"
        for value in self.mapping.null_values:
            expr = f"nullif({expr}, {_text(value)})"
        return expr

    def given(self, name: str) -> str:
        if name not in self.mapping.columns:
            return "false"
        if self.kinds[name] == "text":
            return f"({self.text(name)} IS NOT NULL)"
        return f"(r.{name} IS NOT NULL)"

    def number(self, name: str) -> str:
        if name not in self.mapping.columns:
            return "NULL::DOUBLE"
        if self.kinds[name] == "number":
            return f"CAST(r.{name} AS DOUBLE)"
        return f"try_cast({self.text(name)} AS DOUBLE)"

    def local_times(self) -> str:
        """Local times as written, parsed with the mapping's format (naive timestamps)."""
        return (
            f"try_strptime({self.text('read_at')}, {_text(self.mapping.local_time_format or '')})"
        )

    def read_at(self) -> str:
        if self.kinds["read_at"] == "tz":
            return "CAST(r.read_at AS TIMESTAMPTZ)"
        if self.mapping.local_time_format:
            return "CAST(r.peel_local - to_microseconds(o.offset_us) AS TIMESTAMPTZ)"
        return f"try_cast({self.text('read_at')} AS TIMESTAMPTZ)"

    def has_offset(self) -> str:
        if self.kinds["read_at"] == "tz" or self.mapping.local_time_format:
            return "true"
        return f"coalesce(regexp_matches({self.text('read_at')}, {_text(OFFSET_PATTERN)}), false)"

    def source_view(self) -> str:
        """``peel_src``: typed values, before any rule is applied."""
        local = offsets = ""
        if self.mapping.local_time_format:
            local = f", {self.local_times()} AS peel_local"
            offsets = " LEFT JOIN peel_offsets o ON o.hour = date_trunc('hour', r.peel_local)"
        plate = "CAST(r.plate AS VARCHAR)"
        if self.mapping.null_values:  # a plate as read is kept as read, unless it means "none"
            nulls = ", ".join(_text(v) for v in self.mapping.null_values)
            plate = (
                f"CASE WHEN trim({plate}, {_text(_TRIM)}) IN ({nulls}) THEN NULL ELSE {plate} END"
            )
        values = {
            "camera_id": self.text("camera_id"),
            "plate_raw": plate,
            "read_at": self.read_at(),
            "read_at_given": self.given("read_at"),
            "read_at_offset": self.has_offset(),
            **{
                f"{n}{s}": f(n)
                for n, _, _, _ in _RANGES
                for s, f in (("", self.number), ("_given", self.given))
            },
            **{n: self.text(n) for n in ("make", "model", "colour", "direction", "read_id")},
        }
        picks = ", ".join(f"{expr} AS {name}" for name, expr in values.items())
        return (
            f"CREATE OR REPLACE TEMP VIEW peel_src AS SELECT r._line, {picks} "
            f"FROM (SELECT r.*{local} FROM raw r) r{offsets}"
        )

    def plates(self) -> str:
        """Each distinct plate as read, normalised, with its fuzzy key."""
        distinct = "(SELECT DISTINCT plate_raw FROM peel_src)"
        if self.mapping.hashed_plates:
            value = f"upper(trim(plate_raw, {_text(_TRIM)}))"
            return f"SELECT plate_raw, {value} AS plate, {value} AS fuzzy FROM {distinct}"
        plate = st.unicode_plate_sql("plate_raw")
        return (
            f"SELECT plate_raw, plate, {st.fuzzy_sql('plate')} AS fuzzy FROM "
            f"(SELECT plate_raw, {plate} AS plate FROM {distinct})"
        )

    # --- rules: (field, condition over judged values, message over the original row r)

    def _rules(self) -> list[tuple[str, str, str]]:
        ranges = [
            (
                name,
                f"{name}_given AND NOT coalesce({name} BETWEEN {low} AND {high}, false)",
                f"'{name} ' || {_shown(name)} || ' {text}'",
            )
            for name, low, high, text in _RANGES
            if name in self.mapping.columns
        ]
        position = [("lat", "lat IS NULL", f"'{_NO_POSITION}'")]
        unknown = f"'no camera with id ' || {_shown('camera_id')} || ' is known'"
        return [
            ("camera_id", "camera_id IS NULL", "'camera_id is missing'"),
            (
                "camera_id",
                f"length(camera_id) > {MAX_ID_LENGTH}",
                f"'camera_id is longer than {MAX_ID_LENGTH} characters'",
            ),
            *self._plate_rules(),
            *self._time_rules(),
            *ranges,
            ("lat", "(lat IS NULL) <> (lon IS NULL)", "'give both lat and lon, or neither'"),
            *(position if self.mapping.position_required else []),
            (
                "read_id",
                f"length(read_id) > {MAX_ID_LENGTH}",
                f"'read_id is longer than {MAX_ID_LENGTH} characters'",
            ),
            ("camera_id", "NOT known_camera", unknown),
        ]

    def _plate_rules(self) -> list[tuple[str, str, str]]:
        if self.mapping.hashed_plates:
            return [
                ("plate", "plate_raw IS NULL OR plate = ''", "'plate is missing'"),
                (
                    "plate",
                    f"NOT regexp_full_match(plate, '[0-9A-Z]{{1,{MAX_HASH_LENGTH}}}')",
                    f"'plate hash must be 1 to {MAX_HASH_LENGTH} letters and digits'",
                ),
            ]
        shown = _shown("plate")
        too_long = f"is longer than {MAX_PLATE_LENGTH} letters and digits"
        return [
            ("plate", "plate_raw IS NULL", "'plate is missing'"),
            ("plate", "plate = ''", f"'plate ' || {shown} || ' has no letters or digits'"),
            (
                "plate",
                f"length(plate) > {MAX_PLATE_LENGTH}",
                f"'plate ' || {shown} || ' {too_long}'",
            ),
        ]

    def _time_rules(self) -> list[tuple[str, str, str]]:
        shown = _shown("read_at")
        rules = [("read_at", "NOT read_at_given", "'read_at is missing'")]
        if self.mapping.local_time_format:
            expected = self.mapping.local_time_format
            message = f"'read_at ' || {shown} || ' does not match {expected}'"
            rules.append(("read_at", "read_at IS NULL", message))
        else:
            rules += [
                ("read_at", "NOT read_at_offset", f"'read_at ' || {shown} || ' {_NO_OFFSET}'"),
                (
                    "read_at",
                    "read_at IS NULL",
                    f"'read_at ' || {shown} || ' is not an ISO 8601 time'",
                ),
            ]
        outside = (
            "read_at < TIMESTAMPTZ '1970-01-01 00:00:00+00' OR "
            "read_at >= TIMESTAMPTZ '2100-01-01 00:00:00+00'"
        )
        rules.append(("read_at", outside, "'read_at must be between 1970 and 2099'"))
        return rules

    # --- tables

    def judged(self) -> str:
        """``judged``: each row as a read (plate, fuzzy key, read id) and its first broken rule."""
        codes = " ".join(f"WHEN {cond} THEN {n}" for n, (_, cond, _) in enumerate(self.rules))
        read_id = st.read_id_sql("camera_id", "plate", "read_at")
        given = st.source_read_id_sql("camera_id", "read_id")
        return (
            f"CREATE OR REPLACE TEMP TABLE judged AS WITH p AS ({self.plates()}), "
            "j AS (SELECT s.*, p.plate, p.fuzzy, k.camera_id IS NOT NULL AS known_camera "
            "FROM peel_src s LEFT JOIN p ON p.plate_raw = s.plate_raw "
            "LEFT JOIN peel_cameras k ON k.camera_id = s.camera_id) "
            f"SELECT _line, coalesce({given}, {read_id}) AS read_id, camera_id, plate, "
            "plate_raw, fuzzy, read_at, CASE WHEN confidence > 1 THEN confidence / 100 "
            "ELSE confidence END AS confidence, lat, lon, make, model, colour, direction, "
            f"CASE {codes} END AS problem_code FROM j"
        )

    def rejected(self) -> str:
        """``rejected``: each refused row's line, field, problem and original values."""
        fields = " ".join(f"WHEN {n} THEN {_text(f)}" for n, (f, _, _) in enumerate(self.rules))
        messages = " ".join(f"WHEN {n} THEN {m}" for n, (_, _, m) in enumerate(self.rules))
        return (
            "CREATE OR REPLACE TEMP TABLE rejected AS SELECT j._line AS line, "
            f"CASE j.problem_code {fields} END AS field, {_text(self.source.unit + ' ')} || "
            f"j._line || ': ' || CASE j.problem_code {messages} END AS problem, "
            "r.* EXCLUDE (_line) FROM judged j JOIN raw r ON r._line = j._line "
            "WHERE j.problem_code IS NOT NULL"
        )

    def land(self, batch_id: str) -> str:
        """The good rows as reads (:data:`peel.anpr.store.READ_SQL_TYPES`), in file order."""
        return (
            "SELECT read_id, camera_id, plate, coalesce(plate_raw, '') AS plate_raw, fuzzy, "
            "read_at, confidence, lat, lon, make, model, colour, direction, "
            f"{_text(batch_id)} AS batch_id, _line AS peel_order "
            "FROM judged WHERE problem_code IS NULL"
        )

    def offsets(self, con: duckdb.DuckDBPyConnection) -> None:
        """``peel_offsets(hour, offset_us)``: the zone's UTC offset at each local hour."""
        zone = ZoneInfo(self.mapping.time_zone or "UTC")
        hours = [
            hour
            for (hour,) in con.sql(
                f"SELECT DISTINCT date_trunc('hour', {self.local_times()}) FROM raw r"
            ).fetchall()
            if hour is not None
        ]
        offsets = [(zone.utcoffset(h) or timedelta(0)) // timedelta(microseconds=1) for h in hours]
        con.register(
            "peel_offsets",
            pa.table(
                {
                    "hour": pa.array(hours, pa.timestamp("us")),
                    "offset_us": pa.array(offsets, pa.int64()),
                }
            ),
        )


# --- reads from files -----------------------------------------------------------------------


def _mapping(mapping: str | ReadMapping | None) -> ReadMapping:
    if mapping is None:
        return STANDARD
    if isinstance(mapping, ReadMapping):
        return mapping
    if mapping.strip().lower() not in MAPPINGS:
        raise InvalidInput({"--mapping": f"must be one of: {', '.join(sorted(MAPPINGS))}"})
    return MAPPINGS[mapping.strip().lower()]


def ingest_files(
    session: Session,
    settings: Settings,
    paths: Sequence[Path | str],
    actor: Principal,
    owner_org_id: str | None = None,
    mapping: str | ReadMapping | None = None,
    progress: Progress | None = None,
) -> list[IngestResult]:
    """Load reads from files, one :class:`AnprIngestBatch` each; what each file did.

    Every file's format and columns are checked before any is loaded. Each file's reads are
    written to Parquet first, then its batch row and audit event (and any cameras its
    mapping created) are committed together: one commit per file, so a failure part-way
    leaves the earlier files landed and recorded. No database lock is held while a file is
    read and judged. ``owner_org_id`` defaults to the actor's.
    """
    spec = _mapping(mapping)
    owner = owner_org_id or actor.organisation_id
    if spec.camera_name and owner is None:
        raise InvalidInput(
            {"--force": f"the {spec.name} mapping needs the force owning its cameras"}
        )
    _require(actor, owner, INGEST_ROLES, "Loading ANPR reads")
    required = [spec.columns[name] for name in READ_REQUIRED]
    sources = [_describe(Path(p), required, spec.delimiter) for p in paths]
    plans = [_ReadSQL(source, spec) for source in sources]  # refuses unusable columns now
    store = st.ReadStore(settings.anpr_dir)
    total, done = sum(s.rows for s in sources), 0
    results = []
    for plan in plans:

        def step(rows: int, base: int = done, size: int = plan.source.rows) -> None:
            if progress:
                progress(base + min(rows, size), total)

        step(0)
        result = _ingest_file(session, store, plan, actor, owner, step)
        session.commit()
        if result.cameras_created:
            snapshot_cameras(session, store)
        results.append(result)
        done += plan.source.rows
    if progress:
        progress(total, total)
    return results


@dataclass
class _Judged:
    """What DuckDB made of one file, before anything is written to the database."""

    rows_read: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    quarantine: Path | None = None
    new_cameras: dict[str, tuple[float, float]] = field(default_factory=dict)
    appended: st.AppendResult = field(default_factory=lambda: st.AppendResult(0, 0, []))


def _ingest_file(
    session: Session,
    store: st.ReadStore,
    sql: _ReadSQL,
    actor: Principal,
    owner_org_id: str | None,
    step: Callable[[int], None],
) -> IngestResult:
    """Judge one file in DuckDB, quarantine the refused rows, land the rest, record it.

    The database is read first and written last, so no lock is held while DuckDB works.
    """
    started = time.perf_counter()
    batch_id = new_id()
    cameras = select(AnprCamera.id)
    if owner_org_id is not None:  # a force loads reads for its own cameras only
        cameras = cameras.where(AnprCamera.owner_org_id == owner_org_id)
    known = set(session.scalars(cameras))
    session.commit()
    judged = _judge_and_land(store, sql, batch_id, known, owner_org_id, step)
    made = _add_cameras(session, sql.mapping, judged.new_cameras, owner_org_id, actor, sql.source)
    counts = {
        "rows_read": judged.rows_read,
        "rows_landed": judged.appended.landed,
        "rows_duplicate": judged.appended.duplicate,
        "rows_rejected": judged.rejected,
    }
    quarantine = judged.quarantine
    batch = AnprIngestBatch(
        id=batch_id,
        channel="file",
        source_name=sql.source.path.name[:300],
        owner_org_id=owner_org_id,
        problems=list(judged.problems),
        quarantine_path=quarantine.relative_to(store.root).as_posix() if quarantine else "",
        created_by=actor.audit_name[:300],
        **counts,
    )
    session.add(batch)
    session.flush()
    days = [d.isoformat() for d in judged.appended.days]
    record_audit(
        session,
        actor,
        "anpr.ingest",
        "anpr_ingest_batch",
        batch_id,
        changes=created(
            {"source_name": batch.source_name, "mapping": sql.mapping.name, "days": days, **counts}
        ),
        record_org_id=owner_org_id,
    )
    step(sql.source.rows)
    return IngestResult(
        batch_id,
        batch.source_name,
        quarantine_path=quarantine,
        days=judged.appended.days,
        seconds=time.perf_counter() - started,
        problems=judged.problems,
        cameras_created=made,
        **counts,
    )


def _judge_and_land(
    store: st.ReadStore,
    sql: _ReadSQL,
    batch_id: str,
    known: set[str],
    owner_org_id: str | None,
    step: Callable[[int], None],
) -> _Judged:
    """Load, judge, quarantine and land one file; a failure leaves no quarantine file."""
    out = _Judged()
    con = st.connect(store.spill_dir)
    try:
        st.register_plate_functions(con)
        malformed = _load(con, sql.source, sql.mapping.columns)
        # Lines are numbered now; what follows may work in any order (and so in parallel).
        con.execute("SET preserve_insertion_order = false")
        (rows,) = con.sql("SELECT count(*) FROM raw").fetchall()[0]
        out.rows_read = int(rows) + len(malformed)
        step(out.rows_read // 2)
        if sql.mapping.local_time_format:
            sql.offsets(con)
        con.execute(sql.source_view())
        if sql.mapping.camera_name and owner_org_id:
            out.new_cameras = _mobile_positions(con, known)
        ids = pa.array(sorted(known | set(out.new_cameras)), pa.string())
        con.register("peel_cameras", pa.table({"camera_id": ids}))
        con.execute(sql.judged())
        con.execute(sql.rejected())
        (refused,) = con.sql("SELECT count(*) FROM rejected").fetchall()[0]
        out.rejected = int(refused) + len(malformed)
        if out.rejected:
            out.quarantine = _quarantine(con, store, batch_id, sql.mapping.columns, malformed)
            out.problems = _first_problems(con, malformed)
        if out.new_cameras:  # only cameras that landed reads
            used = "SELECT DISTINCT camera_id FROM judged WHERE problem_code IS NULL"
            landed = {c for (c,) in con.sql(used).fetchall()}
            out.new_cameras = {c: p for c, p in out.new_cameras.items() if c in landed}
        out.appended = store.append_sql(con, sql.land(batch_id))
    except BaseException:
        if out.quarantine is not None:
            out.quarantine.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return out


def _mobile_positions(
    con: duckdb.DuckDBPyConnection, known: set[str]
) -> dict[str, tuple[float, float]]:
    """New camera ids in the file, each at the median position of its reads."""
    rows = con.sql(
        "SELECT camera_id, median(lat), median(lon) FROM peel_src WHERE camera_id IS NOT NULL "
        f"AND length(camera_id) <= {MAX_ID_LENGTH} AND lat BETWEEN -90 AND 90 "
        "AND lon BETWEEN -180 AND 180 GROUP BY 1"
    ).fetchall()
    return {str(c): (float(lat), float(lon)) for c, lat, lon in rows if c not in known}


def _add_cameras(
    session: Session,
    mapping: ReadMapping,
    positions: Mapping[str, tuple[float, float]],
    owner_org_id: str | None,
    actor: Principal,
    source: _Source,
) -> list[str]:
    """Create the mapping's cameras for new ids that landed reads (one audit event)."""
    if not positions or owner_org_id is None:
        return []
    exists = set(_cameras_by_id(session, list(positions)))  # made meanwhile by someone else
    made = sorted(set(positions) - exists)
    for camera_id in made:
        lat, lon = positions[camera_id]
        easting, northing = _projected(lat, lon)
        session.add(
            AnprCamera(
                id=camera_id,
                name=(mapping.camera_name or "{}").format(camera_id)[:200],
                lat=lat,
                lon=lon,
                easting=easting,
                northing=northing,
                direction="",
                owner_org_id=owner_org_id,
            )
        )
    if made:
        record_audit(
            session,
            actor,
            "anpr.cameras.import",
            "anpr_camera",
            None,
            changes={"created": [None, made]},
            detail=f"{len(made)} mobile cameras from {source.path.name} ({mapping.name} mapping)",
            record_org_id=owner_org_id,
        )
    return made


def _quarantine(
    con: duckdb.DuckDBPyConnection,
    store: st.ReadStore,
    batch_id: str,
    fields: Mapping[str, str],
    malformed: list[Malformed],
) -> Path:
    """``quarantine/<batch_id>.csv``: line, field, problem, then the original values."""
    con.register(
        "peel_malformed",
        pa.table(
            {
                "line": pa.array([p["line"] for p, _ in malformed], pa.int64()),
                "field": pa.array([p["field"] for p, _ in malformed], pa.string()),
                "problem": pa.array([p["problem"] for p, _ in malformed], pa.string()),
                "record": pa.array([text for _, text in malformed], pa.string()),
            }
        ),
    )
    names = {n for (n,) in con.sql("SELECT name FROM pragma_table_info('rejected')").fetchall()}
    originals = [
        f"CAST({name} AS VARCHAR) AS "
        + _quote(f"source_{col}" if col.lower() in _QUARANTINE_FIXED else col)
        for name, col in fields.items()
    ]
    if "_record" in names:
        originals.append("_record AS record")
    query = (
        f"SELECT line, field, problem, {', '.join(originals)} FROM rejected "
        "UNION ALL BY NAME SELECT * FROM peel_malformed ORDER BY line"
    )
    store.quarantine_dir.mkdir(parents=True, exist_ok=True)
    target = store.quarantine_path(batch_id)

    def write(tmp: Path) -> None:
        con.execute(f"COPY ({query}) TO {_text(str(tmp))} (FORMAT csv, HEADER true)")

    st.atomic_write(target, write)
    con.unregister("peel_malformed")
    return target


def _first_problems(con: duckdb.DuckDBPyConnection, malformed: list[Malformed]) -> list[Problem]:
    rows = con.sql(
        f"SELECT line, field, problem FROM rejected ORDER BY line LIMIT {MAX_PROBLEMS}"
    ).fetchall()
    found = [Problem(line=int(n), field=str(f), problem=str(p)) for n, f, p in rows]
    found += [p for p, _ in malformed[:MAX_PROBLEMS]]
    return sorted(found, key=lambda p: p["line"])[:MAX_PROBLEMS]


# --- small batches, in Python (HTTP, live feeds) --------------------------------------------


def prepare_reads(
    rows: Sequence[Mapping[str, Any]],
    cameras: Mapping[str, Any],
    batch_id: str | None = None,
    *,
    hashed_plates: bool = False,
) -> tuple[pa.Table, list[Problem]]:
    """Judge a small batch of reads (dicts) by the file rules; rows are numbered from 1.

    ``cameras`` holds the known camera ids as keys. Returns the good reads as a
    :data:`~peel.anpr.store.READ_SCHEMA` table with ``batch_id`` on every row (a new id when
    none is given), and one problem for each refused row ("row 3: ...").
    """
    batch = batch_id or new_id()
    columns: dict[str, list[Any]] = {name: [] for name in st.READ_SCHEMA.names}
    problems: list[Problem] = []
    for number, row in enumerate(rows, start=1):
        read, issue = _check_row(row, cameras, hashed_plates)
        if read is None:
            field_name, message = issue or ("record", "not a read")
            problems.append(_problem(number, field_name, "row", message))
            continue
        read["batch_id"] = batch
        for name, values in columns.items():
            values.append(read[name])
    return pa.table(columns, schema=st.READ_SCHEMA), problems


def _clean(value: Any) -> str | None:
    """Text trimmed as the SQL rules trim it; None when nothing is left."""
    if value is None:
        return None
    text = str(value).strip(_TRIM)
    return text or None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _python_time(value: Any) -> tuple[datetime | None, str]:
    """(UTC time, "") or (None, the problem), as the SQL rules judge it."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return None, f'read_at "{value.isoformat()}" {_NO_OFFSET}'
        return value.astimezone(UTC), ""
    text = _clean(value)
    if text is None:
        return None, "read_at is missing"
    if not _OFFSET.search(text):
        return None, f'read_at "{value}" {_NO_OFFSET}'
    try:
        return datetime.fromisoformat(text).astimezone(UTC), ""
    except ValueError:
        return None, f'read_at "{value}" is not an ISO 8601 time'


def _python_plate(raw: Any, hashed: bool) -> tuple[str, str, str]:
    """(plate, fuzzy key, "") or ("", "", the problem), as the SQL rules judge it."""
    if raw is None:
        return "", "", "plate is missing"
    if hashed:
        plate = str(raw).strip(_TRIM).upper()
        if not plate:
            return "", "", "plate is missing"
        if not _HASH.fullmatch(plate):
            return "", "", f"plate hash must be 1 to {MAX_HASH_LENGTH} letters and digits"
        return plate, plate, ""
    plate = normalise(str(raw))
    if not plate:
        return "", "", f'plate "{raw}" has no letters or digits'
    if len(plate) > MAX_PLATE_LENGTH:
        return "", "", f'plate "{raw}" is longer than {MAX_PLATE_LENGTH} letters and digits'
    return plate, fuzzy_key(plate), ""


def _check_row(
    row: Mapping[str, Any], cameras: Mapping[str, Any], hashed: bool
) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
    """A read (READ_SCHEMA values) or the (field, problem) of the first rule it breaks."""
    if not isinstance(row, Mapping):
        return None, ("record", "not an object")
    camera_id = _clean(row.get("camera_id"))
    if camera_id is None:
        return None, ("camera_id", "camera_id is missing")
    if len(camera_id) > MAX_ID_LENGTH:
        return None, ("camera_id", f"camera_id is longer than {MAX_ID_LENGTH} characters")
    plate, fuzzy, issue = _python_plate(row.get("plate"), hashed)
    if issue:
        return None, ("plate", issue)
    read_at, issue = _python_time(row.get("read_at"))
    if read_at is None:
        return None, ("read_at", issue)
    if not _EARLIEST <= read_at < _LATEST:
        return None, ("read_at", "read_at must be between 1970 and 2099")
    numbers: dict[str, float | None] = {}
    for name, low, high, message in _RANGES:
        given = _clean(row.get(name))
        value = None if given is None or isinstance(row.get(name), bool) else _number(given)
        if given is not None and (value is None or not low <= value <= high):
            return None, (name, f'{name} "{row.get(name)}" {message}')
        numbers[name] = value
    if (numbers["lat"] is None) != (numbers["lon"] is None):
        return None, ("lat", "give both lat and lon, or neither")
    read_id = _clean(row.get("read_id"))
    if read_id is not None and len(read_id) > MAX_ID_LENGTH:
        return None, ("read_id", f"read_id is longer than {MAX_ID_LENGTH} characters")
    if camera_id not in cameras:
        return None, ("camera_id", f'no camera with id "{row.get("camera_id")}" is known')
    confidence = numbers["confidence"]
    if confidence is not None and confidence > 1:
        confidence /= 100
    read = {name: _clean(row.get(name)) for name in ("make", "model", "colour", "direction")}
    return {
        **read,
        "read_id": (
            st.source_read_id(camera_id, read_id)
            if read_id
            else st.read_id_for(camera_id, plate, read_at)
        ),
        "camera_id": camera_id,
        "plate": plate,
        "plate_raw": str(row.get("plate")),
        "fuzzy": fuzzy,
        "read_at": read_at,
        "confidence": confidence,
        "lat": numbers["lat"],
        "lon": numbers["lon"],
    }, None


# --- cameras ---------------------------------------------------------------------------------


def _records(
    path: Path, wanted: Sequence[str]
) -> tuple[str, list[tuple[int, dict[str, Any]]], dict[str, str]]:
    """A small file's records: (unit, [(line or row, {column: value})], unreadable records)."""
    source = _describe(path, wanted)
    bad: dict[str, str] = {}
    records: list[tuple[int, dict[str, Any]]] = []
    if source.fmt == "parquet":
        table = pq.read_table(path)
        names = [name.strip().lower() for name in table.column_names]
        for number, values in enumerate(
            zip(*(c.to_pylist() for c in table.columns), strict=True), 1
        ):
            records.append((number, dict(zip(names, values, strict=True))))
        return "row", records, bad
    with _open_text(path) as handle:
        if source.fmt == "ndjson":
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    value = None
                if isinstance(value, dict):
                    records.append((number, {str(k).strip().lower(): v for k, v in value.items()}))
                else:
                    bad[f"line {number}"] = "not a JSON object"
            return "line", records, bad
        reader = csv.reader(handle, delimiter=source.delimiter)
        header = [name.strip().lower() for name in next(reader, [])]
        previous = reader.line_num
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if row and len(row) != len(header):
                bad[f"line {start}"] = f"has {len(row)} fields where the header has {len(header)}"
            elif row:
                records.append((start, dict(zip(header, row, strict=True))))
    return "line", records, bad


def _check_camera(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The camera's values, or the first problem with the row."""
    camera_id, name = _clean(row.get("camera_id")), _clean(row.get("name"))
    direction = _clean(row.get("direction")) or ""
    for label, text, limit in (("camera_id", camera_id, MAX_ID_LENGTH), ("name", name, 200)):
        if text is None:
            return None, f"{label} is missing"
        if len(text) > limit:
            return None, f"{label} is longer than {limit} characters"
    if len(direction) > 32:
        return None, "direction is longer than 32 characters"
    position: list[float] = []
    for key, limit in (("lat", 90), ("lon", 180)):
        given = _clean(row.get(key))
        value = None if given is None or isinstance(row.get(key), bool) else _number(given)
        if value is None or not -limit <= value <= limit:
            found = f'"{given}"' if given is not None else "nothing"
            return None, f"{key} must be a number from -{limit} to {limit}, found {found}"
        position.append(value)
    lat, lon = position
    easting, northing = _projected(lat, lon)
    values = {"id": camera_id, "name": name, "lat": lat, "lon": lon, "direction": direction}
    return {**values, "easting": easting, "northing": northing}, ""


def _refuse(errors: dict[str, str], what: str) -> None:
    """Raise one InvalidInput naming the first problems (by line), or return if none."""
    if not errors:
        return
    ordered = sorted(errors.items(), key=lambda item: int(item[0].split()[-1]))
    summary = f"{len(errors)} rows have problems; nothing was imported"
    if len(errors) > MAX_ERRORS_SHOWN:
        summary += f" (the first {MAX_ERRORS_SHOWN} are listed)"
    shown = dict(ordered[:MAX_ERRORS_SHOWN])
    raise InvalidInput({"file": summary, **shown}, title=f"The {what} file has problems")


def import_cameras(
    session: Session,
    settings: Settings,
    path: Path | str,
    owner_org: Organisation,
    actor: Principal,
) -> CameraImportResult:
    """Add or update a force's cameras from a file, then rewrite ``cameras.parquet``.

    All or nothing: one bad row, a repeated id or a camera another force owns changes
    nothing. Any valid WGS84 position is accepted (not only Britain); the stored easting and
    northing are British National Grid metres, meaningless far from Britain. One audit
    event (``anpr.cameras.import``) lists what was added and what changed, old and new.
    """
    _require(actor, owner_org.id, CAMERA_ROLES, "Importing ANPR cameras")
    if owner_org.type != OrganisationType.police_force:
        raise InvalidInput({"--force": f"{owner_org.name} is not a police force"})
    path = Path(path)
    cameras, existing = _checked_cameras(session, path, owner_org.id)
    added, changed = [], {}
    for camera_id, values in cameras.items():
        found = existing.get(camera_id)
        if found is None:
            session.add(AnprCamera(**values, owner_org_id=owner_org.id))
            added.append(camera_id)
            continue
        diff = changes_between({key: getattr(found, key) for key in values}, values)
        if diff:
            for key, value in values.items():
                setattr(found, key, value)
            changed[camera_id] = diff
    session.flush()
    record_audit(
        session,
        actor,
        "anpr.cameras.import",
        "anpr_camera",
        None,
        changes={"created": [None, added], "updated": [None, sorted(changed)]},
        detail=json.dumps({"file": path.name, "changes": changed}, default=str),
        record_org_id=owner_org.id,
    )
    snapshot_cameras(session, st.ReadStore(settings.anpr_dir))
    total = len(session.scalars(select(AnprCamera.id)).all())
    unchanged = len(cameras) - len(added) - len(changed)
    return CameraImportResult(len(added), len(changed), unchanged, total)


def _checked_cameras(
    session: Session, path: Path, owner_org_id: str
) -> tuple[dict[str, dict[str, Any]], dict[str, AnprCamera]]:
    """The file's cameras by id, and those already stored; or InvalidInput naming lines."""
    unit, records, errors = _records(path, CAMERA_REQUIRED)
    checked: dict[str, tuple[int, dict[str, Any]]] = {}
    for number, row in records:
        camera, issue = _check_camera(row)
        if camera is None:
            errors[f"{unit} {number}"] = issue
        elif camera["id"] in checked:
            first = checked[camera["id"]][0]
            errors[f"{unit} {number}"] = f"camera_id {camera['id']!r} is also on {unit} {first}"
        else:
            checked[camera["id"]] = (number, camera)
    existing = _cameras_by_id(session, list(checked))
    for camera_id, (number, _) in checked.items():
        found = existing.get(camera_id)
        if found is not None and found.owner_org_id != owner_org_id:
            errors[f"{unit} {number}"] = f"camera {camera_id!r} belongs to another force"
    _refuse(errors, "cameras")
    return {camera_id: values for camera_id, (_, values) in checked.items()}, existing


def _cameras_by_id(session: Session, ids: list[str]) -> dict[str, AnprCamera]:
    found: dict[str, AnprCamera] = {}
    for start in range(0, len(ids), 500):
        stmt = select(AnprCamera).where(AnprCamera.id.in_(ids[start : start + 500]))
        found.update({camera.id: camera for camera in session.scalars(stmt)})
    return found


# --- the vehicle register ---------------------------------------------------------------------


def import_register(settings: Settings, path: Path | str) -> RegisterImportResult:
    """Replace the vehicle register from a file; all or nothing.

    Plates are normalised; a row without a usable plate, or repeating an earlier row's
    plate, refuses the whole file with the lines named.
    """
    path = Path(path)
    source = _describe(path, REGISTER_REQUIRED)
    fields = {name: name for name in (*REGISTER_REQUIRED, "keeper_area")}
    con = st.connect()
    try:
        st.register_plate_functions(con)
        malformed = _load(con, source, fields)
        text = {n: f"nullif(trim(CAST({n} AS VARCHAR), {_text(_TRIM)}), '')" for n in fields}
        con.execute(
            "CREATE TEMP TABLE reg AS SELECT _line, CAST(plate AS VARCHAR) AS plate_raw, "
            f"{st.unicode_plate_sql('CAST(plate AS VARCHAR)')} AS plate, "
            + ", ".join(f"{text[n]} AS {n}" for n in ("make", "model", "colour", "keeper_area"))
            + " FROM raw"
        )
        errors = {f"line {p['line']}": p["problem"].split(": ", 1)[1] for p, _ in malformed}
        for line, raw, plate, first in con.sql(
            "SELECT _line, plate_raw, plate, first FROM (SELECT _line, plate_raw, plate, "
            "min(_line) OVER (PARTITION BY plate) AS first FROM reg) WHERE plate_raw IS NULL "
            f"OR coalesce(plate, '') = '' OR length(plate) > {MAX_PLATE_LENGTH} "
            "OR _line > first ORDER BY _line"
        ).fetchall():
            errors[f"{source.unit} {line}"] = _register_problem(
                raw, plate, f"{source.unit} {first}"
            )
        _refuse(errors, "register")
        table = con.sql("SELECT plate, make, model, colour, keeper_area FROM reg").to_arrow_table()
    finally:
        con.close()
    written = st.ReadStore(settings.anpr_dir).write_register(table)
    return RegisterImportResult(table.num_rows, written)


def _register_problem(raw: Any, plate: Any, first: str) -> str:
    if raw is None:
        return "plate is missing"
    if not plate:
        return f'plate "{raw}" has no letters or digits'
    if len(plate) > MAX_PLATE_LENGTH:
        return f'plate "{raw}" is longer than {MAX_PLATE_LENGTH} letters and digits'
    return f"plate {plate} is also on {first}"
