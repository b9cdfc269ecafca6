"""The synthetic population: its shape, its truth, its identifiers and its recording errors."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pytest

from peel.core.errors import InvalidInput
from peel.fusion import population
from peel.fusion.population import (
    ERROR_KINDS,
    SOURCES,
    corrupt_postcode,
    corrupt_typo,
    make_nhs_numbers,
    nhs_check_digit,
    synthetic_persons,
    transpose_day_month,
    valid_nhs_number,
)

COLUMNS = [
    "record_id",
    "source",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "address",
    "postcode",
    "nhs_number",
    "cluster",
]
POSTCODE = re.compile(r"^[A-PR-UWYZ][A-HK-Y]?\d{1,2} \d[ABD-HJLNP-UW-Z]{2}$")


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return synthetic_persons(4000, seed=3, with_errors=True)


@pytest.fixture(scope="module")
def rows(table: pa.Table) -> list[dict[str, str | None]]:
    return table.to_pylist()


def test_columns_are_the_linkage_table_plus_truth(table: pa.Table) -> None:
    assert table.column_names == [*COLUMNS, "errors"]
    assert all(field.type == pa.string() for field in table.schema)
    assert synthetic_persons(50, seed=3).column_names == COLUMNS


def test_every_person_has_between_one_and_eight_records(rows: list[dict]) -> None:
    per_person = Counter(r["cluster"] for r in rows)
    assert len(per_person) == 4000
    assert min(per_person.values()) >= 1
    assert max(per_person.values()) <= population.MAX_RECORDS_PER_PERSON
    assert 1.7 < len(rows) / len(per_person) < 2.3  # about records_per_person (2.0)
    assert len({r["record_id"] for r in rows}) == len(rows)


def test_records_per_person_follows_the_argument() -> None:
    one = synthetic_persons(500, seed=1, records_per_person=1.0)
    four = synthetic_persons(500, seed=1, records_per_person=4.0)
    assert one.num_rows == 500
    assert 3.5 < four.num_rows / 500 < 4.5


def test_the_same_seed_gives_the_same_table_and_another_seed_does_not() -> None:
    assert synthetic_persons(300, seed=9).equals(synthetic_persons(300, seed=9))
    assert not synthetic_persons(300, seed=9).equals(synthetic_persons(300, seed=10))


def test_every_nhs_number_is_valid_and_belongs_to_one_person(rows: list[dict]) -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r["nhs_number"]:
            assert valid_nhs_number(r["nhs_number"]), r
            assert r["nhs_number"].startswith("9")
            owners[r["nhs_number"]].add(r["cluster"])
    assert owners
    assert all(len(people) == 1 for people in owners.values())


def test_nhs_numbers_are_held_by_health_but_never_by_schools(rows: list[dict]) -> None:
    held = Counter(r["source"] for r in rows if r["nhs_number"])
    total = Counter(r["source"] for r in rows)
    assert held["school"] == 0
    assert held["health"] > 0.9 * total["health"]
    assert held["police"] < 0.1 * total["police"]


def test_nhs_check_digit_matches_a_published_example() -> None:
    # NHS Digital's data dictionary example: 943 476 5919 (check digit 9).
    assert nhs_check_digit("943476591") == 9
    assert valid_nhs_number("943 476 5919")
    assert not valid_nhs_number("9434765918")
    numbers = make_nhs_numbers(np.random.default_rng(0), 5000)
    assert len(set(numbers)) == 5000
    assert all(valid_nhs_number(n) for n in numbers)


def test_values_have_the_expected_shapes(rows: list[dict]) -> None:
    for r in rows:
        assert r["source"] in SOURCES
        assert r["sex"] in (None, "female", "male")
        if r["date_of_birth"]:
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", r["date_of_birth"])
        if r["postcode"]:
            assert POSTCODE.match(r["postcode"]), r["postcode"]


def test_every_kind_of_error_and_hard_negative_is_present(rows: list[dict]) -> None:
    seen = Counter(kind for r in rows for kind in r["errors"].split(";") if kind)
    assert set(seen) == set(ERROR_KINDS)
    clean = sum(1 for r in rows if not r["errors"])
    assert clean > len(rows) * 0.3  # most records are usable, as in real data


def test_twins_share_family_name_birth_date_and_address_but_not_given_name() -> None:
    rng = np.random.default_rng(5)
    people = population.draw_people(rng, 5000)
    twins = np.flatnonzero(people.twin_of >= 0)
    assert len(twins) > 10
    first = people.twin_of[twins]
    assert (people.family_name[twins] == people.family_name[first]).all()
    assert (people.date_of_birth[twins] == people.date_of_birth[first]).all()
    assert (people.home.line1[twins] == people.home.line1[first]).all()
    assert (people.given_name[twins] != people.given_name[first]).all()


def test_namesakes_share_a_full_name_with_a_stranger() -> None:
    people = population.draw_people(np.random.default_rng(5), 5000)
    namesakes = np.flatnonzero(people.namesake_of >= 0)
    assert len(namesakes) > 5
    other = people.namesake_of[namesakes]
    assert (people.given_name[namesakes] == people.given_name[other]).all()
    assert (people.household[namesakes] != people.household[other]).all()


def test_common_names_are_far_commoner_than_rare_ones(rows: list[dict]) -> None:
    counts = Counter(r["family_name"] for r in rows if r["family_name"])
    ranked = [n for _, n in counts.most_common()]
    assert ranked[0] > 20 * ranked[len(ranked) // 2]


def test_typing_errors_change_a_name_by_one_edit() -> None:
    names = ["Elizabeth", "Oliver", "Khan", "Ng"] * 50
    changed = corrupt_typo(np.random.default_rng(1), names)
    for before, after in zip(names, changed, strict=True):
        assert abs(len(before) - len(after)) <= 1
        assert after[0] == before[0]
    assert sum(a != b for a, b in zip(names, changed, strict=True)) > 150


def test_postcode_typos_keep_a_valid_shape() -> None:
    codes = ["WX1 5AG", "WY10 0ZU"] * 50
    for code in corrupt_postcode(np.random.default_rng(2), codes):
        assert POSTCODE.match(code), code


def test_day_and_month_transposition() -> None:
    dates = np.array(["2010-03-07", "2010-03-25", "2011-05-05"], dtype="datetime64[D]")
    swapped, changed = transpose_day_month(dates)
    assert swapped.astype(str).tolist() == ["2010-07-03", "2010-03-25", "2011-05-05"]
    assert changed.tolist() == [True, False, False]


@pytest.mark.parametrize(("people", "per_person"), [(0, 2.0), (10, 0.5), (10, 9.0)])
def test_bad_arguments_are_refused_with_a_reason(people: int, per_person: float) -> None:
    with pytest.raises(InvalidInput, match=r"people|records_per_person"):
        synthetic_persons(people, records_per_person=per_person)
