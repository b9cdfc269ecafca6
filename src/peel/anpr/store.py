"""Where ANPR reads live: Parquet partitioned by UTC day, clustered by plate, written atomically.

Layout under ``root`` (``settings.anpr_dir``)::

    reads/day=YYYY-MM-DD/<batch>-<token>.parquet   one day's reads, sorted by (plate, read_at)
    cameras.parquet                                snapshot of every camera
    register.parquet                               the vehicle register
    quarantine/<batch_id>.csv                      rows an import refused, with the reasons

Every file is written to a hidden temporary name in its final folder, flushed to disk
(``fsync``) and renamed into place, so a reader sees a whole file or none. Each
:meth:`ReadStore.append` adds at most one file per day, after dropping reads whose ``read_id``
is already in the batch or already stored for that day; a lock file serialises appends,
compaction and retention between threads and processes (readers never take it).

Compaction (:meth:`ReadStore.compact`) writes a day's merged file into a hidden folder, then
swaps that folder with the day's folder in one ``renameat2(RENAME_EXCHANGE)`` call, so a query
that lists the files sees either the old files or the merged one, never both (duplicates) and
never neither (missing rows). The window that remains: a query that listed the old files just
before the swap and opens them after it fails with "file not found" and can simply be re-run.
Where the system cannot exchange folders (not Linux, or a file system without it) the swap
is done by renaming, and for those few microseconds the day looks empty. Retention
(:meth:`ReadStore.drop_before`) renames a day's folder away before deleting it, so a day
disappears whole.

The SQL helpers at the end (:func:`plate_sql`, :func:`fuzzy_sql`, :func:`read_id_sql`) are the
vectorised twins of :func:`peel.anpr.plates.normalise` and :func:`~peel.anpr.plates.fuzzy_key`
and of :func:`read_id_for`; ingest uses them so millions of reads never pass through Python.
"""

# ruff: noqa: S608 - SQL here is built from fixed fragments, our own table names and paths
# quoted as literals (_sql_text); the caller's query of append_sql is trusted code.
from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from duckdb.func import PythonUDFType

from peel.anpr.plates import LOOKALIKES, normalise

#: The columns of every reads file, in order.
READ_SCHEMA = pa.schema(
    [
        pa.field("read_id", pa.string(), nullable=False),
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("plate", pa.string(), nullable=False),
        pa.field("plate_raw", pa.string(), nullable=False),
        pa.field("fuzzy", pa.string(), nullable=False),
        pa.field("read_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("confidence", pa.float32()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("make", pa.string()),
        pa.field("model", pa.string()),
        pa.field("colour", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("batch_id", pa.string(), nullable=False),
    ]
)
#: The snapshot of every camera that queries join reads to.
CAMERA_SCHEMA = pa.schema(
    [
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("easting", pa.float64()),
        pa.field("northing", pa.float64()),
        pa.field("direction", pa.string()),
        pa.field("owner_org_id", pa.string()),
    ]
)
#: The vehicle register (a DVLA or PNC extract): what a plate should look like.
REGISTER_SCHEMA = pa.schema(
    [
        pa.field("plate", pa.string(), nullable=False),
        pa.field("make", pa.string()),
        pa.field("model", pa.string()),
        pa.field("colour", pa.string()),
        pa.field("keeper_area", pa.string()),
    ]
)

#: Rows per Parquet row group: small enough for DuckDB to skip groups by plate min/max.
ROW_GROUP_ROWS = 131_072
COMPRESSION = "zstd"
#: How reads files are written. Fast zstd; no dictionary pages (read ids are all different,
#: and zstd shrinks the repeated plates and camera ids as well): the same size, written
#: faster. Readers skip row groups by the plate's min/max statistics.
_PARQUET = (
    f"(FORMAT parquet, COMPRESSION {COMPRESSION}, COMPRESSION_LEVEL 1, "
    f"DICTIONARY_SIZE_LIMIT 1, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
)
#: DuckDB types of the read columns, for queries that build reads in SQL.
READ_SQL_TYPES: dict[str, str] = {
    "read_id": "VARCHAR",
    "camera_id": "VARCHAR",
    "plate": "VARCHAR",
    "plate_raw": "VARCHAR",
    "fuzzy": "VARCHAR",
    "read_at": "TIMESTAMPTZ",
    "confidence": "FLOAT",
    "lat": "DOUBLE",
    "lon": "DOUBLE",
    "make": "VARCHAR",
    "model": "VARCHAR",
    "colour": "VARCHAR",
    "direction": "VARCHAR",
    "batch_id": "VARCHAR",
}
_REQUIRED = [f.name for f in READ_SCHEMA if not f.nullable]
_DAY_FOLDER = re.compile(r"day=(\d{4}-\d{2}-\d{2})")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = TypeVar("T")
_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class AppendResult:
    """What one append did: reads written, reads already stored (or repeated), days touched."""

    landed: int
    duplicate: int
    days: list[date]


def connect(spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB working in UTC (days and timestamps are UTC days).

    ``spill_dir`` is where it may spill work that does not fit in memory (big sorts).
    """
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if spill_dir is not None:
        con.execute(f"SET temp_directory = {_sql_text(str(spill_dir))}")
    return con


class ReadStore:
    """The reads, cameras and register of one Peel instance, under one folder."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # --- where things are ----------------------------------------------------------------

    @property
    def reads_dir(self) -> Path:
        return self.root / "reads"

    @property
    def cameras_path(self) -> Path:
        return self.root / "cameras.parquet"

    @property
    def register_path(self) -> Path:
        return self.root / "register.parquet"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def spill_dir(self) -> Path:
        """Where DuckDB may spill big sorts to disk (created by DuckDB when it needs it)."""
        return self.root / ".spill"

    def day_dir(self, day: date) -> Path:
        return self.reads_dir / f"day={day.isoformat()}"

    def reads_glob(self) -> str:
        """Every reads file, for ``read_parquet(..., hive_partitioning=false)`` or Spark."""
        return str(self.reads_dir / "day=*" / "*.parquet")

    def files(self, day: date | None = None) -> list[Path]:
        """The reads files of one day, or of every day, in name order."""
        if day is not None:
            return sorted(self.day_dir(day).glob("*.parquet"))
        return sorted(self.reads_dir.glob("day=*/*.parquet"))

    def days(self) -> list[date]:
        """Days that hold at least one reads file, oldest first."""
        if not self.reads_dir.is_dir():
            return []
        found = []
        for folder in self.reads_dir.iterdir():
            match = _DAY_FOLDER.fullmatch(folder.name)
            if match and folder.is_dir() and any(folder.glob("*.parquet")):
                found.append(date.fromisoformat(match.group(1)))
        return sorted(found)

    def has_reads(self) -> bool:
        return next(iter(self.reads_dir.glob("day=*/*.parquet")), None) is not None

    # --- reads -----------------------------------------------------------------------------

    def append(self, table: pa.Table) -> AppendResult:
        """Add reads (a table with :data:`READ_SCHEMA`'s columns); duplicates are dropped.

        Of reads sharing a ``read_id`` within the table the first is kept; reads whose
        ``read_id`` the day already holds are counted as duplicates and not written.
        """
        missing = [name for name in READ_SCHEMA.names if name not in table.column_names]
        if missing:
            raise ValueError(f"reads table lacks columns: {', '.join(missing)}")
        table = table.select(READ_SCHEMA.names)
        if table.schema.field("read_at").type != READ_SCHEMA.field("read_at").type:
            raise ValueError("read_at must be timestamp[us, tz=UTC]")
        table = table.cast(READ_SCHEMA)
        if table.num_rows == 0:
            return AppendResult(0, 0, [])
        table = table.append_column("peel_order", pa.array(range(table.num_rows), pa.int64()))
        con = connect(self.spill_dir)
        try:
            con.register("peel_reads_in", table)
            return self.append_sql(con, "SELECT * FROM peel_reads_in")
        finally:
            con.close()

    def append_sql(self, con: duckdb.DuckDBPyConnection, query: str) -> AppendResult:
        """Add the reads a DuckDB query returns (columns as :data:`READ_SQL_TYPES`).

        For callers that already hold reads in DuckDB (file ingest), so reads need not pass
        through Arrow. The query is read a few times (keep it cheap: a table or a filter of
        one); an optional ``peel_order`` column says which of repeated ids comes first.
        ``con`` must work in UTC (see :func:`connect`).
        """
        casts = ", ".join(f"CAST({n} AS {kind}) AS {n}" for n, kind in READ_SQL_TYPES.items())
        (names,) = _row(con, f"SELECT list(column_name) FROM (DESCRIBE ({query}))")
        order = "peel_order" if "peel_order" in names else "0"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW peel_incoming AS SELECT {casts}, "
            f"CAST(floor(epoch_us(read_at) / {_DAY_US}.0) AS BIGINT) AS peel_day, "
            f"{order} AS peel_order FROM ({query})"
        )
        nulls = " OR ".join(f"{name} IS NULL" for name in _REQUIRED)
        total, empty, distinct, days = _row(
            con,
            f"SELECT count(*), count(*) FILTER (WHERE {nulls}), count(DISTINCT hash(read_id)), "
            "list(DISTINCT peel_day ORDER BY peel_day) FROM peel_incoming",
        )
        if empty:
            raise ValueError(f"{empty} reads lack a required value ({', '.join(_REQUIRED)})")
        source = "peel_incoming"
        if distinct < total:  # repeats (or a rare hash collision: then nothing is dropped)
            con.execute(
                "CREATE OR REPLACE TEMP TABLE peel_unique AS SELECT * FROM peel_incoming "
                "QUALIFY row_number() OVER (PARTITION BY read_id ORDER BY peel_order) = 1"
            )
            source = "peel_unique"
        try:
            with self._locked():
                landed = self._land_days(con, source, [int(d) for d in days or []])
        finally:
            con.execute("DROP VIEW IF EXISTS peel_incoming; DROP TABLE IF EXISTS peel_unique")
        written = sum(landed.values())
        return AppendResult(written, int(total) - written, sorted(landed))

    def _land_days(
        self, con: duckdb.DuckDBPyConnection, source: str, days: list[int]
    ) -> dict[date, int]:
        """Write one file per day, leaving out reads the day already has; rows per day."""
        batch = _batch_name(con, source)
        landed: dict[date, int] = {}
        for number in days:
            day = _EPOCH.date() + timedelta(days=number)
            where = f"peel_day = {number}"
            low, high = _row(
                con,
                f"SELECT min(epoch_us(read_at)), max(epoch_us(read_at)) FROM {source} "
                f"WHERE {where}",
            )
            # A repeat is the same read, so it has the same time: only files whose time range
            # overlaps the incoming reads can hold one. Live flushes add a small file every few
            # seconds; this keeps each flush's check to the few files of its own minutes.
            existing = [
                str(p) for p in self.files(day) if _overlaps(_time_range(p), int(low), int(high))
            ]
            if existing:
                listed = ", ".join(_sql_text(p) for p in existing)
                where += f" AND read_id NOT IN (SELECT read_id FROM read_parquet([{listed}]))"
            query = f"SELECT * EXCLUDE (peel_day, peel_order) FROM {source} WHERE {where}"
            folder = self.day_dir(day)
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{batch}-{uuid.uuid4().hex[:12]}.parquet"
            written = atomic_write(target, partial(_copy_sorted, con, query))
            if written:
                landed[day] = written
        return landed

    def compact(self, day: date | None = None) -> int:
        """Merge each day's files (one day, or every day) into one sorted file.

        Returns how many days were rewritten; days with a single file are left alone.
        """
        done = 0
        with self._locked():
            for each in [day] if day is not None else self.days():
                if self._compact_day(each):
                    done += 1
        return done

    def _compact_day(self, day: date) -> bool:
        files = self.files(day)
        if len(files) < 2:
            return False
        folder = self.day_dir(day)
        staging = self.reads_dir / f".compact-{day.isoformat()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            con = connect(self.spill_dir)
            try:
                sources = [str(p) for p in files]
                (expected,) = _row(con, "SELECT count(*) FROM read_parquet(?)", [sources])
                target = staging / f"compact-{uuid.uuid4().hex[:12]}.parquet"
                quoted = ", ".join(_sql_text(s) for s in sources)
                columns = ", ".join(READ_SCHEMA.names)
                query = f"SELECT {columns} FROM read_parquet([{quoted}])"
                _copy_sorted(con, query, target)
                (written,) = _row(con, "SELECT count(*) FROM read_parquet(?)", [str(target)])
            finally:
                con.close()
            if written != expected:
                raise RuntimeError(f"compacting {day}: wrote {written} of {expected} reads")
            _fsync_path(target)
            _fsync_path(staging)
            _exchange(staging, folder)
            _fsync_path(self.reads_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True

    def drop_before(self, day: date) -> list[date]:
        """Delete every whole day before ``day`` (retention); returns the days removed."""
        dropped = []
        with self._locked():
            for each in self.days():
                if each >= day:
                    break
                folder = self.day_dir(each)
                gone = self.reads_dir / f".drop-{each.isoformat()}-{uuid.uuid4().hex[:8]}"
                os.replace(folder, gone)
                shutil.rmtree(gone, ignore_errors=True)
                dropped.append(each)
            if dropped:
                _fsync_path(self.reads_dir)
        return dropped

    # --- cameras and register --------------------------------------------------------------

    def write_cameras(self, cameras: pa.Table | Iterable[Mapping[str, Any]]) -> Path:
        """Replace ``cameras.parquet`` with these cameras (rows or a table of CAMERA_SCHEMA)."""
        table = _as_table(cameras, CAMERA_SCHEMA)
        table = table.sort_by("camera_id")
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(
            self.cameras_path, lambda tmp: pq.write_table(table, tmp, compression=COMPRESSION)
        )
        return self.cameras_path

    def write_register(self, table: pa.Table | Iterable[Mapping[str, Any]]) -> Path:
        """Replace ``register.parquet`` (plates already normalised), sorted by plate."""
        register = _as_table(table, REGISTER_SCHEMA).sort_by("plate")
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(
            self.register_path,
            lambda tmp: pq.write_table(
                register, tmp, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS
            ),
        )
        return self.register_path

    def quarantine_path(self, batch_id: str) -> Path:
        return self.quarantine_dir / f"{batch_id}.csv"

    # --- locking ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time, across threads and processes (``flock`` on ``.lock``)."""
        self.reads_dir.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- SQL twins of the plate functions --------------------------------------------------------

#: Look-alike characters and what the fuzzy key turns them into ("ODQIZSBG" -> "00012586").
FUZZY_FROM = "".join(group[1:] for group in LOOKALIKES)
FUZZY_TO = "".join(group[0] * (len(group) - 1) for group in LOOKALIKES)
#: Name of the DuckDB function :func:`register_plate_functions` adds.
NORMALISE_FUNCTION = "peel_normalise_plate"


def plate_sql(expr: str) -> str:
    """DuckDB SQL that normalises a plate as read (upper case, only 0-9 and A-Z).

    Equal to :func:`peel.anpr.plates.normalise` for ASCII text of at most 20 plate
    characters (``normalise`` stops at 20; ingest refuses anything over 10 either way).
    """
    return f"regexp_replace(upper({expr}), '[^0-9A-Z]', '', 'g')"


def unicode_plate_sql(expr: str) -> str:
    """:func:`plate_sql`, with text beyond ASCII normalised by Python (NFKC folding).

    Needs :func:`register_plate_functions` on the connection; ASCII stays in SQL.
    """
    return (
        f"CASE WHEN strlen({expr}) <> length({expr}) THEN {NORMALISE_FUNCTION}({expr}) "
        f"ELSE {plate_sql(expr)} END"
    )


def fuzzy_sql(plate_expr: str) -> str:
    """DuckDB (and Spark) SQL for the fuzzy key of a normalised plate."""
    return f"translate({plate_expr}, '{FUZZY_FROM}', '{FUZZY_TO}')"


def read_id_sql(camera_expr: str, plate_expr: str, read_at_expr: str) -> str:
    """DuckDB SQL for a read's id when the source gives none (see :func:`read_id_for`)."""
    return (
        f"md5({camera_expr} || '|' || {plate_expr} || '|' || "
        f"CAST(epoch_us({read_at_expr}) AS VARCHAR))"
    )


def source_read_id_sql(camera_expr: str, id_expr: str) -> str:
    """DuckDB SQL for the stored id of a read whose source numbered it (see below)."""
    return f"md5({camera_expr} || '|id|' || {id_expr})"


def source_read_id(camera_id: str, given: str) -> str:
    """The stored id of a read the source numbered: md5 hex of ``camera_id|id|given``.

    Sources number reads their own way (1, 2, 3…), so a given id is kept apart per camera:
    one force's numbering can never mark another force's read as a repeat.
    """
    return hashlib.md5(f"{camera_id}|id|{given}".encode(), usedforsecurity=False).hexdigest()


def read_id_for(camera_id: str, plate: str, read_at: datetime) -> str:
    """md5 hex of ``camera_id|plate|microseconds since 1970 UTC``: one read, one id."""
    micros = (read_at - _EPOCH) // timedelta(microseconds=1)
    return hashlib.md5(f"{camera_id}|{plate}|{micros}".encode(), usedforsecurity=False).hexdigest()


def register_plate_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Add the Python normaliser to a DuckDB connection (for :func:`unicode_plate_sql`)."""

    def normalise_many(values: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else normalise(v) for v in values.to_pylist()], pa.string()
        )

    con.create_function(
        NORMALISE_FUNCTION,
        normalise_many,
        [duckdb.sqltype("VARCHAR")],
        duckdb.sqltype("VARCHAR"),
        type=PythonUDFType.ARROW,
    )


# --- files ------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)  # bounded: a live day adds a file every few seconds, then compacts
def _file_time_range(path: str, mtime_ns: int, size: int) -> tuple[int, int] | None:
    """The smallest and largest ``read_at`` (epoch µs) in one reads file, from its footer."""
    del mtime_ns, size  # part of the cache key: a rewritten file is read again
    meta = pq.ParquetFile(path).metadata
    column = meta.schema.names.index("read_at")
    low: int | None = None
    high: int | None = None
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        first, last = _epoch_us(stats.min), _epoch_us(stats.max)
        low = first if low is None else min(low, first)
        high = last if high is None else max(high, last)
    if low is None or high is None:
        return None
    return low, high


def _epoch_us(value: Any) -> int:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (moment - _EPOCH) // timedelta(microseconds=1)
    return int(value)


def _time_range(path: Path) -> tuple[int, int] | None:
    """``None`` when a file's statistics are missing: then it is always checked."""
    stat = path.stat()
    return _file_time_range(str(path), stat.st_mtime_ns, stat.st_size)


def _overlaps(span: tuple[int, int] | None, low: int, high: int) -> bool:
    return span is None or (span[0] <= high and low <= span[1])


def _row(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> tuple[Any, ...]:
    rows = con.execute(sql, list(params or [])).fetchall()
    return tuple(rows[0])


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _batch_name(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """The batch id for file names when the reads come from one batch, else ``mixed``."""
    rows = con.sql(f"SELECT DISTINCT batch_id FROM {source} LIMIT 2").fetchall()
    name = str(rows[0][0]) if len(rows) == 1 else "mixed"
    return _SAFE_NAME.sub("_", name)[:40] or "batch"


def _copy_sorted(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> int:
    """Write a query's reads to one Parquet file sorted by (plate, read_at); rows written."""
    (written,) = _row(
        con,
        f"COPY ({query} ORDER BY plate, read_at) TO {_sql_text(str(target))} {_PARQUET}",
    )
    return int(written)


def atomic_write(target: Path, write: Callable[[Path], T]) -> T:
    """Write through a hidden temporary file in the same folder, fsync, rename into place.

    When ``write`` returns 0 (no rows) the file is not kept. Returns what ``write`` returns.
    """
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        result = write(tmp)
        if result == 0:
            return result
        _fsync_path(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_path(target.parent)
    return result


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@cache
def _renameat2() -> Any:
    """The C library's ``renameat2`` (Linux), or None where there is none."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name, use_errno=True), "renameat2", None) if name else None


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders in one step (Linux ``renameat2``); elsewhere by renaming, which
    leaves ``b`` absent for a moment."""
    renameat2 = _renameat2()
    paths = (_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if renameat2 is not None and renameat2(*paths) == 0:
        return
    aside = b.with_name(f".{b.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(b, aside)
    os.replace(a, b)
    os.replace(aside, a)


def _as_table(rows: pa.Table | Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) or a table as exactly ``schema``'s columns; absent optional ones are null."""
    if isinstance(rows, pa.Table):
        table = rows
    else:
        listed = [dict(row) for row in rows]
        if not listed:
            return schema.empty_table()
        table = pa.Table.from_pylist(listed)
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        elif field.nullable:
            columns.append(pa.nulls(table.num_rows, field.type))
        else:
            raise ValueError(f"missing column {field.name}")
    for field, column in zip(schema, columns, strict=True):
        if not field.nullable and column.null_count:
            raise ValueError(f"column {field.name} has empty values")
    return pa.Table.from_arrays(columns, schema=schema)
