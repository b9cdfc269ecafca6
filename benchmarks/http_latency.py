"""Latency of the core HTTP paths under concurrent load, against /healthz in the same run.

Starts Peel on a free local port with a fresh SQLite database and the demo data, signs in as
the demo officer, then drives each path with ``wrk`` (Debian package ``wrk``) for a few
seconds at a fixed number of connections and prints p50 / p99 latency, requests per second
and the ratio of each path's p50 to the /healthz baseline.

    .venv/bin/python benchmarks/http_latency.py --connections 50 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peel(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "peel", *args], env=env, check=True, stdout=subprocess.DEVNULL
    )


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "peel", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not become ready")


def session_cookie(base: str) -> str:
    with httpx.Client(base_url=base) as client:
        page = client.get("/login").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post(
            "/login",
            data={
                "email": "officer@wessex.police.example",
                "password": "demo-officer-password",
                "csrf_token": token,
            },
        )
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def run_wrk(url: str, connections: int, seconds: int, cookie: str | None) -> dict[str, float]:
    cmd = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    figures = {}
    for label in ("50%", "99%"):
        match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        figures[label] = float(match.group(1)) * UNITS[match.group(2)]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    figures["rps"] = float(rps.group(1)) if rps else 0.0
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("install the load tool first: apt-get install wrk")
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "PEEL_DATA_DIR": str(Path(folder) / "var"),
            "PEEL_LOG_LEVEL": "WARNING",
        }
        env.pop("PEEL_DATABASE_URL", None)
        peel("db", "upgrade", env=env)
        peel("demo", "load", "--quiet", env=env)
        port = free_port()
        server = start_server(env, port, args.workers)
        base = f"http://127.0.0.1:{port}"
        try:
            cookie = session_cookie(base)
            rows = [
                ("/healthz (baseline)", "/healthz", None),
                ("/readyz", "/readyz", None),
                ("home page, signed in", "/", cookie),
                ("home page, anonymous", "/", None),
            ]
            results = [
                (name, run_wrk(base + path, args.connections, args.seconds, c))
                for name, path, c in rows
            ]
        finally:
            server.terminate()
            server.wait(timeout=10)
    baseline = results[0][1]["50%"]
    print(
        f"{args.connections} connections, {args.seconds} s each, {args.workers} worker(s), SQLite"
    )
    print(f"{'path':<24}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'non-2xx':>9}{'p50 ratio':>11}")
    for name, f in results:
        print(
            f"{name:<24}{f['50%']:>9.2f}{f['99%']:>9.2f}{f['rps']:>9.0f}{f['non_2xx']:>9.0f}"
            f"{f['50%'] / baseline:>11.2f}"
        )


if __name__ == "__main__":
    main()
