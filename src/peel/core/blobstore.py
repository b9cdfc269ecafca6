"""Content-addressed (SHA-256) file storage that streams uploads in constant memory."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from peel.core.config import Settings

CHUNK_SIZE = 1 << 20
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

Bytes = bytes | bytearray | memoryview


def validate_sha256(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex characters, so it is safe to use in a path."""
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        shown = repr(sha256)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise ValueError(f"not a blob id (expected 64 lowercase hex SHA-256 characters): {shown}")
    return sha256


@dataclass(frozen=True)
class BlobRef:
    """What identifies a stored blob: its SHA-256 hex digest and its size in bytes."""

    sha256: str
    size: int

    def __post_init__(self) -> None:
        validate_sha256(self.sha256)
        if self.size < 0:
            raise ValueError(f"blob size cannot be negative: {self.size}")


class BlobTooLarge(Exception):
    """A blob went past the byte limit the caller set; nothing was stored."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"blob is larger than the limit of {max_bytes} bytes; nothing was stored")
        self.max_bytes = max_bytes


class BlobNotFound(KeyError):
    """No blob with this SHA-256 is stored."""

    def __init__(self, sha256: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256

    def __str__(self) -> str:
        return f"no blob stored with SHA-256 {self.sha256}"


class BlobWriter(ABC):
    """Hashes, counts and limits bytes as they stream in; subclasses decide where they go."""

    def __init__(self, max_bytes: int | None = None) -> None:
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes cannot be negative: {max_bytes}")
        self.max_bytes = max_bytes
        self.size = 0
        self._hash = hashlib.sha256()
        self._ref: BlobRef | None = None
        self._closed = False

    def write(self, data: Bytes) -> None:
        """Append ``data``; refuse (and discard everything) once ``max_bytes`` would be passed."""
        if self._closed:
            raise RuntimeError("this blob writer is already committed or aborted")
        view = memoryview(data).cast("B")
        if self.max_bytes is not None and self.size + view.nbytes > self.max_bytes:
            self.abort()
            raise BlobTooLarge(self.max_bytes)
        self._hash.update(view)
        self._write_raw(view)
        self.size += view.nbytes

    def commit(self) -> BlobRef:
        """Make the blob durable under its SHA-256 and return its reference."""
        if self._closed:
            raise RuntimeError("this blob writer is already committed or aborted")
        ref = BlobRef(self._hash.hexdigest(), self.size)
        try:
            self._store(ref)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._ref = ref
        return ref

    def abort(self) -> None:
        """Throw away whatever was written; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._discard()

    @property
    def ref(self) -> BlobRef | None:
        """The committed blob, or None before a successful commit."""
        return self._ref

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()

    @abstractmethod
    def _write_raw(self, data: memoryview) -> None:
        """Send bytes to the backing storage (already hashed and counted)."""

    @abstractmethod
    def _store(self, ref: BlobRef) -> None:
        """Publish the written bytes under ``ref`` (or drop them if it already exists)."""

    @abstractmethod
    def _discard(self) -> None:
        """Remove any partial upload."""


class BlobStore(ABC):
    """Where Peel keeps files, named by the SHA-256 of their content.

    Identical content is stored once. Every method takes or returns hex digests only,
    never paths, so an S3-compatible store can implement this interface later: its
    ``writer()`` would stream a multipart upload to a temporary key and copy it to the
    digest-named key on commit, and the stream/file helpers below work unchanged.
    """

    @abstractmethod
    def writer(self, max_bytes: int | None = None) -> BlobWriter:
        """Start a streaming upload; use it as a context manager and call ``commit()``."""

    @abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """Open a stored blob for reading; raises BlobNotFound if it is missing."""

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether a blob with this digest is stored."""

    @abstractmethod
    def size(self, sha256: str) -> int:
        """Size in bytes of a stored blob; raises BlobNotFound if it is missing."""

    @abstractmethod
    def delete(self, sha256: str) -> bool:
        """Remove a blob; True if it was there, False if it was already gone."""

    @abstractmethod
    def iter_all(self) -> Iterator[BlobRef]:
        """Every stored blob, for fixity checks and garbage collection."""

    def put_stream(self, chunks: Iterable[Bytes], max_bytes: int | None = None) -> BlobRef:
        """Store the concatenation of ``chunks`` without holding it all in memory."""
        with self.writer(max_bytes) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def put_file(self, path: Path | str, max_bytes: int | None = None) -> BlobRef:
        """Store a copy of the file at ``path``, reading it through one fixed buffer."""
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        with open(path, "rb") as source, self.writer(max_bytes) as writer:
            while count := source.readinto(buffer):
                writer.write(view[:count])
            return writer.commit()

    async def aput_stream(
        self, chunks: AsyncIterable[Bytes], max_bytes: int | None = None
    ) -> BlobRef:
        """Store an async stream (e.g. an HTTP upload), doing blocking I/O off the event loop."""
        writer = self.writer(max_bytes)
        try:
            async for chunk in chunks:
                await asyncio.to_thread(writer.write, chunk)
            return await asyncio.to_thread(writer.commit)
        finally:
            writer.abort()

    def iter_chunks(self, sha256: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield a blob's bytes in pieces of at most ``chunk_size`` (for streaming responses)."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
        return _read_chunks(self.open(sha256), chunk_size)

    def verify(self, sha256: str) -> bool:
        """Re-hash a stored blob and say whether it still matches its name (bit rot, tampering)."""
        digest = hashlib.sha256()
        for chunk in self.iter_chunks(sha256):
            digest.update(chunk)
        return digest.hexdigest() == sha256


def _read_chunks(stream: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    """Read an open stream to the end in pieces, closing it however iteration stops."""
    with stream:
        while chunk := stream.read(chunk_size):
            yield chunk


class _LocalBlobWriter(BlobWriter):
    """Writes to a temp file in the store's ``tmp/`` folder, then renames it into place."""

    def __init__(self, store: LocalBlobStore, max_bytes: int | None) -> None:
        super().__init__(max_bytes)
        self._store_obj = store
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=store.tmp_dir)
        self._tmp_path = Path(name)
        self._file = os.fdopen(fd, "wb")

    def _write_raw(self, data: memoryview) -> None:
        self._file.write(data)

    def _store(self, ref: BlobRef) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self._store_obj.path_for(ref.sha256)
        if final.exists():
            self._tmp_path.unlink()
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp_path, final)
        _fsync_dir(final.parent)

    def _discard(self) -> None:
        self._file.close()
        self._tmp_path.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable by syncing its folder (a no-op where that is unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore(BlobStore):
    """Blobs as files under ``<root>/<aa>/<bb>/<sha256>``, uploads staged in ``<root>/tmp``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"

    def path_for(self, sha256: str) -> Path:
        """Where a blob lives on disk; the digest is validated first, so no path traversal."""
        validate_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def writer(self, max_bytes: int | None = None) -> BlobWriter:
        return _LocalBlobWriter(self, max_bytes)

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.path_for(sha256).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def delete(self, sha256: str) -> bool:
        try:
            self.path_for(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def iter_all(self) -> Iterator[BlobRef]:
        for first in _sorted_subdirs(self.root):
            for second in _sorted_subdirs(first):
                for entry in sorted(os.scandir(second), key=lambda e: e.name):
                    name = entry.name
                    if (
                        entry.is_file(follow_symlinks=False)
                        and _SHA256_HEX.fullmatch(name)
                        and name[:2] == first.name
                        and name[2:4] == second.name
                    ):
                        yield BlobRef(name, entry.stat(follow_symlinks=False).st_size)


def _sorted_subdirs(folder: Path) -> list[Path]:
    """The two-hex-character fan-out folders inside ``folder`` (skipping ``tmp`` and strays)."""
    if not folder.is_dir():
        return []
    return sorted(
        Path(entry.path)
        for entry in os.scandir(folder)
        if entry.is_dir(follow_symlinks=False) and re.fullmatch(r"[0-9a-f]{2}", entry.name)
    )


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """The blob store the settings describe (today always the local folder ``blob_dir``)."""
    return LocalBlobStore(settings.blob_dir)
