"""The custody log in the database agrees with RFC 9162 and proves what it holds."""

from __future__ import annotations

import pytest

from peel.core.config import Settings
from peel.evidence import custody, merkle
from peel.evidence.models import CustodyEvent
from peel.evidence.signing import verify_tree_head
from tests.conftest import World


def _append(db, n: int) -> list[int]:
    return custody.append_events(
        db,
        [
            custody.NewEvent("viewed", "tester", None, f"item{i:04d}", None, {"n": i})
            for i in range(n)
        ],
    )


def test_root_matches_a_fresh_computation(world: World):
    db = world.db
    start = custody.head(db)[0]
    for batch in (1, 2, 5, 13, 31):
        _append(db, batch)
        size, root = custody.head(db)
        leaves = [
            bytes(e.leaf_hash) for e in db.query(CustodyEvent).order_by(CustodyEvent.seq).all()
        ]
        assert len(leaves) == size
        assert root == merkle.root_of(leaves)
        assert custody.root_at(db, size) == root
    assert custody.head(db)[0] == start + 52


def test_every_entry_hashes_to_its_leaf(world: World):
    db = world.db
    _append(db, 7)
    for event in db.query(CustodyEvent).all():
        assert merkle.leaf_hash(event.entry.encode()) == bytes(event.leaf_hash)


def test_inclusion_and_consistency_proofs_verify(world: World):
    db = world.db
    _append(db, 40)
    size, root = custody.head(db)
    for index in range(0, size, 3):
        proof = custody.inclusion_proof(db, index, size)
        leaf = custody.fetch_nodes(db, {(0, index)})[(0, index)]
        assert merkle.verify_inclusion(leaf, index, size, proof, root)
        assert not merkle.verify_inclusion(leaf, index, size, proof, b"\0" * 32)
    for old in range(1, size, 4):
        proof = custody.consistency_proof(db, old, size)
        assert merkle.verify_consistency(old, size, custody.root_at(db, old), root, proof)


def test_proof_arguments_are_checked(world: World):
    db = world.db
    _append(db, 3)
    size = custody.head(db)[0]
    with pytest.raises(ValueError, match="tree_size"):
        custody.inclusion_proof(db, 0, size + 5)
    with pytest.raises(ValueError, match="index"):
        custody.inclusion_proof(db, size, size)


def test_unknown_event_kinds_are_refused(world: World):
    with pytest.raises(ValueError, match="Unknown custody event"):
        custody.append_event(world.db, "teleported", "tester")


def test_signed_tree_heads_are_kept_and_verify(world: World, settings: Settings):
    db = world.db
    signer = custody.signer_for(settings)
    _append(db, 4)
    first = custody.publish_tree_head(db, signer)
    assert custody.publish_tree_head(db, signer) == first  # same size: signed once
    _append(db, 3)
    second = custody.publish_tree_head(db, signer)
    assert second.tree_size == first.tree_size + 3
    assert verify_tree_head(second, signer.public_key_pem())
    assert [h.tree_size for h in custody.tree_heads(db)][:2] == [second.tree_size, first.tree_size]
    proof = custody.consistency_proof(db, first.tree_size, second.tree_size)
    assert merkle.verify_consistency(
        first.tree_size, second.tree_size, first.root_hash, second.root_hash, proof
    )
