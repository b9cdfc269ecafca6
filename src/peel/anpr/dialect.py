"""The SQL of every ANPR search, written once, with hooks where DuckDB and Spark SQL differ,
and what an engine is given to run it on (read files pruned by day, snapshots, small tables).

Each ``*_sql`` function returns the text of one statement for a :class:`Dialect`. Values never
enter the text: they are bound parameters (``$name`` in DuckDB, ``:name`` in Spark), tables are
views the engine registers (``reads``, ``cameras``, ``register`` and small helper tables), and
the only numbers formatted in are integers the caller computed (window indexes, limits).

Times are handled as integer microseconds since the Unix epoch (column ``t`` of ``reads``), so
windows, gaps, hours and days are exact integer arithmetic that both engines agree on.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq

from peel.anpr.store import CAMERA_SCHEMA, REGISTER_SCHEMA

HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000
EARTH_RADIUS_KM = 6371.0088


class Dialect:
    """How one engine spells the few things the two dialects disagree on."""

    name = "generic"

    def param(self, name: str) -> str:
        raise NotImplementedError

    def epoch_us(self, column: str) -> str:
        raise NotImplementedError

    def idiv(self, left: str, right: str) -> str:
        raise NotImplementedError

    def materialise(self, name: str, query: str) -> str:
        """A statement keeping a query's rows as table ``name`` for the next statements."""
        raise NotImplementedError


class DuckDBDialect(Dialect):
    name = "duckdb"

    def param(self, name: str) -> str:
        return f"${name}"

    def epoch_us(self, column: str) -> str:
        return f"epoch_us({column})"

    def idiv(self, left: str, right: str) -> str:
        return f"({left} // {right})"

    def materialise(self, name: str, query: str) -> str:
        return f"CREATE TEMPORARY TABLE {name} AS {query}"


class SparkDialect(Dialect):
    name = "spark"

    def param(self, name: str) -> str:
        return f":{name}"

    def epoch_us(self, column: str) -> str:
        return f"unix_micros({column})"

    def idiv(self, left: str, right: str) -> str:
        return f"({left} DIV {right})"

    def materialise(self, name: str, query: str) -> str:
        return f"CACHE LAZY TABLE {name} AS {query}"


DUCKDB = DuckDBDialect()
SPARK = SparkDialect()


# --- what an engine runs on -------------------------------------------------------------------


class ReadStoreLike(Protocol):
    """What the searches need of :class:`peel.anpr.store.ReadStore`."""

    @property
    def cameras_path(self) -> Path: ...

    @property
    def register_path(self) -> Path: ...

    def reads_glob(self) -> str: ...

    def has_reads(self) -> bool: ...


@dataclass(frozen=True)
class ReadFiles:
    """Read files to scan as one view (an empty tuple is an empty view)."""

    files: tuple[str, ...]


@dataclass(frozen=True)
class ParquetFile:
    """A snapshot file (cameras, register); a missing file is an empty table of ``schema``."""

    path: Path
    schema: pa.Schema


Source: TypeAlias = ReadFiles | ParquetFile | pa.Table


class Engine(Protocol):
    store: ReadStoreLike
    dialect: Dialect

    def run(
        self, statements: Sequence[str], params: Mapping[str, Any], sources: Mapping[str, Source]
    ) -> list[list[tuple[Any, ...]]]: ...


_PARAM = re.compile(r"[$:]([A-Za-z_][A-Za-z0-9_]*)")


def used_params(statement: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a statement names (both engines refuse unknown ones)."""
    names = set(_PARAM.findall(statement))
    return {k: v for k, v in params.items() if k in names}


def _date_of(micros: int) -> date:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)).date()


_DAY_FOLDER = re.compile(r"day=(\d{4}-\d{2}-\d{2})")


def _day_of(path: str) -> date | None:
    found = _DAY_FOLDER.findall(path)
    if not found:
        return None
    try:
        return date.fromisoformat(found[-1])
    except ValueError:
        return None


def read_files(store: ReadStoreLike, t0: int, t1: int) -> ReadFiles:
    """The read files of the days ``[t0, t1]`` touches (files outside ``day=`` folders stay)."""
    first, last = _date_of(t0), _date_of(t1)
    files = []
    for path in sorted(glob.glob(store.reads_glob(), recursive=True)):
        day = _day_of(path)
        if day is None or first <= day <= last:
            files.append(path)
    return ReadFiles(tuple(files))


def snapshot_sources(store: ReadStoreLike) -> dict[str, Source]:
    return {
        "cameras": ParquetFile(Path(store.cameras_path), CAMERA_SCHEMA),
        "register": ParquetFile(Path(store.register_path), REGISTER_SCHEMA),
    }


def _camera_table(store: ReadStoreLike) -> pa.Table | None:
    path = Path(store.cameras_path)
    if not path.is_file():
        return None
    return pq.read_table(path, columns=["camera_id", "name", "lat", "lon"])


def camera_names(store: ReadStoreLike) -> dict[str, str | None]:
    """Each camera's name by id, from the cameras snapshot."""
    table = _camera_table(store)
    if table is None:
        return {}
    return dict(zip(table["camera_id"].to_pylist(), table["name"].to_pylist(), strict=True))


def camera_positions(store: ReadStoreLike) -> dict[str, tuple[float, float]]:
    """Each located camera's (lat, lon) by id, from the cameras snapshot."""
    table = _camera_table(store)
    if table is None:
        return {}
    return {
        camera_id: (float(lat), float(lon))
        for camera_id, lat, lon in zip(
            table["camera_id"].to_pylist(),
            table["lat"].to_pylist(),
            table["lon"].to_pylist(),
            strict=True,
        )
        if lat is not None and lon is not None
    }


# --- shared fragments -------------------------------------------------------------------------


def reads_view_sql(d: Dialect, scan: str) -> str:
    """The ``reads`` view over a Parquet scan: every column plus ``t`` in epoch microseconds."""
    return f"SELECT *, {d.epoch_us('read_at')} AS t FROM {scan}"  # noqa: S608


def hour_of(d: Dialect, t: str) -> str:
    """Hour of the day (UTC, 0–23) of an epoch-microsecond column."""
    return f"({d.idiv(t, str(HOUR_US))} % 24)"


def day_of(d: Dialect, t: str) -> str:
    """Days since the epoch (UTC) of an epoch-microsecond column."""
    return d.idiv(t, str(DAY_US))


def haversine_km(lat1: str, lon1: str, lat2: str, lon2: str) -> str:
    """Great-circle distance in km between two positions given as SQL expressions."""
    return (
        f"(2 * CAST({EARTH_RADIUS_KM} AS DOUBLE) * asin(sqrt("
        f"power(sin(radians({lat2} - {lat1}) / 2), 2) + "
        f"cos(radians({lat1})) * cos(radians({lat2})) * "
        f"power(sin(radians({lon2} - {lon1}) / 2), 2))))"
    )


LAT = "coalesce(r.lat, c.lat)"
LON = "coalesce(r.lon, c.lon)"


def area_clause(d: Dialect, prefix: str) -> str:
    """Reads whose position lies in a circle: a bounding box first, then the distance.

    Parameters ``{prefix}lat``, ``{prefix}lon``, ``{prefix}km`` (radius) and the box
    ``{prefix}south``, ``{prefix}north``, ``{prefix}west``, ``{prefix}east``.
    """
    p = d.param
    return (
        f"{LAT} BETWEEN {p(prefix + 'south')} AND {p(prefix + 'north')} "
        f"AND {LON} BETWEEN {p(prefix + 'west')} AND {p(prefix + 'east')} "
        f"AND {haversine_km(LAT, LON, p(prefix + 'lat'), p(prefix + 'lon'))} "
        f"<= {p(prefix + 'km')}"
    )


def hours_clause(d: Dialect, wraps: bool) -> str:
    """Reads in an hour-of-day band ``[hour_from, hour_to)``; ``wraps`` when it spans midnight."""
    hour, p = hour_of(d, "r.t"), d.param
    joint = "OR" if wraps else "AND"
    return f"({hour} >= {p('hour_from')} {joint} {hour} < {p('hour_to')})"


_SIGHTING_COLUMNS = (
    "r.read_id, r.camera_id, c.name AS camera_name, r.plate, r.plate_raw, r.t, "
    f"{LAT} AS lat, {LON} AS lon, r.confidence, r.make, r.model, r.colour"
)


# --- history ----------------------------------------------------------------------------------


def history_sql(d: Dialect, fuzzy: bool) -> str:
    """Every read of one plate (or, with ``fuzzy``, of its look-alikes) in time order.

    The fuzzy form also bounds ``plate`` between the smallest and largest look-alike spelling
    so that the scan can skip row groups by their plate statistics.
    """
    p = d.param
    wanted = (
        f"r.plate BETWEEN {p('plate_low')} AND {p('plate_high')} AND r.fuzzy = {p('fuzzy')}"
        if fuzzy
        else f"r.plate = {p('plate')}"
    )
    return (
        f"SELECT {_SIGHTING_COLUMNS} FROM reads r "  # noqa: S608
        "LEFT JOIN cameras c ON c.camera_id = r.camera_id "
        f"WHERE {wanted} AND r.t BETWEEN {p('t0')} AND {p('t1')} "
        "ORDER BY r.t, r.read_id"
    )


# --- convoy -----------------------------------------------------------------------------------


def target_reads_sql(d: Dialect) -> str:
    """The target's reads: where and when it passed."""
    p = d.param
    return (
        "SELECT camera_id, t FROM reads "  # noqa: S608
        f"WHERE plate = {p('plate')} AND t BETWEEN {p('t0')} AND {p('t1')} "
        "ORDER BY t, camera_id"
    )


def convoy_sql(d: Dialect) -> list[str]:
    """Everything convoy scoring needs, from one pass over the reads at the target's cameras.

    The first statement keeps those reads (``at_cams``); the second returns rows
    ``(kind, camera_id, hour, plate, pid, value)``:
    ``traffic`` — reads at the camera in that hour of day over the whole period (value = count);
    ``window``  — reads inside passage ``pid``'s window in that hour of day (value = count);
    ``hit``     — a candidate's read inside window ``pid`` (value = its time);
    ``read``    — every read of a candidate at the target's cameras (value = its time).
    Candidates are plates with enough distinct passages, cameras and journeys (``jid`` of the
    ``passages`` table); the target's look-alikes (same fuzzy key) are left out of everything.
    """
    p = d.param
    at_cams = (
        f"SELECT r.plate, r.camera_id, r.t, {hour_of(d, 'r.t')} AS h"  # noqa: S608
        " FROM reads r JOIN target_cameras tc ON r.camera_id = tc.camera_id"
        f" WHERE r.t BETWEEN {p('t0')} AND {p('t1')} AND r.fuzzy <> {p('fuzzy')}"
    )
    scored = (
        "WITH hits AS ("  # noqa: S608
        " SELECT a.plate, w.pid, w.jid, a.camera_id, a.t, a.h"
        " FROM at_cams a JOIN passages w ON a.camera_id = w.camera_id"
        " AND a.t BETWEEN w.lo AND w.hi"
        "), candidates AS ("
        " SELECT plate FROM hits GROUP BY plate"
        f" HAVING count(DISTINCT pid) >= {p('min_k')}"
        f" AND count(DISTINCT camera_id) >= {p('min_cameras')}"
        f" AND count(DISTINCT jid) >= {p('min_occasions')}"
        ")"
        " SELECT 'traffic' AS kind, camera_id, h, CAST(NULL AS STRING) AS plate,"
        " CAST(NULL AS BIGINT) AS pid, count(*) AS v FROM at_cams GROUP BY camera_id, h"
        " UNION ALL SELECT 'window', camera_id, h, CAST(NULL AS STRING),"
        " pid, count(*) FROM hits GROUP BY pid, camera_id, h"
        " UNION ALL SELECT 'hit', x.camera_id, x.h, x.plate, x.pid, x.t"
        " FROM hits x JOIN candidates k ON x.plate = k.plate"
        " UNION ALL SELECT 'read', a.camera_id, a.h, a.plate, CAST(NULL AS BIGINT), a.t"
        " FROM at_cams a JOIN candidates k ON a.plate = k.plate"
    )
    return [d.materialise("at_cams", at_cams), scored]


# --- clones -----------------------------------------------------------------------------------


def _clone_filters(d: Dialect, plate: bool, confidence: bool) -> str:
    p = d.param
    clauses = [f"r.t BETWEEN {p('t0')} AND {p('t1')}"]
    if plate:
        clauses.append(f"r.plate = {p('plate')}")
    if confidence:
        clauses.append(f"r.confidence >= {p('min_confidence')}")
    return " AND ".join(clauses)


def travel_sql(d: Dialect, plate: bool, confidence: bool) -> str:
    """Consecutive reads of a plate farther apart than it could have driven (a loose cut;
    the exact thresholds are applied to the distances computed from the returned positions).
    """
    p = d.param
    km = haversine_km("p_lat", "p_lon", "lat", "lon")
    return (
        "WITH located AS ("  # noqa: S608
        f" SELECT r.read_id, r.plate, r.camera_id, r.t, {LAT} AS lat, {LON} AS lon"
        " FROM reads r LEFT JOIN cameras c ON c.camera_id = r.camera_id"
        f" WHERE {_clone_filters(d, plate, confidence)}"
        "), seq AS ("
        " SELECT plate, read_id, camera_id, t, lat, lon,"
        " lag(read_id) OVER w AS p_id, lag(camera_id) OVER w AS p_cam, lag(t) OVER w AS p_t,"
        " lag(lat) OVER w AS p_lat, lag(lon) OVER w AS p_lon"
        " FROM located WHERE lat IS NOT NULL AND lon IS NOT NULL"
        " WINDOW w AS (PARTITION BY plate ORDER BY t, read_id)"
        f"), pairs AS (SELECT *, {km} AS km FROM seq WHERE p_t IS NOT NULL)"
        " SELECT plate, p_id, p_cam, p_t, p_lat, p_lon, read_id, camera_id, t, lat, lon"
        f" FROM pairs WHERE km >= {p('min_km')}"
        f" AND km * {HOUR_US} >= {p('speed')} * greatest(t - p_t, 1000000)"
    )


def descriptions_sql(d: Dialect, plate: bool, confidence: bool) -> str:
    """Make and colour seen by cameras, against the register and each other.

    Rows ``(kind, plate, attribute, value, n, total, registered)``:
    ``seen``   — every value seen (``n`` reads) for each (plate, attribute) where a value seen
    at least ``min_sightings`` times differs from the register's, or, for plates not in it,
    where two or more such values disagree;
    ``rate``   — per attribute, over all plates in the register (whichever ``plate`` is asked
    about): ``n`` reads that disagree with it of ``total`` reads that describe the vehicle (how
    often cameras misdescribe);
    ``tested`` — per attribute, ``n`` plates with at least one such read (how many were judged).
    """
    p = d.param

    def described(where: str) -> str:
        return " UNION ALL ".join(
            f"SELECT r.plate, '{attr}' AS attribute, upper(trim(r.{attr})) AS value FROM reads r "  # noqa: S608
            f"WHERE {where} AND r.{attr} IS NOT NULL AND trim(r.{attr}) <> ''"
            for attr in ("make", "colour")
        )

    seen = described(_clone_filters(d, plate, confidence))
    everyone = (
        "judged"
        if not plate
        else (
            f"(SELECT s.plate, s.attribute, s.value, count(*) AS n, g.value AS registered"  # noqa: S608
            f" FROM ({described(_clone_filters(d, False, confidence))}) s"
            " LEFT JOIN reg g ON g.plate = s.plate AND g.attribute = s.attribute"
            " GROUP BY s.plate, s.attribute, s.value, g.value)"
        )
    )
    registered = " UNION ALL ".join(
        f"SELECT plate, '{attr}' AS attribute, min(upper(trim({attr}))) AS value "  # noqa: S608
        f"FROM register WHERE {attr} IS NOT NULL AND trim({attr}) <> '' GROUP BY plate"
        for attr in ("make", "colour")
    )
    null_s, null_n = "CAST(NULL AS STRING)", "CAST(NULL AS BIGINT)"
    return (
        f"WITH seen AS ({seen}),"  # noqa: S608
        " counts AS (SELECT plate, attribute, value, count(*) AS n FROM seen"
        " GROUP BY plate, attribute, value),"
        f" reg AS ({registered}),"
        " judged AS (SELECT c.plate, c.attribute, c.value, c.n, g.value AS registered"
        " FROM counts c LEFT JOIN reg g ON g.plate = c.plate AND g.attribute = c.attribute),"
        " flags AS (SELECT plate, attribute, max(registered) AS registered,"
        " max(CASE WHEN registered IS NOT NULL AND value <> registered"
        f" AND n >= {p('min_sightings')} THEN 1 ELSE 0 END) AS contradicts,"
        f" sum(CASE WHEN n >= {p('min_sightings')} THEN 1 ELSE 0 END) AS strong"
        " FROM judged GROUP BY plate, attribute)"
        " SELECT 'seen' AS kind, j.plate, j.attribute, j.value, j.n,"
        f" {null_n} AS total, j.registered FROM judged j"
        " JOIN flags f ON f.plate = j.plate AND f.attribute = j.attribute"
        " WHERE f.contradicts = 1 OR (f.registered IS NULL AND f.strong >= 2)"
        f" UNION ALL SELECT 'rate', {null_s}, attribute, {null_s},"
        " sum(CASE WHEN value <> registered THEN n ELSE 0 END), sum(n), "
        f"{null_s} FROM {everyone} e WHERE registered IS NOT NULL GROUP BY attribute"
        f" UNION ALL SELECT 'tested', {null_s}, attribute, {null_s}, count(*), {null_n},"
        f" {null_s} FROM flags GROUP BY attribute"
    )


# --- visitors and stakeouts ---------------------------------------------------------------------


def visitors_sql(d: Dialect, cameras: bool, hours: bool, wraps: bool, limit: int) -> str:
    """Plates at a place on at least ``min_days`` days; a visit is a run of reads with no gap
    longer than ``gap`` microseconds."""
    p = d.param
    place = "" if not cameras else " JOIN selected_cameras s ON s.camera_id = r.camera_id"
    clauses = [f"r.t BETWEEN {p('t0')} AND {p('t1')}"]
    if not cameras:
        clauses.append(area_clause(d, "a_"))
    if hours:
        clauses.append(hours_clause(d, wraps))
    day = day_of(d, "t")
    return (
        "WITH m AS (SELECT r.plate, r.t FROM reads r"  # noqa: S608
        f" LEFT JOIN cameras c ON c.camera_id = r.camera_id{place}"
        f" WHERE {' AND '.join(clauses)}),"
        " v AS (SELECT plate, t, CASE WHEN t - lag(t) OVER (PARTITION BY plate ORDER BY t)"
        f" <= {p('gap')} THEN 0 ELSE 1 END AS starts FROM m)"
        f" SELECT plate, sum(starts) AS visits, count(DISTINCT {day}) AS days,"
        " min(t) AS first_t, max(t) AS last_t FROM v GROUP BY plate"
        f" HAVING count(DISTINCT {day}) >= {p('min_days')}"
        f" ORDER BY days DESC, visits DESC, plate LIMIT {int(limit)}"
    )


def stakeout_sql(d: Dialect, by_cameras: list[bool]) -> str:
    """Reads in each place/time window (``w`` is its index) of plates seen in at least
    ``min_windows`` of them. ``by_cameras[i]`` says whether window ``i`` names cameras (in
    ``window_cameras``) or an area (parameters ``w{i}_…``)."""
    p = d.param
    parts = []
    for i, cameras in enumerate(by_cameras):
        join = (
            f" JOIN (SELECT DISTINCT camera_id FROM window_cameras WHERE w = {i}) s"  # noqa: S608
            " ON s.camera_id = r.camera_id"
            if cameras
            else ""
        )
        place = "" if cameras else " AND " + area_clause(d, f"w{i}_")
        parts.append(
            f"SELECT {i} AS w, {_SIGHTING_COLUMNS} FROM reads r"  # noqa: S608
            f" LEFT JOIN cameras c ON c.camera_id = r.camera_id{join}"
            f" WHERE r.t BETWEEN {p(f'w{i}_t0')} AND {p(f'w{i}_t1')}{place}"
        )
    return (
        f"WITH m AS ({' UNION ALL '.join(parts)}),"  # noqa: S608
        " hits AS (SELECT plate FROM m GROUP BY plate"
        f" HAVING count(DISTINCT w) >= {p('min_windows')})"
        " SELECT m.* FROM m JOIN hits ON m.plate = hits.plate"
    )


# --- county lines ---------------------------------------------------------------------------


def county_lines_sql(d: Dialect) -> str:
    """Far-away reads of plates seen at the hub, each with the hub reads either side.

    Rows ``(plate, left_t, back_t, read_id, camera_id, t, lat, lon)`` for reads at least
    ``min_km`` from the hub whose surrounding hub reads are at most ``max_away`` apart; the
    caller groups them into trips. ``hub_plates`` (one row, last) counts plates seen at the hub.
    """
    p = d.param
    km = haversine_km(LAT, LON, p("hub_lat"), p("hub_lon"))
    frame = "PARTITION BY plate ORDER BY t, read_id ROWS BETWEEN"
    return (
        "WITH located AS ("  # noqa: S608
        f" SELECT r.read_id, r.plate, r.camera_id, r.t, {LAT} AS lat, {LON} AS lon, {km} AS km"
        " FROM reads r LEFT JOIN cameras c ON c.camera_id = r.camera_id"
        f" WHERE r.t BETWEEN {p('t0')} AND {p('t1')}"
        f" AND {LAT} IS NOT NULL AND {LON} IS NOT NULL),"
        f" hub_plates AS (SELECT DISTINCT plate FROM located WHERE km <= {p('hub_km')}),"
        " kinds AS (SELECT l.*, CASE WHEN l.km <= "
        f"{p('hub_km')} THEN 1 ELSE 0 END AS at_hub FROM located l"
        " JOIN hub_plates h ON h.plate = l.plate"
        f" WHERE l.km <= {p('hub_km')} OR l.km >= {p('min_km')}),"
        " sided AS (SELECT *,"
        f" max(CASE WHEN at_hub = 1 THEN t END) OVER ({frame} UNBOUNDED PRECEDING AND"
        " CURRENT ROW) AS left_t,"
        f" min(CASE WHEN at_hub = 1 THEN t END) OVER ({frame} CURRENT ROW AND"
        " UNBOUNDED FOLLOWING) AS back_t FROM kinds)"
        " SELECT plate, left_t, back_t, read_id, camera_id, t, lat, lon FROM sided"
        " WHERE at_hub = 0 AND left_t IS NOT NULL AND back_t IS NOT NULL"
        f" AND back_t - left_t <= {p('max_away')}"
        " UNION ALL SELECT CAST(NULL AS STRING), count(*), CAST(NULL AS BIGINT),"
        " CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS BIGINT),"
        " CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE) FROM hub_plates"
    )
