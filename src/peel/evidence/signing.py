"""Ed25519 signed tree heads for the custody log (RFC 9162 section 4.10, Peel's own encoding).

A tree head says "the custody log had ``tree_size`` entries with Merkle root ``root_hash`` at
``timestamp_ms``". The log signs it with Ed25519 over ``tree_head_message``, a short text that
anyone can rebuild by hand::

    peel-custody-tree-head/1
    <key id: 64 lowercase hex digits, SHA-256 of the raw 32-byte public key>
    <tree size, decimal>
    <timestamp, decimal milliseconds since 1970-01-01 UTC>
    <root hash: 64 lowercase hex digits>

each line ending in a single ``\\n``. Every field has a fixed alphabet without newlines, so no
two different tree heads give the same message. The key id in the message binds the signature
to one key, and publishing the key id lets a court compare it with the one the force publishes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

TREE_HEAD_FORMAT = "peel-custody-tree-head/1"
SIGNATURE_SIZE = 64
_HEX64 = re.compile(r"[0-9a-f]{64}")


class SigningKeyError(ValueError):
    """The custody log's signing key or a public key cannot be read."""


def _check_hex64(value: str, what: str) -> None:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ValueError(f"{what}: expected 64 lowercase hexadecimal characters, got {value!r}")


@dataclass(frozen=True)
class TreeHead:
    """The size and Merkle root (RFC 9162 section 2.1.1) of the custody log at a moment."""

    tree_size: int
    root_hash: bytes
    timestamp_ms: int

    def __post_init__(self) -> None:
        for name in ("tree_size", "timestamp_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected a whole number >= 0, got {value!r}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != 32:
            raise ValueError(f"root_hash: expected 32 bytes, got {self.root_hash!r}")


def tree_head_message(th: TreeHead, key_id: str) -> bytes:
    """The exact bytes signed for ``th`` by the key ``key_id`` (format in the module docstring)."""
    _check_hex64(key_id, "key_id")
    lines = (TREE_HEAD_FORMAT, key_id, str(th.tree_size), str(th.timestamp_ms), th.root_hash.hex())
    return "".join(line + "\n" for line in lines).encode("ascii")


@dataclass(frozen=True)
class SignedTreeHead(TreeHead):
    """A tree head with the id of the key that signed it and the Ed25519 signature."""

    key_id: str
    signature: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_hex64(self.key_id, "key_id")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_SIZE:
            raise ValueError(f"signature: expected {SIGNATURE_SIZE} bytes, got {self.signature!r}")

    @property
    def tree_head(self) -> TreeHead:
        """The unsigned tree head."""
        return TreeHead(self.tree_size, self.root_hash, self.timestamp_ms)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: root hash in hex, signature in standard base64."""
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp_ms": self.timestamp_ms,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: Any) -> SignedTreeHead:
        """Parse ``to_json`` output; ValueError names the missing or malformed field."""
        if not isinstance(data, dict):
            raise ValueError(f"a signed tree head must be a JSON object, got {type(data).__name__}")
        for field in ("tree_size", "root_hash", "timestamp_ms", "key_id", "signature"):
            if field not in data:
                raise ValueError(f"{field}: missing from the signed tree head")
        root_hex, signature_b64 = data["root_hash"], data["signature"]
        _check_hex64(root_hex, "root_hash")
        if not isinstance(signature_b64, str):
            raise ValueError(f"signature: expected base64 text, got {signature_b64!r}")
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"signature: not valid base64 ({exc})") from None
        return cls(
            tree_size=data["tree_size"],
            root_hash=bytes.fromhex(root_hex),
            timestamp_ms=data["timestamp_ms"],
            key_id=data["key_id"],
            signature=signature,
        )


def _raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(public_key_pem: bytes) -> Ed25519PublicKey:
    """Read an Ed25519 public key from PEM (SubjectPublicKeyInfo); SigningKeyError if it is not."""
    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(f"the public key is not a readable PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"the public key is {type(key).__name__}, expected an Ed25519 key")
    return key


def key_id_of(public_key_pem: bytes) -> str:
    """The key id of a PEM public key: hex SHA-256 of its raw 32 bytes."""
    return hashlib.sha256(_raw_public_bytes(load_public_key(public_key_pem))).hexdigest()


def verify_tree_head(sth: SignedTreeHead, public_key_pem: bytes) -> bool:
    """Whether ``sth`` was signed by this key (and names it); SigningKeyError if unreadable."""
    key = load_public_key(public_key_pem)
    if sth.key_id != hashlib.sha256(_raw_public_bytes(key)).hexdigest():
        return False
    try:
        key.verify(sth.signature, tree_head_message(sth, sth.key_id))
    except InvalidSignature:
        return False
    return True


class LogSigner:
    """The custody log's Ed25519 signing key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self._key_id = hashlib.sha256(_raw_public_bytes(private_key.public_key())).hexdigest()

    @classmethod
    def generate(cls) -> LogSigner:
        """A signer with a new random key, kept only in memory."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> LogSigner:
        """Load the PEM PKCS#8 key at ``path``, or create it (mode 0600) if there is none.

        Creation is atomic: the key is written to a private temporary file beside ``path`` and
        hard-linked into place, so a crash never leaves a half-written key and two processes
        starting together end up with the same key.
        """
        path = Path(path)
        if not path.exists():
            cls._create_key_file(path)
        return cls._load(path)

    @staticmethod
    def _create_key_file(path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # someone else created it first: use theirs
                os.link(temporary, path)
        finally:
            os.unlink(temporary)

    @classmethod
    def _load(cls, path: Path) -> LogSigner:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(
                f"cannot read the custody log signing key {path}: {exc}"
            ) from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise SigningKeyError(
                f"the custody log signing key {path} is not a readable unencrypted PEM PKCS#8 "
                f"private key ({exc}). Restore it from backup rather than replacing it: tree heads "
                "already published can only be checked against the original key."
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(
                f"the custody log signing key {path} is a {type(key).__name__}, "
                "but the custody log signs with Ed25519"
            )
        return cls(key)

    @property
    def key_id(self) -> str:
        """Hex SHA-256 of the raw 32-byte public key."""
        return self._key_id

    def public_key_pem(self) -> bytes:
        """The public key as PEM SubjectPublicKeyInfo, for publishing."""
        return self._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, th: TreeHead) -> SignedTreeHead:
        """Sign a tree head (RFC 9162 section 4.10's role, with the message format above)."""
        signature = self._private_key.sign(tree_head_message(th, self._key_id))
        return SignedTreeHead(
            tree_size=th.tree_size,
            root_hash=th.root_hash,
            timestamp_ms=th.timestamp_ms,
            key_id=self._key_id,
            signature=signature,
        )
