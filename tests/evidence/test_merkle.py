"""RFC 9162 Merkle trees: published vectors, a from-the-RFC reference, tampering properties."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.evidence.merkle import (
    EMPTY_ROOT,
    INDEX_LIMIT,
    MemoryLog,
    NodeKey,
    completion_keys,
    consistency_keys,
    consistency_proof,
    inclusion_keys,
    inclusion_proof,
    leaf_hash,
    node_hash,
    node_key,
    nodes_completed_by,
    perfect_cover,
    root_from_nodes,
    root_keys,
    root_of,
    split_node_key,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

# The RFC 6962 test leaves and roots that the Certificate Transparency implementations publish.
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, audit path)
CT_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, consistency proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


# --- A reference written straight from the RFC 9162 section 2.1 definitions --------------------


def ref_k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]), section 2.1.1."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = ref_k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), section 2.1.3.1."""
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), section 2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]), section 2.1.4.1."""
    return ref_subproof(m, d, True)


# --- helpers ---------------------------------------------------------------------------------


def log_of(entries: Sequence[bytes]) -> MemoryLog:
    log = MemoryLog()
    for entry in entries:
        log.append(entry)
    return log


def only(nodes: Mapping[NodeKey, bytes], keys: set[NodeKey]) -> dict[NodeKey, bytes]:
    """The nodes a database would return for exactly these keys."""
    return {key: nodes[key] for key in keys}


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 0x10]) + h[1:]


def wrong_inclusions(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> Iterator[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    yield "index - 1", (leaf, index - 1, size, proof, root)
    yield "index + 1", (leaf, index + 1, size, proof, root)
    yield "index ^ 2", (leaf, index ^ 2, size, proof, root)
    yield "size * 2", (leaf, index, size * 2, proof, root)
    yield "size // 2", (leaf, index, size // 2, proof, root)
    yield "other leaf", (leaf_hash(b"not this one"), index, size, proof, root)
    yield "empty root", (leaf, index, size, proof, EMPTY_ROOT)
    yield "trailing root", (leaf, index, size, [*proof, root], root)
    yield "preceding root", (leaf, index, size, [root, *proof], root)
    if proof:
        yield "removed component", (leaf, index, size, proof[:-1], root)
        for i in range(len(proof)):
            changed = [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
            yield f"changed proof[{i}]", (leaf, index, size, changed, root)


def wrong_consistencies(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> Iterator[tuple[str, tuple[int, int, bytes, bytes, list[bytes]]]]:
    yield "old - 1", (old - 1, new, old_root, new_root, proof)
    yield "old + 1", (old + 1, new, old_root, new_root, proof)
    yield "old ^ 2", (old ^ 2, new, old_root, new_root, proof)
    yield "new * 2", (old, new * 2, old_root, new_root, proof)
    yield "new // 2", (old, new // 2, old_root, new_root, proof)
    yield "wrong old root", (old, new, flip(old_root), new_root, proof)
    yield "wrong new root", (old, new, old_root, flip(new_root), proof)
    yield "swapped roots", (old, new, new_root, old_root, proof)
    yield "empty proof", (old, new, old_root, new_root, [])
    yield "trailing old root", (old, new, old_root, new_root, [*proof, old_root])
    yield "trailing new root", (old, new, old_root, new_root, [*proof, new_root])
    yield "preceding new root", (old, new, old_root, new_root, [new_root, *proof])
    yield "repeated proof[0]", (old, new, old_root, new_root, [proof[0], *proof])
    yield "truncated proof", (old, new, old_root, new_root, proof[:-1])
    for i in range(len(proof)):
        changed = [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
        yield f"changed proof[{i}]", (old, new, old_root, new_root, changed)


# --- published vectors -------------------------------------------------------------------------


def test_roots_match_the_published_rfc_6962_vectors() -> None:
    log = log_of(CT_LEAVES)
    hashes = [leaf_hash(entry) for entry in CT_LEAVES]
    for size, expected in enumerate(CT_ROOTS):
        assert log.root(size).hex() == expected, size
        assert root_of(hashes[:size]).hex() == expected, size
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert leaf_hash(b"").hex() == CT_ROOTS[1]
    assert node_hash(hashes[0], hashes[1]).hex() == CT_ROOTS[2]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(
    index: int, size: int, path: list[str]
) -> None:
    log = log_of(CT_LEAVES)
    proof = log.inclusion_proof(index, size)
    assert [h.hex() for h in proof] == path
    root = bytes.fromhex(CT_ROOTS[size])
    assert verify_inclusion(leaf_hash(CT_LEAVES[index]), index, size, proof, root)
    for name, args in wrong_inclusions(leaf_hash(CT_LEAVES[index]), index, size, proof, root):
        assert not verify_inclusion(*args), name


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(
    old: int, new: int, path: list[str]
) -> None:
    proof = log_of(CT_LEAVES).consistency_proof(old, new)
    assert [h.hex() for h in proof] == path
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        for name, args in wrong_consistencies(old, new, old_root, new_root, proof):
            assert not verify_consistency(*args), name


# --- every shape up to 70 leaves against the reference ------------------------------------------


ENTRIES_70 = [f"custody event {i}".encode() for i in range(70)]
LOG_70 = log_of(ENTRIES_70)


@pytest.mark.parametrize("size", range(1, 71))
def test_every_inclusion_proof_matches_the_rfc_reference(size: int) -> None:
    data = ENTRIES_70[:size]
    root = ref_mth(data)
    assert LOG_70.root(size) == root
    assert root_of(leaf_hash(e) for e in data) == root
    assert root_from_nodes(size, only(LOG_70.nodes, root_keys(size))) == root
    for index in range(size):
        keys = inclusion_keys(index, size)
        assert len(keys) <= 2 * size.bit_length()
        proof = inclusion_proof(index, size, only(LOG_70.nodes, keys))
        assert proof == ref_path(index, data)
        leaf = leaf_hash(data[index])
        assert verify_inclusion(leaf, index, size, proof, root)
        for name, args in wrong_inclusions(leaf, index, size, proof, root):
            assert not verify_inclusion(*args), (index, name)


@pytest.mark.parametrize("new", range(1, 71))
def test_every_consistency_proof_matches_the_rfc_reference(new: int) -> None:
    data = ENTRIES_70[:new]
    new_root = ref_mth(data)
    for old in range(0, new + 1):
        keys = consistency_keys(old, new)
        assert len(keys) <= 2 * new.bit_length()
        proof = consistency_proof(old, new, only(LOG_70.nodes, keys))
        old_root = ref_mth(data[:old])
        if 0 < old < new:
            assert proof == ref_proof(old, data)
            for name, args in wrong_consistencies(old, new, old_root, new_root, proof):
                assert not verify_consistency(*args), (old, name)
        else:
            assert proof == []
        assert verify_consistency(old, new, old_root, new_root, proof)


def test_appending_stores_exactly_the_perfect_nodes() -> None:
    for size in range(1, 70):
        expected = {
            (level, index): ref_mth(ENTRIES_70[index << level : (index + 1) << level])
            for level in range(size.bit_length())
            for index in range(size >> level)
        }
        log = log_of(ENTRIES_70[:size])
        assert dict(log.nodes) == expected
    stored: dict[NodeKey, bytes] = {}
    completed = 0
    for index, entry in enumerate(ENTRIES_70[:64]):
        stored[(0, index)] = leaf_hash(entry)
        keys = completion_keys(index)
        new = nodes_completed_by(index, stored[(0, index)], lambda lv, ix: stored[(lv, ix)])
        assert [(lv - 1, ix * 2) for lv, ix, _ in new] == keys  # each new node's left child
        stored.update({(lv, ix): h for lv, ix, h in new})
        completed += len(new)
    assert completed == 63  # one interior node per leaf, less one


# --- storage helpers ----------------------------------------------------------------------------


def test_node_key_packs_level_and_index_into_one_integer() -> None:
    assert node_key(0, 0) == 0
    assert node_key(0, 9_999_999) == 9_999_999
    assert node_key(3, 5) == 3 * 2**40 + 5
    for level, index in [(0, 0), (1, 7), (23, 1), (40, 0), (5, INDEX_LIMIT - 1)]:
        assert split_node_key(node_key(level, index)) == (level, index)
    with pytest.raises(ValueError, match="out of range"):
        node_key(0, INDEX_LIMIT)
    with pytest.raises(ValueError, match="out of range"):
        node_key(-1, 0)
    with pytest.raises(ValueError, match="negative"):
        split_node_key(-1)


def test_perfect_cover_is_the_binary_decomposition_of_a_range() -> None:
    assert perfect_cover(0, 0) == []
    assert perfect_cover(0, 8) == [(3, 0)]
    assert perfect_cover(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert perfect_cover(8, 13) == [(2, 2), (0, 12)]
    assert perfect_cover(3, 9) == [(0, 3), (2, 1), (0, 8)]
    with pytest.raises(ValueError):
        perfect_cover(5, 4)


def test_subtree_hash_refuses_ranges_the_rfc_never_hashes() -> None:
    nodes = LOG_70.nodes
    assert subtree_hash(8, 13, nodes) == ref_mth(ENTRIES_70[8:13])
    assert subtree_hash(0, 0, nodes) == EMPTY_ROOT
    with pytest.raises(ValueError, match="not a subtree"):
        subtree_hash(3, 9, nodes)
    with pytest.raises(KeyError, match=r"\(0, 12\)"):
        subtree_hash(8, 13, {(2, 2): nodes[(2, 2)]})


def test_proofs_for_positions_outside_the_tree_are_refused() -> None:
    with pytest.raises(ValueError, match="not in a tree of size 5"):
        inclusion_keys(5, 5)
    with pytest.raises(ValueError, match="from size 6 to size 5"):
        consistency_keys(6, 5)
    log = log_of(ENTRIES_70[:5])
    with pytest.raises(ValueError, match="holds 5 entries"):
        log.root(6)
    with pytest.raises(IndexError):
        log.leaf_hash_at(5)


def test_verify_edge_cases() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert verify_inclusion(a, 0, 1, [], a)
    assert not verify_inclusion(a, 0, 1, [], b)
    assert not verify_inclusion(a, 0, 0, [], a)
    assert not verify_inclusion(a, 1, 1, [], a)
    assert not verify_inclusion(a, -1, 1, [], a)
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, a, [])
    assert not verify_consistency(0, 5, a, a, [])  # a size-0 tree has only one root
    assert not verify_consistency(0, 5, EMPTY_ROOT, a, [a])
    assert verify_consistency(3, 3, a, a, [])
    assert not verify_consistency(3, 3, a, b, [])
    assert not verify_consistency(3, 3, a, a, [a])
    assert not verify_consistency(4, 3, a, b, [a])
    assert not verify_consistency(-1, 3, a, b, [a])
    assert not verify_consistency(1, 2, a, b, [])


def test_the_root_alone_does_not_fix_the_tree_size() -> None:
    """A proof can verify at another size whose tree has the same shape above the leaf.

    The same happens in every RFC 9162 implementation; this is why a verifier must take the
    size and the root from one signed tree head, as the court bundle does.
    """
    log = log_of(ENTRIES_70[:5])
    proof = log.inclusion_proof(0, 5)
    assert verify_inclusion(log.leaf_hash_at(0), 0, 5, proof, log.root())
    assert verify_inclusion(log.leaf_hash_at(0), 0, 6, proof, log.root())


# --- large trees without their leaves -----------------------------------------------------------


class UniformTree(Mapping[NodeKey, bytes]):
    """The perfect nodes of a tree whose leaves are all the same entry, computed on demand.

    Every node at one level is then the same hash, so a tree of any size can be checked
    without building it; asking for a node outside the tree raises KeyError.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.levels = [leaf_hash(b"the same entry")]
        for _ in range(size.bit_length()):
            self.levels.append(node_hash(self.levels[-1], self.levels[-1]))

    def __getitem__(self, key: NodeKey) -> bytes:
        level, index = key
        if level < 0 or index < 0 or (index + 1) << level > self.size:
            raise KeyError(key)
        return self.levels[level]

    def __iter__(self) -> Iterator[NodeKey]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


SIZE_10M = 10_000_000


def test_proofs_in_a_ten_million_leaf_tree_need_few_nodes_and_verify() -> None:
    tree = UniformTree(SIZE_10M)
    root = root_from_nodes(SIZE_10M, only(tree, root_keys(SIZE_10M)))
    leaf = tree[(0, 0)]
    for index in (0, 1, 4_194_303, 8_388_608, 9_999_998, SIZE_10M - 1):
        keys = inclusion_keys(index, SIZE_10M)
        assert len(keys) <= 2 * 24
        proof = inclusion_proof(index, SIZE_10M, only(tree, keys))
        assert verify_inclusion(leaf, index, SIZE_10M, proof, root)
    for old in (1, 2, 3, 1_000_000, 8_388_608, 8_388_609, SIZE_10M - 1):
        keys = consistency_keys(old, SIZE_10M)
        assert len(keys) <= 2 * 24
        proof = consistency_proof(old, SIZE_10M, only(tree, keys))
        old_root = root_from_nodes(old, UniformTree(old))
        assert verify_consistency(old, SIZE_10M, old_root, root, proof)


def test_an_inclusion_proof_at_ten_million_leaves_needs_only_log_n_nodes() -> None:
    """The proof is built from at most 2·log2(n) stored nodes, never from the leaves."""
    tree = UniformTree(SIZE_10M)
    index = 7_654_321
    keys = inclusion_keys(index, SIZE_10M)
    assert len(keys) <= 2 * 24
    proof = inclusion_proof(index, SIZE_10M, only(tree, keys))
    assert len(proof) == 24  # ceil(log2(10 million))
    assert verify_inclusion(
        tree[(0, index)], index, SIZE_10M, proof, root_from_nodes(SIZE_10M, tree)
    )


# --- tampering properties -----------------------------------------------------------------------

entry_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=40, unique=True)


@settings(max_examples=150, deadline=None)
@given(entries=entry_lists, data=st.data())
def test_a_changed_entry_fails_inclusion_and_consistency(
    entries: list[bytes], data: st.DataObject
) -> None:
    n = len(entries)
    log = log_of(entries)
    i = data.draw(st.integers(0, n - 1), label="changed index")
    changed = data.draw(st.binary(max_size=12).filter(lambda b: b != entries[i]), label="to")
    proof = log.inclusion_proof(i, n)
    assert verify_inclusion(leaf_hash(entries[i]), i, n, proof, log.root())
    assert not verify_inclusion(leaf_hash(changed), i, n, proof, log.root())
    forged = log_of([*entries[:i], changed, *entries[i + 1 :]])
    assert not verify_inclusion(leaf_hash(changed), i, n, forged.inclusion_proof(i), log.root())
    grown = log_of([*entries[:i], changed, *entries[i + 1 :], b"appended later"])
    for old in range(i + 1, n + 1):  # every signed head that already held the entry
        assert not verify_consistency(
            old, grown.size, log.root(old), grown.root(), grown.consistency_proof(old)
        )


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(st.binary(max_size=12), min_size=2, max_size=40, unique=True), data=st.data()
)
def test_reordering_two_entries_fails(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    i = data.draw(st.integers(0, n - 2), label="first")
    j = data.draw(st.integers(i + 1, n - 1), label="second")
    log = log_of(entries)
    swapped = list(entries)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    forged = log_of(swapped)
    assert forged.root() != log.root()
    # the forged log's proof that entries[i] sits at j does not verify against the true head
    assert not verify_inclusion(leaf_hash(entries[i]), j, n, forged.inclusion_proof(j), log.root())
    # and no tree head that held entry i is consistent with the reordered log
    for old in range(i + 1, n + 1):
        assert not verify_consistency(
            old, n, log.root(old), forged.root(), forged.consistency_proof(old, n)
        )


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(st.binary(max_size=12), min_size=2, max_size=40, unique=True), data=st.data()
)
def test_removing_an_entry_fails(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    i = data.draw(st.integers(0, n - 1), label="removed")
    log = log_of(entries)
    # the log without entry i, topped up with a new entry to hide the gap
    forged = log_of([*entries[:i], *entries[i + 1 :], b"\xff" * 13])
    assert forged.size == n
    assert forged.root() != log.root()
    for old in range(i + 1, n + 1):
        assert not verify_consistency(
            old, n, log.root(old), forged.root(), forged.consistency_proof(old, n)
        )
    # entries after the gap have moved, and their new proofs fail against the true head
    for k in range(i + 1, n):
        proof = forged.inclusion_proof(k - 1)
        assert not verify_inclusion(leaf_hash(entries[k]), k - 1, n, proof, log.root())


@settings(max_examples=150, deadline=None)
@given(entries=entry_lists, data=st.data())
def test_truncating_the_log_fails(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    t = data.draw(st.integers(0, n - 1), label="kept")
    extra = data.draw(st.integers(1, 5), label="appended after truncation")
    log = log_of(entries)
    regrown = log_of([*entries[:t], *(b"\xfe" * 13 + bytes([k]) for k in range(n - t + extra))])
    assert not verify_consistency(
        n, regrown.size, log.root(), regrown.root(), regrown.consistency_proof(n)
    )
    # a tree head cannot go back to a smaller size
    assert not verify_consistency(n, t, log.root(), log.root(t), log.consistency_proof(t, n))
    # entries cut off are not in the truncated tree
    for k in range(t, n):
        assert not verify_inclusion(
            leaf_hash(entries[k]), k, t, log.inclusion_proof(k), log.root(t)
        )


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 300), data=st.data())
def test_a_proof_checked_at_a_wrong_index_or_size_fails(size: int, data: st.DataObject) -> None:
    log = log_of([b"%d" % k for k in range(size)])
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root, proof = log.leaf_hash_at(index), log.root(), log.inclusion_proof(index)
    assert verify_inclusion(leaf, index, size, proof, root)
    other = data.draw(st.integers(0, size + 5).filter(lambda k: k != index), label="wrong index")
    assert not verify_inclusion(leaf, other, size, proof, root)
    wrong_size = data.draw(st.sampled_from([size * 2, size // 2, index]), label="wrong size")
    assert not verify_inclusion(leaf, index, wrong_size, proof, root)
    old = data.draw(st.integers(1, size), label="old size")
    consistency = log.consistency_proof(old)
    assert verify_consistency(old, size, log.root(old), root, consistency)
    if consistency:
        for name, args in wrong_consistencies(old, size, log.root(old), root, consistency):
            assert not verify_consistency(*args), name


@given(st.lists(st.binary(max_size=8), max_size=80))
def test_root_of_agrees_with_the_reference(entries: list[bytes]) -> None:
    assert root_of([leaf_hash(e) for e in entries]) == ref_mth(entries)
    assert log_of(entries).root() == ref_mth(entries)
