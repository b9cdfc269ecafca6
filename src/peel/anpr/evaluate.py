"""How well convoy, clone and county-lines searches find what the simulator planted.

Rules (the same in the CLI, the tests and the benchmark):

* **Convoys.** ``convoy`` runs for every planted target and for a sample of other plates
  (``sample`` plates with at least ``min_reads`` reads, none of them planted). A *detection*
  is a candidate among the ``top`` results whose score is at least ``threshold`` (by default
  ``search.DEFAULT_MIN_SCORE``, the bar ``convoy`` applies itself; the searches here keep
  every candidate so that other thresholds can be swept). It is a true positive when the
  candidate is a planted follower of that target; every other detection is a false positive.
  Recall is the share of planted (target, follower) pairs detected.
* **Naive convoy counting** (the baseline, as in i2 iBase): every plate read at the same
  camera within ±``window_s`` of the target's reads at least ``min_co_sightings`` times,
  with no scoring; judged by the same rule.
* **Clones.** ``clones`` runs once over the period with its defaults; a *detection* is a
  flagged plate (any reason, score at least ``clone_threshold``). True positives are planted
  cloned plates. Per-reason rows show each test on its own.
* **Naive clone report** (the baseline, as an "identical plate, multiple vehicles" report):
  every plate that cameras saw with more than one make or more than one colour.
* **County lines.** ``county_lines`` runs for each planted hub; a detection is a returned
  plate; true positives are the planted runners from that hub.

Precision is ``None`` when nothing was detected; recall is ``None`` when nothing was planted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import duckdb
import numpy as np

from peel.anpr import search
from peel.anpr.plates import normalise
from peel.core.errors import InvalidInput


@dataclass(frozen=True)
class Score:
    """Detections judged against the planted truth."""

    name: str
    planted: int
    detections: int
    true_positives: int
    false_positives: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.detections if self.detections else None

    @property
    def recall(self) -> float | None:
        return self.found / self.planted if self.planted else None

    @property
    def found(self) -> int:
        return self.planted - len(self.missed)


Pair = tuple[str, str]  # (target or hub, plate); ("", plate) for clones


@dataclass(frozen=True)
class Evaluation:
    """Judged searches over the truth's period, with every candidate kept for sweeps."""

    start: datetime
    end: datetime
    window_s: int
    threshold: float
    clone_threshold: float
    targets_planted: int
    targets_sampled: int
    scores: list[Score]
    planted_convoys: frozenset[Pair] = frozenset()
    planted_clones: frozenset[Pair] = frozenset()
    #: (target, candidate plate, score) for every convoy candidate in the top results.
    convoy_candidates: tuple[tuple[str, str, float], ...] = ()
    #: (plate, reason, score) for every clone finding.
    clone_findings: tuple[tuple[str, str, float], ...] = ()

    def score(self, name: str) -> Score:
        return next(s for s in self.scores if s.name == name)

    def convoy_at(self, threshold: float) -> Score:
        found = {(t, p) for t, p, score in self.convoy_candidates if score >= threshold}
        return judge(f"convoy (score ≥ {threshold:g})", self.planted_convoys, found)

    def clones_at(self, threshold: float, reason: str | None = None) -> Score:
        found = {
            ("", p)
            for p, why, score in self.clone_findings
            if score >= threshold and reason in (None, why)
        }
        label = "any reason" if reason is None else reason.replace("_", " ")
        return judge(f"clones ({label}, score ≥ {threshold:g})", self.planted_clones, found)

    def sweep(self, thresholds: Sequence[float] = (0, 2, 3, 5, 8, 12)) -> list[Score]:
        """Convoy and clone (any reason) scores at each threshold."""
        return [self.convoy_at(t) for t in thresholds] + [self.clones_at(t) for t in thresholds]

    def rows(self, scores: Sequence[Score] | None = None) -> list[dict[str, Any]]:
        """One row per test: name, planted, detections, true positives, precision, recall."""
        return [
            {
                "test": s.name,
                "planted": s.planted,
                "detections": s.detections,
                "true_positives": s.true_positives,
                "precision": s.precision,
                "recall": s.recall,
            }
            for s in (self.scores if scores is None else scores)
        ]

    def table(self, scores: Sequence[Score] | None = None) -> str:
        """A plain-text table of :meth:`rows`."""

        def pct(value: float | None) -> str:
            return "–" if value is None else f"{value:.0%}"

        head = (
            f"{'test':<44}{'planted':>8}{'flagged':>9}{'correct':>9}{'precision':>11}{'recall':>8}"
        )
        lines = [head]
        for s in self.scores if scores is None else scores:
            lines.append(
                f"{s.name:<44}{s.planted:>8}{s.detections:>9}{s.true_positives:>9}"
                f"{pct(s.precision):>11}{pct(s.recall):>8}"
            )
        return "\n".join(lines)


def _period(truth: dict[str, Any]) -> tuple[datetime, datetime]:
    try:
        parameters = truth["parameters"]
        return datetime.fromisoformat(parameters["start"]), datetime.fromisoformat(
            parameters["end"]
        )
    except (KeyError, ValueError) as exc:
        raise InvalidInput({"truth": "has no valid parameters.start and parameters.end"}) from exc


def planted_plates(truth: dict[str, Any]) -> set[str]:
    """Every plate the simulator planted (targets, followers, clones, county-lines runners)."""
    out: set[str] = set()
    for c in truth.get("convoys", []):
        out |= {c["target"], *c["followers"]}
    out |= {c["plate"] for c in truth.get("clones", [])}
    out |= {c["plate"] for c in truth.get("county_lines", [])}
    return {normalise(p) for p in out}


def _scan(engine: search.Engine, t0: int, t1: int) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A DuckDB connection with a ``period`` view of the reads between ``t0`` and ``t1``."""
    con = duckdb.connect(":memory:", config={"threads": 2})
    files = search.read_files(engine.store, t0, t1).files
    if not files:
        return con, False
    con.read_parquet(list(files), hive_partitioning=False).create_view("all_reads")
    # A view cannot take parameters; both bounds are integers.
    con.execute(
        "CREATE TEMPORARY VIEW period AS SELECT * FROM all_reads "  # noqa: S608
        f"WHERE epoch_us(read_at) BETWEEN {int(t0)} AND {int(t1)}"
    )
    return con, True


def sample_plates(
    engine: search.Engine,
    start: datetime,
    end: datetime,
    exclude: set[str],
    count: int,
    min_reads: int = 10,
    seed: int = 0,
) -> list[str]:
    """``count`` plates with at least ``min_reads`` reads in the period, none in ``exclude``."""
    t0, t1 = search.time_range(start, end)
    con, any_reads = _scan(engine, t0, t1)
    try:
        if not any_reads:
            return []
        rows = con.execute(
            "SELECT plate FROM period GROUP BY plate HAVING count(*) >= ? ORDER BY plate",
            [min_reads],
        ).fetchall()
    finally:
        con.close()
    plates = [p for (p,) in rows if p not in exclude]
    if not plates:
        return []
    picked = np.random.default_rng(seed).choice(len(plates), min(count, len(plates)), replace=False)
    return sorted(plates[int(i)] for i in picked)


def naive_convoy(
    engine: search.Engine,
    plate: str,
    start: datetime,
    end: datetime,
    window_s: int = 60,
    min_co_sightings: int = 3,
) -> dict[str, int]:
    """Plates read at the target's cameras within ±``window_s`` of it, with how many times.

    Straight co-occurrence counting with no scoring or pruning: the approach that drowns in
    rush-hour traffic, kept here as the baseline.
    """
    target = normalise(plate)
    t0, t1 = search.time_range(start, end)
    con, any_reads = _scan(engine, t0, t1)
    try:
        if not any_reads:
            return {}
        rows = con.execute(
            """
            WITH t AS (SELECT camera_id, epoch_us(read_at) AS at FROM period WHERE plate = $plate)
            SELECT r.plate, count(*) AS n
            FROM period r JOIN t ON r.camera_id = t.camera_id
             AND epoch_us(r.read_at) BETWEEN t.at - $w AND t.at + $w
            WHERE r.plate <> $plate
            GROUP BY r.plate HAVING count(*) >= $k
            """,
            {"plate": target, "w": int(window_s * 1_000_000), "k": min_co_sightings},
        ).fetchall()
    finally:
        con.close()
    return {p: int(n) for p, n in rows}


def naive_clones(engine: search.Engine, start: datetime, end: datetime) -> set[str]:
    """Plates that cameras saw with more than one make or more than one colour."""
    t0, t1 = search.time_range(start, end)
    con, any_reads = _scan(engine, t0, t1)
    try:
        if not any_reads:
            return set()
        rows = con.execute(
            "SELECT plate FROM period GROUP BY plate "
            "HAVING count(DISTINCT make) > 1 OR count(DISTINCT colour) > 1"
        ).fetchall()
    finally:
        con.close()
    return {p for (p,) in rows}


def judge(name: str, planted: Set[Pair], detected: Set[Pair]) -> Score:
    """Detections against planted pairs; labels read "target → plate" (or just the plate)."""

    def label(pair: Pair) -> str:
        return pair[1] if not pair[0] else f"{pair[0]} → {pair[1]}"

    return Score(
        name=name,
        planted=len(planted),
        detections=len(detected),
        true_positives=len(detected & planted),
        false_positives=sorted(label(p) for p in detected - planted),
        missed=sorted(label(p) for p in planted - detected),
    )


def evaluate(
    engine: search.Engine,
    truth: dict[str, Any],
    window_s: int = 120,
    threshold: float = search.DEFAULT_MIN_SCORE,
    top: int = 10,
    sample: int = 20,
    min_co_sightings: int = 3,
    clone_threshold: float = 0.0,
    max_speed_kmh: float = 180,
    seed: int = 0,
    audit: Callable[[str, str], None] | None = None,
) -> Evaluation:
    """Run the searches over the truth's period and judge them (see the module's rules).

    ``audit(kind, subject)`` is called before each search, so a caller can authorise and
    record it (see :func:`peel.anpr.service.authorise_search`).
    """
    record = audit or (lambda kind, subject: None)
    start, end = _period(truth)
    planted_pairs: set[Pair] = set()
    targets: list[str] = []
    for c in truth.get("convoys", []):
        target = normalise(c["target"])
        targets.append(target)
        planted_pairs |= {(target, normalise(f)) for f in c["followers"]}
    others = sample_plates(engine, start, end, planted_plates(truth), sample, seed=seed)
    candidates: list[tuple[str, str, float]] = []
    naive: set[Pair] = set()
    for target in targets + others:
        record("convoy", target)
        found = search.convoy(
            engine, target, start, end, window_s, min_co_sightings, limit=top, min_score=0.0
        )
        candidates += [(target, c.plate, c.score) for c in found]
        counts = naive_convoy(engine, target, start, end, window_s, min_co_sightings)
        naive |= {(target, p) for p in counts}
    planted_clones = {("", normalise(c["plate"])) for c in truth.get("clones", [])}
    record("clones", "all plates")
    findings = [
        (f.plate, f.reason, f.score)
        for f in search.clones(engine, start, end, max_speed_kmh, limit=1_000_000)
    ]
    result = Evaluation(
        start,
        end,
        window_s,
        threshold,
        clone_threshold,
        len(targets),
        len(others),
        [],
        frozenset(planted_pairs),
        frozenset(planted_clones),
        tuple(candidates),
        tuple(findings),
    )
    scores = [
        result.convoy_at(threshold),
        judge("convoy (naive counting)", planted_pairs, naive),
        result.clones_at(clone_threshold),
        result.clones_at(clone_threshold, "impossible_travel"),
        result.clones_at(clone_threshold, "description_mismatch"),
        judge(
            "clones (naive: >1 make or colour)",
            planted_clones,
            {("", p) for p in naive_clones(engine, start, end)},
        ),
    ]
    if truth.get("county_lines"):
        scores.append(_county_lines(engine, truth, start, end, record))
    return replace(result, scores=scores)


def _county_lines(
    engine: search.Engine,
    truth: dict[str, Any],
    start: datetime,
    end: datetime,
    record: Callable[[str, str], None],
) -> Score:
    planted: set[Pair] = set()
    detected: set[Pair] = set()
    hubs: dict[str, dict[str, Any]] = {}
    for runner in truth["county_lines"]:
        hub = runner["hub"]
        hubs[hub["name"]] = hub
        planted.add((hub["name"], normalise(runner["plate"])))
    for name, hub in sorted(hubs.items()):
        area = search.Area(hub["lat"], hub["lon"], hub["radius_m"])
        record("county_lines", f"hub {name} ({area.lat:.5f}, {area.lon:.5f}, {area.radius_m:g} m)")
        for candidate in search.county_lines(engine, start, end, area, limit=1000):
            detected.add((name, candidate.plate))
    return judge("county lines", planted, detected)
