"""Report submission throughput (SQLite, PostgreSQL) and tus upload speed against sha256sum.

1. ``POST /api/v1/reports``. For each backend Peel gets a fresh database (a SQLite file in
   a temporary folder; on PostgreSQL a throwaway database ``peel_bench_reporting`` on the
   ``--postgres`` server, dropped afterwards and skipped with a note if the server does not
   answer), ``peel db upgrade``, ``peel demo load`` and ``peel serve`` with one worker and
   a report rate limit too high to matter. An asyncio httpx client keeps ``--concurrency``
   requests in flight for ``--seconds``, sending varied reports (category, description, a
   latitude/longitude in the south of England). ``GET /healthz`` driven the same way on the
   same server is the baseline. ``requests`` counts every request; ``failed`` those that did
   not answer 201 (200 for healthz), which must be none; ``req/s``, ``p50`` and ``p99`` count
   only the successful ones. ``p50 ratio`` is p50 over the healthz p50: what storing a
   report costs on top of the HTTP stack.
2. tus upload. A ``--upload-mb`` MiB file (an MP4 ``ftyp`` header, then pseudo-random bytes)
   is hashed with ``sha256sum`` (the baseline: the least work a server must do with those
   bytes), then uploaded to a fresh SQLite-backed server in ``--chunk-mb`` PATCH requests
   streamed from the file; the upload's SHA-256 must equal sha256sum's. ``ratio`` is upload
   MiB/s over sha256sum MiB/s (the goal is 0.5 or more). The server's peak resident memory
   (VmHWM) is read before the upload, reset, and read again afterwards: it should stay flat.

The client shares the machine (two cores here) with the server: compare ratios, not absolute
figures. Servers log JSON, as in production (console tracebacks are slow to render).

    .venv/bin/python benchmarks/reporting.py --concurrency 20 --seconds 10 --upload-mb 1024
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

MIB = 1 << 20
BLOCK = 8 * MIB  # file generation block
PIECE = MIB  # what the upload body generator reads from the file at a time
FTYP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
BENCH_DB = "peel_bench_reporting"
CATEGORIES = (
    "anti-social-behaviour", "bicycle-theft", "burglary", "criminal-damage-arson", "drugs",
    "other-theft", "public-order", "shoplifting", "vehicle-crime", "lost-found-property",
)  # fmt: skip
WHAT = (
    "A group of people were shouting and throwing bottles", "Someone cut the lock and took a "
    "blue mountain bike", "The shed was broken into overnight and tools were taken",
    "The car window was smashed and a bag taken from the back seat",
    "A man was seen taking goods from the shelves without paying",
)  # fmt: skip
WHERE = ("outside the station", "near the park gates", "on the high street", "behind the shops")
Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(folder: Path, database_url: str | None, max_upload: int) -> Iterator[tuple[str, int]]:
    """A fresh Peel (migrated, demo data) on a free port: yields (base URL, server pid)."""
    folder.mkdir()
    env = {
        **os.environ,
        "PEEL_DATA_DIR": str(folder / "var"),
        "PEEL_LOG_LEVEL": "WARNING",
        "PEEL_LOG_FORMAT": "json",
        "PEEL_REPORT_RATE_PER_HOUR": str(10**9),
        "PEEL_UPLOAD_MAX_BYTES": str(max_upload),
    }
    env.pop("PEEL_DATABASE_URL", None)
    if database_url:
        env["PEEL_DATABASE_URL"] = database_url
    peel = [sys.executable, "-m", "peel"]
    for step in (["db", "upgrade"], ["demo", "load", "--quiet"]):
        subprocess.run(peel + step, env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    with open(folder / "server.log", "wb") as log:
        server = subprocess.Popen(
            [*peel, "serve", "--port", str(port), "--workers", "1"], env=env, stdout=log, stderr=log
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):  # about 30 s
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            time.sleep(0.2)
        else:
            log_text = (folder / "server.log").read_text(errors="replace")[-3000:]
            raise SystemExit("the server did not become ready:\n" + log_text)
        yield base, server.pid
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=15)
        server.kill()  # a no-op once it has exited
        server.wait()


@contextlib.contextmanager
def throwaway_postgres(admin_url: str) -> Iterator[str | None]:
    """Create the throwaway database, yield its URL (None if unreachable), drop it after."""
    engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    drop = sqlalchemy.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    try:
        with engine.connect() as conn:
            conn.execute(drop)
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{BENCH_DB}"'))
    except SQLAlchemyError as exc:
        engine.dispose()
        print(f"note: PostgreSQL skipped, cannot use {admin_url} ({type(exc).__name__})")
        yield None
        return
    try:
        yield make_url(admin_url).set(database=BENCH_DB).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(drop)
        engine.dispose()


def report_bodies(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Varied, valid reports at points in the south of England (Devon to Kent)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    bodies = []
    for n in range(count):
        body: dict[str, Any] = {
            "category": rng.choice(CATEGORIES),
            "description": f"{rng.choice(WHAT)} {rng.choice(WHERE)}. Benchmark report {n}.",
            "location": {"kind": "latlon", "lat": f"{rng.uniform(50.70, 51.45):.6f}",
                         "lon": f"{rng.uniform(-3.50, 0.90):.6f}"},
        }  # fmt: skip
        if rng.random() < 0.5:
            when = now - timedelta(hours=rng.uniform(1, 24 * 30))
            body["occurred_at"] = when.isoformat().replace("+00:00", "Z")
        contact = {"reporter_name": f"Reporter {n}", "reporter_email": f"r{n}@example.org"}
        body.update({"anonymous": True} if rng.random() < 0.3 else contact)
        bodies.append(body)
    return bodies


async def drive(base: str, concurrency: int, seconds: float, send: Send, want: int) -> dict:
    """Keep ``concurrency`` requests in flight for ``seconds``; time each successful one."""
    latencies: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        warm_up = (send(client, -1 - i) for i in range(concurrency))
        await asyncio.gather(*warm_up, return_exceptions=True)
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            nonlocal failed
            while time.perf_counter() < deadline:  # bounded by the deadline and the timeout
                started = time.perf_counter()
                try:
                    ok = (await send(client, n)).status_code == want
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                failed += not ok
                n += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    count = len(latencies)
    p50, p99 = (latencies[int(count * q)] * 1000 if count else float("nan") for q in (0.5, 0.99))
    return {"requests": count + failed, "rps": count / elapsed, "p50": p50, "p99": p99,
            "failed": failed}  # fmt: skip


def submissions(backend: str, base: str, args: argparse.Namespace) -> bool:
    """Print the healthz and the submission rows for one server; True if all succeeded."""
    bodies = report_bodies(500)

    def health(client: httpx.AsyncClient, n: int) -> Awaitable[httpx.Response]:
        return client.get("/healthz")

    def submit(client: httpx.AsyncClient, n: int) -> Awaitable[httpx.Response]:
        return client.post("/api/v1/reports", json=bodies[n % len(bodies)])

    base_row = asyncio.run(drive(base, args.concurrency, args.seconds, health, 200))
    report_row = asyncio.run(drive(base, args.concurrency, args.seconds, submit, 201))
    for path, f in (("GET /healthz", base_row), ("POST /api/v1/reports", report_row)):
        print(
            f"{backend:<12}{path:<22}{f['requests']:>9}{f['rps']:>9.0f}{f['p50']:>9.2f}"
            f"{f['p99']:>9.2f}{f['failed']:>8}{f['p50'] / base_row['p50']:>11.2f}",
            flush=True,
        )
    return not (base_row["failed"] or report_row["failed"])


def make_file(path: Path, size: int) -> None:
    """FTYP header, then a random 8 MiB block, rotated and stamped with a counter per block."""
    seed = random.Random(11).randbytes(BLOCK)
    with open(path, "wb") as out:
        for counter in range(-(-size // BLOCK)):
            shift = (counter * 4099) % BLOCK
            block = counter.to_bytes(16, "big") + seed[shift:] + seed[:shift]
            block = (FTYP + block if counter == 0 else block)[: min(BLOCK, size - out.tell())]
            out.write(block)
        out.flush()
        os.fsync(out.fileno())  # so writeback of this file does not slow the upload's writes


def proc_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def file_pieces(handle: IO[bytes], length: int) -> Iterator[bytes]:
    while length > 0:
        piece = handle.read(min(PIECE, length))
        if not piece:
            raise RuntimeError("the file ended early")
        length -= len(piece)
        yield piece


def upload(base: str, path: Path, chunk: int) -> tuple[float, str]:
    """Upload the file over tus in ``chunk``-byte PATCH requests: (seconds, server's sha256)."""
    size = path.stat().st_size
    tus = {"Tus-Resumable": "1.0.0", "Upload-Token": "bench-" + os.urandom(24).hex()}
    meta = "filename YmVuY2gubXA0,filetype dmlkZW8vbXA0"  # bench.mp4, video/mp4
    with httpx.Client(base_url=base, timeout=600) as client, open(path, "rb") as handle:
        started = time.perf_counter()
        headers = {**tus, "Upload-Length": str(size), "Upload-Metadata": meta}
        made = client.post("/api/v1/uploads/", headers=headers)
        assert made.status_code == 201, made.text
        url, offset = made.headers["Location"], 0
        for _ in range(-(-size // chunk)):  # one PATCH per chunk
            length = min(chunk, size - offset)
            headers = {**tus, "Content-Type": "application/offset+octet-stream"}
            headers |= {"Upload-Offset": str(offset), "Content-Length": str(length)}
            sent = client.patch(url, headers=headers, content=file_pieces(handle, length))
            assert sent.status_code == 204, (sent.status_code, sent.text)
            offset = int(sent.headers["Upload-Offset"])
        elapsed = time.perf_counter() - started
        summary = client.get(url, headers={"Accept": "application/json", **tus}).json()
    assert offset == size and summary["complete"], summary
    return elapsed, summary["sha256"]


def upload_vs_sha256sum(base: str, pid: int, path: Path, args: argparse.Namespace) -> bool:
    started = time.perf_counter()
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    hash_rate = args.upload_mb / (time.perf_counter() - started)
    expected = out.stdout.split()[0]
    hwm, rss = proc_mib(pid, "VmHWM"), proc_mib(pid, "VmRSS")
    with contextlib.suppress(OSError):  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    reset = proc_mib(pid, "VmHWM")
    seconds, got = upload(base, path, args.chunk_mb * MIB)
    rate = args.upload_mb / seconds
    print(f"\ntus upload of {args.upload_mb} MiB in {args.chunk_mb} MiB PATCH requests, SQLite")
    print(
        f"  sha256sum        {hash_rate:8.1f} MiB/s  (baseline, {args.upload_mb / hash_rate:.2f} s)"
    )
    print(f"  tus upload       {rate:8.1f} MiB/s  ({seconds:.2f} s)")
    print(f"  ratio            {rate / hash_rate:8.2f}        (goal >= 0.5)")
    print(f"  sha256 matches   {got == expected}  ({expected})")
    print(f"  server memory    before: VmHWM {hwm:.0f} MiB, VmRSS {rss:.0f} MiB")
    print(f"                   VmHWM reset to {reset:.0f} MiB; after the upload: VmHWM ", end="")
    print(f"{proc_mib(pid, 'VmHWM'):.0f} MiB, VmRSS {proc_mib(pid, 'VmRSS'):.0f} MiB", flush=True)
    return got == expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--upload-mb", type=int, default=1024, help="file size in MiB")
    parser.add_argument("--chunk-mb", type=int, default=64, help="bytes per PATCH, in MiB")
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-submissions", action="store_true")
    args = parser.parse_args()
    if not args.skip_upload and shutil.which("sha256sum") is None:
        raise SystemExit("sha256sum (coreutils) is needed for the upload baseline")
    size = args.upload_mb * MIB
    max_upload = max(10 * 1024 * MIB, size + MIB)
    ok = True
    if not args.skip_submissions:
        print(f"Report submissions: {args.concurrency} in flight for {args.seconds:g} s per row,")
        print("peel serve with 1 worker, asyncio httpx client on the same machine")
        head = f"{'backend':<12}{'path':<22}{'requests':>9}{'req/s':>9}{'p50 ms':>9}"
        print(head + f"{'p99 ms':>9}{'failed':>8}{'p50 ratio':>11}", flush=True)
    with tempfile.TemporaryDirectory(prefix="peel-bench-") as tmp:
        root = Path(tmp)
        if not args.skip_submissions:
            with serving(root / "sqlite", None, max_upload) as (base, _):
                ok &= submissions("SQLite", base, args)
            with throwaway_postgres(args.postgres) as url:
                if url is not None:
                    with serving(root / "pg", url, max_upload) as (base, _):
                        ok &= submissions("PostgreSQL", base, args)
        if not args.skip_upload:
            make_file(root / "bench.mp4", size)
            with serving(root / "upload", None, max_upload) as (base, pid):
                ok &= upload_vs_sha256sum(base, pid, root / "bench.mp4", args)
    if not ok:
        raise SystemExit("FAILED: some requests did not succeed (see the failed column)")


if __name__ == "__main__":
    main()
