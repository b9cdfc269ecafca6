"""RFC 9162 section 2.1 Merkle trees: tree hashes, inclusion and consistency proofs.

The hashing is RFC 9162 section 2.1.1 with SHA-256: a leaf is ``SHA-256(0x00 || entry)``, an
interior node ``SHA-256(0x01 || left || right)``, the empty tree ``SHA-256()``, and a tree of
``n > 1`` leaves splits at ``k``, the largest power of two smaller than ``n``.

Storage model. A *perfect node* ``(level, index)`` is the hash of the complete subtree over the
leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf hash itself. Perfect
nodes never change once complete, so a database can store each one once, under the single
integer ``node_key(level, index)``, as leaves are appended (``nodes_completed_by`` says which
become complete; it is one per leaf on average). Every hash a proof needs is a perfect node or a
right-folded run of them (``perfect_cover``), so a proof needs O(log n) stored nodes:
``inclusion_keys``/``consistency_keys``/``root_keys`` list them for one query, and
``inclusion_proof``/``consistency_proof``/``root_from_nodes`` build the result from the rows
fetched. Nothing here iterates over leaves except ``root_of``, which is given them.

Verification (``verify_inclusion``, ``verify_consistency``) follows the iterative algorithms of
RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step, so a third party can check it against the
RFC text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import pairwise

NodeKey = tuple[int, int]
"""A perfect node's ``(level, index)``."""

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}), the root of the empty tree (RFC 9162 section 2.1.1)."""

INDEX_LIMIT = 2**40
"""``node_key`` packs the index into 40 bits: about 1.1 trillion leaves."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d), the hash of one log entry (RFC 9162 section 2.1.1)."""
    return _sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), an interior node (RFC 9162 section 2.1.1)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def node_key(level: int, index: int) -> int:
    """Pack a perfect node's ``(level, index)`` into one integer: ``level * 2**40 + index``."""
    if level < 0 or not 0 <= index < INDEX_LIMIT:
        raise ValueError(f"perfect node ({level}, {index}) is out of range")
    return level * INDEX_LIMIT + index


def split_node_key(key: int) -> NodeKey:
    """The ``(level, index)`` that ``node_key`` packed into ``key``."""
    if key < 0:
        raise ValueError(f"node key {key} is negative")
    level, index = divmod(key, INDEX_LIMIT)
    return level, index


def _split_point(n: int) -> int:
    """k, the largest power of two smaller than ``n`` (n >= 2), where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH over already-hashed leaves (RFC 9162 section 2.1.1), in O(log n) memory.

    Keeps the roots of the complete subtrees seen so far (sizes strictly decreasing, the binary
    digits of the count); the RFC's split makes the final root their right fold.
    """
    stack: list[bytes] = []
    sha = _sha256
    prefix = _NODE_PREFIX
    for count, value in enumerate(leaf_hashes):
        h = value
        n = count  # leaves before this one: its trailing one bits are the subtrees it completes
        while n & 1:
            h = sha(prefix + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
    if not stack:
        return EMPTY_ROOT
    root = stack[-1]
    for left in reversed(stack[:-1]):
        root = sha(prefix + left + root).digest()
    return root


def completion_keys(leaf_index: int) -> list[NodeKey]:
    """The stored nodes that ``nodes_completed_by`` reads when a leaf is appended at this index.

    They are the left siblings on the way up, so a database can fetch them in one query.
    """
    if leaf_index < 0:
        raise ValueError(f"leaf index {leaf_index} is negative")
    keys = []
    level, i = 0, leaf_index
    while i & 1:
        keys.append((level, i - 1))
        level, i = level + 1, i >> 1
    return keys


def nodes_completed_by(
    leaf_index: int, leaf: bytes, get: Callable[[int, int], bytes]
) -> list[tuple[int, int, bytes]]:
    """The perfect nodes at levels >= 1 that appending ``leaf`` at ``leaf_index`` completes.

    Returned bottom-up as ``(level, index, hash)`` for the caller to store; ``get(level, index)``
    fetches an already stored node (see ``completion_keys``). The leaf hash itself (level 0) is
    the caller's to store. On average one node per leaf.
    """
    completed: list[tuple[int, int, bytes]] = []
    h = leaf
    for level, index in completion_keys(leaf_index):
        h = node_hash(get(level, index), h)
        completed.append((level + 1, index >> 1, h))
    return completed


def perfect_cover(start: int, end: int) -> list[NodeKey]:
    """The perfect nodes whose leaves, concatenated left to right, are exactly ``[start, end)``.

    Each is the largest perfect node that starts where the previous one ended and fits. For the
    subtrees RFC 9162's recursion produces (``start`` a multiple of a power of two at least
    ``end - start``) the levels strictly decrease and MTH of the range is their right fold.
    """
    if not 0 <= start <= end:
        raise ValueError(f"[{start}, {end}) is not a range of leaves")
    cover: list[NodeKey] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        cover.append((level, start >> level))
        start += 1 << level
    return cover


def _single_node(start: int, end: int) -> NodeKey | None:
    """The perfect node that is exactly ``[start, end)``, if there is one."""
    size = end - start
    if size > 0 and size & (size - 1) == 0 and start & (size - 1) == 0:
        level = size.bit_length() - 1
        return level, start >> level
    return None


def _node(nodes: Mapping[NodeKey, bytes], key: NodeKey) -> bytes:
    try:
        return nodes[key]
    except KeyError:
        raise KeyError(
            f"perfect node {key} (level, index) is missing from the nodes given"
        ) from None


def subtree_hash(start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH(D[start:end]) from stored perfect nodes, for the subtrees RFC 9162 section 2.1 uses.

    Raises ValueError for a range that is not such a subtree (its MTH is not a fold of perfect
    nodes), and KeyError naming the node if one the range needs is not in ``nodes``.
    """
    key = _single_node(start, end)
    if key is not None:  # most ranges a proof needs are one stored node
        return _node(nodes, key)
    cover = perfect_cover(start, end)
    if not cover:
        return EMPTY_ROOT
    for (upper, _), (lower, _) in pairwise(cover):
        if lower >= upper:
            raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 9162 Merkle tree")
    h = _node(nodes, cover[-1])
    for key in reversed(cover[:-1]):
        h = node_hash(_node(nodes, key), h)
    return h


def _keys_for(ranges: Iterable[tuple[int, int]]) -> set[NodeKey]:
    keys: set[NodeKey] = set()
    for start, end in ranges:
        key = _single_node(start, end)
        if key is not None:
            keys.add(key)
        else:
            keys.update(perfect_cover(start, end))
    return keys


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1 as the leaf ranges of its hashes, leaf first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split_point(end - start)
        if index < mid:  # PATH(m, D[0:k]) : MTH(D[k:n])
            ranges.append((mid, end))
            end = mid
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            ranges.append((start, mid))
            start = mid
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1 as the leaf ranges of its hashes, in order.

    Empty for ``m == n`` and, as section 2.1.4.2 allows, for ``m == 0``.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    ranges: list[tuple[int, int]] = []
    if old_size in (0, new_size):
        return ranges
    start, end = 0, new_size
    whole = True  # SUBPROOF's b: the old tree is still this whole subtree's left-aligned prefix
    while old_size - start != end - start:
        mid = start + _split_point(end - start)
        if old_size <= mid:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((mid, end))
            end = mid
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((start, mid))
            start = mid
            whole = False
    if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def inclusion_keys(index: int, size: int) -> set[NodeKey]:
    """Every perfect node ``inclusion_proof(index, size, ...)`` reads (at most ~2 log2 n)."""
    return _keys_for(_inclusion_ranges(index, size))


def consistency_keys(old_size: int, new_size: int) -> set[NodeKey]:
    """Every perfect node ``consistency_proof(old_size, new_size, ...)`` reads."""
    return _keys_for(_consistency_ranges(old_size, new_size))


def root_keys(size: int) -> set[NodeKey]:
    """Every perfect node ``root_from_nodes(size, ...)`` reads: one per set bit of ``size``."""
    return set(perfect_cover(0, size))


def inclusion_proof(index: int, size: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """The audit path PATH(index, D[size]) of RFC 9162 section 2.1.3.1, nearest the leaf first.

    ``nodes`` must hold at least ``inclusion_keys(index, size)``.
    """
    return [subtree_hash(start, end, nodes) for start, end in _inclusion_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 section 2.1.4.1.

    ``nodes`` must hold at least ``consistency_keys(old_size, new_size)``.
    """
    return [
        subtree_hash(start, end, nodes) for start, end in _consistency_ranges(old_size, new_size)
    ]


def root_from_nodes(size: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH(D[size]) (RFC 9162 section 2.1.1) from the perfect nodes in ``root_keys(size)``."""
    return subtree_hash(0, size, nodes)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree ``root`` of ``size``.

    RFC 9162 section 2.1.3.2, step by step.
    """
    # 1. leaf_index must be less than tree_size.
    if not 0 <= index < size:
        return False
    # 2-3. fn = leaf_index, sn = tree_size - 1, r = hash.
    fn, sn = index, size - 1
    r = leaf
    # 4. For each value p in the inclusion path:
    for p in proof:
        if sn == 0:  # a.
            return False
        if fn & 1 or fn == sn:  # b.
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # c.
        sn >>= 1
    # 5. sn must be 0 and r the root.
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree ``new_root`` of ``new_size`` extends ``old_root``.

    RFC 9162 section 2.1.4.2, step by step, for ``0 < old_size < new_size``. Equal sizes need an
    empty proof and equal roots; the empty tree (``old_size`` 0, root ``EMPTY_ROOT``) is
    consistent with every tree through an empty proof.
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    # 1. An empty path fails.
    if not proof:
        return False
    # 2. If first is an exact power of 2, prepend first_hash.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. While LSB(fn) is set, right-shift fn and sn.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of the path.
    fr = sr = path[0]
    # 6. For each subsequent value c:
    for c in path[1:]:
        if sn == 0:  # a.
            return False
        if fn & 1 or fn == sn:  # b.
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # c.
        sn >>= 1
    # 7. fr must be first_hash, sr second_hash, and sn 0.
    return fr == old_root and sr == new_root and sn == 0


class MemoryLog:
    """An append-only Merkle log held in memory: for tests and for scratch work."""

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """How many entries have been appended."""
        return self._size

    @property
    def nodes(self) -> Mapping[NodeKey, bytes]:
        """Every perfect node so far, leaf hashes at level 0."""
        return self._nodes

    def append(self, entry: bytes) -> int:
        """Append an entry; return its leaf index."""
        return self.append_leaf_hash(leaf_hash(entry))

    def append_leaf_hash(self, leaf: bytes) -> int:
        """Append an already-hashed leaf; return its leaf index."""
        index = self._size
        self._nodes[(0, index)] = leaf
        for level, i, h in nodes_completed_by(index, leaf, lambda lv, ix: self._nodes[(lv, ix)]):
            self._nodes[(level, i)] = h
        self._size = index + 1
        return index

    def _tree_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not 0 <= size <= self._size:
            raise ValueError(
                f"the log holds {self._size} entries, so it has no tree of size {size}"
            )
        return size

    def leaf_hash_at(self, index: int) -> bytes:
        """The leaf hash of the entry at ``index``."""
        if not 0 <= index < self._size:
            raise IndexError(f"the log holds {self._size} entries, so none has index {index}")
        return self._nodes[(0, index)]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` entries (all of them by default)."""
        return root_from_nodes(self._tree_size(size), self._nodes)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 section 2.1.3.1)."""
        return inclusion_proof(index, self._tree_size(size), self._nodes)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) (RFC 9162 section 2.1.4.1)."""
        return consistency_proof(old_size, self._tree_size(new_size), self._nodes)
