"""The virus-scan plugin speaks clamd's INSTREAM protocol and fails closed."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from peel.core.scan import ClamdScanner, NoScanner

EICAR_MARK = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"


class FakeClamd:
    """A stand-in daemon that answers INSTREAM like clamd: FOUND when it sees the test mark."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                command = b""
                while not command.endswith(b"\0"):
                    command += conn.recv(1)
                assert command == b"zINSTREAM\0"
                data = b""
                while True:
                    (size,) = struct.unpack(">I", self._exact(conn, 4))
                    if size == 0:
                        break
                    data += self._exact(conn, size)
                self.received.append(data)
                verdict = (
                    b"stream: Eicar-Signature FOUND\0" if EICAR_MARK in data else (b"stream: OK\0")
                )
                conn.sendall(verdict)

    @staticmethod
    def _exact(conn: socket.socket, size: int) -> bytes:
        out = b""
        while len(out) < size:
            chunk = conn.recv(size - len(out))
            if not chunk:
                raise ConnectionError("client went away")
            out += chunk
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def clamd() -> Iterator[FakeClamd]:
    server = FakeClamd()
    yield server
    server.close()


def test_clean_and_infected_files(clamd: FakeClamd) -> None:
    scanner = ClamdScanner(clamd.address, timeout=5)
    clean = scanner.scan([b"holiday photo bytes", b" more"])
    assert clean.clean and clean.scanned
    infected = scanner.scan([b"xx" + EICAR_MARK])
    assert not infected.clean and "FOUND" in infected.detail
    assert clamd.received[0] == b"holiday photo bytes more"


def test_unreachable_scanner_raises_so_callers_fail_closed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        ClamdScanner(f"127.0.0.1:{port}", timeout=2).scan([b"x"])


def test_default_is_explicitly_unscanned() -> None:
    result = NoScanner().scan([b"x"])
    assert result.clean and not result.scanned and "not scanned" in result.detail
