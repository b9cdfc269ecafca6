"""Entity types as data: the declared vocabulary, normalisers, ids and captions."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.enums import TLP
from peel.core.models import RecordShare
from peel.fusion.models import FusionRecord
from peel.fusion.schema import (
    caption_for,
    entity_model,
    nhs_number_is_valid,
    normalise,
    parse_entity_model,
    record_id,
    relation_id,
)
from tests.conftest import World
from tests.fusion.fixtures import add_event, add_person, add_record, add_relation, make_source


def test_the_declared_vocabulary_is_the_one_agencies_map_onto() -> None:
    model = entity_model()
    assert set(model.entities) == {
        "Person", "Address", "Vehicle", "Phone", "Email", "Organisation", "Event",
    }  # fmt: skip
    assert set(model.relations) == {
        "lives_at", "involved_in", "associate_of", "parent_of", "attends", "occurred_at", "uses",
    }  # fmt: skip
    person = model.entity("Person")
    assert person.properties["date_of_birth"].type == "date"
    assert person.properties["nhs_number"].label == "NHS number"
    kinds = model.entity("Event").properties["kind"].values
    assert {"missing-episode", "ae-attendance", "school-exclusion", "stop-search"} <= set(kinds)
    involved = model.relation("involved_in")
    assert involved.roles is not None and "missing-person" in involved.roles
    assert model.relation("uses").to_types == ("Phone", "Email", "Vehicle")
    assert model.relation("associate_of").symmetric
    assert model.relation("lives_at").roles is None


def test_unknown_types_and_kinds_say_what_exists() -> None:
    with pytest.raises(ValueError, match=r"expected an entity type .*Person.*got 'Pet'"):
        entity_model().entity("Pet")
    with pytest.raises(ValueError, match=r"expected a relation kind .*lives_at"):
        entity_model().relation("knows")


def test_a_broken_entity_type_file_names_the_path() -> None:
    bad_type = "entities:\n  X: {properties: {a: {type: colour}}}\nrelations: {}\n"
    with pytest.raises(ValueError, match=r"entities\.X\.properties\.a\.type"):
        parse_entity_model(bad_type)
    bad_end = (
        "entities:\n  X: {properties: {a: {type: name}}}\nrelations:\n  r: {from: [X], to: [Y]}\n"
    )
    with pytest.raises(ValueError, match=r"relations\.r\.to: unknown entity type 'Y'"):
        parse_entity_model(bad_end)
    bad_caption = "entities:\n  X: {caption: [[b]], properties: {a: {type: name}}}\nrelations: {}\n"
    with pytest.raises(ValueError, match=r"entities\.X\.caption: unknown property 'b'"):
        parse_entity_model(bad_caption)


@pytest.mark.parametrize(
    ("kind", "raw", "fmt", "stored"),
    [
        ("name", "  Amy   Jane ", None, "Amy Jane"),
        ("tag", "Gang Associated", None, "gang-associated"),
        ("date", "2011-03-02", None, "2011-03-02"),
        ("date", "02/03/2011", "%d/%m/%Y", "2011-03-02"),
        ("date", "2011-03-02T00:00:00", "%d/%m/%Y", "2011-03-02"),
        ("date", "2024-05-01 17:45", "%Y-%m-%d %H:%M", "2024-05-01"),
        ("sex", "F", None, "female"),
        ("sex", "boy", None, "male"),
        ("sex", "X", None, "other"),
        ("sex", "not known", None, "unknown"),
        ("postcode", "bh11aa", None, "BH1 1AA"),
        ("postcode", " SW1A  1aa ", None, "SW1A 1AA"),
        ("phone", "+44 (0)7700 900123", None, "07700900123"),
        ("phone", "01202 123456", None, "01202123456"),
        ("phone", "+33 1 23 45 67 89", None, "0033123456789"),
        ("email", " Amy@Example.ORG", None, "amy@example.org"),
        ("registration", "ab12 cde", None, "AB12CDE"),
        ("nhs_number", "943 476 5919", None, "9434765919"),
        ("ni_number", "ab 12 34 56 c", None, "AB123456C"),
        ("identifier", " 11/123456a ", None, "11/123456A"),
    ],
)
def test_normalisers_store_one_canonical_form(
    kind: str, raw: str, fmt: str | None, stored: str
) -> None:
    assert normalise(kind, raw, fmt) == stored


@pytest.mark.parametrize(
    ("kind", "raw", "fmt", "expected"),
    [
        ("date", "31/02/2011", "%d/%m/%Y", "a date like '02/03/2011'"),
        ("date", "yesterday", None, "an ISO date YYYY-MM-DD"),
        ("sex", "maybe", None, "female, male, other or unknown"),
        ("postcode", "BH1", None, "a UK postcode"),
        ("phone", "call me", None, "a telephone number"),
        ("email", "amy.example.org", None, "an email address"),
        ("registration", "AB-12-CDE-XYZ", None, "a vehicle registration"),
        ("nhs_number", "943 476 5918", None, "valid check digit"),
        ("nhs_number", "12345", None, "10 digits"),
        ("ni_number", "QQ123456C", None, "a National Insurance number"),
        ("ni_number", "GB123456A", None, "a National Insurance number"),
    ],
)
def test_bad_values_say_what_was_expected(
    kind: str, raw: str, fmt: str | None, expected: str
) -> None:
    with pytest.raises(ValueError, match="expected") as caught:
        normalise(kind, raw, fmt)
    assert expected in str(caught.value)
    assert repr(raw) in str(caught.value)


def test_enum_values_come_from_the_declared_list() -> None:
    kind = entity_model().entity("Event").properties["kind"]
    assert kind.normalise("A&E attendance") == "ae-attendance"
    assert kind.normalise("Missing Episode") == "missing-episode"
    with pytest.raises(ValueError, match="expected one of incident, crime"):
        kind.normalise("picnic")
    role = entity_model().relation("involved_in")
    assert role.normalise_role("Missing person") == "missing-person"
    with pytest.raises(ValueError, match="expected one of victim"):
        role.normalise_role("bystander")


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_every_nine_digits_have_at_most_one_valid_check_digit(stem: str) -> None:
    valid = [d for d in "0123456789" if nhs_number_is_valid(stem + d)]
    assert len(valid) <= 1
    for digit in valid:
        assert normalise("nhs_number", f"{stem[:3]} {stem[3:6]} {stem[6:]}{digit}") == stem + digit


@given(st.text(max_size=30))
def test_normalisers_either_store_a_value_or_explain(raw: str) -> None:
    for kind in ("date", "sex", "postcode", "phone", "email", "registration", "ni_number"):
        try:
            value = normalise(kind, raw)
        except ValueError as error:
            assert "expected" in str(error)
        else:
            assert value == normalise(kind, value), f"{kind} is not idempotent on {raw!r}"


def test_ids_are_namespaced_per_source_and_stable() -> None:
    assert record_id("s1", "Person", "42") == record_id("s1", "Person", "42")
    assert record_id("s1", "Person", "42") != record_id("s2", "Person", "42")
    assert record_id("s1", "Person", "42") != record_id("s1", "Address", "42")
    assert len(record_id("s1", "Person", "42")) == 40
    assert relation_id("s", "involved_in", "a", "b", "victim") != relation_id(
        "s", "involved_in", "a", "b", "suspect"
    )


def test_captions_follow_the_declared_rules() -> None:
    assert caption_for("Person", {"full_name": ["Amy Jane Smith"], "given_name": ["A"]}) == (
        "Amy Jane Smith"
    )
    assert caption_for("Person", {"given_name": ["Amy"], "family_name": ["Smith"]}) == "Amy Smith"
    assert caption_for("Address", {"line1": ["1 High St"], "postcode": ["BH1 1AA"]}) == (
        "1 High St, BH1 1AA"
    )
    assert caption_for("Address", {"postcode": ["BH1 1AA"]}) == "BH1 1AA"
    assert caption_for("Event", {"kind": ["missing-episode"], "date": ["2024-01-05"]}) == (
        "Missing episode on 2024-01-05"
    )
    assert caption_for("Vehicle", {}) == "Vehicle"


def test_fixtures_store_what_an_import_would(db: Session, world: World) -> None:
    source = make_source(db, world.orgs["council"], "kids", share_with=[world.orgs["force"]])
    child = add_person(db, source, "C1", "Amy", "Smith", date(2011, 3, 2), sex="female")
    episode = add_event(db, source, "E1", "missing-episode", "2024-01-05")
    home = add_record(db, source, "Address", "H1", {"line1": "1 High St", "postcode": "BH1 1AA"})
    add_relation(db, source, "involved_in", child, episode, "missing-person")
    add_relation(db, source, "lives_at", child, home)
    assert child.id == record_id(source.id, "Person", "C1")
    assert child.properties["date_of_birth"] == ["2011-03-02"]
    assert episode.occurred_on == date(2024, 1, 5)
    assert db.scalar(select(FusionRecord.caption).where(FusionRecord.id == child.id)) == (
        "Amy Smith"
    )
    shares = db.scalars(
        select(RecordShare.organisation_id).where(RecordShare.record_id == source.id)
    ).all()
    assert shares == [world.orgs["force"].id]
    assert source.tlp == TLP.amber
    with pytest.raises(ValueError, match="cannot end at a Person"):
        add_relation(db, source, "lives_at", child, child)
