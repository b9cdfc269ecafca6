"""Risk indicators: the rule language, the shipped starter set, and each rule kind at its edge."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from peel.fusion.graph import Context, detect_groups
from peel.fusion.indicators import (
    RULE_KINDS,
    Hit,
    IndicatorFileError,
    IndicatorSet,
    evaluate,
    load_indicators,
    parse_indicators,
    shipped_indicators,
)
from tests.fusion.analysis_fixtures import AS_OF, World, context_of, entity

CHILD_DOB = "2012-04-01"
ADULT_DOB = "1980-01-01"


def rules(*indicators: dict[str, Any], red: float = 12, amber: float = 5) -> IndicatorSet:
    """An indicator set of the given rules, with defaults for the descriptive fields."""
    full = [
        {
            "code": f"rule-{n}",
            "title": f"Rule {n}",
            "description": "For a test.",
            "category": "test",
            "weight": 1,
            "source": "Peel test suite (adapted)",
            **indicator,
        }
        for n, indicator in enumerate(indicators)
    ]
    return parse_indicators(
        yaml.safe_dump({"rag": {"red": red, "amber": amber}, "indicators": full})
    )


def fire(w: World, person: str, indicators: IndicatorSet, as_of: date = AS_OF) -> list[Hit]:
    return evaluate(indicators, context_of(w.facts(), as_of), entity(person))


def only(hits: list[Hit]) -> Hit:
    assert len(hits) == 1, hits
    return hits[0]


# --- the shipped rules --------------------------------------------------------------------------


def test_the_shipped_starter_set_has_at_least_30_sourced_indicators() -> None:
    shipped = load_indicators()
    assert len(shipped.indicators) >= 30
    for indicator in shipped.indicators:
        assert indicator.source.strip(), indicator.code
        assert any(word in indicator.source for word in ("http", "Act", "(", "guidance")), (
            indicator.code
        )
    assert {i.rule.kind for i in shipped.indicators} == set(RULE_KINDS)
    assert shipped.rag.amber < shipped.rag.red
    assert any(i.severity == "red" for i in shipped.indicators)


def test_a_bad_rule_is_rejected_naming_its_path(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "src/peel/fusion/indicators.yaml").read_text()
    data = yaml.safe_load(text)
    data["indicators"][0]["rule"]["within_days"] = -5
    data["indicators"][2]["rule"]["match"]["kinds"] = ["missing"]
    data["indicators"][3]["rule"]["kind"] = "hunch"
    path = tmp_path / "indicators.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(IndicatorFileError) as caught:
        load_indicators(path)
    errors = caught.value.errors
    assert any(
        e.startswith("indicators[0].rule.within_days (indicator missing-3-in-90)") for e in errors
    )
    assert any(e.startswith("indicators[2].rule.match.kinds") and "missing" in e for e in errors)
    assert any(e.startswith("indicators[3].rule") and "hunch" in e for e in errors)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"rag": {"red": 5, "amber": 5}}, "rag: Value error, amber must be below red"),
        ({"indicators": [{"code": "Bad Code"}]}, "indicators[0].code"),
        ({"indicators": []}, "indicators: List should have at least 1 item"),
    ],
)
def test_the_file_as_a_whole_is_checked(change: dict[str, Any], expected: str) -> None:
    data = {"rag": {"red": 12, "amber": 5}, "indicators": [{"code": "x"}]}
    data.update(change)
    with pytest.raises(IndicatorFileError) as caught:
        parse_indicators(yaml.safe_dump(data))
    assert any(e.startswith(expected) for e in caught.value.errors), caught.value.errors


def test_codes_must_be_unique_and_yaml_must_parse() -> None:
    one = {"kind": "flag", "flags": ["send"]}
    with pytest.raises(IndicatorFileError, match="repeated: rule-0"):
        parse_indicators(
            yaml.safe_dump(
                {
                    "rag": {"red": 2, "amber": 1},
                    "indicators": [rules({"rule": one}).indicators[0].model_dump()] * 2,
                }
            )
        )
    with pytest.raises(IndicatorFileError, match="not valid YAML"):
        parse_indicators("rag: [")


def test_shipped_knife_indicator_forces_red_with_the_attendance_as_evidence() -> None:
    w = World()
    child = w.person("health", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    visit = w.event(
        "health", "ae1", "ae-attendance", AS_OF - timedelta(days=20), category="Stab wound to arm"
    )
    w.involve(child, visit, "patient")
    hits = fire(w, child, shipped_indicators())
    knife = next(h for h in hits if h.code == "knife-ae")
    assert knife.evidence == sorted([child, visit])
    assert knife.forces_red and knife.latest_on == AS_OF - timedelta(days=20)
    assert "Stab wound to arm" in knife.detail
    assert shipped_indicators().rate(hits)[1] == "red"


# --- events -------------------------------------------------------------------------------------

MISSING_3_IN_90 = {
    "rule": {
        "kind": "events",
        "match": {"kinds": ["missing-episode"]},
        "min_count": 3,
        "within_days": 90,
        "lookback_days": 365,
    }
}


def _missing_child(
    gaps: list[int], start: date = AS_OF - timedelta(days=200)
) -> tuple[World, str, list[str]]:
    w = World()
    child = w.person("police", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    episodes = []
    for n, gap in enumerate(gaps):
        episode = w.event("police", f"m{n}", "missing-episode", start + timedelta(days=gap))
        w.involve(child, episode, "missing-person")
        episodes.append(episode)
    other = w.event("police", "x", "crime", start)  # not a missing episode
    w.involve(child, other, "victim")
    return w, child, episodes


def test_events_rule_fires_within_the_window_and_cites_exactly_its_events() -> None:
    w, child, episodes = _missing_child([0, 45, 90])
    hit = only(fire(w, child, rules(MISSING_3_IN_90)))
    assert hit.evidence == sorted([child, *episodes])
    assert hit.detail.startswith("3 events within 90 days: Missing episode on ")
    assert hit.latest_on == AS_OF - timedelta(days=110)


def test_events_rule_does_not_fire_one_day_past_the_window() -> None:
    w, child, _episodes = _missing_child([0, 45, 91])
    assert fire(w, child, rules(MISSING_3_IN_90)) == []


def test_events_rule_respects_the_lookback_and_the_analysis_date() -> None:
    inside, child, _ = _missing_child([0, 1, 2], start=AS_OF - timedelta(days=365))
    assert len(fire(inside, child, rules(MISSING_3_IN_90))) == 1
    outside, child, _ = _missing_child([0, 1, 2], start=AS_OF - timedelta(days=366))
    assert fire(outside, child, rules(MISSING_3_IN_90)) == []
    future, child, _ = _missing_child([0, 1, 2], start=AS_OF - timedelta(days=1))
    assert fire(future, child, rules(MISSING_3_IN_90)) == []  # two are after the analysis date


def test_events_match_on_role_marker_and_free_text() -> None:
    w = World()
    child = w.person("police", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    said = w.event("police", "e1", "crime", "2026-05-01", description="Found with a bladed article")
    marked = w.event("police", "e2", "crime", "2026-05-02", markers=["knife"])
    victim = w.event("police", "e3", "crime", "2026-05-03", markers=["knife"])
    w.involve(child, said, "suspect")
    w.involve(child, marked, "arrested")
    w.involve(child, victim, "victim")
    rule = {
        "kind": "events",
        "match": {"roles": ["suspect", "arrested"], "markers": ["knife"], "text": ["blade"]},
        "min_count": 2,
    }
    assert only(fire(w, child, rules({"rule": rule}))).evidence == sorted([child, said, marked])
    rule["min_count"] = 3
    assert fire(w, child, rules({"rule": rule})) == []


# --- age ---------------------------------------------------------------------------------------


def test_child_means_under_18_on_the_analysis_date() -> None:
    w = World()
    eighteen_today = w.person("police", "a", "Amy", "Smith", date_of_birth="2008-06-30")
    eighteen_tomorrow = w.person("police", "b", "Ben", "Smith", date_of_birth="2008-07-01")
    no_birth_date = w.person("police", "c", "Cal", "Smith")
    for person in (eighteen_today, eighteen_tomorrow, no_birth_date):
        w.relate(
            "uses",
            person,
            w.record("police", "Phone", person[-1], number="0770090000" + person[-1][-1:]),
        )
    uses = rules({"applies_to": "child", "rule": {"kind": "uses", "min_count": 1}})
    assert fire(w, eighteen_today, uses) == []
    assert len(fire(w, eighteen_tomorrow, uses)) == 1
    assert fire(w, no_birth_date, uses) == []
    anyone = rules(
        {"applies_to": "any", "age": {"min": 18}, "rule": {"kind": "uses", "min_count": 1}}
    )
    assert len(fire(w, eighteen_today, anyone)) == 1
    assert fire(w, eighteen_tomorrow, anyone) == []


# --- sequence ----------------------------------------------------------------------------------

EXCLUSION_THEN_POLICE = {
    "rule": {
        "kind": "sequence",
        "first": {"kinds": ["school-exclusion"]},
        "then": {"kinds": ["arrest"], "roles": ["arrested"]},
        "within_days": 183,
    }
}


def _excluded(gap: int) -> tuple[World, str, str]:
    w = World()
    child = w.person("school", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    police = w.person("police", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    exclusion = w.event("school", "x1", "school-exclusion", AS_OF - timedelta(days=300))
    arrest = w.event("police", "a1", "arrest", AS_OF - timedelta(days=300 - gap))
    w.involve(child, exclusion, "pupil")
    w.involve(police, arrest, "arrested")
    return w, child, police


def test_sequence_fires_across_agencies_up_to_its_gap() -> None:
    w, child, police = _excluded(183)
    context = context_of(
        w.facts(), clusters={police: min(child, police), child: min(child, police)}
    )
    hit = only(evaluate(rules(EXCLUSION_THEN_POLICE), context, "e" + min(child, police)))
    assert len(hit.evidence) == 4
    assert {child, police} <= set(hit.evidence)
    assert "School exclusion on" in hit.detail and ", then Arrest on" in hit.detail


def test_sequence_does_not_fire_a_day_too_late_or_in_the_wrong_order() -> None:
    for gap in (184, -10):
        w, child, police = _excluded(gap)
        context = context_of(
            w.facts(), clusters={police: min(child, police), child: min(child, police)}
        )
        assert evaluate(rules(EXCLUSION_THEN_POLICE), context, "e" + min(child, police)) == []
    w, child, police = _excluded(-10)
    unordered = {"rule": {**EXCLUSION_THEN_POLICE["rule"], "ordered": False}}
    context = context_of(
        w.facts(), clusters={police: min(child, police), child: min(child, police)}
    )
    assert len(evaluate(rules(unordered), context, "e" + min(child, police))) == 1


# --- household and place -----------------------------------------------------------------------

HOUSEHOLD_VIOLENCE = {"rule": {"kind": "household", "other": {"markers": ["violence"]}}}


def _household(**adult_home: Any) -> tuple[World, str, str, str, str]:
    w = World()
    child = w.person("council", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    home = w.address("council", "h1", "12 High Street", "BH1 1AA")
    w.relate("lives_at", child, home)
    adult = w.person("police", "p1", "Rob", "Jones", date_of_birth=ADULT_DOB, markers=["violence"])
    theirs = w.address("police", "h1", "12 HIGH STREET", "bh1 1aa")
    w.relate("lives_at", adult, theirs, **adult_home)
    return w, child, home, adult, theirs


def test_household_fires_through_a_shared_address_citing_the_connecting_records() -> None:
    w, child, home, adult, theirs = _household()
    hit = only(fire(w, child, rules(HOUSEHOLD_VIOLENCE)))
    assert hit.evidence == sorted([child, home, adult, theirs])
    assert hit.detail == "Household: Rob Jones (lives at 12 High Street, BH1 1AA), marker violence"


def test_household_does_not_fire_once_the_adult_has_moved_out_or_has_no_marker() -> None:
    w, child, *_ = _household(to=AS_OF - timedelta(days=1))
    assert fire(w, child, rules(HOUSEHOLD_VIOLENCE)) == []
    w, child, *_ = _household(to=AS_OF)
    assert len(fire(w, child, rules(HOUSEHOLD_VIOLENCE))) == 1
    w, child, *_ = _household()
    assert (
        fire(w, child, rules({"rule": {"kind": "household", "other": {"markers": ["drugs"]}}}))
        == []
    )


def test_household_through_a_parent_or_carer() -> None:
    w = World()
    child = w.person("council", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    mother = w.person("council", "m1", "Jo", "Smith", date_of_birth=ADULT_DOB, markers=["drugs"])
    w.relate("parent_of", mother, child)
    drugs = {"kind": "household", "other": {"markers": ["drugs"]}}
    hit = only(fire(w, child, rules({"rule": drugs})))
    assert hit.evidence == sorted([child, mother])
    assert "parent or carer" in hit.detail
    assert fire(w, child, rules({"rule": {**drugs, "via": ["address"]}})) == []
    assert fire(w, mother, rules({"rule": drugs})) == []  # the child is not the mother's carer


def test_place_counts_events_at_the_current_address() -> None:
    w = World()
    child = w.person("council", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    home = w.address("council", "h1", "12 High Street", "BH1 1AA")
    w.relate("lives_at", child, home)
    at_home = w.address("police", "h1", "12 High Street", "BH1 1AA")
    incidents = []
    for n in range(3):
        incident = w.event(
            "police", f"da{n}", "domestic-abuse-incident", AS_OF - timedelta(days=30 * n)
        )
        w.relate("occurred_at", incident, at_home)
        incidents.append(incident)
    rule = {"kind": "place", "match": {"kinds": ["domestic-abuse-incident"]}, "min_count": 3}
    hit = only(fire(w, child, rules({"rule": rule})))
    assert hit.evidence == sorted([child, home, at_home, *incidents])
    assert hit.detail.startswith("3 events at home: Domestic abuse incident on ")
    assert fire(w, child, rules({"rule": {**rule, "min_count": 4}})) == []


# --- associates and groups -----------------------------------------------------------------------


def test_associate_with_an_adult_fires_at_18_not_17() -> None:
    for born, fires in (("2008-06-30", True), ("2008-07-01", False)):
        w = World()
        child = w.person("police", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
        older = w.person("police", "o1", "Rob", "Jones", date_of_birth=born, markers=["drugs"])
        w.relate("associate_of", child, older)
        rule = {"kind": "associate", "other": {"markers": ["drugs"], "age": {"min": 18}}}
        hits = fire(w, child, rules({"rule": rule}))
        assert bool(hits) is fires
        if fires:
            assert hits[0].evidence == sorted([child, older])
            assert hits[0].detail == "Associates: Rob Jones (associate), aged 18; marker drugs"


def test_associate_only_through_the_ties_asked_for() -> None:
    w = World()
    child = w.person("police", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    adult = w.person("police", "o1", "Rob", "Jones", date_of_birth=ADULT_DOB, markers=["weapons"])
    phone_a = w.record("police", "Phone", "a", number="07700900001")
    phone_b = w.record("police", "Phone", "b", number="07700900001")
    w.relate("uses", child, phone_a)
    w.relate("uses", adult, phone_b)
    weapons = {"kind": "associate", "other": {"markers": ["weapons"]}}
    hit = only(fire(w, child, rules({"rule": weapons})))
    assert hit.evidence == sorted([child, adult, phone_a, phone_b])
    assert fire(w, child, rules({"rule": {**weapons, "via": ["associate", "co-offending"]}})) == []


def _group_world() -> tuple[World, list[str], str]:
    w = World()
    members = [
        w.person("police", f"g{i}", f"Member{i}", "Gang", date_of_birth=ADULT_DOB) for i in range(6)
    ]
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            w.relate("associate_of", a, b)
    child = w.person("police", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    w.relate("associate_of", child, members[0])
    return w, members, child


def test_group_membership_cites_the_ties_that_put_the_person_in_the_group() -> None:
    w, members, _child = _group_world()
    hit = only(fire(w, members[3], rules({"applies_to": "any", "rule": {"kind": "group"}})))
    assert hit.evidence == sorted(members)  # tied to each of the five others
    assert "group of " in hit.detail
    assert (
        fire(w, members[3], rules({"applies_to": "any", "rule": {"kind": "group", "min_size": 9}}))
        == []
    )


def test_associate_of_a_group_member_fires_for_someone_outside_the_group() -> None:
    w, members, child = _group_world()
    whole = context_of(w.facts())
    assert whole.group_of[entity(child)].members == sorted(map(entity, [*members, child]))
    # Were the group detected without the child (as in a larger web), the tie still counts.
    gang = whole.network.subgraph(entity(m) for m in members)
    context = Context(whole.graph, whole.network, detect_groups(gang, {}), AS_OF)
    assert entity(child) not in context.group_of
    in_group = {"kind": "associate", "other": {"in_group": True}, "outside_groups": True}
    hit = only(evaluate(rules({"rule": in_group}), context, entity(child)))
    assert evaluate(rules({"rule": in_group}), whole, entity(child)) == []  # a member itself
    assert hit.evidence == sorted([child, *members])  # the tie, and the member's group ties
    assert hit.detail == "Associates: Member0 Gang (associate), a member of a detected group of 6"
    lonely = World()
    alone = lonely.person("police", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    friend = lonely.person("police", "f1", "Ben", "Jones", date_of_birth=CHILD_DOB)
    lonely.relate("associate_of", alone, friend)
    assert fire(lonely, alone, rules({"rule": in_group})) == []


# --- agencies, flags, uses ---------------------------------------------------------------------


def _known_to(span: int) -> tuple[World, str, dict[str, str]]:
    w = World()
    first = AS_OF - timedelta(days=400)
    records = []
    for n, agency in enumerate(("police", "school", "health")):
        w.source(agency, f"{agency}-org")
        person = w.person(agency, "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
        event = w.event(agency, "e1", "other", first + timedelta(days=span * n // 2))
        w.involve(person, event)
        records.append(person)
    return w, min(records), dict.fromkeys(records, min(records))


def test_agencies_rule_needs_events_from_enough_agencies_within_the_window() -> None:
    rule = {"rule": {"kind": "agencies", "min_agencies": 3, "within_days": 365}}
    w, person, clusters = _known_to(365)
    context = context_of(w.facts(), clusters=clusters)
    hit = only(evaluate(rules(rule), context, entity(person)))
    assert len(hit.evidence) == 6
    assert hit.detail.startswith("3 agencies within 365 days: Health-Org (1), Police-Org (1)")
    w, person, clusters = _known_to(366)
    context = context_of(w.facts(), clusters=clusters)
    assert evaluate(rules(rule), context, entity(person)) == []


def test_flag_rule_cites_the_records_carrying_the_flag() -> None:
    w = World()
    school = w.person("school", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB, flags=["send"])
    council = w.person(
        "council", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB, flags=["looked-after"]
    )
    context = context_of(
        w.facts(), clusters={school: min(school, council), council: min(school, council)}
    )
    person = "e" + min(school, council)
    hit = only(
        evaluate(rules({"rule": {"kind": "flag", "flags": ["looked-after"]}}), context, person)
    )
    assert hit.evidence == [council]
    assert hit.detail == "Recorded: flag looked-after"
    assert (
        evaluate(rules({"rule": {"kind": "flag", "markers": ["violence"]}}), context, person) == []
    )


def test_subject_condition_gates_a_rule_and_joins_its_evidence() -> None:
    w, child, episodes = _missing_child([0])
    gated = {
        "subject": {"flags": ["looked-after"]},
        "rule": {"kind": "events", "match": {"kinds": ["missing-episode"]}},
    }
    assert fire(w, child, rules(gated)) == []
    w.records[child] = type(w.records[child])(
        child,
        "police",
        "Person",
        "Amy Smith",
        {**w.records[child].properties, "flags": ["looked-after"]},
        None,
    )
    hit = only(fire(w, child, rules(gated)))
    assert hit.evidence == sorted([child, *episodes])
    assert hit.detail.endswith("(flag looked-after)")


def test_uses_rule_counts_distinct_things() -> None:
    w = World()
    child = w.person("police", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    one = w.record("police", "Phone", "1", number="07700900001")
    same = w.record("health", "Phone", "1", number="07700 900001")
    w.relate("uses", child, one)
    health_child = w.person("health", "c1", "Amy", "Smith", date_of_birth=CHILD_DOB)
    w.relate("uses", health_child, same)
    clusters = dict.fromkeys((child, health_child), min(child, health_child))
    two = {"rule": {"kind": "uses", "things": ["Phone"], "min_count": 2}}
    person = "e" + min(child, health_child)
    assert evaluate(rules(two), context_of(w.facts(), clusters=clusters), person) == []
    other = w.record("police", "Phone", "2", number="07700900002")
    w.relate("uses", child, other)
    hit = only(evaluate(rules(two), context_of(w.facts(), clusters=clusters), person))
    assert hit.evidence == sorted([child, health_child, one, same, other])
    assert hit.detail.startswith("Uses 2 phones: ") and hit.detail.endswith("07700900002")


# --- rating -------------------------------------------------------------------------------------


def test_rag_thresholds_and_red_severity() -> None:
    indicators = rules({"rule": {"kind": "flag", "flags": ["x"]}}, red=10, amber=4)
    hit = lambda weight, red=False: Hit("c", weight, "", [], None, red)  # noqa: E731
    assert indicators.rate([]) == (0.0, "")
    assert indicators.rate([hit(3.5)]) == (3.5, "green")
    assert indicators.rate([hit(2), hit(2)]) == (4.0, "amber")
    assert indicators.rate([hit(6), hit(4)]) == (10.0, "red")
    assert indicators.rate([hit(1, red=True)]) == (1.0, "red")
