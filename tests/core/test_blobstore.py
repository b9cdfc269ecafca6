"""Tests for the content-addressed blob store."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.core.blobstore import (
    BlobNotFound,
    BlobRef,
    BlobTooLarge,
    LocalBlobStore,
    blob_store_from_settings,
)
from peel.core.config import Settings

MiB = 1 << 20


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def stored_files(store: LocalBlobStore) -> list[Path]:
    """Every file under the store root, including anything left in tmp/."""
    return sorted(p for p in store.root.rglob("*") if p.is_file())


def read_blob(store: LocalBlobStore, sha256: str) -> bytes:
    with store.open(sha256) as stream:
        return stream.read()


def test_round_trip_and_hash_matches_hashlib(store: LocalBlobStore) -> None:
    content = b"witness statement, page 1\n" * 1000
    ref = store.put_stream([content[:100], content[100:]])
    assert ref == BlobRef(hashlib.sha256(content).hexdigest(), len(content))
    assert store.exists(ref.sha256)
    assert store.size(ref.sha256) == len(content)
    with store.open(ref.sha256) as stream:
        assert stream.read() == content
    assert b"".join(store.iter_chunks(ref.sha256, chunk_size=7)) == content
    assert store.path_for(ref.sha256) == (
        store.root / ref.sha256[:2] / ref.sha256[2:4] / ref.sha256
    )
    assert store.verify(ref.sha256)
    assert list(store.iter_all()) == [ref]


def test_empty_blob(store: LocalBlobStore) -> None:
    ref = store.put_stream([])
    assert ref == BlobRef(hashlib.sha256(b"").hexdigest(), 0)
    assert read_blob(store, ref.sha256) == b""


def test_identical_content_is_stored_once(store: LocalBlobStore) -> None:
    first = store.put_stream([b"same bytes"])
    second = store.put_stream([b"same ", b"bytes"])
    assert first == second
    assert stored_files(store) == [store.path_for(first.sha256)]
    assert list(store.iter_all()) == [first]


def test_put_file(store: LocalBlobStore, tmp_path: Path) -> None:
    source = tmp_path / "body-cam.bin"
    content = os.urandom(3 * MiB + 17)
    source.write_bytes(content)
    ref = store.put_file(source)
    assert ref.sha256 == hashlib.sha256(content).hexdigest()
    assert read_blob(store, ref.sha256) == content


def test_large_stream_is_written_in_constant_memory(store: LocalBlobStore) -> None:
    chunk = os.urandom(MiB)
    expected = hashlib.sha256()
    for _ in range(64):
        expected.update(chunk)

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield chunk

    tracemalloc.start()
    try:
        ref = store.put_stream(chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB
    assert ref == BlobRef(expected.hexdigest(), 64 * MiB)
    assert store.size(ref.sha256) == 64 * MiB


def test_max_bytes_refusal_leaves_nothing(store: LocalBlobStore) -> None:
    with pytest.raises(BlobTooLarge) as info:
        store.put_stream([b"a" * 60, b"b" * 60], max_bytes=100)
    assert info.value.max_bytes == 100
    assert "100 bytes" in str(info.value)
    assert stored_files(store) == []
    assert list(store.iter_all()) == []


def test_max_bytes_exactly_at_limit_is_accepted(store: LocalBlobStore) -> None:
    ref = store.put_stream([b"x" * 100], max_bytes=100)
    assert ref.size == 100


def test_abort_and_uncommitted_writer_leave_nothing(store: LocalBlobStore) -> None:
    writer = store.writer()
    writer.write(b"half an upload")
    writer.abort()
    writer.abort()
    with store.writer() as forgotten:
        forgotten.write(b"never committed")
    with pytest.raises(RuntimeError, match="client went away"), store.writer() as failing:
        failing.write(b"partial")
        raise RuntimeError("client went away")
    assert stored_files(store) == []
    with pytest.raises(RuntimeError, match="already committed or aborted"):
        writer.write(b"more")


def test_commit_is_once_only(store: LocalBlobStore) -> None:
    with store.writer() as writer:
        writer.write(b"evidence")
        ref = writer.commit()
        assert writer.ref == ref
        with pytest.raises(RuntimeError, match="already committed"):
            writer.commit()
    assert store.exists(ref.sha256)


def test_verify_detects_a_flipped_byte(store: LocalBlobStore) -> None:
    ref = store.put_stream([b"original exhibit contents"])
    path = store.path_for(ref.sha256)
    damaged = bytearray(path.read_bytes())
    damaged[3] ^= 0x01
    path.write_bytes(bytes(damaged))
    assert not store.verify(ref.sha256)


def test_missing_blob(store: LocalBlobStore) -> None:
    missing = "0" * 64
    assert not store.exists(missing)
    assert not store.delete(missing)
    for call in (store.open, store.size, store.verify, store.iter_chunks):
        with pytest.raises(BlobNotFound) as info:
            call(missing)
        assert missing in str(info.value)
        assert isinstance(info.value, KeyError)


def test_delete(store: LocalBlobStore) -> None:
    ref = store.put_stream([b"to be deleted"])
    assert store.delete(ref.sha256)
    assert not store.exists(ref.sha256)
    assert not store.delete(ref.sha256)


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "../" + "a" * 61,
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "",
        "/" + "a" * 63,
        "a" * 64 + "\n",
    ],
)
def test_invalid_sha_strings_are_refused(store: LocalBlobStore, bad: str) -> None:
    for call in (store.open, store.exists, store.size, store.delete, store.verify):
        with pytest.raises(ValueError, match="64 lowercase hex"):
            call(bad)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        BlobRef(bad, 1)
    assert not store.root.exists()


def test_iter_all_ignores_strays(store: LocalBlobStore) -> None:
    ref = store.put_stream([b"real blob"])
    (store.root / "tmp" / "upload-stale.part").write_bytes(b"left over")
    (store.root / "zz").mkdir()
    (store.path_for(ref.sha256).parent / "notes.txt").write_text("not a blob")
    misplaced = store.root / "00" / "00" / ("f" * 64)
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(b"wrong folder")
    assert list(store.iter_all()) == [ref]


def test_aput_stream(store: LocalBlobStore) -> None:
    parts = [b"first part ", b"second part ", b"third"]

    async def upload() -> AsyncIterator[bytes]:
        for part in parts:
            await asyncio.sleep(0)
            yield part

    ref = asyncio.run(store.aput_stream(upload()))
    assert ref.sha256 == hashlib.sha256(b"".join(parts)).hexdigest()
    assert read_blob(store, ref.sha256) == b"".join(parts)


def test_aput_stream_over_limit_leaves_nothing(store: LocalBlobStore) -> None:
    async def upload() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"z" * 10

    with pytest.raises(BlobTooLarge):
        asyncio.run(store.aput_stream(upload(), max_bytes=50))
    assert stored_files(store) == []


def test_blob_store_from_settings(tmp_path: Path) -> None:
    blob_store = blob_store_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(blob_store, LocalBlobStore)
    assert blob_store.root == tmp_path / "blobs"


@settings(max_examples=50, deadline=None)
@given(content=st.binary(max_size=4096), cut=st.integers(min_value=0, max_value=4096))
def test_any_bytes_round_trip(
    tmp_path_factory: pytest.TempPathFactory, content: bytes, cut: int
) -> None:
    blob_store = LocalBlobStore(tmp_path_factory.mktemp("prop"))
    ref = blob_store.put_stream([content[:cut], content[cut:]])
    assert ref == BlobRef(hashlib.sha256(content).hexdigest(), len(content))
    assert b"".join(blob_store.iter_chunks(ref.sha256, chunk_size=256)) == content
    assert blob_store.verify(ref.sha256)
