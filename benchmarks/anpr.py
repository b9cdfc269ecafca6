"""ANPR on two cores: ingest, history, convoy, accuracy, DuckDB against Spark, alert latency.

Each figure is printed beside a baseline measured in the same run, with their ratio:

* **ingest** — one simulated day (``peel.anpr.simulate``) loaded by ``ingest_files`` from
  Parquet and from CSV into a fresh store; baseline: pyarrow only reading the same file.
  Goals: ≥ 1,000,000 reads/s from Parquet, ≥ 200,000 reads/s from CSV.
* **history** — ``search.history`` of one plate over ``--reads`` reads (default 100 million,
  30 days) written straight in the store's layout (day partitions, sorted by plate, 128k-row
  groups; integer plate ids drawn from a skewed distribution and mapped to sorted plate
  strings, so sorting is an integer sort); baseline: a full scan counting the plate's reads
  with a predicate Parquet statistics cannot prune. Goal: < 0.5 s.
* **convoy** — ``search.convoy`` for a target with a planted follower over the same store;
  baseline: naive co-sighting counting (``evaluate.naive_convoy``: a join, no scoring or
  pruning). Goal: < 10 s.
* **accuracy** — a simulated region (``--region-vehicles``, default 20,000) imported for real;
  precision and recall of convoy detection (at ``search.DEFAULT_MIN_SCORE``) and of clone
  detection against its planted truth (``peel.anpr.evaluate``); baseline: naive counting's
  precision.
* **spark** — history, convoy, clones and county lines on that region with DuckDB and with
  Spark in local mode (2 cores) over the same files; both answers must agree.
* **latency** — ``LiveIngest.submit`` driven at ``--rate`` reads/s (default 2,000) with the
  in-memory event bus, 1 % of reads on a 1,000-plate hotlist; read received → alert taken
  off a live listener's queue, p50 and p99. Baseline: as many events sent one at a time
  through the bare in-memory bus (publish → subscriber). Goal: p99 < 100 ms.

The process is pinned to two CPUs when more are available. Work files go to a temporary
folder (``--work`` keeps them; a kept 100-million-read store is reused).

    .venv/bin/python benchmarks/anpr.py                          # everything
    .venv/bin/python benchmarks/anpr.py --reads 20000000 --only history,convoy
    .venv/bin/python benchmarks/anpr.py --only ingest,accuracy,spark,latency
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peel.anpr import evaluate, hotlists, ingest, plates, search
from peel.anpr.simulate import Simulation, load_truth, simulate, write_reads
from peel.anpr.store import (
    CAMERA_SCHEMA,
    READ_SCHEMA,
    ROW_GROUP_ROWS,
    ReadStore,
    source_read_id,
)
from peel.core import migrate
from peel.core import service as core_service
from peel.core.config import Environment, Settings
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.core.enums import OrganisationType, Role
from peel.core.events import InMemoryEventBus
from peel.core.identity import principal_for_user
from peel.core.models import Organisation
from peel.core.principal import Principal
from peel.core.schemas import OrganisationCreate, UserCreate

T = TypeVar("T")
LOADER = Principal(display_name="benchmark", is_platform_admin=True)
SECTIONS = ("ingest", "history", "convoy", "accuracy", "spark", "latency")
BIG_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def pin_to_cores(cores: int) -> str:
    """Limit this process (and DuckDB's threads) to ``cores`` CPUs where the OS allows it."""
    if not hasattr(os, "sched_setaffinity"):
        return f"{os.cpu_count()} CPUs (pinning not supported here)"
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, available[:cores])
    return f"{len(os.sched_getaffinity(0))} of {len(available)} CPUs"


def timed(work: Callable[[], T], repeats: int = 1) -> tuple[float, T]:
    """Best wall time of ``repeats`` (at least one) calls of ``work``, with its last result."""
    times = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def show(label: str, value: str) -> None:
    print(f"  {label:<54}{value}")


# --- a database with a force, for the importers and the live path ---------------------------


@dataclass
class Platform:
    settings: Settings
    sessions: sessionmaker[Session]
    force: Organisation
    officer: Principal


def platform(folder: Path) -> Platform:
    """A fresh SQLite database under ``folder`` with one force and one officer."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        env=Environment.test,
        data_dir=folder / "var",
        database_url=f"sqlite:///{folder / 'peel.db'}",
        log_level="WARNING",
    )
    settings.ensure_data_dir()
    engine = build_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        core_service.create_organisation(
            session,
            LOADER,
            OrganisationCreate(
                code="bench-force", name="Bench Force", type=OrganisationType.police_force
            ),
        )
        user = core_service.create_user(
            session,
            LOADER,
            UserCreate(
                email="officer@bench.example",
                name="Bench Officer",
                organisation="bench-force",
                roles=[Role.officer, Role.supervisor],
                password="benchmark password 1234",
            ),
        )
        officer = principal_for_user(user)
    with sessions() as session:
        loaded = session.scalar(select(Organisation).where(Organisation.code == "bench-force"))
        assert loaded is not None
        session.expunge(loaded)
    return Platform(settings, sessions, loaded, officer)


def load_region(p: Platform, folder: Path) -> list[ingest.IngestResult]:
    with transaction(p.sessions) as session:
        ingest.import_cameras(session, p.settings, folder / "cameras.csv", p.force, LOADER)
        ingest.import_register(p.settings, folder / "register.csv")
        files = sorted((folder / "reads").iterdir())
        return ingest.ingest_files(session, p.settings, files, LOADER, p.force.id)


# --- ingest ---------------------------------------------------------------------------------


def bench_ingest(work: Path, vehicles: int, cameras: int) -> None:
    print("ingest: one simulated weekday, loaded into a fresh store")
    sim = Simulation(3, days=1, vehicles=vehicles, cameras=cameras, start=BIG_START)
    folder = work / "ingest-region"
    sim.write(folder)
    table = sim.reads_table()
    day = folder / "day.parquet"
    text = folder / "day.csv"
    write_reads(table, day, "parquet")
    write_reads(table, text, "csv")
    n = table.num_rows
    for label, path, read in (
        ("Parquet", day, lambda: pq.read_table(day)),
        ("CSV", text, lambda: pacsv.read_csv(text)),
    ):
        p = platform(work / f"ingest-{label.lower()}")
        with transaction(p.sessions) as session:
            ingest.import_cameras(session, p.settings, folder / "cameras.csv", p.force, LOADER)

        def load(p: Platform = p, path: Path = path) -> list[ingest.IngestResult]:
            with transaction(p.sessions) as session:
                return ingest.ingest_files(session, p.settings, [path], LOADER, p.force.id)

        seconds, results = timed(load)
        assert results[0].rows_landed == n, results[0]
        baseline, _ = timed(read, 3)
        goal = 1_000_000 if label == "Parquet" else 200_000
        show(f"{label}: {n:,} reads", f"{n / seconds:,.0f} reads/s ({seconds:.2f} s)")
        show(
            "  baseline: pyarrow reads the file", f"{n / baseline:,.0f} reads/s ({baseline:.2f} s)"
        )
        show("  ratio", f"ingest takes {seconds / baseline:.1f} x pyarrow's read")
        show(f"  goal (≥ {goal:,} reads/s)", "met" if n / seconds >= goal else "NOT met")


# --- a large store written directly in its layout -------------------------------------------


@dataclass(frozen=True)
class BigStore:
    root: Path
    reads: int
    start: datetime
    end: datetime
    target: str
    follower: str


def _plate_book(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` distinct current-format plates, sorted (as bytes)."""
    tag = np.frombuffer(b"ABCDEFGHJKLMNOPRSTUVWXY", dtype=np.uint8)
    tail = np.frombuffer(b"ABCDEFGHJKLMNOPRSTUVWXYZ", dtype=np.uint8)
    found = np.empty(0, dtype="S7")
    while len(found) < count:
        m = int((count - len(found)) * 1.2) + 100
        chars = np.empty((m, 7), dtype=np.uint8)
        chars[:, 0] = rng.choice(tag, m)
        chars[:, 1] = rng.choice(tag, m)
        age = rng.integers(2, 25, m) + 50 * rng.integers(0, 2, m)
        chars[:, 2] = ord("0") + age // 10
        chars[:, 3] = ord("0") + age % 10
        chars[:, 4:] = rng.choice(tail, (m, 3))
        found = np.unique(np.concatenate([found, chars.view("S7").ravel()]))
    keep = np.sort(rng.choice(len(found), count, replace=False))
    return found[keep]


def build_big_store(root: Path, reads: int, days: int, seed: int = 5) -> BigStore:
    """``reads`` reads over ``days`` days in the store layout, with a planted follower."""
    rng = np.random.default_rng(seed)
    n_plates = max(1000, reads // 50)
    n_cameras = 1000
    book = _plate_book(rng, n_plates)
    plate_text = pa.array(book.astype(str))
    fuzzy_text = pa.array([plates.fuzzy_key(p) for p in book.astype(str)])
    weights = rng.lognormal(0, 1.2, n_plates)
    cdf = np.cumsum(weights) / weights.sum()
    camera_ids = [f"B{i:04d}" for i in range(n_cameras)]
    camera_text = pa.array(camera_ids)
    lat = 51.5 + rng.random(n_cameras) * 0.6
    lon = rng.random(n_cameras) * 1.2
    store = ReadStore(root)
    store.write_cameras(
        pa.table(
            {
                "camera_id": camera_ids,
                "name": [f"Bench camera {i}" for i in range(n_cameras)],
                "lat": lat,
                "lon": lon,
                "easting": np.zeros(n_cameras),
                "northing": np.zeros(n_cameras),
                "direction": ["N"] * n_cameras,
                "owner_org_id": ["bench"] * n_cameras,
            },
            schema=CAMERA_SCHEMA,
        )
    )
    target, follower = (int(i) for i in rng.choice(n_plates, 2, replace=False))
    per_day = reads // days
    for d in range(days):
        day_start = BIG_START + timedelta(days=d)
        n = per_day + (reads - per_day * days if d == days - 1 else 0)
        # Sorted uniforms give sorted plate ids (and a cache-friendly search).
        ids = np.searchsorted(cdf, np.sort(rng.random(n))).astype(np.int64)
        offset = rng.integers(0, DAY_US, n)
        cams = rng.integers(0, n_cameras, n)
        # Two occasions a day: the follower 20-60 s behind the target at the same camera.
        occasions = rng.integers(0, n_cameras, 2)
        when = rng.integers(6 * HOUR_US, 20 * HOUR_US, 2)
        lag = rng.integers(20_000_000, 60_000_000, 2)
        ids[:4] = [target, target, follower, follower]
        cams[:4] = [occasions[0], occasions[1], occasions[0], occasions[1]]
        offset[:4] = [when[0], when[1], when[0] + lag[0], when[1] + lag[1]]
        # One integer sort orders by (plate, time): the plate id above 37 bits of microseconds.
        key = (ids << 37) | offset
        order = np.argsort(key, kind="stable")
        ids, cams = ids[order], cams[order]
        at = int(day_start.timestamp() * 1_000_000) + (key[order] & ((1 << 37) - 1))
        numbers = pc.cast(pa.array(np.arange(n)), pa.string())
        table = pa.table(
            {
                "read_id": pc.binary_join_element_wise(pa.scalar(f"D{d:03d}-"), numbers, ""),
                "camera_id": camera_text.take(pa.array(cams)),
                "plate": plate_text.take(pa.array(ids)),
                "plate_raw": plate_text.take(pa.array(ids)),
                "fuzzy": fuzzy_text.take(pa.array(ids)),
                "read_at": pa.array(at, pa.timestamp("us", tz="UTC")),
                "confidence": pa.array(
                    (0.6 + 0.39 * rng.random(n)).astype(np.float32), pa.float32()
                ),
                "lat": pa.nulls(n, pa.float64()),
                "lon": pa.nulls(n, pa.float64()),
                "make": pa.nulls(n, pa.string()),
                "model": pa.nulls(n, pa.string()),
                "colour": pa.nulls(n, pa.string()),
                "direction": pa.nulls(n, pa.string()),
                "batch_id": pa.array(np.full(n, "bench")),
            },
            schema=READ_SCHEMA,
        )
        folder = store.day_dir(day_start.date())
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table, folder / "bench.parquet", row_group_size=ROW_GROUP_ROWS, compression="zstd"
        )
    print(f"    wrote {days} days of about {per_day:,} reads")
    names = book.astype(str)
    return BigStore(
        root,
        reads,
        BIG_START,
        BIG_START + timedelta(days=days) - timedelta(microseconds=1),
        str(names[target]),
        str(names[follower]),
    )


def big_store(work: Path, reads: int, days: int) -> BigStore:
    root = work / f"big-{reads}"
    marker = root / "bench.txt"
    if marker.is_file():
        target, follower = marker.read_text().split()
        end = BIG_START + timedelta(days=days) - timedelta(microseconds=1)
        print(f"  reusing the {reads:,}-read store in {root}")
        return BigStore(root, reads, BIG_START, end, target, follower)
    shutil.rmtree(root, ignore_errors=True)
    seconds, built = timed(lambda: build_big_store(root, reads, days))
    marker.write_text(f"{built.target} {built.follower}")
    show(f"generated {reads:,} reads in the store layout", f"{seconds:.1f} s")
    return built


def bench_history(store: BigStore, repeats: int) -> None:
    print(f"history of one plate over {store.reads:,} reads")
    engine = search.DuckDBEngine(ReadStore(store.root))
    seconds, found = timed(
        lambda: search.history(engine, store.target, store.start, store.end), repeats
    )
    files = [str(p) for p in ReadStore(store.root).files()]

    def scan() -> int:
        con = duckdb.connect(config={"threads": 2})
        try:
            row = con.execute(
                "SELECT count(*) FROM read_parquet(?) WHERE lower(plate) = lower(?)",
                [files, store.target],
            ).fetchone()
            return int(row[0]) if row else 0
        finally:
            con.close()

    baseline, count = timed(scan, repeats)
    assert len(found.sightings) == count, (len(found.sightings), count)
    show(f"search.history ({count} sightings)", f"{seconds:.3f} s")
    show("baseline: full scan counting the plate", f"{baseline:.3f} s")
    show("ratio", f"{baseline / seconds:.2f} x the baseline's speed")
    show("goal (< 0.5 s)", "met" if seconds < 0.5 else "NOT met")


def bench_convoy(store: BigStore, repeats: int) -> None:
    print(f"convoy for one target over {store.reads:,} reads")
    engine = search.DuckDBEngine(ReadStore(store.root))
    seconds, found = timed(
        lambda: search.convoy(engine, store.target, store.start, store.end, window_s=60),
        repeats,
    )
    baseline, counts = timed(
        lambda: evaluate.naive_convoy(engine, store.target, store.start, store.end, 60), repeats
    )
    top = found[0].plate if found else "nothing"
    show(f"search.convoy (top: {top}; planted {store.follower})", f"{seconds:.3f} s")
    show(f"baseline: naive co-sighting counting ({len(counts)} plates)", f"{baseline:.3f} s")
    show("ratio", f"{baseline / seconds:.2f} x the baseline's speed")
    show("goal (< 10 s)", "met" if seconds < 10 else "NOT met")


# --- accuracy, and DuckDB against Spark, on a simulated region ------------------------------


def region(work: Path, vehicles: int, cameras: int) -> tuple[Platform, Path, dict[str, Any]]:
    folder = work / "region"
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=start.weekday() + 7)
    seconds, result = timed(lambda: simulate(folder, 21, 7, vehicles, cameras, start))
    show(f"simulated {result.reads:,} reads, {vehicles:,} vehicles", f"{seconds:.1f} s")
    p = platform(work / "region-db")
    seconds, loaded = timed(lambda: load_region(p, folder))
    show("imported through ingest_files", f"{seconds:.1f} s")
    assert sum(r.rows_landed for r in loaded) == result.reads

    return p, folder, load_truth(folder)


def bench_accuracy(p: Platform, truth: dict[str, Any], sample: int) -> None:
    print("accuracy against the planted truth")
    engine = search.DuckDBEngine(ReadStore(p.settings.anpr_dir))
    seconds, result = timed(lambda: evaluate.evaluate(engine, truth, sample=sample))
    show("convoy threshold (search.DEFAULT_MIN_SCORE)", f"score ≥ {result.threshold:g}")
    print("  " + result.table(result.scores + result.sweep((0, 2, 3, 5, 8))).replace("\n", "\n  "))
    scored, naive = result.scores[0], result.score("convoy (naive counting)")
    if scored.precision is not None and naive.precision:
        show(
            "ratio (convoy precision, scored / naive)",
            f"{scored.precision / naive.precision:.1f} x",
        )
    travel = result.score("clones (impossible travel, score ≥ 0)")
    naive_clones = result.score("clones (naive: >1 make or colour)")
    if travel.precision is not None and naive_clones.precision:
        show(
            "ratio (clone precision, travel / naive)",
            f"{travel.precision / naive_clones.precision:.0f} x",
        )
    clones = result.clones_at(result.clone_threshold)
    if clones.precision is not None and naive_clones.precision:
        show(
            "ratio (clone precision, any reason / naive)",
            f"{clones.precision / naive_clones.precision:.0f} x",
        )
    show("evaluation took", f"{seconds:.1f} s")


def bench_spark(p: Platform, truth: dict[str, Any]) -> None:
    print("DuckDB against Spark local[2] on the same files")
    try:
        from peel.anpr.spark import SparkEngine, local_spark

        started, spark = timed(lambda: local_spark("peel-anpr-bench", 2))
    except Exception as exc:  # no pyspark, or no Java
        show("Spark", f"skipped: {exc}")
        return
    show("Spark start-up (not counted below)", f"{started:.1f} s")
    store = ReadStore(p.settings.anpr_dir)
    start = datetime.fromisoformat(truth["parameters"]["start"])
    end = datetime.fromisoformat(truth["parameters"]["end"])
    plate = truth["busy_plates"][0]["plate"]
    target = truth["convoys"][0]["target"]
    hub = truth["county_lines"][0]["hub"]
    area = search.Area(hub["lat"], hub["lon"], hub["radius_m"])
    jobs: dict[str, Callable[[Any], Any]] = {
        "history": lambda e: [s.read_id for s in search.history(e, plate, start, end).sightings],
        "convoy": lambda e: [
            (c.plate, c.co_sightings) for c in search.convoy(e, target, start, end, 120)
        ],
        "clones": lambda e: sorted((f.plate, f.reason) for f in search.clones(e, start, end)),
        "county lines": lambda e: [
            (c.plate, c.trips) for c in search.county_lines(e, start, end, area)
        ],
    }
    duck, sparky = search.DuckDBEngine(store), SparkEngine(store, spark)
    try:
        for name, job in jobs.items():
            duck_s, duck_answer = timed(lambda job=job: job(duck), 2)
            spark_s, spark_answer = timed(lambda job=job: job(sparky), 2)
            same = "same answer" if duck_answer == spark_answer else "DIFFERENT answers"
            show(
                f"{name}: DuckDB {duck_s:.2f} s, Spark {spark_s:.2f} s",
                f"Spark/DuckDB {spark_s / duck_s:.1f} x; {same}",
            )
    finally:
        spark.stop()


# --- alert latency --------------------------------------------------------------------------


def bench_latency(work: Path, rate: int, seconds: float) -> None:
    print(f"alert latency at {rate:,} reads/s for {seconds:g} s (in-memory bus)")
    from peel.anpr.live import LiveIngest

    p = platform(work / "latency")
    sim = Simulation(9, days=1, vehicles=20_000, cameras=200, start=BIG_START)
    folder = work / "latency-region"
    sim.write(folder)
    rows = sim.reads_table().to_pylist()
    listed = sorted({plates.normalise(r["plate"]) for r in rows})[:1000]
    with transaction(p.sessions) as session:
        ingest.import_cameras(session, p.settings, folder / "cameras.csv", p.force, LOADER)
        for plate in listed:
            hotlists.create_entry(session, p.officer, plate, "benchmark watch", 50)
    listed_set = set(listed)
    hot = [r for r in rows if plates.normalise(r["plate"]) in listed_set]
    cold = [r for r in rows if plates.normalise(r["plate"]) not in listed_set]

    achieved: list[float] = []

    async def drive() -> tuple[list[float], list[float], list[float]]:
        live = LiveIngest(
            p.settings, p.sessions, InMemoryEventBus(), ReadStore(p.settings.anpr_dir)
        )
        await live.start(consume=False)
        listener = live.broadcaster.listen(p.officer)
        sent_at: dict[str, float] = {}
        latencies: list[float] = []

        async def receive() -> None:
            while (alert := await listener.get()) is not None:
                latencies.append((time.perf_counter() - sent_at[alert.read_id]) * 1000)

        receiver = asyncio.create_task(receive())
        tick = 0.05
        per_tick = max(1, round(rate * tick))
        ticks = int(seconds / tick)
        counter = 0
        began = next_at = time.perf_counter()
        for _ in range(ticks):
            batch = []
            for k in range(per_tick):
                pool = hot if k % 100 == 0 else cold
                row = dict(pool[counter % len(pool)])
                row["read_id"] = f"L{counter}"
                row["read_at"] = datetime.now(UTC).isoformat()
                batch.append(row)
                counter += 1
            now = time.perf_counter()
            for row in batch:  # stored ids keep a source's numbering apart per camera
                sent_at[source_read_id(row["camera_id"], row["read_id"])] = now
            await live.submit(batch, "live", "benchmark", "benchmark")
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        achieved.append(counter / (time.perf_counter() - began))
        await asyncio.sleep(0.5)
        listener.close()
        receiver.cancel()
        own = list(live.alert_latencies_ms)
        await live.stop()
        # Baseline: as many events through the bare in-memory bus, one at a time.
        bus = InMemoryEventBus()
        got: list[float] = []
        arrived = asyncio.Event()
        stamp = 0.0

        async def on(event: Any) -> None:
            got.append((time.perf_counter() - stamp) * 1000)
            arrived.set()

        await bus.subscribe("peel.bench.alert", on)
        for i in range(len(latencies)):
            arrived.clear()
            stamp = time.perf_counter()
            await bus.publish("peel.bench.alert", {"k": i})
            await asyncio.wait_for(arrived.wait(), 5)
        await bus.close()
        return latencies, own, got

    latencies, own, bare = asyncio.run(drive())
    if not latencies:
        raise SystemExit("alert latency: no alert arrived, so the live path is broken")

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q))

    p99 = pct(latencies, 99)
    show("reads submitted", f"{achieved[0]:,.0f} reads/s achieved")
    show(
        f"alerts received: {len(latencies):,}", f"p50 {pct(latencies, 50):.1f} ms, p99 {p99:.1f} ms"
    )
    if own:
        show("  LiveIngest's own batch-to-delivery figure", f"p99 {pct(own, 99):.1f} ms")
    if bare:
        show(
            "baseline: bare in-memory bus",
            f"p50 {statistics.median(bare):.3f} ms, p99 {pct(bare, 99):.3f} ms",
        )
        show("ratio (p99)", f"{p99 / max(pct(bare, 99), 1e-6):.0f} x the bare bus")
    show("goal (p99 < 100 ms)", "met" if p99 < 100 else "NOT met")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reads", type=int, default=100_000_000, help="reads in the big store")
    parser.add_argument("--days", type=int, default=30, help="days the big store spans")
    parser.add_argument("--ingest-vehicles", type=int, default=150_000)
    parser.add_argument("--ingest-cameras", type=int, default=1500)
    parser.add_argument("--region-vehicles", type=int, default=20_000)
    parser.add_argument("--region-cameras", type=int, default=300)
    parser.add_argument("--sample", type=int, default=30, help="unplanted convoy targets")
    parser.add_argument("--rate", type=int, default=2000, help="live reads per second")
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--work", type=Path, help="keep work files here (reused next time)")
    args = parser.parse_args()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))}")
    print(f"peel ANPR benchmark on {pin_to_cores(2)}; {date.today()}")
    temporary = None
    if args.work is None:
        temporary = tempfile.TemporaryDirectory(prefix="peel-anpr-bench-")
        work = Path(temporary.name)
    else:
        work = args.work
        work.mkdir(parents=True, exist_ok=True)
    try:
        if "ingest" in wanted:
            bench_ingest(work, args.ingest_vehicles, args.ingest_cameras)
        if "history" in wanted or "convoy" in wanted:
            print(f"building a {args.reads:,}-read store over {args.days} days")
            store = big_store(work, args.reads, args.days)
            if "history" in wanted:
                bench_history(store, args.repeats)
            if "convoy" in wanted:
                bench_convoy(store, args.repeats)
        if "accuracy" in wanted or "spark" in wanted:
            print("a simulated region, imported for real")
            p, _, truth = region(work, args.region_vehicles, args.region_cameras)
            if "accuracy" in wanted:
                bench_accuracy(p, truth, args.sample)
            if "spark" in wanted:
                bench_spark(p, truth)
        if "latency" in wanted:
            bench_latency(work, args.rate, args.latency_seconds)
    finally:
        if temporary is not None:
            temporary.cleanup()


if __name__ == "__main__":
    main()
