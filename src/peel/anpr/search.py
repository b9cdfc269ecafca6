"""Investigative search over the read store: history, convoys, clones, visitors, stakeouts and
county-lines journeys, on DuckDB (a force's laptop) or Spark (the nation) with the same answers.

Every search takes an engine first. An engine runs the SQL of :mod:`peel.anpr.dialect` over
views it registers (``reads`` pruned to the days of the time range, ``cameras``, ``register``
and small helper tables) and returns plain rows; the ranking and scoring happen here, in
Python, on those small results, so both engines give identical answers.

Positions are the read's own (mobile cameras) or else its camera's; distances are great-circle
(haversine). Times in and out are timezone-aware UTC; ``start`` and ``end`` are inclusive.

Convoy scoring. The target's reads split into journeys at gaps of 30 minutes; a candidate's
*occasions* are the journeys it was co-sighted on (within ``window_s``), however many cameras
each took. Its own reads at the target's cameras split the same way into trips. A trip could
meet a journey by chance in two ways, and takes the likelier: *traffic* — the share of the
other vehicles' reads at those cameras in that hour of the day (over the period) that fall in
the journey's windows, at least the windows' share of the hour, averaged over the cameras (one
trip is one chance); *routine* — the share of control days (days it was never seen with the
target, so following cannot pass for routine) on which it was in the journey's windows
shifted to that day. The score is −log10 P(at least ``occasions`` of its trips meet the
target by chance), the exact Poisson-binomial tail; ``expected`` sums the trips' chances. One
shared journey is never a convoy, and ``DEFAULT_MIN_SCORE`` (4) is the default bar.
Description mismatches are scored by the binomial tail of that many contradicting reads at
the period's misdescription rate, corrected for the number of plates judged.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
from scipy.stats import binom, poisson

from peel.anpr import dialect as sql
from peel.anpr.dialect import (
    Engine,
    ParquetFile,
    ReadFiles,
    ReadStoreLike,
    Source,
    camera_names,
    camera_positions,
    read_files,
    snapshot_sources,
    used_params,
)
from peel.anpr.plates import LOOKALIKES, fuzzy_key, is_valid, normalise
from peel.anpr.store import READ_SCHEMA

__all__ = [
    "Engine",
    "ParquetFile",
    "ReadFiles",
    "ReadStoreLike",
    "Source",
    "camera_names",
    "camera_positions",
    "read_files",
    "snapshot_sources",
    "used_params",
]
from peel.core.errors import InvalidInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = 1_000_000
#: The largest score reported: beyond this, "not chance" is all that can be said.
MAX_SCORE = 300.0
#: Two reads closer than this are the same place (camera GPS jitter, both sides of a gantry).
MIN_CLONE_KM = 2.0
#: Stakeouts compare at most this many place/time windows.
MAX_WINDOWS = 20
#: Cameras misdescribe a vehicle's make or colour on about this share of reads, a prior worth
#: this many reads: the period's own share of reads contradicting the register takes over.
MISDESCRIPTION_PRIOR = 0.02
MISDESCRIPTION_PRIOR_READS = 200
#: A contradicting make or colour must be on at least this share of the plate's described reads.
MIN_CONTRADICTING_SHARE = 0.25
#: Description mismatches need this score: −log10 of the number of plates in the search that
#: would show so strong a contradiction by chance (2: one search in a hundred would show one).
DEFAULT_MIN_DESCRIPTION_SCORE = 2.0
#: Target reads less than this many seconds apart are one journey (one occasion).
JOURNEY_GAP_S = 1800
#: Co-sightings on fewer of the target's journeys than this are never a convoy.
DEFAULT_MIN_OCCASIONS = 2
#: The convoy score a candidate needs by default: 4, a one-in-10,000 chance that its trips met
#: the target so often by coincidence, so that among the few hundred vehicles that share a
#: target's cameras a false convoy is rare.
DEFAULT_MIN_SCORE = 4.0


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """A circle on the map: centre in WGS84 degrees, radius in metres."""

    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True)
class Sighting:
    read_id: str
    camera_id: str
    camera_name: str | None
    plate: str
    plate_raw: str
    read_at: datetime
    lat: float | None
    lon: float | None
    confidence: float | None
    make: str | None
    model: str | None
    colour: str | None


@dataclass(frozen=True)
class VehicleHistory:
    plate: str
    sightings: list[Sighting]
    first_seen: datetime | None
    last_seen: datetime | None
    distinct_cameras: int


@dataclass(frozen=True)
class CoSighting:
    camera_id: str
    camera_name: str | None
    target_read_at: datetime
    other_read_at: datetime
    gap_s: float


@dataclass(frozen=True)
class ConvoyCandidate:
    plate: str
    co_sightings: int
    distinct_cameras: int
    #: How many of the candidate's trips would meet the target by chance alone.
    expected: float
    score: float
    evidence: list[CoSighting]
    #: Distinct target journeys with a co-sighting (what the score counts).
    occasions: int = 0


@dataclass(frozen=True)
class CloneFinding:
    plate: str
    reason: str
    score: float
    evidence: list[dict[str, Any]]


@dataclass(frozen=True)
class Visitor:
    plate: str
    visits: int
    distinct_days: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class PlaceWindow:
    """A place (camera ids, or an area) watched from ``start`` to ``end``."""

    camera_ids: Sequence[str] | None
    area: Area | None
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.camera_ids is not None:
            object.__setattr__(self, "camera_ids", tuple(self.camera_ids))


@dataclass(frozen=True)
class StakeoutHit:
    plate: str
    windows_matched: list[int]
    evidence: list[Sighting]


@dataclass(frozen=True)
class CountyLinesCandidate:
    plate: str
    trips: int
    destinations: list[str]
    score: float
    evidence: list[dict[str, Any]] = field(default_factory=list)


# --- engines ------------------------------------------------------------------------------------


class DuckDBEngine:
    """Searches on DuckDB: a fresh in-memory connection per search, two threads."""

    dialect: sql.Dialect = sql.DUCKDB

    def __init__(self, store: ReadStoreLike, threads: int = 2) -> None:
        self.store = store
        self.threads = threads

    def run(
        self, statements: Sequence[str], params: Mapping[str, Any], sources: Mapping[str, Source]
    ) -> list[list[tuple[Any, ...]]]:
        con = duckdb.connect(":memory:", config={"threads": self.threads})
        try:
            for name, source in sources.items():
                self._attach(con, name, source)
            return [con.execute(s, used_params(s, params)).fetchall() for s in statements]
        finally:
            con.close()

    def _attach(self, con: duckdb.DuckDBPyConnection, name: str, source: Source) -> None:
        if isinstance(source, ReadFiles):
            scan = f"_scan_{name}"
            if source.files:
                con.read_parquet(list(source.files), hive_partitioning=False).create_view(scan)
            else:
                con.register(scan, READ_SCHEMA.empty_table())
            con.execute(f"CREATE TEMPORARY VIEW {name} AS {sql.reads_view_sql(self.dialect, scan)}")
        elif isinstance(source, ParquetFile):
            if source.path.is_file():
                con.read_parquet(str(source.path)).create_view(name)
            else:
                con.register(name, source.schema.empty_table())
        else:
            con.register(name, source)


# --- shared helpers -----------------------------------------------------------------------------


def to_us(value: datetime, field_name: str) -> int:
    if value.tzinfo is None:
        raise InvalidInput({field_name: "must include a time zone (UTC)"})
    return (value - EPOCH) // timedelta(microseconds=1)


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(value))


def time_range(start: datetime, end: datetime) -> tuple[int, int]:
    t0, t1 = to_us(start, "start"), to_us(end, "end")
    if t1 <= t0:
        raise InvalidInput({"end": "must be after start"})
    return t0, t1


#: Opaque hashed plates, as some published data sets carry (e.g. Seattle's ALPR week).
HASHED_PLATE = re.compile(r"[0-9A-Fa-f]{32,64}")


def plate_of(raw: str, field_name: str = "plate") -> str:
    """A searched plate, normalised; a hashed plate is kept whole, upper-cased as stored."""
    if HASHED_PLATE.fullmatch(raw.strip()):
        return raw.strip().upper()
    plate = normalise(raw)
    if not is_valid(plate):
        raise InvalidInput({field_name: "a number plate of 1 to 10 letters and digits"})
    return plate


def _positive(value: float, field_name: str, low: float = 1, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        upper = f" and at most {high:g}" if high is not None else ""
        raise InvalidInput({field_name: f"must be at least {low:g}{upper}"})


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (the same formula as the SQL's)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin(math.radians(lat2 - lat1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * sql.EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def area_params(area: Area, prefix: str) -> dict[str, float]:
    """The circle and its bounding box (with a little slack) as parameters for the SQL."""
    if not (-90 <= area.lat <= 90 and -180 <= area.lon <= 180):
        raise InvalidInput({"area": "latitude from -90 to 90 and longitude from -180 to 180"})
    if not 0 < area.radius_m <= 500_000:
        raise InvalidInput({"area": "radius must be more than 0 and at most 500 km"})
    km = area.radius_m / 1000
    dlat = km / 111.0 * 1.01
    dlon = km / (111.0 * max(0.01, math.cos(math.radians(area.lat)))) * 1.01
    return {
        f"{prefix}lat": float(area.lat),
        f"{prefix}lon": float(area.lon),
        f"{prefix}km": km,
        f"{prefix}south": area.lat - dlat,
        f"{prefix}north": area.lat + dlat,
        f"{prefix}west": area.lon - dlon,
        f"{prefix}east": area.lon + dlon,
    }


def chance_score(k: int, expected: float) -> float:
    """−log10 P(Poisson(expected) ≥ k): how surprising ``k`` events are by chance alone."""
    if k <= 0:
        return 0.0
    if expected <= 0:
        return MAX_SCORE
    tail = float(poisson.sf(k - 1, expected))
    if tail > 1e-250:
        return max(0.0, -math.log10(tail))
    # Far in the tail: P(X ≥ k) = pmf(k) · Σ_j λ^j k!/(k+j)!, a fast-shrinking series.
    term = total = 1.0
    j = 0
    while term > 1e-17 * total and j < 100_000:
        j += 1
        term *= expected / (k + j)
        total += term
    log_tail = float(poisson.logpmf(k, expected)) + math.log(total)
    return min(MAX_SCORE, -log_tail / math.log(10))


def at_least_score(k: int, chances: Sequence[float]) -> float:
    """−log10 P(at least ``k`` of independent events with these chances happen): the
    Poisson-binomial tail, computed exactly (capped at ``MAX_SCORE``)."""
    if k <= 0:
        return 0.0
    # p[i] = P(exactly i so far) for i < k; p[k] = P(k or more so far).
    p = [1.0] + [0.0] * k
    for chance in chances:
        c = min(max(float(chance), 0.0), 1.0)
        p[k] += p[k - 1] * c
        for i in range(k - 1, 0, -1):
            p[i] = p[i] * (1.0 - c) + p[i - 1] * c
        p[0] *= 1.0 - c
    if p[k] <= 0.0:
        return MAX_SCORE
    return min(MAX_SCORE, max(0.0, -math.log10(p[k])))


def _sighting(row: Sequence[Any]) -> Sighting:
    read_id, camera_id, name, plate, raw, t, lat, lon, conf, make, model, colour = row
    return Sighting(
        read_id=read_id,
        camera_id=camera_id,
        camera_name=name,
        plate=plate,
        plate_raw=raw,
        read_at=from_us(t),
        lat=None if lat is None else float(lat),
        lon=None if lon is None else float(lon),
        confidence=None if conf is None else round(float(conf), 4),
        make=make,
        model=model,
        colour=colour,
    )


# --- history ------------------------------------------------------------------------------------

_LOW = {ch: min(group) for group in LOOKALIKES for ch in group}
_HIGH = {ch: max(group) for group in LOOKALIKES for ch in group}


def lookalike_bounds(plate: str) -> tuple[str, str]:
    """The smallest and largest spelling among a plate's look-alikes (for row-group skipping)."""
    low = "".join(_LOW.get(ch, ch) for ch in plate)
    high = "".join(_HIGH.get(ch, ch) for ch in plate)
    return low, high


def history(
    engine: Engine, plate: str, start: datetime, end: datetime, fuzzy: bool = False
) -> VehicleHistory:
    """Every read of a plate in the time range, oldest first; with ``fuzzy`` also the reads of
    plates that differ from it only by look-alike characters (0/O/D/Q, 1/I, 2/Z, 5/S, 8/B, 6/G).
    """
    wanted = plate_of(plate)
    t0, t1 = time_range(start, end)
    low, high = lookalike_bounds(wanted)
    params = {
        "plate": wanted,
        "fuzzy": fuzzy_key(wanted),
        "plate_low": low,
        "plate_high": high,
        "t0": t0,
        "t1": t1,
    }
    sources = {"reads": read_files(engine.store, t0, t1), **snapshot_sources(engine.store)}
    [rows] = engine.run([sql.history_sql(engine.dialect, fuzzy)], params, sources)
    sightings = [_sighting(r) for r in rows]
    return VehicleHistory(
        plate=wanted,
        sightings=sightings,
        first_seen=sightings[0].read_at if sightings else None,
        last_seen=sightings[-1].read_at if sightings else None,
        distinct_cameras=len({s.camera_id for s in sightings}),
    )


# --- convoy -------------------------------------------------------------------------------------


@dataclass
class _Passage:
    """One time the target went past a camera: its reads there, the window around them and
    the journey (occasion) it belongs to."""

    pid: int
    camera_id: str
    times: list[int]
    lo: int
    hi: int
    journey: int = 0


def _journeys(times: Sequence[int], gap: int) -> dict[int, int]:
    """Each target read time's journey: reads less than ``gap`` apart are one journey."""
    out: dict[int, int] = {}
    journey, last = -1, None
    for t in sorted(set(times)):
        if last is None or t - last >= gap:
            journey += 1
        out[t] = journey
        last = t
    return out


def _passages(
    rows: Sequence[tuple[Any, ...]], window: int, t0: int, t1: int, gap: int | None = None
) -> list[_Passage]:
    """Target reads grouped into passages: reads at one camera within two windows of each
    other are one passage, so windows never overlap and a passage is counted once. Each
    passage belongs to the journey of its first read (``gap``: see :func:`_journeys`)."""
    by_camera: dict[str, list[int]] = defaultdict(list)
    for camera_id, t in rows:
        by_camera[camera_id].append(int(t))
    journey_of = _journeys([int(t) for _, t in rows], JOURNEY_GAP_S * US if gap is None else gap)
    passages: list[_Passage] = []
    for camera_id in sorted(by_camera):
        times = sorted(by_camera[camera_id])
        group = [times[0]]
        for t in times[1:]:
            if t - group[-1] <= 2 * window:
                group.append(t)
                continue
            passages.append(_Passage(len(passages), camera_id, group, 0, 0))
            group = [t]
        passages.append(_Passage(len(passages), camera_id, group, 0, 0))
    for p in passages:
        p.lo, p.hi = max(t0, p.times[0] - window), min(t1, p.times[-1] + window)
        p.journey = journey_of[p.times[0]]
    return passages


def is_misread_of(plate: str, target: str) -> bool:
    """A plate that is probably the target misread: the same look-alike key, or the target
    with one character dropped or added."""
    if fuzzy_key(plate) == fuzzy_key(target):
        return True
    if abs(len(plate) - len(target)) != 1:
        return False
    short, long = sorted((plate, target), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _routine_chance(
    journey: Sequence[_Passage],
    at_camera: Mapping[str, Sequence[int]],
    t0: int,
    t1: int,
    busy_days: Set[int],
) -> float:
    """The share of control days on which the candidate was in the journey's windows shifted
    to that day (same cameras, same times of day): how often its own routine alone would put
    it beside the target. Control days are the other days of the period on which it was never
    co-sighted with the target (``busy_days``, days since the epoch), so following the target
    cannot make following look routine."""
    day = sql.DAY_US
    lo, hi = min(p.lo for p in journey), max(p.hi for p in journey)
    base = lo // day
    controls = {
        s
        for s in range(-((lo - t0) // day), (t1 - hi) // day + 1)
        if s != 0 and base + s not in busy_days
    }
    if not controls:
        return 0.0
    present = set()
    for p in journey:
        for t in at_camera.get(p.camera_id, ()):
            shift = (t - p.lo) // day
            if shift in controls and t - shift * day <= p.hi:
                present.add(shift)
    return len(present) / len(controls)


def _hour_seconds(lo: int, hi: int) -> dict[int, float]:
    """How many seconds of ``[lo, hi]`` fall in each hour of the day."""
    out: dict[int, float] = defaultdict(float)
    t = lo
    while t < hi:
        step = min(hi, (t // sql.HOUR_US + 1) * sql.HOUR_US)
        out[(t // sql.HOUR_US) % 24] += (step - t) / US
        t = step
    return out


def _co_sighting(passage: _Passage, times: Sequence[int], names: Mapping[str, Any]) -> CoSighting:
    best = min(
        ((abs(o - t), o - t, t, o) for o in times for t in passage.times),
        key=lambda x: (x[0], x[1]),
    )
    return CoSighting(
        camera_id=passage.camera_id,
        camera_name=names.get(passage.camera_id),
        target_read_at=from_us(best[2]),
        other_read_at=from_us(best[3]),
        gap_s=best[1] / US,
    )


def convoy(
    engine: Engine,
    plate: str,
    start: datetime,
    end: datetime,
    window_s: int = 60,
    min_co_sightings: int = 3,
    min_cameras: int = 2,
    limit: int = 50,
    *,
    min_occasions: int = DEFAULT_MIN_OCCASIONS,
    min_score: float = DEFAULT_MIN_SCORE,
    journey_gap_s: int = JOURNEY_GAP_S,
) -> list[ConvoyCandidate]:
    """Vehicles repeatedly seen at the target's cameras within ``window_s`` of it, on several
    of its journeys, ranked by how unlikely that is by chance (see the module's notes).

    A candidate needs ``min_co_sightings`` co-sightings (target passages), ``min_cameras``
    distinct cameras, ``min_occasions`` distinct target journeys (reads less than
    ``journey_gap_s`` apart are one journey) and a score of at least ``min_score``
    (``DEFAULT_MIN_SCORE``; 0 keeps every candidate).
    """
    target = plate_of(plate)
    t0, t1 = time_range(start, end)
    _positive(window_s, "window_s", 1, 3600)
    _positive(min_co_sightings, "min_co_sightings")
    _positive(min_cameras, "min_cameras")
    _positive(min_occasions, "min_occasions")
    _positive(journey_gap_s, "journey_gap_s", 1, 86_400)
    _positive(limit, "limit")
    if not math.isfinite(min_score):
        raise InvalidInput({"min_score": "must be a number"})
    window = int(window_s * US)
    reads = read_files(engine.store, t0, t1)
    if not reads.files:
        return []
    params = {"plate": target, "t0": t0, "t1": t1}
    [target_rows] = engine.run([sql.target_reads_sql(engine.dialect)], params, {"reads": reads})
    passages = _passages(target_rows, window, t0, t1, int(journey_gap_s * US))
    if not passages:
        return []
    tables: dict[str, Source] = {
        "reads": reads,
        "passages": pa.table(
            {
                "pid": pa.array([p.pid for p in passages], pa.int64()),
                "jid": pa.array([p.journey for p in passages], pa.int64()),
                "camera_id": pa.array([p.camera_id for p in passages], pa.string()),
                "lo": pa.array([p.lo for p in passages], pa.int64()),
                "hi": pa.array([p.hi for p in passages], pa.int64()),
            }
        ),
        "target_cameras": pa.table(
            {"camera_id": pa.array(sorted({p.camera_id for p in passages}), pa.string())}
        ),
    }
    params |= {
        "fuzzy": fuzzy_key(target),
        "min_k": min_co_sightings,
        "min_cameras": min_cameras,
        "min_occasions": min_occasions,
    }
    rows = engine.run(sql.convoy_sql(engine.dialect), params, tables)[-1]
    found = _score_convoy(
        rows, passages, target, t0, t1, camera_names(engine.store), int(journey_gap_s * US)
    )
    kept = [
        c
        for c in found
        if c.co_sightings >= min_co_sightings
        and c.distinct_cameras >= min_cameras
        and c.occasions >= min_occasions
        and c.score >= min_score
    ]
    kept.sort(key=lambda c: (-c.score, -c.occasions, -c.co_sightings, c.plate))
    return kept[:limit]


def _candidate_trips(
    reads: Sequence[tuple[int, str]], met: Mapping[tuple[int, str], int], gap: int
) -> list[int]:
    """The candidate's reads at the target's cameras (time-ordered ``(t, camera_id)``) split
    into trips: at gaps of ``gap`` or more, and wherever a read meets a target journey other
    than the one its trip already met (``met``: co-sighted read → journey), so that a trip
    meets at most one journey."""
    out: list[int] = []
    trip, last, meeting = -1, -gap, None
    for t, camera_id in reads:
        journey = met.get((t, camera_id))
        if t - last >= gap or (journey is not None and meeting not in (None, journey)):
            trip, meeting = trip + 1, None
        if journey is not None:
            meeting = journey
        out.append(trip)
        last = t
    return out


def _score_convoy(
    rows: Sequence[tuple[Any, ...]],
    passages: Sequence[_Passage],
    target: str,
    t0: int,
    t1: int,
    names: Mapping[str, Any],
    gap: int,
) -> list[ConvoyCandidate]:
    traffic: dict[str, dict[int, int]] = defaultdict(dict)
    in_window: dict[int, dict[int, int]] = defaultdict(dict)
    hits: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    at_camera: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for kind, camera_id, hour, plate, pid, value in rows:
        if kind == "traffic":
            traffic[camera_id][int(hour)] = int(value)
        elif kind == "window":
            in_window[int(pid)][int(hour)] = int(value)
        elif kind == "hit":
            hits[plate][int(pid)].append(int(value))
        else:
            at_camera[plate][camera_id].append(int(value))
    by_camera: dict[str, list[_Passage]] = defaultdict(list)
    journeys: dict[int, list[_Passage]] = defaultdict(list)
    seconds: dict[int, dict[int, float]] = {}
    for p in passages:
        by_camera[p.camera_id].append(p)
        journeys[p.journey].append(p)
        seconds[p.pid] = _hour_seconds(p.lo, p.hi)
    days = (t1 - t0) / sql.DAY_US
    out = []
    for plate in sorted(hits):
        if is_misread_of(plate, target):
            continue
        seen, mine = hits[plate], at_camera[plate]
        met = {
            (t, passages[pid].camera_id): passages[pid].journey for pid in seen for t in seen[pid]
        }
        busy_days = {t // sql.DAY_US for t, _ in met}
        own: dict[tuple[int, int], int] = defaultdict(int)  # (pid, hour of day) → its reads
        for pid, ts in seen.items():
            for t in ts:
                own[(pid, (t // sql.HOUR_US) % 24)] += 1
        per_hour: dict[tuple[str, int], int] = defaultdict(int)
        for camera_id, ts in mine.items():
            for t in ts:
                per_hour[(camera_id, (t // sql.HOUR_US) % 24)] += 1
        reads = sorted((t, camera_id) for camera_id, ts in mine.items() for t in ts)
        # Traffic: for each trip and each journey it could meet, the chance it would: at each
        # camera the two share, the share of the others' reads there in that hour of the day
        # (over the period) that fall in the journey's window, at least the window's share of
        # that hour's time; averaged over those cameras (one trip is one chance, not several).
        shares: dict[int, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        for (t, camera_id), trip in zip(reads, _candidate_trips(reads, met, gap), strict=True):
            h = (t // sql.HOUR_US) % 24
            others = traffic[camera_id].get(h, 0) - per_hour[(camera_id, h)]
            for p in by_camera[camera_id]:
                overlap = seconds[p.pid].get(h, 0.0)
                if overlap <= 0 and not p.lo <= t <= p.hi:
                    continue
                crowd = in_window[p.pid].get(h, 0) - own[(p.pid, h)]
                share = max(crowd / others if others > 0 else 0.0, overlap / (3600 * days))
                shares[trip][p.journey].append(min(share, 1.0))
        routine = {
            j: _routine_chance(journeys[j], mine, t0, t1, busy_days)
            for j in sorted({j for trip in shares.values() for j in trip})
        }
        chances = []
        for trip in sorted(shares):
            missed = 1.0
            for j in sorted(shares[trip]):
                missed *= 1.0 - math.fsum(shares[trip][j]) / len(shares[trip][j])
            chances.append(max(1.0 - missed, max(routine[j] for j in shares[trip])))
        occasions = len(set(met.values()))
        evidence = [
            _co_sighting(passages[pid], sorted(seen[pid]), names)
            for pid in sorted(seen, key=lambda i: (passages[i].times[0], i))
        ]
        out.append(
            ConvoyCandidate(
                plate=plate,
                co_sightings=len(seen),
                distinct_cameras=len({passages[pid].camera_id for pid in seen}),
                expected=math.fsum(chances),
                score=at_least_score(occasions, chances),
                evidence=evidence,
                occasions=occasions,
            )
        )
    return out


# --- clones -------------------------------------------------------------------------------------


def _place(read_id: str, camera_id: str, t: int, lat: float, lon: float, names: Mapping[str, Any]):
    return {
        "read_id": read_id,
        "camera_id": camera_id,
        "camera_name": names.get(camera_id),
        "read_at": from_us(t).isoformat(),
        "lat": lat,
        "lon": lon,
    }


def _travel_findings(
    rows: Sequence[tuple[Any, ...]], max_speed_kmh: float, names: Mapping[str, Any]
) -> list[CloneFinding]:
    pairs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    score: dict[str, float] = defaultdict(float)
    for plate, p_id, p_cam, p_t, p_lat, p_lon, r_id, cam, t, lat, lon in sorted(
        rows, key=lambda r: (r[0], r[8], r[6])
    ):
        km = haversine_km(p_lat, p_lon, lat, lon)
        seconds = max((t - p_t) / US, 1.0)
        kmh = km / (seconds / 3600)
        if km < MIN_CLONE_KM or kmh <= max_speed_kmh:
            continue
        score[plate] += 1.0 + min(math.log2(kmh / max_speed_kmh), 10.0)
        pairs[plate].append(
            {
                "from": _place(p_id, p_cam, p_t, p_lat, p_lon, names),
                "to": _place(r_id, cam, t, lat, lon, names),
                "distance_km": round(km, 3),
                "minutes": round(seconds / 60, 2),
                "implied_kmh": round(kmh, 1),
            }
        )
    return [CloneFinding(plate, "impossible_travel", score[plate], pairs[plate]) for plate in pairs]


def _binomial_tail_score(k: int, n: int, rate: float) -> float:
    """−log10 P(Binomial(n, rate) ≥ k), capped at ``MAX_SCORE``."""
    if k <= 0:
        return 0.0
    log_tail = float(binom.logsf(k - 1, n, rate))
    if not math.isfinite(log_tail):
        return MAX_SCORE
    return min(MAX_SCORE, max(0.0, -log_tail / math.log(10)))


def _description_findings(
    rows: Sequence[tuple[Any, ...]], min_sightings: int, min_score: float
) -> list[CloneFinding]:
    seen: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    registered: dict[tuple[str, str], str | None] = {}
    wrong: dict[str, int] = defaultdict(int)
    described: dict[str, int] = defaultdict(int)
    tested = 0
    for kind, plate, attribute, value, n, total, reg in rows:
        if kind == "seen":
            seen[plate][attribute][value] = int(n)
            registered[(plate, attribute)] = reg
        elif kind == "rate":
            wrong[attribute], described[attribute] = int(n), int(total)
        else:
            tested += int(n)
    # How often cameras misdescribe: the share of reads contradicting the register, with a
    # prior worth MISDESCRIPTION_PRIOR_READS reads at MISDESCRIPTION_PRIOR for small data.
    rates = {
        attribute: (wrong[attribute] + MISDESCRIPTION_PRIOR * MISDESCRIPTION_PRIOR_READS)
        / (described[attribute] + MISDESCRIPTION_PRIOR_READS)
        for attribute in ("make", "colour")
    }
    correction = math.log10(max(tested, 1))
    out = []
    for plate in sorted(seen):
        evidence, strongest = [], 0.0
        for attribute in sorted(seen[plate]):
            counts = seen[plate][attribute]
            reg = registered[(plate, attribute)]
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            reference = reg if reg is not None else ranked[0][0]
            odd = [(v, n) for v, n in ranked if v != reference]
            total = sum(counts.values())
            if not odd:
                continue
            value, count = odd[0]
            if count < min_sightings or count < MIN_CONTRADICTING_SHARE * total:
                continue
            chance = _binomial_tail_score(count, total, rates[attribute])
            strongest = max(strongest, chance)
            evidence.append(
                {
                    "attribute": attribute,
                    "registered": reg,
                    "seen": dict(ranked),
                    "contradicting_sightings": count,
                    "contradicting_value": value,
                    "described_sightings": total,
                    "misdescription_rate": round(rates[attribute], 5),
                    "chance_score": round(chance, 3),
                }
            )
        score = strongest - correction
        if evidence and score >= min_score:
            out.append(CloneFinding(plate, "description_mismatch", score, evidence))
    return out


def clones(
    engine: Engine,
    start: datetime,
    end: datetime,
    max_speed_kmh: float = 180,
    plate: str | None = None,
    min_confidence: float | None = None,
    limit: int = 100,
    min_sightings: int = 2,
    *,
    min_description_score: float = DEFAULT_MIN_DESCRIPTION_SCORE,
) -> list[CloneFinding]:
    """Plates that look like two vehicles.

    ``impossible_travel``: consecutive reads at least 2 km apart that would need more than
    ``max_speed_kmh``; each such pair scores 1 + log2(implied speed / max speed).
    ``description_mismatch``: one make or colour, other than the register's (or, for plates
    not in it, than the one seen most), on at least ``min_sightings`` reads and at least
    ``MIN_CONTRADICTING_SHARE`` of the plate's reads that describe the vehicle. Its chance
    is the binomial tail P(≥ that many of those reads | each misdescribes at the period's
    rate); the score is −log10(plates judged × the strongest attribute's chance), the number
    of plates expected to look so odd by chance, and must reach ``min_description_score``.
    With ``min_confidence`` only reads at least that confident count.
    """
    t0, t1 = time_range(start, end)
    _positive(max_speed_kmh, "max_speed_kmh", 1, 5000)
    _positive(limit, "limit")
    _positive(min_sightings, "min_sightings")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise InvalidInput({"min_confidence": "must be between 0 and 1"})
    if not math.isfinite(min_description_score):
        raise InvalidInput({"min_description_score": "must be a number"})
    wanted = plate_of(plate) if plate else None
    params: dict[str, Any] = {
        "t0": t0,
        "t1": t1,
        "plate": wanted,
        "min_confidence": min_confidence,
        "min_km": MIN_CLONE_KM * 0.999,
        "speed": float(max_speed_kmh) * 0.999,
        "min_sightings": min_sightings,
    }
    has_plate, has_conf = wanted is not None, min_confidence is not None
    sources = {"reads": read_files(engine.store, t0, t1), **snapshot_sources(engine.store)}
    travel, described = engine.run(
        [
            sql.travel_sql(engine.dialect, has_plate, has_conf),
            sql.descriptions_sql(engine.dialect, has_plate, has_conf),
        ],
        params,
        sources,
    )
    found = _travel_findings(travel, float(max_speed_kmh), camera_names(engine.store))
    found += _description_findings(described, min_sightings, min_description_score)
    found.sort(key=lambda f: (-f.score, f.plate, f.reason))
    return found[:limit]


# --- frequent visitors and stakeouts ------------------------------------------------------------


def _hours(hours: tuple[int, int] | None) -> tuple[bool, dict[str, int]]:
    if hours is None:
        return False, {}
    start, stop = hours
    if not (0 <= start <= 23 and 0 <= stop <= 24) or start == stop:
        raise InvalidInput({"hours": "two different hours: from 0–23, to 0–24"})
    return start > stop, {"hour_from": int(start), "hour_to": int(stop)}


def frequent_visitors(
    engine: Engine,
    start: datetime,
    end: datetime,
    camera_ids: Sequence[str] | None = None,
    area: Area | None = None,
    hours: tuple[int, int] | None = None,
    min_days: int = 3,
    limit: int = 100,
    visit_gap_s: int = 1800,
) -> list[Visitor]:
    """Plates seen at the cameras (or in the area) on at least ``min_days`` distinct days.

    ``hours`` keeps reads from ``from_hour`` up to (not including) ``to_hour``, UTC; a band
    such as (22, 6) spans midnight. Reads less than ``visit_gap_s`` apart are one visit.
    """
    t0, t1 = time_range(start, end)
    if bool(camera_ids) == (area is not None):
        raise InvalidInput({"camera_ids": "name cameras or an area, not both"})
    _positive(min_days, "min_days")
    _positive(limit, "limit")
    wraps, hour_params = _hours(hours)
    params: dict[str, Any] = {
        "t0": t0,
        "t1": t1,
        "gap": int(visit_gap_s * US),
        "min_days": min_days,
        **hour_params,
    }
    sources: dict[str, Source] = {
        "reads": read_files(engine.store, t0, t1),
        **snapshot_sources(engine.store),
    }
    if camera_ids:
        sources["selected_cameras"] = pa.table(
            {"camera_id": pa.array(sorted(set(camera_ids)), pa.string())}
        )
    else:
        assert area is not None
        params |= area_params(area, "a_")
    statement = sql.visitors_sql(engine.dialect, bool(camera_ids), hours is not None, wraps, limit)
    [rows] = engine.run([statement], params, sources)
    visitors = [
        Visitor(plate, int(visits), int(days), from_us(first), from_us(last))
        for plate, visits, days, first, last in rows
    ]
    visitors.sort(key=lambda v: (-v.distinct_days, -v.visits, v.plate))
    return visitors[:limit]


def stakeout(
    engine: Engine,
    windows: Sequence[PlaceWindow],
    min_windows: int | None = None,
    limit: int = 500,
) -> list[StakeoutHit]:
    """Plates seen in at least ``min_windows`` (default: all) of the place/time windows, with
    the sightings that put them there; most windows first."""
    if not 1 <= len(windows) <= MAX_WINDOWS:
        raise InvalidInput({"windows": f"give 1 to {MAX_WINDOWS} place/time windows"})
    need = len(windows) if min_windows is None else min_windows
    if not 1 <= need <= len(windows):
        raise InvalidInput({"min_windows": f"must be from 1 to {len(windows)}"})
    params: dict[str, Any] = {"min_windows": need}
    by_cameras, cams_w, cams_id = [], [], []
    for i, w in enumerate(windows):
        try:
            t0, t1 = time_range(w.start, w.end)
        except InvalidInput as exc:
            raise InvalidInput({f"windows[{i}].{k}": v for k, v in exc.errors.items()}) from exc
        params |= {f"w{i}_t0": t0, f"w{i}_t1": t1}
        if bool(w.camera_ids) == (w.area is not None):
            raise InvalidInput({f"windows[{i}]": "name cameras or an area, not both"})
        if w.camera_ids:
            by_cameras.append(True)
            for camera_id in sorted(set(w.camera_ids)):
                cams_w.append(i)
                cams_id.append(camera_id)
        else:
            assert w.area is not None
            by_cameras.append(False)
            params |= area_params(w.area, f"w{i}_")
    files = ReadFiles(
        tuple(
            sorted(
                {
                    f
                    for w in windows
                    for f in read_files(
                        engine.store, to_us(w.start, "start"), to_us(w.end, "end")
                    ).files
                }
            )
        )
    )
    sources: dict[str, Source] = {
        "reads": files,
        **snapshot_sources(engine.store),
        "window_cameras": pa.table(
            {"w": pa.array(cams_w, pa.int64()), "camera_id": pa.array(cams_id, pa.string())}
        ),
    }
    [rows] = engine.run([sql.stakeout_sql(engine.dialect, by_cameras)], params, sources)
    matched: dict[str, set[int]] = defaultdict(set)
    evidence: dict[str, dict[str, Sighting]] = defaultdict(dict)
    for row in rows:
        plate, sighting = row[4], _sighting(row[1:])
        matched[plate].add(int(row[0]))
        evidence[plate][sighting.read_id] = sighting
    hits = [
        StakeoutHit(
            plate,
            sorted(matched[plate]),
            sorted(evidence[plate].values(), key=lambda s: (s.read_at, s.read_id)),
        )
        for plate in matched
    ]
    hits.sort(key=lambda h: (-len(h.windows_matched), h.plate))
    return hits[:limit]


# --- county lines -------------------------------------------------------------------------------


def county_lines(
    engine: Engine,
    start: datetime,
    end: datetime,
    hub: Area,
    min_distance_km: float = 30,
    max_dwell_hours: float = 6,
    min_trips: int = 3,
    limit: int = 50,
) -> list[CountyLinesCandidate]:
    """Vehicles making repeated short round trips from a hub to distant places.

    A trip is a hub read, then reads at least ``min_distance_km`` from the hub, then a hub read
    again, the whole time away at most ``max_dwell_hours``. Destinations are named after the
    camera of each trip's farthest read. The score is −log10 P(Poisson(μ) ≥ trips), μ the
    mean number of such trips over every plate seen at the hub.
    """
    t0, t1 = time_range(start, end)
    _positive(min_distance_km, "min_distance_km", 0.1)
    _positive(max_dwell_hours, "max_dwell_hours", 0.1, 24 * 31)
    _positive(min_trips, "min_trips")
    _positive(limit, "limit")
    hub_box = area_params(hub, "h_")
    if min_distance_km <= hub_box["h_km"]:
        raise InvalidInput({"min_distance_km": "must be farther than the hub's radius"})
    params = {
        "t0": t0,
        "t1": t1,
        "hub_lat": hub_box["h_lat"],
        "hub_lon": hub_box["h_lon"],
        "hub_km": hub_box["h_km"],
        "min_km": float(min_distance_km),
        "max_away": int(max_dwell_hours * 3600 * US),
    }
    sources = {"reads": read_files(engine.store, t0, t1), **snapshot_sources(engine.store)}
    [rows] = engine.run([sql.county_lines_sql(engine.dialect)], params, sources)
    names = camera_names(engine.store)
    hub_plates = 0
    trips: dict[str, dict[tuple[int, int], list[tuple[Any, ...]]]] = defaultdict(dict)
    for row in rows:
        plate, left_t = row[0], row[1]
        if plate is None:
            hub_plates = int(left_t)
            continue
        trips[plate].setdefault((int(left_t), int(row[2])), []).append(row)
    total = sum(len(t) for t in trips.values())
    mean = total / hub_plates if hub_plates else 0.0
    out = []
    for plate in sorted(trips):
        if len(trips[plate]) < min_trips:
            continue
        evidence, destinations = [], []
        for (left_t, back_t), reads in sorted(trips[plate].items()):
            far = max(
                reads,
                key=lambda r: (haversine_km(hub.lat, hub.lon, r[6], r[7]), -r[5], r[3]),
            )
            place = names.get(far[4]) or far[4]
            if place not in destinations:
                destinations.append(place)
            evidence.append(
                {
                    "left_hub_at": from_us(left_t).isoformat(),
                    "back_at_hub_at": from_us(back_t).isoformat(),
                    "hours_away": round((back_t - left_t) / US / 3600, 2),
                    "destination": place,
                    "destination_camera_id": far[4],
                    "farthest_km": round(haversine_km(hub.lat, hub.lon, far[6], far[7]), 3),
                    "reads_away": len(reads),
                }
            )
        n = len(trips[plate])
        out.append(CountyLinesCandidate(plate, n, destinations, chance_score(n, mean), evidence))
    out.sort(key=lambda c: (-c.trips, -c.score, c.plate))
    return out[:limit]
