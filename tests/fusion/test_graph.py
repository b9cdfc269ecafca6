"""The entity graph: entity resolution, the association network, groups and key people."""

from __future__ import annotations

import random

import networkx as nx

from peel.fusion.graph import (
    MAX_GROUP,
    EntityGraph,
    association_network,
    communities,
    detect_groups,
    resolve_entities,
)
from tests.fusion.analysis_fixtures import World, context_of, entity


def test_addresses_phones_vehicles_and_organisations_resolve_by_their_keys() -> None:
    w = World()
    a1 = w.address("police", "a1", "12 High Street", "bh1 1aa")
    a2 = w.address("school", "a2", "12, HIGH STREET.", "BH11AA")
    a3 = w.address("council", "a3", "Flat 3", "BH2 2BB", uprn="100023")
    a4 = w.address("health", "a4", "3 Elm Court", "BH9 9ZZ", uprn="100023")
    a5 = w.address("health", "a5", "12 High Street", "BH1 1AB")
    p1 = w.record("police", "Phone", "p1", number="07700900123")
    p2 = w.record("health", "Phone", "p2", number="07700 900123")
    v1 = w.record("police", "Vehicle", "v1", registration="AB12 CDE")
    v2 = w.record("council", "Vehicle", "v2", registration="ab12cde")
    o1 = w.record("school", "Organisation", "o1", name="Hill School", urn="123456")
    o2 = w.record("council", "Organisation", "o2", name="The Hill Academy", urn="123456")
    o3 = w.record("police", "Organisation", "o3", name="HILL SCHOOL")
    e1 = w.event("police", "e1", "incident", "2026-01-01")
    e2 = w.event("police", "e2", "incident", "2026-01-01")
    entity_of = resolve_entities(w.facts().records.values(), {})
    assert entity_of[a1] == entity_of[a2] == "e" + min(a1, a2)
    assert entity_of[a3] == entity_of[a4]  # the same UPRN, whatever the lines say
    assert entity_of[a5] not in (entity_of[a1], entity_of[a3])  # another postcode
    assert entity_of[p1] == entity_of[p2]
    assert entity_of[v1] == entity_of[v2]
    assert entity_of[o1] == entity_of[o2] == entity_of[o3]  # URN, then the same name
    assert entity_of[e1] != entity_of[e2]  # every event is its own entity


def test_people_resolve_as_linkage_clustered_them() -> None:
    w = World()
    a = w.person("police", "1", "Amy", "Smith")
    b = w.person("school", "1", "Amy", "Smith")
    c = w.person("health", "1", "Amy", "Smyth")
    first = min(a, b)
    entity_of = resolve_entities(w.facts().records.values(), {a: first, b: first, c: c})
    assert entity_of[a] == entity_of[b] == "e" + first
    assert entity_of[c] == "e" + c


def test_association_network_ties_carry_weights_and_their_records() -> None:
    w = World()
    amy, ben, cal, dee = (
        w.person("police", k, k.title(), "X") for k in ("amy", "ben", "cal", "dee")
    )
    w.relate("associate_of", amy, ben)
    robbery = w.event("police", "robbery", "crime", "2026-02-01")
    for person, role in ((amy, "suspect"), (cal, "arrested"), (dee, "victim")):
        w.involve(person, robbery, role)
    phone_b = w.record("police", "Phone", "ph-b", number="07700900001")
    phone_c = w.record("police", "Phone", "ph-c", number="07700900001")
    w.relate("uses", ben, phone_b)
    w.relate("uses", cal, phone_c)
    graph = EntityGraph(w.facts(), resolve_entities(w.facts().records.values(), {}))
    network = association_network(graph)
    ea, eb, ec, ed = map(entity, (amy, ben, cal, dee))
    assert network.edges[ea, eb]["ties"] == {"associate": [amy, ben]}
    assert sorted(network.edges[ea, ec]["ties"]["co-offending"]) == sorted([amy, cal, robbery])
    assert network.edges[ea, ec]["weight"] == 1.0
    assert sorted(network.edges[eb, ec]["ties"]["shared-phone"]) == sorted(
        [ben, phone_b, cal, phone_c]
    )
    assert network.edges[eb, ec]["weight"] == 0.5
    assert not network.has_edge(ea, ed)  # a victim is not a co-offender
    chart = graph.to_networkx()
    assert chart.nodes[ea]["schema"] == "Person"
    assert chart.number_of_edges() == 6


def _noisy_world(seed: int, people: int, contacts: int) -> tuple[World, list[str]]:
    """A sparse web of one-off associations between ``people`` people."""
    rng = random.Random(seed)
    w = World()
    crowd = [w.person("police", f"p{i}", f"Given{i}", f"Family{i}") for i in range(people)]
    for i, person in enumerate(crowd):
        for _ in range(contacts):
            j = rng.randrange(people)
            if j != i:
                w.relate("associate_of", person, crowd[j])
    return w, crowd


def test_leiden_finds_a_planted_group_in_noise_without_a_giant_blob() -> None:
    w, crowd = _noisy_world(seed=5, people=400, contacts=2)
    rng = random.Random(9)
    gang = [w.person("police", f"g{i}", f"Gang{i}", "Member") for i in range(10)]
    for k in range(12):
        robbery = w.event("police", f"robbery{k}", "crime", "2026-01-01")
        for member in rng.sample(gang, 4):
            w.involve(member, robbery, "suspect")
    for member in gang[:3]:  # the group is not cut off from everyone else
        w.relate("associate_of", member, crowd[rng.randrange(len(crowd))])
    context = context_of(w.facts())
    assert nx.number_connected_components(context.network) == 1  # one web, one component
    planted = {entity(m) for m in gang}
    found = [g for g in context.groups if planted & set(g.members)]
    assert len(found) == 1
    assert planted <= set(found[0].members)
    assert len(found[0].members) <= 15
    assert all(len(g.members) <= MAX_GROUP for g in context.groups)
    # The web of one-off contacts is carved into communities, but none is cohesive enough
    # to be reported as a group.
    assert len(context.groups) <= 2


def test_oversized_communities_are_split_again() -> None:
    w, _crowd = _noisy_world(seed=1, people=600, contacts=3)
    network = association_network(
        EntityGraph(w.facts(), resolve_entities(w.facts().records.values(), {}))
    )
    parts = communities(network, max_size=30)
    assert sum(len(p) for p in parts) == network.number_of_nodes()
    assert max(len(p) for p in parts) <= 30


def test_centrality_names_the_bridge_between_two_cliques() -> None:
    w, crowd = _noisy_world(seed=3, people=300, contacts=2)
    left = [w.person("police", f"l{i}", f"Left{i}", "Side") for i in range(4)]
    right = [w.person("police", f"r{i}", f"Right{i}", "Side") for i in range(4)]
    bridge = w.person("police", "bridge", "Bridget", "Broker")
    for side in (left, right):
        for i, a in enumerate(side):
            for b in side[i + 1 :]:
                w.relate("associate_of", a, b)
    tie_records = set()
    for n, member in enumerate(left + right):
        for k in range(2):
            deal = w.event("police", f"deal{n}-{k}", "crime", "2026-01-01")
            w.involve(bridge, deal, "suspect")
            w.involve(member, deal, "offender")
            tie_records |= {deal, member}
    w.relate("associate_of", left[0], crowd[0])
    context = context_of(w.facts())
    group = context.group_of[entity(bridge)]
    assert set(group.members) == {entity(p) for p in [*left, *right, bridge]}
    top = group.key_people[0]
    assert top["entity_id"] == entity(bridge)
    assert top["betweenness"] > group.key_people[1]["betweenness"]
    cited = {r for link in top["links"] for r in link[3]}
    assert cited == tie_records | {bridge}
    assert {link[2] for link in top["links"]} == {"co-offending"}
    assert group.label == f"Group of 9 around {context.graph.caption(entity(bridge))}"
    for a, b, weight, records in group.edges:
        assert a < b and weight > 0 and records


def test_small_or_loose_communities_are_not_groups() -> None:
    w = World()
    ring = [w.person("police", f"r{i}", f"Ring{i}", "X") for i in range(6)]
    for i, person in enumerate(ring):
        w.relate("associate_of", person, ring[(i + 1) % 6])
    trio = [w.person("police", f"t{i}", f"Trio{i}", "X") for i in range(4)]
    for i, a in enumerate(trio):
        for b in trio[i + 1 :]:
            w.relate("associate_of", a, b)
    network = association_network(
        EntityGraph(w.facts(), resolve_entities(w.facts().records.values(), {}))
    )
    assert detect_groups(network, {}) == []  # a ring is loose, a clique of 4 is too small
    assert len(detect_groups(network, {}, min_size=4)) == 1
