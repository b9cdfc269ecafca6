"""Virus scanning of files from outside: a plugin, off by default, ClamAV's clamd when set.

``PEEL_CLAMD_ADDRESS`` (``host:port`` or a Unix socket path) turns on scanning with the clamd
INSTREAM command; without it files are accepted unscanned and the result says so.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from peel.core.config import Settings

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ScanResult:
    clean: bool
    scanned: bool
    detail: str


class Scanner(Protocol):
    def scan(self, chunks: Iterable[bytes]) -> ScanResult: ...


class NoScanner:
    """The default: nothing is scanned (say so in the record)."""

    def scan(self, chunks: Iterable[bytes]) -> ScanResult:
        return ScanResult(clean=True, scanned=False, detail="not scanned (no scanner set up)")


class ClamdScanner:
    """Streams the bytes to a ClamAV daemon with INSTREAM and reads its verdict."""

    def __init__(self, address: str, timeout: float = 60.0) -> None:
        self.address = address
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        if self.address.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(self.address)
            return sock
        host, _, port = self.address.rpartition(":")
        return socket.create_connection((host or "127.0.0.1", int(port)), self.timeout)

    def scan(self, chunks: Iterable[bytes]) -> ScanResult:
        with self._connect() as sock:
            sock.sendall(b"zINSTREAM\0")
            for chunk in chunks:
                for start in range(0, len(chunk), CHUNK):
                    part = chunk[start : start + CHUNK]
                    sock.sendall(struct.pack(">I", len(part)) + part)
            sock.sendall(struct.pack(">I", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                data = sock.recv(4096)
                if not data:
                    break
                reply += data
        text = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
        if text.endswith("OK"):
            return ScanResult(clean=True, scanned=True, detail="clamd: OK")
        if text.endswith("FOUND"):
            return ScanResult(clean=False, scanned=True, detail=f"clamd: {text}")
        raise OSError(f"clamd gave an answer Peel does not understand: {text!r}")


def scanner_from_settings(settings: Settings) -> Scanner:
    return ClamdScanner(settings.clamd_address) if settings.clamd_address else NoScanner()
