"""The read side: the queue, entity pages and groups show only what the viewer's scope holds.

The planted picture (tests/fusion/web_fixtures.py): the council sees police, children's
services and A&E records; the force sees only the first two. The force's scope also holds
mistaken derived rows naming Amy's A&E record, which must never surface.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.enums import TLP, Role
from peel.core.errors import InvalidInput
from peel.core.identity import principal_for_user
from peel.core.models import AuditEvent
from peel.core.policy import Forbidden, NotFound
from peel.fusion import (
    cli,  # noqa: F401  (registers the commands before cli_analyse loads)
    cli_analyse,
    decisions,
    queries,
)
from peel.fusion.enums import ReviewOutcome
from peel.fusion.models import FusionReviewDecision
from tests.conftest import World, make_user
from tests.fusion.web_fixtures import Picture, plant


@pytest.fixture
def pic(db: Session, world: World) -> Picture:
    return plant(db, world.orgs)


def audits(db: Session, action: str) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


# --- the queue ------------------------------------------------------------------------------


def test_the_queue_puts_children_first_then_red_and_names_the_top_indicators(
    db: Session, world: World, pic: Picture
) -> None:
    found = queries.review_queue(db, world.principal("social"))
    names = [(i.caption, i.rag) for i in found.items]
    assert names == [("Amy Smith", "red"), ("Ben Jones", "green")]
    amy = found.items[0]
    assert {i.code for i in amy.indicators} == {"knife-ae", "missing-3-in-90"}
    assert all(i.title and i.title != i.code for i in amy.indicators)
    assert found.counts == {"red": 1, "amber": 0, "green": 1}
    assert found.analysed is True
    assert queries.review_queue(db, world.principal("social"), "green").total == 1
    reads = audits(db, "fusion.queue.read")
    assert [a.record_id for a in reads] == [pic.scopes["council"]] * 2
    assert "rag=green" in (reads[1].detail or "")


def test_the_command_line_queue_never_lists_a_hit_resting_on_a_hidden_record(
    db: Session, world: World, pic: Picture
) -> None:
    items, analysed = cli_analyse.review_queue(db, world.principal("officer"), None, 50)
    amy = next(i for i in items if i["entity_id"] == pic.amy["force"])
    assert analysed and [i["code"] for i in amy["indicators"]] == ["missing-3-in-90"]
    [council_amy] = [
        i
        for i in cli_analyse.review_queue(db, world.principal("social"), None, 50)[0]
        if i["entity_id"] == pic.amy["council"]
    ]
    assert {i["code"] for i in council_amy["indicators"]} == {"knife-ae", "missing-3-in-90"}


def test_the_queue_is_the_viewers_own_scope(db: Session, world: World, pic: Picture) -> None:
    force = queries.review_queue(db, world.principal("officer"))
    amy = force.items[0]
    assert (amy.entity_id, amy.rag) == (pic.amy["force"], "amber")
    # The hit resting on the A&E record the force may not see is not listed.
    assert [i.code for i in amy.indicators] == ["missing-3-in-90"]
    assert amy.indicator_count == 1
    nothing = queries.review_queue(db, world.principal("lawyer"))
    assert (nothing.items, nothing.analysed) == ([], False)


def test_the_queue_refuses_an_unknown_rating_and_roles_without_fusion(
    db: Session, world: World, pic: Picture
) -> None:
    with pytest.raises(InvalidInput) as caught:
        queries.review_queue(db, world.principal("social"), "purple")
    assert "rag" in caught.value.errors
    with pytest.raises(Forbidden):
        queries.review_queue(db, world.principal("teacher"))


def test_the_latest_visible_decision_shows_in_the_queue(
    db: Session, world: World, pic: Picture
) -> None:
    social = world.principal("social")
    decisions.record_review_decision(
        db, social, pic.amy["council"], ReviewOutcome.refer, "Referred to the MASH for a strategy"
    )
    [amy, _ben] = queries.review_queue(db, social).items
    assert amy.latest_decision is not None
    assert amy.latest_decision.outcome == ReviewOutcome.refer
    # The council's decision is AMBER for the council: the force does not see it.
    force_amy = queries.review_queue(db, world.principal("officer")).items[0]
    assert force_amy.latest_decision is None


# --- an entity ------------------------------------------------------------------------------


def test_the_council_sees_every_agency_with_its_evidence(
    db: Session, world: World, pic: Picture
) -> None:
    amy = queries.entity_detail(db, world.principal("social"), pic.amy["council"])
    assert amy.agencies == ["Test Council", "Test Force", "Test Health"]
    assert {r.source.code for r in amy.records} == {
        "police-incidents",
        "childrens-services",
        "ae-attendances",
    }
    [knife] = [h for h in amy.indicators if h.code == "knife-ae"]
    assert "gov.uk" in knife.published_source or "nice.org.uk" in knife.published_source
    assert [e.source.agency for e in knife.evidence if e.source] == ["Test Health"] * 2
    assert [t.kind for t in amy.timeline] == [
        "missing-episode",
        "missing-episode",
        "ae-attendance",
        "missing-episode",
    ]
    assert amy.timeline[2].role_label == "Patient"
    assert amy.timeline[2].source.agency == "Test Health"
    [audit] = audits(db, "fusion.entity.read")
    assert audit.record_id == pic.amy["council"]


def test_the_force_never_sees_a_record_of_a_source_it_may_not_see(
    db: Session, world: World, pic: Picture
) -> None:
    amy = queries.entity_detail(db, world.principal("officer"), pic.amy["force"])
    hidden = pic.records["amy_a"].id
    knife = pic.records["knife"].id
    assert amy.agencies == ["Test Council", "Test Force"]
    assert hidden not in {r.record_id for r in amy.records}
    # The hit that rests on the A&E record is not shown at all (not even without it).
    assert [h.code for h in amy.indicators] == ["missing-3-in-90"]
    assert knife not in {t.record_id for t in amy.timeline}
    assert all(hidden not in (link.record_a, link.record_b) for link in amy.links)
    dumped = amy.model_dump_json()
    for secret in (hidden, knife, "Test Health", "knife", "9434765919"):
        assert secret not in dumped


def test_an_entity_outside_the_scope_is_not_found(db: Session, world: World, pic: Picture) -> None:
    knife_entity = pic.entities[("council", "knife")]
    with pytest.raises(NotFound):
        queries.entity_detail(db, world.principal("officer"), knife_entity)
    with pytest.raises(NotFound):
        queries.entity_detail(db, world.principal("lawyer"), pic.amy["force"])
    with pytest.raises(NotFound):
        queries.entity_detail(db, world.principal("officer"), "e" + "0" * 100)
    assert audits(db, "fusion.entity.read") == []


def test_link_evidence_and_possible_matches(db: Session, world: World, pic: Picture) -> None:
    officer = world.principal("officer")
    amy = queries.entity_detail(db, officer, pic.amy["force"])
    [link] = amy.links
    assert {link.record_a, link.record_b} == {pic.records["amy_p"].id, pic.records["amy_c"].id}
    levels = {c.name: (c.level, c.weight) for c in link.comparisons}
    assert levels["date_of_birth"] == ("Exact match", 9.1)
    ben = queries.entity_detail(db, officer, pic.entities[("force", "ben")])
    [near] = ben.possible_matches
    assert (near.entity_id, near.caption) == (pic.entities[("force", "benjamin")], "Benjamin Jones")
    assert near.link.match_probability == pytest.approx(0.7)


def test_the_network_reaches_two_links_within_the_scope(
    db: Session, world: World, pic: Picture
) -> None:
    force = queries.entity_detail(db, world.principal("officer"), pic.amy["force"]).network
    by_id = {n.id: n for n in force.nodes}
    assert by_id[pic.amy["force"]].hops == 0 and by_id[pic.amy["force"]].key
    assert by_id[pic.entities[("force", "home")]].hops == 1
    assert by_id[pic.entities[("force", "carl")]].hops == 2  # through the shared address
    assert by_id[pic.entities[("force", "ben")]].schema_name == "Person"
    assert ("council", "knife") not in by_id and len(force.nodes) == 7
    assert all(0 <= n.x <= 1 and 0 <= n.y <= 1 for n in force.nodes)
    council = queries.entity_detail(db, world.principal("social"), pic.amy["council"]).network
    assert pic.entities[("council", "knife")] in {n.id for n in council.nodes}
    again = queries.entity_detail(db, world.principal("officer"), pic.amy["force"]).network
    assert [(n.id, n.x, n.y) for n in again.nodes] == [(n.id, n.x, n.y) for n in force.nodes]


def test_decisions_shown_are_those_the_viewer_may_see(
    db: Session, world: World, pic: Picture
) -> None:
    social, officer = world.principal("social"), world.principal("officer")
    decisions.record_review_decision(
        db, social, pic.amy["council"], ReviewOutcome.strategy_discussion, "Strategy meeting set"
    )
    decisions.record_review_decision(
        db, officer, pic.amy["force"], ReviewOutcome.no_further_action, "Known; plan in place"
    )
    seen_by_force = queries.entity_detail(db, officer, pic.amy["force"]).decisions
    assert [d.organisation for d in seen_by_force] == ["Test Force"]
    row = db.scalars(select(FusionReviewDecision)).first()
    assert row is not None and row.tlp == TLP.amber_strict


def test_a_client_organisation_never_reads_decisions_resting_on_sources_it_cannot_see(
    db: Session, world: World, pic: Picture
) -> None:
    """The charity is the council's client: it sees the council's AMBER sources but not the
    AMBER+STRICT A&E source, whose knife injury is among the indicators the council saw."""
    social = world.principal("social")
    decided = decisions.record_review_decision(
        db, social, pic.amy["council"], ReviewOutcome.refer, "Knife injury at A&E: refer"
    )
    assert "knife-ae" in decided.indicators
    amy = queries.person_records(db, social, pic.amy["council"])
    decisions.record_link_decision(
        db, social, "split", amy[:1], amy[1:], "The A&E record is her cousin"
    )
    charity = principal_for_user(
        make_user(db, "worker@charity.example", "test-charity", [Role.officer])
    )
    assert queries.review_decisions(db, charity, [pic.amy["council"]]) == []
    assert queries.link_decisions(db, charity, set(amy)) == []
    assert [d.id for d in queries.review_decisions(db, social, [pic.amy["council"]])] == [
        decided.id
    ]


# --- groups ---------------------------------------------------------------------------------


def test_groups_name_key_people_with_the_ties_that_put_them_there(
    db: Session, world: World, pic: Picture
) -> None:
    officer = world.principal("officer")
    [group] = queries.groups(db, officer)
    assert group.label == "Canal Row group"
    [key] = group.key_people
    assert key.entity_id == pic.amy["force"]
    [tie] = key.links
    assert tie.label == "Recorded as associates"
    assert {e.record_id for e in tie.evidence} == {pic.records["amy_p"].id, pic.records["ben_p"].id}
    detail = queries.group_detail(db, officer, pic.group)
    assert detail.members[0].caption == "Amy Smith"
    assert len(detail.edges) == 2 and len(detail.network.nodes) == 3
    assert [n.key for n in detail.network.nodes if n.id == pic.amy["force"]] == [True]
    assert audits(db, "fusion.group.read")[0].record_id == pic.group
    with pytest.raises(NotFound):
        queries.group_detail(db, world.principal("lawyer"), pic.group)
