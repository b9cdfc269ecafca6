"""Digital evidence: upload speed against sha256sum, custody appends, proofs at 10 million.

1. Upload. A ``--upload-mb`` MiB file is hashed with ``sha256sum`` (the baseline), then sent
   over tus (``purpose=evidence``, an API client's bearer token) to a fresh SQLite-backed
   ``peel serve`` and added to a case with ``POST /api/v1/evidence/cases/{ref}/items``; the
   item's SHA-256 must equal sha256sum's. ``ratio`` is upload MiB/s over sha256sum MiB/s
   (goal: 0.5 or more). The server's peak memory is reset before and read after.
2. Custody appends on SQLite. ``custody.append_event`` with one event per transaction, and
   ``custody.append_events`` with 100 per transaction, against the baseline of inserting the
   same rows into a plain table without any hashing (one per transaction). Goal: 5,000 or
   more events per second.
3. Inclusion proofs at ``--proof-events`` events (default ten million). A SQLite log of that
   size is built directly (leaf hashes and stored subtree nodes exactly as appends make
   them; the root is checked against the in-memory frontier), then 1,000 random inclusion
   proofs are built from the database and verified. The baseline is fetching one event row
   by primary key. Goal: under 10 ms per proof.

    .venv/bin/python benchmarks/evidence.py --upload-mb 2048 --proof-events 10000000
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peel.core import migrate
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.evidence import custody, merkle
from peel.evidence.models import CustodyEvent
from reporting import MIB, file_pieces, make_file, proc_mib, serving


def _b64(text_value: str) -> str:
    return base64.b64encode(text_value.encode()).decode()


def _peel(folder: Path, *args: str) -> str:
    env = {**os.environ, "PEEL_DATA_DIR": str(folder / "var"), "PEEL_LOG_LEVEL": "WARNING"}
    env.pop("PEEL_DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "peel", *args], env=env, check=True, capture_output=True, text=True
    )
    return out.stdout


def upload_benchmark(root: Path, size_mb: int, chunk_mb: int) -> bool:
    path = root / "bodycam.mp4"
    make_file(path, size_mb * MIB)
    started = time.perf_counter()
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    hash_rate = size_mb / (time.perf_counter() - started)
    expected = out.stdout.split()[0]
    folder = root / "upload"
    with serving(folder, None, max(10 * 1024 * MIB, size_mb * MIB + MIB)) as (base, pid):
        token = (
            _peel(folder, "token", "create", "bench", "--org", "wessex-police", "--role", "officer")
            .strip()
            .splitlines()[-1]
        )
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=900, headers=auth) as client:
            case = client.post("/api/v1/evidence/cases", json={"title": "Upload benchmark"})
            assert case.status_code == 201, case.text
            reference = case.json()["reference"]
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            reset = proc_mib(pid, "VmHWM")
            tus = {"Tus-Resumable": "1.0.0"}
            meta = ",".join(
                f"{k} {_b64(v)}"
                for k, v in {"filename": "bodycam.mp4", "filetype": "video/mp4"}.items()
            )
            meta += f",purpose {_b64('evidence')}"
            size = path.stat().st_size
            chunk = chunk_mb * MIB
            started = time.perf_counter()
            made = client.post(
                "/api/v1/uploads/",
                headers={**tus, "Upload-Length": str(size), "Upload-Metadata": meta},
            )
            assert made.status_code == 201, made.text
            url, offset = made.headers["Location"], 0
            with path.open("rb") as handle:
                while offset < size:
                    length = min(chunk, size - offset)
                    sent = client.patch(
                        url,
                        headers={
                            **tus,
                            "Content-Type": "application/offset+octet-stream",
                            "Upload-Offset": str(offset),
                            "Content-Length": str(length),
                        },
                        content=file_pieces(handle, length),
                    )
                    assert sent.status_code == 204, (sent.status_code, sent.text)
                    offset = int(sent.headers["Upload-Offset"])
            upload_id = url.rstrip("/").rsplit("/", 1)[-1]
            item = client.post(
                f"/api/v1/evidence/cases/{reference}/items", json={"upload_id": upload_id}
            )
            seconds = time.perf_counter() - started
            assert item.status_code == 201, item.text
            got = item.json()["sha256"]
        peak = proc_mib(pid, "VmHWM")
    rate = size_mb / seconds
    print(f"\nEvidence upload of {size_mb} MiB (tus, {chunk_mb} MiB PATCHes) into a case, SQLite")
    print(f"  sha256sum        {hash_rate:8.1f} MiB/s  (baseline)")
    print(f"  upload + item    {rate:8.1f} MiB/s  ({seconds:.1f} s)")
    print(f"  ratio            {rate / hash_rate:8.2f}        (goal >= 0.5)")
    print(f"  sha256 matches   {got == expected}")
    print(f"  server memory    VmHWM {reset:.0f} MiB before, {peak:.0f} MiB after", flush=True)
    return got == expected


def append_benchmark(root: Path, events: int) -> None:
    url = f"sqlite:///{root / 'appends.db'}"
    engine = build_engine(url)
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    rows = [{"n": i, "what": "item page"} for i in range(events)]

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE plain (id INTEGER PRIMARY KEY, actor TEXT, entry TEXT)"))
    started = time.perf_counter()
    for row in rows:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO plain (actor, entry) VALUES ('bench', :e)"), {"e": str(row)}
            )
    baseline = events / (time.perf_counter() - started)

    started = time.perf_counter()
    for row in rows:
        with transaction(sessions) as session:
            custody.append_event(session, "viewed", "bench", item_id="item", **row)
    single = events / (time.perf_counter() - started)

    started = time.perf_counter()
    for first in range(0, events, 100):
        with transaction(sessions) as session:
            custody.append_events(
                session,
                [
                    custody.NewEvent("viewed", "bench", None, "item", None, row)
                    for row in rows[first : first + 100]
                ],
            )
    batched = events / (time.perf_counter() - started)
    engine.dispose()
    print(f"\nCustody events appended on SQLite ({events:,} each way)")
    print(f"  plain insert, 1 per transaction  {baseline:9,.0f} /s  (baseline)")
    print(f"  custody, 1 per transaction       {single:9,.0f} /s  ratio {single / baseline:.2f}")
    print(f"  custody, 100 per transaction     {batched:9,.0f} /s  ratio {batched / baseline:.2f}")
    print("  goal: >= 5,000 events/s", flush=True)


def build_big_log(path: Path, size: int) -> bytes:
    """A migrated SQLite database holding a custody log of ``size`` events; returns its root."""
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    # Secondary indexes are built once at the end rather than row by row.
    indexes = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'custody_event' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for (sql,) in indexes:
        name = sql.split()[2]
        conn.execute(f"DROP INDEX {name}")
    frontier: list[bytes] = []
    events: list[tuple[int, str, str, str, bytes]] = []
    nodes: list[tuple[int, bytes]] = []
    at = "2026-01-01 00:00:00.000000"
    sha = hashlib.sha256
    for index in range(size):
        entry = f'{{"index":{index},"kind":"viewed"}}'
        leaf = sha(b"\x00" + entry.encode()).digest()
        events.append((index, at, "viewed", entry, leaf))
        current, level = leaf, 0
        while (index >> level) & 1:
            current = sha(b"\x01" + frontier.pop() + current).digest()
            level += 1
            nodes.append((merkle.node_key(level, index >> level), current))
        frontier.append(current)
        if len(events) >= 200_000:
            _flush(conn, events, nodes)
    _flush(conn, events, nodes)
    conn.execute(
        "UPDATE custody_head SET size = ?, frontier = ? WHERE id = 1", (size, b"".join(frontier))
    )
    for (sql,) in indexes:
        conn.execute(sql)
    conn.commit()
    conn.close()
    return custody.root_of_frontier(frontier)


def _flush(conn: sqlite3.Connection, events: list, nodes: list) -> None:
    conn.executemany(
        "INSERT INTO custody_event (seq, at, kind, actor, entry, leaf_hash) "
        "VALUES (?, ?, ?, 'bench', ?, ?)",
        [(seq, at, kind, entry, leaf) for seq, at, kind, entry, leaf in events],
    )
    conn.executemany("INSERT INTO custody_node (key, hash) VALUES (?, ?)", nodes)
    conn.commit()
    events.clear()
    nodes.clear()


def proof_benchmark(root: Path, size: int, samples: int = 1000) -> None:
    path = root / "big-log.db"
    started = time.perf_counter()
    expected_root = build_big_log(path, size)
    built = time.perf_counter() - started
    engine = build_engine(f"sqlite:///{path}")
    sessions = make_sessionmaker(engine)
    rng = random.Random(5)
    indexes = [rng.randrange(size) for _ in range(samples)]
    lookups, proofs = [], []
    with transaction(sessions) as session:
        tree_size, root_hash = custody.head(session)
        assert tree_size == size and root_hash == expected_root
        assert custody.root_at(session, size) == expected_root
        for index in indexes:
            t0 = time.perf_counter()
            row = session.get(CustodyEvent, index)
            lookups.append(time.perf_counter() - t0)
            assert row is not None
            session.expunge(row)
        for index in indexes:
            t0 = time.perf_counter()
            leaf, proof = custody.inclusion(session, index, size)
            ok = merkle.verify_inclusion(leaf, index, size, proof, root_hash)
            proofs.append(time.perf_counter() - t0)
            assert ok
    engine.dispose()

    def ms(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1] * 1000

    p50_base, p50 = statistics.median(lookups) * 1000, statistics.median(proofs) * 1000
    print(f"\nInclusion proofs at {size:,} events, SQLite ({samples} random events)")
    print(f"  log built in {built:.0f} s; root matches the frontier: True")
    print(f"  event by primary key      p50 {p50_base:7.3f} ms  p99 {ms(lookups, 99):7.3f} ms")
    print(
        f"  inclusion proof + verify  p50 {p50:7.3f} ms  p99 {ms(proofs, 99):7.3f} ms  "
        f"(p50 ratio {p50 / p50_base:.1f}; goal < 10 ms)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upload-mb", type=int, default=2048)
    parser.add_argument("--chunk-mb", type=int, default=64)
    parser.add_argument("--append-events", type=int, default=5000)
    parser.add_argument("--proof-events", type=int, default=10_000_000)
    parser.add_argument("--skip-upload", action="store_true")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="peel-bench-evidence-") as tmp:
        root = Path(tmp)
        if not args.skip_upload:
            if shutil.which("sha256sum") is None:
                raise SystemExit("sha256sum (coreutils) is needed for the upload baseline")
            ok = upload_benchmark(root, args.upload_mb, args.chunk_mb)
            for leftover in root.glob("bodycam.mp4"):
                leftover.unlink()
            shutil.rmtree(root / "upload", ignore_errors=True)
        append_benchmark(root, args.append_events)
        proof_benchmark(root, args.proof_events)
    if not ok:
        raise SystemExit("FAILED: the uploaded file's hash did not match")


if __name__ == "__main__":
    main()
