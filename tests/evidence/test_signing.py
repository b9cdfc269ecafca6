"""Ed25519 signed tree heads: round trip, tampering, wrong keys and the key file on disk."""

from __future__ import annotations

import dataclasses
import hashlib
import stat
from pathlib import Path

import pytest

from peel.evidence.merkle import MemoryLog
from peel.evidence.signing import (
    LogSigner,
    SignedTreeHead,
    SigningKeyError,
    TreeHead,
    key_id_of,
    tree_head_message,
    verify_tree_head,
)


@pytest.fixture
def signer(tmp_path: Path) -> LogSigner:
    return LogSigner.load_or_create(tmp_path / "keys" / "custody.pem")


@pytest.fixture
def head() -> TreeHead:
    log = MemoryLog()
    for n in range(11):
        log.append(b"event %d" % n)
    return TreeHead(tree_size=log.size, root_hash=log.root(), timestamp_ms=1_767_225_600_123)


def test_a_signed_tree_head_verifies_and_survives_json(signer: LogSigner, head: TreeHead) -> None:
    sth = signer.sign(head)
    assert sth.tree_head == head
    assert sth.key_id == signer.key_id
    assert verify_tree_head(sth, signer.public_key_pem())
    again = SignedTreeHead.from_json(sth.to_json())
    assert again == sth
    assert verify_tree_head(again, signer.public_key_pem())
    assert sth.to_json()["root_hash"] == head.root_hash.hex()


def test_the_signed_message_is_the_documented_text(signer: LogSigner, head: TreeHead) -> None:
    message = tree_head_message(head, signer.key_id)
    assert (
        message
        == (
            f"peel-custody-tree-head/1\n{signer.key_id}\n11\n1767225600123\n"
            f"{head.root_hash.hex()}\n"
        ).encode()
    )
    with pytest.raises(ValueError, match="key_id"):
        tree_head_message(head, "not\na key id")


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 12},
        {"tree_size": 10},
        {"timestamp_ms": 1_767_225_600_124},
        {"root_hash": bytes(32)},
    ],
    ids=["size up", "size down", "timestamp", "root"],
)
def test_a_tampered_tree_head_fails(signer: LogSigner, head: TreeHead, change: dict) -> None:
    sth = signer.sign(head)
    assert not verify_tree_head(dataclasses.replace(sth, **change), signer.public_key_pem())


def test_a_tampered_signature_fails(signer: LogSigner, head: TreeHead) -> None:
    sth = signer.sign(head)
    for position in (0, 31, 63):
        bad = bytearray(sth.signature)
        bad[position] ^= 0x01
        tampered = dataclasses.replace(sth, signature=bytes(bad))
        assert not verify_tree_head(tampered, signer.public_key_pem())


def test_another_key_fails(signer: LogSigner, head: TreeHead) -> None:
    other = LogSigner.generate()
    sth = signer.sign(head)
    assert not verify_tree_head(sth, other.public_key_pem())
    # claiming the other key's id does not help either
    assert not verify_tree_head(
        dataclasses.replace(sth, key_id=other.key_id), other.public_key_pem()
    )


def test_key_id_is_the_sha256_of_the_raw_public_key(signer: LogSigner) -> None:
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(signer.public_key_pem())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert len(raw) == 32
    assert signer.key_id == hashlib.sha256(raw).hexdigest() == key_id_of(signer.public_key_pem())


def test_the_key_file_is_private_and_reused(tmp_path: Path, head: TreeHead) -> None:
    path = tmp_path / "new" / "folder" / "custody.pem"
    first = LogSigner.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert [p.name for p in path.parent.iterdir()] == ["custody.pem"]  # no temporary left
    second = LogSigner.load_or_create(path)
    assert second.key_id == first.key_id
    assert verify_tree_head(first.sign(head), second.public_key_pem())


def test_a_corrupt_key_file_is_named_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "custody.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SigningKeyError, match=str(path)) as caught:
        LogSigner.load_or_create(path)
    assert "Restore it from backup" in str(caught.value)
    assert b"not base64" in path.read_bytes()


def test_a_key_of_another_type_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "ec.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SigningKeyError, match="Ed25519"):
        LogSigner.load_or_create(path)
    with pytest.raises(SigningKeyError, match="not a readable PEM public key"):
        key_id_of(b"nonsense")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tree_size", -1, "tree_size"),
        ("tree_size", "11", "tree_size"),
        ("tree_size", True, "tree_size"),
        ("timestamp_ms", 1.5, "timestamp_ms"),
        ("root_hash", "abc", "root_hash"),
        ("root_hash", "A" * 64, "root_hash"),
        ("key_id", "0" * 63, "key_id"),
        ("signature", "!!!", "signature"),
        ("signature", "AAAA", "signature"),
        ("signature", None, "signature"),
    ],
)
def test_from_json_names_the_bad_field(
    signer: LogSigner, head: TreeHead, field: str, value: object, message: str
) -> None:
    data = signer.sign(head).to_json()
    data[field] = value
    with pytest.raises(ValueError, match=message):
        SignedTreeHead.from_json(data)
    del data[field]
    with pytest.raises(ValueError, match=f"{field}: missing"):
        SignedTreeHead.from_json(data)
    with pytest.raises(ValueError, match="JSON object"):
        SignedTreeHead.from_json([1, 2])
