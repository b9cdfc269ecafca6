"""The flat person table that linkage reads: one row per Person record, with its home."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from peel.fusion.linkage import PERSON_COLUMNS, check_persons
from peel.fusion.persons import COLUMNS, person_rows, person_table
from tests.conftest import World
from tests.fusion.analysis_fixtures import World as Facts
from tests.fusion.fixtures import add_person, add_record, add_relation, make_source


def test_rows_carry_names_birth_identifiers_and_the_current_address() -> None:
    w = Facts()
    amy = w.person(
        "police",
        "1",
        "Amy",
        "Smith",
        date_of_birth="2012-04-01",
        sex="female",
        nhs_number="9434765919",
        pnc_id="12/345678A",
        markers=["violence"],
    )
    old = w.address("police", "old", "1 Old Road", "BH2 2BB", town="Poole")
    new = w.address("police", "new", "12 High Street", "BH1 1AA", town="Bournemouth")
    w.relate("lives_at", amy, old, **{"from": "2015-01-01", "to": "2020-01-01"})
    w.relate("lives_at", amy, new, **{"from": "2020-01-02"})
    full = w.record("school", "Person", "2", full_name="Ben de la Cruz")
    nobody = w.record("school", "Person", "3")
    facts = w.facts()
    addresses = {k: r for k, r in facts.records.items() if r.schema == "Address"}
    table = person_rows(
        [facts.records[r] for r in (amy, full, nobody)],
        addresses,
        facts.relations,
        date(2026, 1, 1),
    )
    assert table.column_names == list(COLUMNS)
    assert set(PERSON_COLUMNS) <= set(COLUMNS)
    rows = table.to_pylist()
    assert rows[0] == {
        "record_id": amy,
        "source": "police",
        "given_name": "Amy",
        "family_name": "Smith",
        "date_of_birth": "2012-04-01",
        "sex": "female",
        "address": "12 High Street, Bournemouth",
        "postcode": "BH1 1AA",
        "nhs_number": "9434765919",
        "ni_number": None,
        "pnc_id": "12/345678A",
    }
    assert (rows[1]["given_name"], rows[1]["family_name"]) == ("Ben", "Cruz")
    assert rows[2] == {**dict.fromkeys(COLUMNS), "record_id": nobody, "source": "school"}
    check_persons(table)  # what linkage expects


def test_an_ended_address_is_used_only_when_there_is_no_current_one() -> None:
    w = Facts()
    amy = w.person("police", "1", "Amy", "Smith")
    old = w.address("police", "old", "1 Old Road", "BH2 2BB")
    w.relate("lives_at", amy, old, to="2020-01-01")
    facts = w.facts()
    addresses = {old: facts.records[old]}
    rows = person_rows([facts.records[amy]], addresses, facts.relations, date(2026, 1, 1))
    assert rows.column("postcode").to_pylist() == ["BH2 2BB"]
    newer = w.address("police", "new", "2 New Road", "BH3 3CC")
    w.relate("lives_at", amy, newer)
    facts = w.facts()
    addresses[newer] = facts.records[newer]
    rows = person_rows([facts.records[amy]], addresses, facts.relations, date(2026, 1, 1))
    assert rows.column("postcode").to_pylist() == ["BH3 3CC"]


def test_the_table_from_the_database_for_all_or_some_sources(db: Session, world: World) -> None:
    police = make_source(db, world.orgs["force"], "police")
    school = make_source(db, world.orgs["school"], "school")
    amy = add_person(db, police, "1", "Amy", "Smith", "2012-04-01")
    home = add_record(
        db, police, "Address", "h1", {"line1": "12 High Street", "postcode": "BH1 1AA"}
    )
    add_relation(db, police, "lives_at", amy, home)
    pupil = add_person(db, school, "1", "Amy", "Smith")
    everyone = person_table(db).to_pylist()
    assert {r["record_id"] for r in everyone} == {amy.id, pupil.id}
    by_id = {r["record_id"]: r for r in everyone}
    assert (by_id[amy.id]["address"], by_id[amy.id]["postcode"]) == ("12 High Street", "BH1 1AA")
    assert by_id[pupil.id]["address"] is None
    only_school = person_table(db, [school.id]).to_pylist()
    assert [r["record_id"] for r in only_school] == [pupil.id]
