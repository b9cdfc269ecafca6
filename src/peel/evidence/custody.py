"""The chain-of-custody log: an RFC 9162 Merkle tree kept in the database.

Every custody event is a leaf whose bytes (``CustodyEvent.entry``) are canonical JSON. The
event, the subtree hashes it completes and the new right edge of the tree are written in the
caller's transaction, so the log and the action it records commit or vanish together.

Appends are serialised by the single ``custody_head`` row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite writers already take the database lock up front). The head keeps the
roots of the complete subtrees on the right edge (the "frontier"), so an append needs no
reads beyond that row: leaf ``n`` completes one stored node per trailing one bit of ``n``.
Proofs read the O(log n) stored nodes they need in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, insert, or_, select, text
from sqlalchemy.orm import Session

from peel.core.config import Settings
from peel.core.db import utcnow
from peel.core.principal import Principal
from peel.evidence import merkle
from peel.evidence.bundle import canonical_json
from peel.evidence.models import CustodyEvent, CustodyHead, CustodyNode, CustodyTreeHead
from peel.evidence.signing import LogSigner, SignedTreeHead, TreeHead

HEAD_ID = 1


LOG_NAME = "peel-custody/1"

#: Every kind of custody event, with how it reads in a timeline.
EVENT_KINDS = {
    "received": "Received",
    "hashed": "Hash checked",
    "viewed": "Viewed",
    "downloaded": "Downloaded",
    "shared": "Shared",
    "unshared": "Share withdrawn",
    "redacted": "Redacted copy made",
    "exported": "Exported in a court bundle",
    "retention_changed": "Retention changed",
    "held": "Hold placed",
    "released": "Hold released",
    "deleted": "Deleted",
    "case_opened": "Case opened",
    "case_closed": "Case closed",
    "case_reopened": "Case reopened",
    "filed": "Added to a case",
    "preview": "Preview made",
}


#: Fields every entry carries; an event's details never overwrite them.
RESERVED = frozenset({"log", "index", "at", "kind", "case_id", "item_id", "org", "actor"})


@dataclass(frozen=True)
class NewEvent:
    kind: str
    actor: str
    case_id: str | None = None
    item_id: str | None = None
    owner_org_id: str | None = None
    details: Mapping[str, Any] | None = None


def actor_name(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.audit_name


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _split(frontier: bytes) -> list[bytes]:
    return [frontier[i : i + 32] for i in range(0, len(frontier), 32)]


def root_of_frontier(frontier: Sequence[bytes]) -> bytes:
    """MTH of the whole tree from the right-edge subtree roots (largest first)."""
    if not frontier:
        return merkle.EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = merkle.node_hash(left, root)
    return root


_HEAD: Table = CustodyHead.__table__  # type: ignore[assignment]
_LOCK_HEAD = select(_HEAD.c.size, _HEAD.c.frontier).where(_HEAD.c.id == HEAD_ID).with_for_update()
_READ_HEAD = select(_HEAD.c.size, _HEAD.c.frontier).where(_HEAD.c.id == HEAD_ID)
_MOVE_HEAD = _HEAD.update().where(_HEAD.c.id == HEAD_ID)
_ADD_EVENTS = insert(CustodyEvent.__table__)  # type: ignore[arg-type]
_ADD_NODES = insert(CustodyNode.__table__)  # type: ignore[arg-type]
#: Both kinds of stored hash in one round trip: leaves (level 0) and inner nodes.
_NODES = text(
    "SELECT seq, leaf_hash, 0 FROM custody_event WHERE seq IN :leaves "
    "UNION ALL SELECT key, hash, 1 FROM custody_node WHERE key IN :inner"
).bindparams(bindparam("leaves", expanding=True), bindparam("inner", expanding=True))


def _lock_head(session: Session) -> tuple[int, list[bytes]]:
    row = session.connection().execute(_LOCK_HEAD).one_or_none()
    if row is None:
        raise RuntimeError("The custody log has no head row: run `peel db upgrade`")
    return int(row.size), _split(row.frontier or b"")


def append_events(session: Session, events: Sequence[NewEvent]) -> list[int]:
    """Append events in order, in the caller's transaction; returns their leaf indexes."""
    if not events:
        return []
    size, frontier = _lock_head(session)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    indexes = []
    for event in events:
        if event.kind not in EVENT_KINDS:
            raise ValueError(f"Unknown custody event kind {event.kind!r}")
        clash = RESERVED.intersection(event.details or {})
        if clash:
            raise ValueError(f"Custody details may not set {sorted(clash)[0]!r}")
        index = size
        body = {
            "log": LOG_NAME,
            "index": index,
            "at": _iso(now),
            "kind": event.kind,
            "case_id": event.case_id,
            "item_id": event.item_id,
            "org": event.owner_org_id,
            "actor": event.actor,
            **(dict(event.details) if event.details else {}),
        }
        entry = canonical_json(body)
        leaf = merkle.leaf_hash(entry)
        rows.append(
            {
                "seq": index,
                "at": now,
                "kind": event.kind,
                "case_id": event.case_id,
                "item_id": event.item_id,
                "owner_org_id": event.owner_org_id,
                "actor": event.actor[:300],
                "entry": entry.decode("utf-8"),
                "leaf_hash": leaf,
            }
        )
        # Merge equal-sized subtrees on the right edge: one stored node per trailing 1 bit.
        current, level = leaf, 0
        while (index >> level) & 1:
            current = merkle.node_hash(frontier.pop(), current)
            level += 1
            nodes.append({"key": merkle.node_key(level, index >> level), "hash": current})
        frontier.append(current)
        size += 1
        indexes.append(index)
    connection = session.connection()
    connection.execute(_ADD_EVENTS, rows)
    if nodes:
        connection.execute(_ADD_NODES, nodes)
    connection.execute(_MOVE_HEAD, {"size": size, "frontier": b"".join(frontier)})
    return indexes


def append_event(
    session: Session,
    kind: str,
    actor: Principal | str,
    *,
    case_id: str | None = None,
    item_id: str | None = None,
    owner_org_id: str | None = None,
    **details: Any,
) -> int:
    """Append one event in the caller's transaction; returns its leaf index."""
    event = NewEvent(kind, actor_name(actor), case_id, item_id, owner_org_id, details)
    return append_events(session, [event])[0]


def head(session: Session) -> tuple[int, bytes]:
    """The log's size and root hash now."""
    row = session.connection().execute(_READ_HEAD).one()
    return int(row.size), root_of_frontier(_split(row.frontier or b""))


def fetch_nodes(session: Session, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of these perfect subtrees (level 0 is a leaf), in one query."""
    wanted = set(keys)
    leaves = [index for level, index in wanted if level == 0] or [-1]
    inner = [merkle.node_key(level, index) for level, index in wanted if level > 0] or [-1]
    found: dict[tuple[int, int], bytes] = {}
    for key, value, is_inner in session.connection().execute(
        _NODES, {"leaves": leaves, "inner": inner}
    ):
        found[merkle.split_node_key(int(key)) if is_inner else (0, int(key))] = bytes(value)
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"The custody log is missing {len(missing)} stored subtree hashes")
    return found


def _check_size(session: Session, size: int | None) -> int:
    current, _root = head(session)
    if size is None:
        return current
    if not 0 <= size <= current:
        raise ValueError(f"tree_size must be between 0 and {current}, not {size}")
    return size


def inclusion(session: Session, index: int, size: int) -> tuple[bytes, list[bytes]]:
    """The event's leaf hash and its inclusion proof in the tree of ``size`` (one query).

    The last leaf of that tree is fetched too, so a size beyond the log is refused.
    """
    if not 0 <= index < size:
        raise ValueError(f"index must be below the tree size {size}, not {index}")
    keys = merkle.inclusion_keys(index, size) | {(0, index), (0, size - 1)}
    try:
        nodes = fetch_nodes(session, keys)
    except LookupError:
        current = head(session)[0]
        raise ValueError(f"tree_size must be between 1 and {current}, not {size}") from None
    return nodes[(0, index)], merkle.inclusion_proof(index, size, nodes)


def inclusion_proof(session: Session, index: int, size: int | None = None) -> list[bytes]:
    tree_size = head(session)[0] if size is None else size
    return inclusion(session, index, tree_size)[1]


def consistency_proof(session: Session, old_size: int, new_size: int | None = None) -> list[bytes]:
    tree_size = _check_size(session, new_size)
    if not 0 <= old_size <= tree_size:
        raise ValueError(f"old size must be between 0 and {tree_size}, not {old_size}")
    nodes = fetch_nodes(session, merkle.consistency_keys(old_size, tree_size))
    return merkle.consistency_proof(old_size, tree_size, nodes)


def root_at(session: Session, size: int) -> bytes:
    """The root hash the log had when it held ``size`` events."""
    tree_size = _check_size(session, size)
    nodes = fetch_nodes(session, merkle.root_keys(tree_size))
    return merkle.root_from_nodes(tree_size, nodes)


# --- signed tree heads ------------------------------------------------------------------


def signing_key_path(settings: Settings) -> Path:
    return settings.evidence_signing_key or settings.data_dir / "keys" / "custody-ed25519.pem"


def signer_for(settings: Settings) -> LogSigner:
    return LogSigner.load_or_create(signing_key_path(settings))


def to_signed(row: CustodyTreeHead) -> SignedTreeHead:
    return SignedTreeHead(
        tree_size=int(row.tree_size),
        root_hash=bytes(row.root_hash),
        timestamp_ms=int(row.timestamp_ms),
        key_id=row.key_id,
        signature=bytes(row.signature),
    )


def publish_tree_head(session: Session, signer: LogSigner) -> SignedTreeHead:
    """Sign the log's current head and keep it; the same size is signed only once."""
    size, root = head(session)
    existing = session.get(CustodyTreeHead, size)
    if existing is not None and existing.key_id == signer.key_id:
        return to_signed(existing)
    signed = signer.sign(
        TreeHead(tree_size=size, root_hash=root, timestamp_ms=int(utcnow().timestamp() * 1000))
    )
    if existing is None:
        session.add(
            CustodyTreeHead(
                tree_size=size,
                root_hash=root,
                timestamp_ms=signed.timestamp_ms,
                key_id=signed.key_id,
                signature=signed.signature,
            )
        )
        session.flush()
    return signed


def tree_heads(session: Session, limit: int = 50) -> list[SignedTreeHead]:
    rows = session.scalars(
        select(CustodyTreeHead).order_by(CustodyTreeHead.tree_size.desc()).limit(limit)
    ).all()
    return [to_signed(row) for row in rows]


def tree_head_at(session: Session, size: int) -> SignedTreeHead | None:
    row = session.get(CustodyTreeHead, size)
    return to_signed(row) if row is not None else None


def events_for(
    session: Session, *, item_ids: Sequence[str] = (), case_id: str | None = None
) -> list[CustodyEvent]:
    """Custody events of these items and/or this case, oldest first."""
    clauses: list[ColumnElement[bool]] = []
    if item_ids:
        clauses.append(CustodyEvent.item_id.in_(list(item_ids)))
    if case_id:
        clauses.append(CustodyEvent.case_id == case_id)
    if not clauses:
        return []
    return list(
        session.scalars(select(CustodyEvent).where(or_(*clauses)).order_by(CustodyEvent.seq))
    )
