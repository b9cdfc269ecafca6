"""Crime records into Parquet, one file per dataset, read back with DuckDB.

Three importers share one pipeline:

- :func:`import_police_uk` reads data.police.uk street-level CSVs, with the published header
  (``Crime ID,Month,...,Context``) or its snake_case form (``crime_id,month,...``);
- :func:`import_outcomes` reads data.police.uk outcomes CSVs;
- :func:`import_generic` reads any CSV through a column mapping (our field -> their column).

DuckDB reads every column as text (explicit ``VARCHAR`` columns) and the values are cast with
``TRY_CAST``, so a bad value skips its row with a reason and a line number instead of failing
the import. Records that do not parse as CSV (too many or too few fields, a broken quote) are
skipped as ``malformed_row``. Coordinates are converted in bulk with pyproj on numpy arrays
(network off, ballpark transformations refused, as in :mod:`peel.core.geo`).

Line numbers are physical lines of the file, the header being line 1. They are exact for
files with one record per line; files with blank lines or quoted values spanning lines are
re-counted with Python's ``csv`` module (slower, and exact when both parsers agree).

Each import writes ``<out_dir>/crime/<dataset>.parquet`` (or ``outcomes/``) to a temporary
file in the same folder, then renames it over the old one: a failed import changes nothing
and a re-import replaces the dataset. :func:`connect` opens DuckDB with the views ``crime``
and ``outcomes`` over every dataset, for SQL written elsewhere.
"""

from __future__ import annotations

import csv
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
from pyproj import Transformer

from peel.core.errors import InvalidInput
from peel.core.geo import BNG_EASTING, BNG_NORTHING, UK_LAT, UK_LON

StrPath = str | os.PathLike[str]
Bounds = tuple[float, float, float, float]

# Columns of every crime dataset, in order, with their DuckDB types. ``file`` and ``line``
# say where each row came from (the file's name; the header is line 1).
CRIME_SCHEMA: dict[str, str] = {
    "crime_id": "VARCHAR",
    "month": "DATE",
    "occurred_at": "TIMESTAMP",
    "reported_by": "VARCHAR",
    "falls_within": "VARCHAR",
    "lon": "DOUBLE",
    "lat": "DOUBLE",
    "easting": "DOUBLE",
    "northing": "DOUBLE",
    "location": "VARCHAR",
    "lsoa_code": "VARCHAR",
    "lsoa_name": "VARCHAR",
    "category": "VARCHAR",
    "outcome": "VARCHAR",
    "source": "VARCHAR",
    "file": "VARCHAR",
    "line": "BIGINT",
}

# Columns of every outcomes dataset.
OUTCOME_SCHEMA: dict[str, str] = {
    name: kind for name, kind in CRIME_SCHEMA.items() if name not in ("occurred_at", "category")
}

POLICE_UK_STREET_COLUMNS = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)
POLICE_UK_OUTCOME_COLUMNS = (*POLICE_UK_STREET_COLUMNS[:9], "Outcome type")

# data.police.uk "Crime type" labels (current and pre-2013) and their API category slugs.
CATEGORY_SLUGS: dict[str, str] = {
    "Anti-social behaviour": "anti-social-behaviour",
    "Bicycle theft": "bicycle-theft",
    "Burglary": "burglary",
    "Criminal damage and arson": "criminal-damage-arson",
    "Drugs": "drugs",
    "Other theft": "other-theft",
    "Possession of weapons": "possession-of-weapons",
    "Public order": "public-order",
    "Robbery": "robbery",
    "Shoplifting": "shoplifting",
    "Theft from the person": "theft-from-the-person",
    "Vehicle crime": "vehicle-crime",
    "Violence and sexual offences": "violent-crime",
    "Other crime": "other-crime",
    "Violent crime": "violent-crime",
    "Public disorder and weapons": "public-disorder-weapons",
}

# Fields a generic CSV can be mapped onto.
GENERIC_FIELDS = (
    "crime_id",
    "month",
    "occurred_at",
    "reported_by",
    "falls_within",
    "lon",
    "lat",
    "easting",
    "northing",
    "location",
    "lsoa_code",
    "lsoa_name",
    "category",
    "outcome",
)

EXAMPLES_PER_REASON = 20
DEFAULT_MARGIN_M = 2000.0
_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_UK_BOX_TEXT = (
    f"a point inside the UK box, latitude {UK_LAT[0]} to {UK_LAT[1]} "
    f"and longitude {UK_LON[0]} to {UK_LON[1]}"
)
_PLACEMENT_REASONS = ("outside_uk", "outside_bounds", "bad_coordinates")


class SkippedRow(NamedTuple):
    """One row left out of an import: where it is, what it held and what was expected."""

    file: str
    line: int
    column: str
    value: str
    expected: str

    def __str__(self) -> str:
        found = f"found {self.value!r}" if self.value else "found nothing"
        return f"{self.file}, line {self.line}, {self.column}: expected {self.expected}, {found}"


@dataclass(frozen=True)
class ImportReport:
    """What an import read, kept and left out (by reason, with example lines)."""

    dataset: str
    path: Path
    files: tuple[str, ...]
    rows_read: int
    rows_imported: int
    skipped: dict[str, int]
    examples: dict[str, list[SkippedRow]]
    first_month: date | None
    last_month: date | None
    months_without_rows: list[str]
    duplicate_crime_ids: int
    seconds: float

    def summary(self) -> str:
        """A few lines for people: counts, skips by reason and the first example of each."""
        lines = [
            f"{self.dataset}: {self.rows_imported:,} of {self.rows_read:,} rows imported "
            f"from {len(self.files)} file(s) in {self.seconds:.2f} s -> {self.path}"
        ]
        for reason, count in self.skipped.items():
            if count:
                first = self.examples.get(reason, [])
                lines.append(f"  {reason}: {count:,}" + (f" (e.g. {first[0]})" if first else ""))
        if self.months_without_rows:
            lines.append(f"  months without rows: {', '.join(self.months_without_rows)}")
        if self.duplicate_crime_ids:
            lines.append(f"  crime IDs on more than one row: {self.duplicate_crime_ids:,}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["examples"] = {k: [row._asdict() for row in v] for k, v in self.examples.items()}
        for key in ("first_month", "last_month"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


# --- Plans: what each kind of CSV holds and how its rows are judged ----------------------


@dataclass(frozen=True)
class _Check:
    """A reason to skip a row, the raw fields to show for it and what was expected."""

    reason: str
    fields: tuple[str, ...]
    expected: str
    condition: str | None = None  # SQL over the typed columns; None: decided by _place


@dataclass(frozen=True)
class _Geo:
    """Where a row's point comes from and which projected CRS it is converted to."""

    source: Literal["lonlat", "projected"] = "lonlat"
    crs: int = 27700
    derive_lonlat: bool = False
    bounds: Bounds | None = None
    margin_m: float = DEFAULT_MARGIN_M
    required: bool = True


@dataclass(frozen=True)
class _Plan:
    """How one kind of import turns raw text fields (``r.<field>``) into typed columns."""

    kind: Literal["crime", "outcomes"]
    columns: dict[str, str]
    checks: tuple[_Check, ...]
    geo: _Geo


@dataclass(frozen=True)
class _Source:
    """One CSV file to read: its header and where each raw field sits in it."""

    path: Path
    header: list[str]
    positions: dict[str, int]


@dataclass(frozen=True)
class _Reject:
    """A record DuckDB could not read as CSV."""

    line: int
    text: str
    message: str


@dataclass(frozen=True)
class _Loaded:
    """One file after loading: its rows in ``staged``, their line numbers, its rejects."""

    source: _Source
    rows: int
    lines: np.ndarray
    rejects: list[_Reject]


def _snake(name: str) -> str:
    """``Crime ID`` -> ``crime_id``: lower case, runs of other characters become ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text(field: str) -> str:
    return f"NULLIF(trim(r.{field}), '')"


def _number(field: str) -> str:
    return f"TRY_CAST(trim(r.{field}) AS DOUBLE)"


def _police_month(field: str) -> str:
    """SQL for a ``YYYY-MM`` month as the DATE of its first day, else NULL."""
    raw = f"trim(r.{field})"
    return (
        f"CASE WHEN regexp_full_match({raw}, '[0-9]{{4}}-[0-9]{{2}}') "
        f"THEN CAST(try_strptime({raw} || '-01', '%Y-%m-%d') AS DATE) END"
    )


def _lookup(field: str, pairs: Mapping[str, str]) -> str:
    """SQL mapping the lower-cased, trimmed text of ``field`` through ``pairs``, else NULL."""
    cases = " ".join(f"WHEN {_sql_string(k)} THEN {_sql_string(v)}" for k, v in pairs.items())
    return f"CASE lower(trim(r.{field})) {cases} END"


def _category_pairs(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Crime type labels and slugs (and any ``extra`` values), lower case, to slugs."""
    pairs = {label.lower(): slug for label, slug in CATEGORY_SLUGS.items()}
    pairs |= {slug: slug for slug in CATEGORY_SLUGS.values()}
    return pairs | {key.strip().lower(): slug for key, slug in (extra or {}).items()}


def _coordinate_checks(
    raw: tuple[str, str], typed: tuple[str, str], names: tuple[str, str]
) -> tuple[_Check, _Check]:
    """Empty coordinates, then coordinates that are not finite numbers."""
    both = f"{names[0]} and {names[1]}"
    x, y = typed
    return (
        _Check(
            "no_coordinates",
            raw,
            f"{both} (data.police.uk leaves them out for crimes it cannot place)",
            f"{raw[0]}_text IS NULL AND {raw[1]}_text IS NULL",
        ),
        _Check(
            "bad_coordinates",
            raw,
            f"numbers for both {both}",
            f"{x} IS NULL OR {y} IS NULL OR NOT isfinite({x}) OR NOT isfinite({y})",
        ),
    )


def _placement_checks(geo: _Geo, raw: tuple[str, str]) -> list[_Check]:
    """The checks decided after conversion: inside the UK, inside the bounds."""
    checks = []
    if geo.crs == 27700:
        where = _UK_BOX_TEXT if geo.source == "lonlat" else "easting 0-700000, northing 0-1300000"
        checks.append(_Check("outside_uk", raw, where))
    if geo.bounds is not None:
        expected = f"a point within {geo.margin_m:g} m of the bounds {list(geo.bounds)}"
        checks.append(_Check("outside_bounds", raw, expected))
    return checks


def _police_columns() -> dict[str, str]:
    """The typed columns shared by street and outcomes files."""
    return {
        "crime_id": _text("crime_id"),
        "month": _police_month("month"),
        "reported_by": _text("reported_by"),
        "falls_within": _text("falls_within"),
        "lon": _number("longitude"),
        "lat": _number("latitude"),
        "easting": "CAST(NULL AS DOUBLE)",
        "northing": "CAST(NULL AS DOUBLE)",
        "location": _text("location"),
        "lsoa_code": _text("lsoa_code"),
        "lsoa_name": _text("lsoa_name"),
    }


def _street_plan(geo: _Geo) -> _Plan:
    """How data.police.uk street-level files are read."""
    columns = _police_columns() | {
        "occurred_at": "CAST(NULL AS TIMESTAMP)",
        "category": _lookup("crime_type", _category_pairs()),
        "outcome": _text("last_outcome_category"),
    }
    raw = ("longitude", "latitude")
    checks = (
        _Check("bad_month", ("month",), "a month as YYYY-MM", "month IS NULL"),
        _Check(
            "unknown_crime_type",
            ("crime_type",),
            "a data.police.uk crime type such as 'Burglary' or 'Anti-social behaviour'",
            "category IS NULL",
        ),
        *_coordinate_checks(raw, ("lon", "lat"), ("Longitude", "Latitude")),
        *_placement_checks(geo, raw),
    )
    return _Plan("crime", columns, checks, geo)


def _outcomes_plan() -> _Plan:
    """How data.police.uk outcomes files are read (coordinates are optional there)."""
    columns = _police_columns() | {"outcome": _text("outcome_type")}
    checks = (
        _Check("bad_month", ("month",), "a month as YYYY-MM", "month IS NULL"),
        _Check("no_crime_id", ("crime_id",), "a Crime ID to join on", "crime_id IS NULL"),
        _Check("no_outcome", ("outcome_type",), "an outcome type", "outcome IS NULL"),
    )
    return _Plan("outcomes", columns, checks, _Geo(required=False))


# --- Paths, names and headers ------------------------------------------------------------


def _check_dataset(dataset: str) -> str:
    """A dataset name that is safe as a file name."""
    if not _DATASET_NAME.fullmatch(dataset or "") or ".." in dataset:
        raise InvalidInput(
            {
                "dataset": "expected 1-100 letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit, for example essex-2018; found {dataset!r}"
            }
        )
    return dataset


def _expand(paths: StrPath | Iterable[StrPath], pattern: str) -> list[Path]:
    """Files to read: a folder gives its ``pattern`` files (else every ``*.csv``), sorted."""
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files: list[Path] = []
    errors: dict[str, str] = {}
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(item.glob(pattern)) or sorted(item.glob("*.csv"))
            files.extend(found)
            if not found:
                errors[str(item)] = f"expected CSV files ({pattern}) in this folder, found none"
        elif item.is_file():
            files.append(item)
        else:
            errors[str(item)] = "expected a CSV file or a folder of them; nothing is there"
    if not files and not errors:
        errors["paths"] = "expected at least one CSV file"
    if errors:
        raise InvalidInput(errors)
    return files


def _read_header(path: Path, delimiter: str) -> list[str]:
    """The first record of a CSV file, with any byte-order mark and spaces removed."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        return [name.strip() for name in next(csv.reader(handle, delimiter=delimiter), [])]


def _listed(label: str, names: Sequence[str]) -> str:
    return f"{label}: {', '.join(names)}" if names else ""


def _police_positions(header: list[str], expected: Sequence[str]) -> dict[str, int] | str:
    """Where each police.uk column sits (``Context`` is optional), or what is wrong."""
    wanted = [_snake(name) for name in expected]
    found = [_snake(name) for name in header]
    missing = [n for n, k in zip(expected, wanted, strict=True) if k not in [*found, "context"]]
    extra = [name for name, key in zip(header, found, strict=True) if key not in wanted]
    repeated = sorted({name for name in found if found.count(name) > 1})
    problems = [_listed("missing", missing), _listed("not expected", extra)]
    problems = [text for text in [*problems, _listed("repeated", repeated)] if text]
    if not problems:
        return {key: found.index(key) for key in wanted if key in found and key != "context"}
    return (
        f"line 1: expected columns {', '.join(expected)} (or their snake_case forms "
        f"{', '.join(wanted)}), found {', '.join(header) or 'nothing (the file is empty)'}; "
        + "; ".join(problems)
    )


def _police_sources(files: list[Path], expected: Sequence[str]) -> list[_Source]:
    """Check every header before anything is read; all problems are raised together."""
    sources, errors = [], {}
    for path in files:
        header = _read_header(path, ",")
        positions = _police_positions(header, expected)
        if isinstance(positions, str):
            errors[str(path)] = positions
        else:
            sources.append(_Source(path, header, positions))
    if errors:
        raise InvalidInput(errors, title="The CSV files do not have the expected columns")
    return sources


def _check_bounds(bounds: Sequence[float] | None, margin_m: float) -> Bounds | None:
    """(west, south, east, north) in WGS84 degrees, or None."""
    if not margin_m >= 0:
        raise InvalidInput({"bounds_margin_m": f"expected metres, 0 or more; found {margin_m}"})
    if bounds is None:
        return None
    message = (
        "expected (west, south, east, north) in degrees with west < east and south < north, "
        f"for example (-0.12, 51.50, -0.07, 51.53); found {bounds!r}"
    )
    try:
        west, south, east, north = (float(value) for value in bounds)
    except (TypeError, ValueError):
        raise InvalidInput({"bounds": message}) from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInput({"bounds": message})
    return west, south, east, north


# --- Reading CSV text into DuckDB ---------------------------------------------------------


@contextmanager
def _session() -> Iterator[duckdb.DuckDBPyConnection]:
    """A private in-memory DuckDB for one import."""
    con = duckdb.connect(":memory:")
    try:
        yield con
    finally:
        con.close()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None


def _staging_sql(plan: _Plan, no: int, source: _Source, delimiter: str) -> str:
    """SELECT of one file's typed columns, raw text for the checks, and the SQL skip reason."""
    shown = {f"{f}_text": _text(f) for check in plan.checks for f in check.fields}
    columns = ", ".join(f"{sql} AS {name}" for name, sql in (plan.columns | shown).items())
    cases = " ".join(
        f"WHEN {check.condition} THEN '{check.reason}'"
        for check in plan.checks
        if check.condition is not None
    )
    types = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(source.header)))
    picks = ", ".join(f"c{pos} AS {field}" for field, pos in source.positions.items())
    reader = (
        f"read_csv(?, columns={{{types}}}, header=true, auto_detect=false, "
        f"delim={_sql_string(delimiter)}, quote='\"', escape='\"', ignore_errors=true, "
        f"store_rejects=true, rejects_table='rejects_{no}', rejects_scan='scans_{no}')"
    )
    return (
        f"SELECT *, CASE {cases or 'WHEN false THEN NULL'} END AS reason "  # noqa: S608 - names are ours
        f"FROM (SELECT {no} AS file_no, {columns} FROM (SELECT {picks} FROM {reader}) AS r)"
    )


def _insert_file(
    con: duckdb.DuckDBPyConnection, no: int, source: _Source, plan: _Plan, delimiter: str
) -> None:
    """Append one file's rows to ``staged`` in file order; bad records go to ``rejects_<no>``."""
    verb = "CREATE TEMP TABLE staged AS" if no == 0 else "INSERT INTO staged"
    try:
        con.execute(f"{verb} {_staging_sql(plan, no, source, delimiter)}", [str(source.path)])
    except duckdb.Error as error:
        raise InvalidInput({str(source.path): f"could not be read as CSV: {error}"}) from None


def _rejects(con: duckdb.DuckDBPyConnection, no: int) -> list[_Reject]:
    """One entry per record DuckDB rejected, in file order."""
    rows = con.execute(
        "SELECT line, first(csv_line ORDER BY column_idx), "  # noqa: S608 - table name is ours
        f"first(error_message ORDER BY column_idx) FROM rejects_{no} GROUP BY line ORDER BY line"
    ).fetchall()
    return [_Reject(int(line), str(text or ""), str(message)) for line, text, message in rows]


def _counted_lines(path: Path) -> int:
    """Physical lines up to the last one with text (blank lines at the end do not count)."""
    newlines, size = 0, path.stat().st_size
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            newlines += chunk.count(b"\n")
        handle.seek(max(0, size - 65536))
        tail = handle.read()
    body = tail.rstrip(b"\r\n")
    return newlines - tail[len(body) :].count(b"\n") + (1 if body else 0)


def _ordinals(count: int, rejected: Sequence[int]) -> np.ndarray:
    """Lines 2, 3, ... of ``count`` kept records when the ``rejected`` lines are left out."""
    lines = np.arange(2, count + 2, dtype=np.int64)
    if rejected:
        skips = np.sort(np.asarray(rejected, dtype=np.int64))
        before = skips - 2 - np.arange(len(skips))  # kept records before each rejected one
        lines += np.searchsorted(before, np.arange(count), side="right")
    return lines


def _record_starts(path: Path, delimiter: str, width: int) -> tuple[np.ndarray, list[int]]:
    """Start lines of the well-formed and of the malformed records, by Python's csv."""
    good: list[int] = []
    bad: list[int] = []
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        previous = reader.line_num
        for row in reader:
            if row:
                (good if len(row) == width else bad).append(previous + 1)
            previous = reader.line_num
    return np.asarray(good, dtype=np.int64), bad


def _line_numbers(
    source: _Source, kept: int, rejects: list[_Reject], delimiter: str
) -> tuple[np.ndarray, list[_Reject]]:
    """Line numbers of the kept records, and the rejects with corrected lines if needed."""
    simple = all("\n" not in reject.text for reject in rejects)
    if simple and _counted_lines(source.path) == 1 + kept + len(rejects):
        return _ordinals(kept, [reject.line for reject in rejects]), rejects
    good, bad = _record_starts(source.path, delimiter, len(source.header))
    if len(good) == kept and len(bad) == len(rejects):
        return good, [replace(r, line=line) for r, line in zip(rejects, bad, strict=True)]
    return _ordinals(kept, [reject.line for reject in rejects]), rejects


def _load(
    con: duckdb.DuckDBPyConnection, sources: list[_Source], plan: _Plan, delimiter: str
) -> list[_Loaded]:
    """Read every file into ``staged``, one after another, keeping file order."""
    loaded, total = [], 0
    for no, source in enumerate(sources):
        _insert_file(con, no, source, plan, delimiter)
        count = int(_scalar(con, "SELECT count(*) FROM staged"))
        lines, rejects = _line_numbers(source, count - total, _rejects(con, no), delimiter)
        loaded.append(_Loaded(source, count - total, lines, rejects))
        total = count
    return loaded


# --- Coordinates ------------------------------------------------------------------------


@cache
def _transformer(source_epsg: int, target_epsg: int) -> Transformer:
    """A cached transformer with the same settings as :mod:`peel.core.geo`."""
    return Transformer.from_crs(
        source_epsg, target_epsg, always_xy=True, only_best=False, allow_ballpark=False
    )


def _transform(
    source: int, target: int, x: np.ndarray, y: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised conversion of the ``ok`` points; the others (and failures) become NaN."""
    out_x, out_y = np.full(x.shape, np.nan), np.full(y.shape, np.nan)
    if ok.any():
        new_x, new_y = _transformer(source, target).transform(x[ok], y[ok], errcheck=False)
        out_x[ok], out_y[ok] = new_x, new_y
    bad = ~(np.isfinite(out_x) & np.isfinite(out_y))
    out_x[bad], out_y[bad] = np.nan, np.nan
    return out_x, out_y


def _envelope(bounds: Bounds, crs: int, margin_m: float) -> Bounds:
    """The projected box around WGS84 ``bounds`` (edges sampled), widened by ``margin_m``."""
    west, south, east, north = bounds
    steps = np.linspace(0.0, 1.0, 33)
    lons = np.concatenate([west + (east - west) * steps, np.full(33, east)])
    lons = np.concatenate([lons, east - (east - west) * steps, np.full(33, west)])
    lats = np.concatenate([np.full(33, south), south + (north - south) * steps])
    lats = np.concatenate([lats, np.full(33, north), north - (north - south) * steps])
    xs, ys = _transform(4326, crs, lons, lats, np.ones(lons.shape, dtype=bool))
    if not np.isfinite(xs).all():
        raise InvalidInput({"bounds": f"expected an area that converts to EPSG:{crs}"})
    return xs.min() - margin_m, ys.min() - margin_m, xs.max() + margin_m, ys.max() + margin_m


def _floats(values: Any) -> np.ndarray:
    """A float array with NaN for NULL (DuckDB gives masked arrays when there are NULLs)."""
    return np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan)


def _inside(x: np.ndarray, y: np.ndarray, box: Bounds) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _convert(
    geo: _Geo, lon: np.ndarray, lat: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fill in the missing pair of coordinates; the last array marks points that are usable."""
    if geo.source == "lonlat":
        box = (UK_LON[0], UK_LAT[0], UK_LON[1], UK_LAT[1])
        ok = _inside(lon, lat, box) if geo.crs == 27700 else np.isfinite(lon) & np.isfinite(lat)
        x, y = _transform(4326, geo.crs, lon, lat, ok)
    else:
        box = (BNG_EASTING[0], BNG_NORTHING[0], BNG_EASTING[1], BNG_NORTHING[1])
        ok = _inside(x, y, box) if geo.crs == 27700 else np.isfinite(x) & np.isfinite(y)
        if geo.derive_lonlat:
            lon, lat = _transform(geo.crs, 4326, x, y, ok)
    return lon, lat, x, y, ok & np.isfinite(x) & np.isfinite(y)


def _placement(geo: _Geo, x: np.ndarray, y: np.ndarray, ok: np.ndarray) -> pa.Array:
    """Why each point cannot be used (a dictionary-encoded reason), or NULL."""
    codes = np.full(x.shape, -1, dtype=np.int8)
    codes[~ok] = 0 if geo.crs == 27700 else 2
    if geo.bounds is not None:
        codes[ok & ~_inside(x, y, _envelope(geo.bounds, geo.crs, geo.margin_m))] = 1
    if not geo.required:
        codes[:] = -1
    return pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=codes < 0), pa.array(_PLACEMENT_REASONS)
    )


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~np.isfinite(values))


def _place(con: duckdb.DuckDBPyConnection, geo: _Geo, loaded: list[_Loaded]) -> None:
    """Register ``geo`` (row by row beside ``staged``) and the ``judged`` view over both."""
    data = con.execute("SELECT lon, lat, easting, northing FROM staged").fetchnumpy()
    columns = (_floats(data[name]) for name in ("lon", "lat", "easting", "northing"))
    lon, lat, x, y, ok = _convert(geo, *columns)
    files = np.repeat(np.arange(len(loaded), dtype=np.int32), [item.rows for item in loaded])
    names = pa.array([item.source.path.name for item in loaded], type=pa.string())
    lines = [item.lines for item in loaded]
    table = pa.table(
        {
            "rid": np.arange(len(files), dtype=np.int64),
            "file": pa.DictionaryArray.from_arrays(pa.array(files, type=pa.int32()), names),
            "line": np.concatenate(lines) if lines else np.zeros(0, dtype=np.int64),
            "lon": _nullable(lon),
            "lat": _nullable(lat),
            "easting": _nullable(x),
            "northing": _nullable(y),
            "placement": _placement(geo, x, y, ok),
        }
    )
    con.register("geo", table)
    con.execute(
        "CREATE TEMP VIEW judged AS SELECT s.* EXCLUDE (lon, lat, easting, northing, reason), "
        "g.* EXCLUDE (file, placement), CAST(g.file AS VARCHAR) AS file, "
        "coalesce(s.reason, CAST(g.placement AS VARCHAR)) AS reason "
        "FROM staged AS s POSITIONAL JOIN geo AS g"
    )


# --- Reports and writing ------------------------------------------------------------------


def _examples(
    con: duckdb.DuckDBPyConnection, plan: _Plan, loaded: list[_Loaded]
) -> dict[str, list[SkippedRow]]:
    """Up to 20 skipped rows per reason, first ones first, with the offending values."""
    shown = sorted({f"{f}_text" for check in plan.checks for f in check.fields})
    rows = con.execute(
        f"SELECT reason, file_no, line, {', '.join(shown)} FROM judged "  # noqa: S608 - ours
        "WHERE reason IS NOT NULL QUALIFY row_number() OVER (PARTITION BY reason ORDER BY rid) "
        f"<= {EXAMPLES_PER_REASON} ORDER BY reason, rid"
    ).fetchall()
    checks = {check.reason: check for check in plan.checks}
    found: dict[str, list[SkippedRow]] = {}
    for reason, file_no, line, *texts in rows:
        check, source = checks[reason], loaded[file_no].source
        values = dict(zip(shown, texts, strict=True))
        column = ", ".join(source.header[source.positions[f]] for f in check.fields)
        value = ", ".join(values[f"{f}_text"] or "" for f in check.fields)
        found.setdefault(reason, []).append(
            SkippedRow(source.path.name, int(line), column, value.strip(", "), check.expected)
        )
    return found


def _malformed(loaded: list[_Loaded]) -> list[SkippedRow]:
    """The first 20 records that did not parse as CSV, across the files."""
    rows: list[SkippedRow] = []
    for item in loaded:
        expected = f"a CSV record of {len(item.source.header)} fields in UTF-8, like the header"
        for reject in item.rejects[: EXAMPLES_PER_REASON - len(rows)]:
            text = reject.text.strip("\r\n")[:200]
            detail = f"{expected} (DuckDB: {reject.message})"
            rows.append(SkippedRow(item.source.path.name, reject.line, "row", text, detail))
    return rows


def _months(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None, list[str]]:
    """First and last month imported and the months in between with no rows."""
    first, last = con.execute(
        "SELECT min(month), max(month) FROM judged WHERE reason IS NULL"
    ).fetchall()[0]
    if first is None:
        return None, None, []
    empty = con.execute(
        "SELECT strftime(m, '%Y-%m') FROM generate_series(CAST(? AS TIMESTAMP), "
        "CAST(? AS TIMESTAMP), INTERVAL 1 MONTH) AS t(m) WHERE CAST(m AS DATE) NOT IN "
        "(SELECT DISTINCT month FROM judged WHERE reason IS NULL) ORDER BY m",
        [first, last],
    ).fetchall()
    return first, last, [row[0] for row in empty]


def _report(con: duckdb.DuckDBPyConnection, plan: _Plan, loaded: list[_Loaded]) -> dict[str, Any]:
    """Counts, skips by reason (with examples) and months, as ImportReport fields."""
    counts = dict(con.execute("SELECT reason, count(*) FROM judged GROUP BY reason").fetchall())
    malformed = sum(len(item.rejects) for item in loaded)
    skipped = {"malformed_row": malformed} | {check.reason: 0 for check in plan.checks}
    skipped |= {reason: int(n) for reason, n in counts.items() if reason is not None}
    examples = _examples(con, plan, loaded)
    if malformed:
        examples = {"malformed_row": _malformed(loaded), **examples}
    first, last, empty = _months(con)
    duplicates = _scalar(
        con,
        "SELECT count(*) FROM (SELECT crime_id FROM judged WHERE reason IS NULL AND crime_id "
        "IS NOT NULL GROUP BY crime_id HAVING count(*) > 1)",
    )
    return {
        "rows_read": sum(counts.values()) + malformed,
        "rows_imported": int(counts.get(None, 0)),
        "skipped": skipped,
        "examples": examples,
        "first_month": first,
        "last_month": last,
        "months_without_rows": empty,
        "duplicate_crime_ids": int(duplicates),
    }


def _final_select(plan: _Plan, dataset: str) -> str:
    """The rows to keep, in file order, with exactly the schema's columns and types."""
    schema = CRIME_SCHEMA if plan.kind == "crime" else OUTCOME_SCHEMA
    columns = ", ".join(
        f"CAST({_sql_string(dataset) if name == 'source' else name} AS {kind}) AS {name}"
        for name, kind in schema.items()
    )
    return f"SELECT {columns} FROM judged WHERE reason IS NULL ORDER BY rid"  # noqa: S608


def _write_atomically(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> None:
    """COPY to a temporary file beside ``target``, flush it to disk, then rename it over."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.stem}.{uuid.uuid4().hex}.tmp"
    try:
        con.execute(
            f"COPY ({select}) TO {_sql_string(str(temporary))} (FORMAT PARQUET, COMPRESSION ZSTD)"
        )
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()


def _run(
    plan: _Plan, sources: list[_Source], dataset: str, out_dir: StrPath, delimiter: str = ","
) -> ImportReport:
    """Load, place, report and write one dataset."""
    started = time.perf_counter()
    target = Path(out_dir) / plan.kind / f"{dataset}.parquet"
    with _session() as con:
        loaded = _load(con, sources, plan, delimiter)
        _place(con, plan.geo, loaded)
        fields = _report(con, plan, loaded)
        _write_atomically(con, _final_select(plan, dataset), target)
    return ImportReport(
        dataset=dataset,
        path=target,
        files=tuple(str(source.path) for source in sources),
        seconds=round(time.perf_counter() - started, 3),
        **fields,
    )


# --- Public importers -------------------------------------------------------------------


def import_police_uk(
    paths: StrPath | Iterable[StrPath],
    dataset: str,
    out_dir: StrPath,
    *,
    bounds: Sequence[float] | None = None,
    bounds_margin_m: float = DEFAULT_MARGIN_M,
) -> ImportReport:
    """Import data.police.uk street-level CSVs into ``<out_dir>/crime/<dataset>.parquet``.

    ``paths`` are files or folders (a folder gives its ``*-street.csv`` files). Rows are
    skipped, never fatal, for: ``malformed_row``, ``bad_month``, ``unknown_crime_type``,
    ``no_coordinates``, ``bad_coordinates``, ``outside_uk`` and, when ``bounds`` (west, south,
    east, north in degrees) are given, ``outside_bounds`` (more than ``bounds_margin_m`` metres
    outside them). Wrong or missing columns raise ``InvalidInput`` keyed by file, and nothing
    is written.
    """
    name = _check_dataset(dataset)
    box = _check_bounds(bounds, bounds_margin_m)
    sources = _police_sources(_expand(paths, "*-street.csv"), POLICE_UK_STREET_COLUMNS)
    plan = _street_plan(_Geo(bounds=box, margin_m=bounds_margin_m))
    return _run(plan, sources, name, out_dir)


def import_outcomes(
    paths: StrPath | Iterable[StrPath], dataset: str, out_dir: StrPath
) -> ImportReport:
    """Import data.police.uk outcomes CSVs into ``<out_dir>/outcomes/<dataset>.parquet``.

    Rows need a Crime ID, a month and an outcome type; coordinates are converted when they
    are inside the UK and left empty otherwise. A folder gives its ``*-outcomes.csv`` files.
    """
    name = _check_dataset(dataset)
    sources = _police_sources(_expand(paths, "*-outcomes.csv"), POLICE_UK_OUTCOME_COLUMNS)
    return _run(_outcomes_plan(), sources, name, out_dir)


def import_generic(
    paths: StrPath | Iterable[StrPath],
    dataset: str,
    out_dir: StrPath,
    mapping: Mapping[str, str],
    date_format: str | None = None,
    *,
    delimiter: str = ",",
    projected_crs: int = 27700,
    category_map: Mapping[str, str] | None = None,
    bounds: Sequence[float] | None = None,
    bounds_margin_m: float = DEFAULT_MARGIN_M,
) -> ImportReport:
    """Import any CSV into ``<out_dir>/crime/<dataset>.parquet`` through a column mapping.

    ``mapping`` maps our fields (:data:`GENERIC_FIELDS`) to the file's column names. It needs
    ``occurred_at`` or ``month``, and ``lon``/``lat`` or ``easting``/``northing``. Easting and
    northing are metres in ``projected_crs`` (British National Grid unless said otherwise),
    kept as given; from ``lon``/``lat`` alone they are computed in that CRS. ``date_format``
    is a strptime pattern such as ``%d/%m/%Y %H:%M`` (default: ISO 8601). Categories that are
    police.uk labels or slugs become slugs; others go through ``category_map`` (their value ->
    slug; unmapped values are skipped) or, without one, are kept as a slug of their own text.
    """
    name = _check_dataset(dataset)
    box = _check_bounds(bounds, bounds_margin_m)
    fields = _check_mapping(mapping, category_map)
    _check_date_format(date_format)
    sources = _generic_sources(_expand(paths, "*.csv"), fields, delimiter)
    geo = _generic_geo(fields, projected_crs, box, bounds_margin_m)
    plan = _generic_plan(fields, date_format, category_map, geo)
    return _run(plan, sources, name, out_dir, delimiter)


# --- Generic CSVs -----------------------------------------------------------------------


def _mapping_problem(fields: set[str]) -> str | None:
    """What is wrong with the set of mapped fields, if anything."""
    unknown = sorted(fields - set(GENERIC_FIELDS))
    if unknown:
        return (
            f"unknown field(s) {', '.join(unknown)}; expected some of {', '.join(GENERIC_FIELDS)}"
        )
    if not {"occurred_at", "month"} & fields:
        return "expected a column for occurred_at or month"
    if ("lon" in fields) != ("lat" in fields) or ("easting" in fields) != ("northing" in fields):
        return "expected lon with lat and easting with northing, in pairs"
    if not ({"lon", "lat"} <= fields or {"easting", "northing"} <= fields):
        return "expected columns for both lon and lat, or both easting and northing"
    return None


def _check_mapping(
    mapping: Mapping[str, str], category_map: Mapping[str, str] | None
) -> dict[str, str]:
    """Our field -> their column, checked for known fields and complete coordinates."""
    errors = {}
    problem = _mapping_problem(set(mapping))
    if problem:
        errors["mapping"] = problem
    slugs = set(CATEGORY_SLUGS.values())
    wrong = sorted({slug for slug in (category_map or {}).values() if slug not in slugs})
    if wrong:
        errors["category_map"] = (
            f"expected police.uk slugs ({', '.join(sorted(slugs))}); found {', '.join(wrong)}"
        )
    if errors:
        raise InvalidInput(errors)
    return {field: str(column).strip() for field, column in mapping.items()}


def _check_date_format(date_format: str | None) -> None:
    """Refuse a strptime pattern DuckDB does not understand."""
    if date_format is None:
        return
    with _session() as con:
        try:
            con.execute("SELECT try_strptime('2000-01-01', ?)", [date_format])
        except duckdb.Error as error:
            raise InvalidInput(
                {"date_format": f"expected a strptime pattern like %d/%m/%Y %H:%M; {error}"}
            ) from None


def _generic_sources(files: list[Path], fields: dict[str, str], delimiter: str) -> list[_Source]:
    """Find every mapped column in every file's header; all problems are raised together."""
    sources, errors = [], {}
    for path in files:
        header = _read_header(path, delimiter)
        missing = [column for column in fields.values() if column not in header]
        if missing:
            errors[str(path)] = (
                f"line 1: expected columns {', '.join(fields.values())} (from the mapping), "
                f"found {', '.join(header) or 'nothing (the file is empty)'}; "
                f"missing: {', '.join(missing)}"
            )
        else:
            positions = {field: header.index(column) for field, column in fields.items()}
            sources.append(_Source(path, header, positions))
    if errors:
        raise InvalidInput(errors, title="The CSV files do not have the mapped columns")
    return sources


def _generic_geo(fields: dict[str, str], crs: int, bounds: Bounds | None, margin: float) -> _Geo:
    """Points from easting/northing when mapped (lon/lat derived if absent), else lon/lat."""
    projected = {"easting", "northing"} <= set(fields)
    return _Geo(
        source="projected" if projected else "lonlat",
        crs=crs,
        derive_lonlat=projected and "lon" not in fields,
        bounds=bounds,
        margin_m=margin,
    )


def _generic_dates(fields: dict[str, str], date_format: str | None) -> dict[str, str]:
    """SQL for occurred_at (a timestamp) and month (its first day)."""

    def parse(field: str) -> str:
        if date_format is None:
            return f"TRY_CAST(trim(r.{field}) AS TIMESTAMP)"
        return f"CAST(try_strptime(trim(r.{field}), {_sql_string(date_format)}) AS TIMESTAMP)"

    occurred = parse("occurred_at") if "occurred_at" in fields else "CAST(NULL AS TIMESTAMP)"
    if "month" in fields:
        loose = f"CAST(date_trunc('month', {parse('month')}) AS DATE)"
        month = f"coalesce({_police_month('month')}, {loose})"
    else:
        month = f"CAST(date_trunc('month', {occurred}) AS DATE)"
    return {"occurred_at": occurred, "month": month}


def _generic_columns(
    fields: dict[str, str], date_format: str | None, category_map: Mapping[str, str] | None
) -> dict[str, str]:
    """SQL for every typed column of a generic import."""
    columns = {
        name: _text(name) if name in fields else "CAST(NULL AS VARCHAR)"
        for name in (
            "crime_id",
            "reported_by",
            "falls_within",
            "location",
            "lsoa_code",
            "lsoa_name",
            "outcome",
        )
    }
    for name in ("lon", "lat", "easting", "northing"):
        columns[name] = _number(name) if name in fields else "CAST(NULL AS DOUBLE)"
    category = "CAST(NULL AS VARCHAR)"
    if "category" in fields:
        category = _lookup("category", _category_pairs(category_map))
        if category_map is None:
            slug = "regexp_replace(lower(trim(r.category)), '[^a-z0-9]+', '-', 'g')"
            category = f"coalesce({category}, NULLIF(trim({slug}, '-'), ''))"
    return columns | _generic_dates(fields, date_format) | {"category": category}


def _generic_plan(
    fields: dict[str, str],
    date_format: str | None,
    category_map: Mapping[str, str] | None,
    geo: _Geo,
) -> _Plan:
    """How a mapped CSV is read and judged."""
    pair = ("easting", "northing") if geo.source == "projected" else ("lon", "lat")
    when = f"as {date_format}" if date_format else "in ISO 8601, like 2016-04-27 13:44:00"
    known = "a police.uk crime type" + (" or a value in the category map" if category_map else "")
    checks = [
        _Check("bad_date", ("occurred_at",), f"a date and time {when}", "occurred_at IS NULL"),
        _Check("bad_month", ("month",), "a month as YYYY-MM or a date", "month IS NULL"),
        _Check("unknown_crime_type", ("category",), known, "category IS NULL"),
    ]
    checks = [check for check in checks if check.fields[0] in fields]
    checks += _coordinate_checks(pair, pair, (fields[pair[0]], fields[pair[1]]))
    checks += _placement_checks(geo, pair)
    columns = _generic_columns(fields, date_format, category_map)
    return _Plan("crime", columns, tuple(checks), geo)


# --- Reading datasets back --------------------------------------------------------------


def _view_sql(name: str, folder: Path, schema: dict[str, str]) -> str:
    """A view over every Parquet file in ``folder``, or an empty one with the same columns."""
    if any(folder.glob("*.parquet")):
        pattern = _sql_string(str(folder / "*.parquet"))
        return (
            f"CREATE OR REPLACE VIEW {name} AS SELECT {', '.join(schema)} "  # noqa: S608 - ours
            f"FROM read_parquet({pattern}, union_by_name = true)"
        )
    columns = ", ".join(f"CAST(NULL AS {kind}) AS {column}" for column, kind in schema.items())
    return f"CREATE OR REPLACE VIEW {name} AS SELECT {columns} WHERE false"


def connect(out_dir: StrPath) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with views ``crime`` and ``outcomes`` over every dataset."""
    con = duckdb.connect(":memory:")
    root = Path(out_dir)
    con.execute(_view_sql("crime", root / "crime", CRIME_SCHEMA))
    con.execute(_view_sql("outcomes", root / "outcomes", OUTCOME_SCHEMA))
    return con


def list_datasets(out_dir: StrPath, kind: Literal["crime", "outcomes"] = "crime") -> list[str]:
    """Names of the imported datasets of one kind, sorted."""
    return sorted(path.stem for path in (Path(out_dir) / kind).glob("*.parquet"))


def crimes_with_latest_outcome_sql() -> str:
    """SQL (parameter ``$dataset``) giving each crime with its latest outcomes-file outcome.

    The latest outcome is the one with the latest month (then the last one in the files);
    crimes without a Crime ID or without any outcome row get NULLs.
    """
    return """
        WITH latest AS (
            SELECT crime_id, outcome AS latest_outcome, month AS latest_outcome_month
            FROM outcomes
            WHERE source = $dataset
            QUALIFY row_number() OVER (
                PARTITION BY crime_id ORDER BY month DESC, file DESC, line DESC
            ) = 1
        )
        SELECT c.*, l.latest_outcome, l.latest_outcome_month
        FROM crime AS c
        LEFT JOIN latest AS l ON l.crime_id = c.crime_id
        WHERE c.source = $dataset
        ORDER BY c.file, c.line
    """


def crimes_with_latest_outcome(out_dir: StrPath, dataset: str) -> duckdb.DuckDBPyRelation:
    """The crimes of ``dataset`` joined to their latest outcome from the outcomes dataset."""
    known = list_datasets(out_dir)
    if dataset not in known:
        raise InvalidInput(
            {"dataset": f"expected one of {', '.join(known) or 'none yet'}; found {dataset!r}"}
        )
    return connect(out_dir).sql(crimes_with_latest_outcome_sql(), params={"dataset": dataset})
