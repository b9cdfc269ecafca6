"""Person linkage: scoring pairs with evidence, clustering with practitioners' decisions."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.fusion import linkage, metrics
from peel.fusion.linkage import LinkageConfig, LinkageInputError, LinkConstraint, cluster
from tests.fusion.linkage_fixtures import people


@pytest.fixture(scope="module")
def persons() -> pa.Table:
    return people(households=True)


@pytest.fixture(scope="module")
def scored(persons: pa.Table) -> linkage.LinkageResult:
    return linkage.score_pairs(persons, LinkageConfig())


def entities(persons: pa.Table, pairs: pa.Table, threshold: float = 0.9) -> dict[str, str]:
    return cluster(persons["record_id"].to_pylist(), pairs, threshold)


def with_rows(persons: pa.Table, rows: list[dict[str, str | None]]) -> pa.Table:
    extra = pa.table(
        {c: pa.array([r.get(c) for r in rows], pa.string()) for c in persons.schema.names}
    )
    return pa.concat_tables([persons, extra])


# --- scoring ------------------------------------------------------------------------------------


def test_records_with_typos_link_to_the_right_people(persons: pa.Table, scored) -> None:
    found = entities(persons, scored.pairs)
    scores = metrics.score_clusters(
        [found[r] for r in persons["record_id"].to_pylist()], persons["cluster"]
    )
    assert scores.pairwise.f1 > 0.95
    assert scores.cluster.f1 > 0.95
    assert found["typo-a"] == found["typo-b"]


def test_a_transposed_or_swapped_date_of_birth_still_links(persons: pa.Table, scored) -> None:
    found = entities(persons, scored.pairs)
    assert found["dob-a"] == found["dob-b"] == found["dob-c"] == "dob-a"
    levels = {
        (p["record_a"], p["record_b"]): json.loads(p["evidence"])["date_of_birth"]["level"]
        for p in scored.pairs.to_pylist()
    }
    assert levels[("dob-a", "dob-b")] == "one digit wrong or two swapped"
    assert levels[("dob-a", "dob-c")] == "day and month swapped"


def test_twins_in_one_household_stay_two_people(persons: pa.Table, scored) -> None:
    found = cluster(persons["record_id"], scored.pairs, 0.9, identifiers=persons)
    assert found["twin-a"] != found["twin-b"]
    assert found["twin-a2"] in (found["twin-a"], found["twin-b"])
    assert entities(persons, scored.pairs)["twin-a"] == entities(persons, scored.pairs)["twin-b"]


def test_twins_without_nhs_numbers_are_told_apart_by_given_name(persons, scored) -> None:
    found = entities(persons, scored.pairs)
    assert found["twin-c"] == found["twin-c2"] != found["twin-d"] == found["twin-d2"]
    pair = next(
        p
        for p in scored.pairs.to_pylist()
        if {p["record_a"], p["record_b"]} == {"twin-c", "twin-d"}
    )
    household = json.loads(pair["evidence"])["household"]
    assert household["level"].endswith("(as twins)") and household["weight"] < 0


def test_a_father_and_son_of_one_name_stay_two_people(persons: pa.Table, scored) -> None:
    found = entities(persons, scored.pairs)
    assert found["senior"] != found["junior"]


def test_a_shared_nhs_number_links_despite_another_given_name(persons, scored) -> None:
    found = entities(persons, scored.pairs)
    assert found["nhs-a"] == found["nhs-b"]
    pair = next(p for p in scored.pairs.to_pylist() if p["record_a"] == "nhs-a")
    assert json.loads(pair["evidence"])["nhs_number"]["level"] == "same"


def test_different_nhs_numbers_outweigh_matching_names(persons: pa.Table) -> None:
    near: dict[str, str | None] = {
        "given_name": "Wilhelmina",
        "family_name": "Oyelaran",
        "sex": "F",
        "source": "health",
    }
    rows: list[dict[str, str | None]] = [
        {**near, "record_id": "ident-a", "date_of_birth": "1970-04-21", "nhs_number": "4444444444"},
        {**near, "record_id": "ident-b", "date_of_birth": "1970-04-12", "nhs_number": "5555555555"},
    ]
    with_numbers = linkage.score_pairs(with_rows(persons, rows), LinkageConfig())
    for row in rows:
        row["nhs_number"] = None
    without = linkage.score_pairs(with_rows(persons, rows), LinkageConfig())
    assert cluster(["ident-a", "ident-b"], with_numbers.pairs, 0.9)["ident-b"] == "ident-b"
    assert cluster(["ident-a", "ident-b"], without.pairs, 0.9)["ident-b"] == "ident-a"


def test_each_kept_pair_carries_its_evidence(scored) -> None:
    pairs = scored.pairs
    assert pairs.schema == linkage.PAIR_SCHEMA
    assert pc.all(pc.less(pairs["record_a"], pairs["record_b"])).as_py()
    assert pc.min(pairs["match_probability"]).as_py() >= 0.5
    prior = scored.model["probability_two_random_records_match"]
    rows = pairs.to_pylist()
    for pair in rows[:50] + [p for p in rows if '"household"' in p["evidence"]]:
        evidence = json.loads(pair["evidence"])
        assert set(evidence) >= {"given_name", "family_name", "date_of_birth", "address"}
        assert all(set(part) == {"level", "weight"} for part in evidence.values())
        total = sum(part["weight"] for part in evidence.values())
        assert pair["match_weight"] == pytest.approx(
            math.log2(prior / (1 - prior)) + total, abs=0.05
        )
    assert scored.stats["records"] == 467
    assert scored.stats["candidate_pairs"] >= pairs.num_rows
    assert set(scored.stats["seconds"]) >= {"normalise", "train", "block", "score"}


def test_a_trained_model_scores_again_without_training(persons: pa.Table, scored) -> None:
    again = linkage.score_pairs(persons, LinkageConfig(), model=scored.model)
    assert "train" not in again.stats["seconds"]
    assert again.pairs.equals(scored.pairs)


def test_progress_is_reported_from_start_to_end(persons: pa.Table, scored) -> None:
    seen: list[tuple[float, str]] = []
    linkage.score_pairs(persons.slice(0, 60), LinkageConfig(), lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)


def test_normalising_reads_agencies_different_habits() -> None:
    raw = pa.table(
        {
            "record_id": ["1", "2", "3"],
            "source": ["a", "b", "c"],
            "given_name": ["  José ", "O'NEILL", None],
            "family_name": ["Smith-Jones", "", "x"],
            "date_of_birth": ["2001-02-03T10:00", "2001-02-30", "3rd May"],
            "sex": ["F", "male", "unknown"],
            "address": ["12a High St, Poole", "Flat 3, 45 Abbey Gdns", None],
            "postcode": ["bh12 3ab", "BH123AB", "not a postcode"],
            "nhs_number": ["943 476 5919", None, "  "],
        }
    )
    prepared, present = linkage.prepare_persons(raw)
    rows = prepared.to_pylist()
    assert [r["given_name"] for r in rows] == ["jose", "oneill", None]
    assert [r["family_name"] for r in rows] == ["smith jones", None, "x"]
    assert [r["date_of_birth"] for r in rows] == ["2001-02-03", "2001-02-30", None]
    assert [r["birth_day"] is None for r in rows] == [False, True, True]
    assert [r["dob_swapped"] for r in rows] == ["2001-03-02", None, None]
    assert [r["sex"] for r in rows] == ["female", "male", None]
    assert rows[0]["address"] == "12a high street poole" and rows[0]["house_number"] == "12a"
    assert rows[1]["address"] == "flat 3 45 abbey gardens"
    assert [r["postcode"] for r in rows] == ["BH12 3AB", "BH12 3AB", "NOTAPOSTCODE"]
    assert [r["postcode_sector"] for r in rows] == ["BH12 3", "BH12 3", None]
    assert [r["nhs_number"] for r in rows] == ["9434765919", None, None]
    assert "nhs_number" in present and "ni_number" not in present


# --- bad input --------------------------------------------------------------------------------


def test_a_missing_column_is_named(persons: pa.Table) -> None:
    with pytest.raises(LinkageInputError) as caught:
        linkage.score_pairs(persons.drop_columns(["postcode", "sex"]), LinkageConfig())
    assert set(caught.value.errors) == {"persons: column sex", "persons: column postcode"}


def test_record_ids_must_be_present_and_unique(persons: pa.Table) -> None:
    twice = pa.concat_tables([persons.slice(0, 3), persons.slice(0, 1)])
    with pytest.raises(LinkageInputError, match="more than once"):
        linkage.check_persons(twice)
    blank = persons.slice(0, 3).set_column(0, "record_id", pa.array(["a", " ", "c"]))
    with pytest.raises(LinkageInputError) as caught:
        linkage.check_persons(blank)
    assert "persons: row 2, column record_id" in caught.value.errors


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "people.parquet"
    broken.write_bytes(b"this is not parquet")
    with pytest.raises(LinkageInputError, match="not a readable Parquet file") as caught:
        linkage.read_person_file(broken)
    assert str(broken) in caught.value.errors
    with pytest.raises(LinkageInputError, match="no such file"):
        linkage.read_person_file(tmp_path / "absent.csv")
    short = tmp_path / "short.csv"
    short.write_text("record_id,given_name\n1,Ann\n")
    with pytest.raises(LinkageInputError) as caught:
        linkage.read_person_file(short)
    assert f"{short}: column family_name" in caught.value.errors


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(LinkageInputError) as caught:
        LinkageConfig(match_threshold=1.5, keep_threshold=0, engine="excel")
    assert set(caught.value.errors) == {"match_threshold", "keep_threshold", "engine"}
    with pytest.raises(LinkageInputError, match="not be above"):
        LinkageConfig(match_threshold=0.6, keep_threshold=0.7)


def test_too_little_to_compare_gives_no_pairs() -> None:
    one = people().slice(0, 1)
    result = linkage.score_pairs(one, LinkageConfig())
    assert result.pairs.num_rows == 0 and result.stats["candidate_pairs"] == 0


# --- a file in, a file out ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_link_file_writes_each_records_entity(persons: pa.Table, tmp_path: Path, suffix: str):
    source = tmp_path / f"people{suffix}"
    linkage.write_table(persons.drop_columns(["cluster"]), source)
    report = linkage.link_file(source, tmp_path / f"out{suffix}")
    out = linkage.read_table(tmp_path / f"out{suffix}")
    assert out.column_names == ["record_id", "entity_id", "match_probability"]
    assert sorted(out["record_id"].to_pylist()) == sorted(persons["record_id"].to_pylist())
    rows = {r["record_id"]: r for r in out.to_pylist()}
    assert rows["dob-b"]["entity_id"] == "dob-a"
    assert float(rows["dob-b"]["match_probability"]) > 0.9
    assert rows["senior"]["match_probability"] is None  # alone: no link to report
    assert rows["twin-a"]["entity_id"] != rows["twin-b"]["entity_id"]
    assert report.records == persons.num_rows
    assert report.entities == len(set(out["entity_id"].to_pylist()))


def test_link_file_refuses_an_output_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(LinkageInputError, match=r"\.csv or \.parquet"):
        linkage.link_file(tmp_path / "in.csv", tmp_path / "out.xlsx")


# --- clustering ---------------------------------------------------------------------------------

IDS = ["a", "b", "c", "d", "e", "f"]


def test_pairs_at_the_threshold_link_transitively() -> None:
    pairs = [("a", "b", 0.95), ("b", "c", 0.9), ("d", "e", 0.89), ("e", "zz", 0.99)]
    assert cluster(IDS, pairs, 0.9) == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "e", "f": "f"}


def test_the_entity_is_named_after_its_smallest_record_id() -> None:
    assert cluster(
        ["r9", "r10", "r2"], [("r9", "r2", 1.0), ("r2", "r10", 1.0)], 0.5
    ) == dict.fromkeys(["r9", "r10", "r2"], "r10")


def test_a_merge_joins_records_the_scores_kept_apart() -> None:
    merge = LinkConstraint("merge", ("a",), ("d", "f"))
    found = cluster(IDS, [("a", "b", 0.99), ("d", "e", 0.99)], 0.9, [merge])
    assert {k for k, v in found.items() if v == "a"} == {"a", "b", "d", "e", "f"}


def test_a_split_drops_the_link_between_its_sides() -> None:
    split = LinkConstraint("split", ("a",), ("b",))
    found = cluster(IDS, [("a", "b", 0.99), ("b", "c", 0.95)], 0.9, [split])
    assert found["a"] == "a" and found["b"] == found["c"] == "b"


def test_a_split_cuts_the_weakest_link_on_a_transitive_path() -> None:
    pairs = [("a", "b", 0.99), ("b", "c", 0.93), ("c", "d", 0.97)]
    found = cluster(IDS, pairs, 0.9, [LinkConstraint("split", ("a",), ("d",))])
    assert found["a"] == found["b"] == "a"
    assert found["c"] == found["d"] == "c"


def test_a_split_cuts_every_path_between_its_sides() -> None:
    pairs = [("a", "b", 0.99), ("b", "d", 0.92), ("a", "c", 0.98), ("c", "d", 0.93)]
    found = cluster(IDS, pairs, 0.9, [LinkConstraint("split", ("a", "b"), ("d",))])
    assert found["a"] == found["b"] == found["c"] == "a"
    assert found["d"] == "d"


def test_a_split_outranks_a_merge_it_contradicts() -> None:
    constraints = [LinkConstraint("merge", ("a",), ("b",)), LinkConstraint("split", ("a",), ("b",))]
    found = cluster(IDS, [("a", "c", 0.95)], 0.9, constraints)
    assert found["a"] != found["b"]


def test_decisions_naming_records_not_in_play_are_ignored() -> None:
    constraints = [
        LinkConstraint("split", ("a", "gone"), ("b",)),
        LinkConstraint("merge", ("x",), ("y",)),
    ]
    found = cluster(IDS, [("a", "c", 0.95), ("c", "b", 0.91)], 0.9, constraints)
    assert found["a"] != found["b"] and found["c"] in (found["a"], found["b"])


def test_a_table_of_pairs_clusters_like_tuples() -> None:
    pairs = [("a", "b", 0.95), ("c", "d", 0.91), ("d", "e", 0.5)]
    table = pa.table(
        {
            "record_a": ["a", "c", "d"],
            "record_b": ["b", "d", "e"],
            "match_probability": [0.95, 0.91, 0.5],
        }
    )
    assert cluster(IDS, table, 0.9) == cluster(IDS, pairs, 0.9)


def test_a_nonsense_decision_is_refused() -> None:
    with pytest.raises(ValueError, match="both sides"):
        cluster(IDS, [], 0.9, [LinkConstraint("split", ("a",), ("a",))])
    with pytest.raises(ValueError, match="'merge' or 'split'"):
        LinkConstraint("join", ("a",), ("b",))


edges = st.lists(
    st.tuples(st.sampled_from(IDS), st.sampled_from(IDS), st.floats(0.0, 1.0)), max_size=20
)


@settings(max_examples=60, deadline=None)
@given(edges, st.sets(st.sampled_from(IDS), min_size=1, max_size=3), st.sampled_from(IDS))
def test_a_split_is_always_honoured(pairs: Sequence[tuple[str, str, float]], left, right) -> None:
    left = tuple(sorted(set(left) - {right}))
    if not left:
        return
    found = cluster(IDS, pairs, 0.5, [LinkConstraint("split", left, (right,))])
    assert all(found[x] != found[right] for x in left)
    plain = cluster(IDS, pairs, 0.5)
    for record, entity in found.items():
        assert plain[record] == plain[entity]  # splitting only ever divides an entity
        assert entity <= record


# --- reference numbers that differ ----------------------------------------------------------------


def numbers(**nhs: str | None) -> pa.Table:
    return pa.table(
        {
            "record_id": pa.array(list(nhs), pa.string()),
            "nhs_number": pa.array(list(nhs.values()), pa.string()),
        }
    )


def test_a_chain_between_different_nhs_numbers_is_cut_at_its_weakest_link() -> None:
    pairs = [("a", "b", 0.99), ("b", "c", 0.93), ("c", "d", 0.97)]
    known = numbers(a="401 000 0001", b=None, c=None, d="4010000002")
    found = cluster(IDS, pairs, 0.9, identifiers=known)
    assert found["a"] == found["b"] == "a"
    assert found["c"] == found["d"] == "c"
    assert cluster(IDS, pairs, 0.9)["d"] == "a"  # without the numbers, one chain


def test_the_same_number_written_differently_is_no_conflict() -> None:
    pairs = [("a", "b", 0.99), ("b", "c", 0.93)]
    found = cluster(IDS, pairs, 0.9, identifiers=numbers(a="401 000 0001", c="4010000001"))
    assert found["a"] == found["b"] == found["c"] == "a"


def test_a_practitioners_merge_outranks_different_numbers_but_not_a_split() -> None:
    known = numbers(a="4010000001", b="4010000002", c="4010000003")
    merge = LinkConstraint("merge", ("a",), ("b",))
    found = cluster(IDS, [("b", "c", 0.99)], 0.9, [merge], identifiers=known)
    assert found["a"] == found["b"] == "a" and found["c"] == "c"
    split = LinkConstraint("split", ("a",), ("b",))
    assert cluster(IDS, [], 0.9, [merge, split], identifiers=known)["b"] == "b"


numbered = st.dictionaries(st.sampled_from(IDS), st.sampled_from(["1", "2", "3", None]))


@settings(max_examples=60, deadline=None)
@given(edges, numbered)
def test_no_entity_holds_two_numbers_unless_merged(pairs, nhs: dict[str, str | None]) -> None:
    found = cluster(IDS, pairs, 0.5, identifiers=numbers(**nhs))
    held: dict[str, set[str]] = {}
    for record, number in nhs.items():
        if number:
            held.setdefault(found[record], set()).add(number)
    assert all(len(values) == 1 for values in held.values())
    plain = cluster(IDS, pairs, 0.5)
    assert all(plain[record] == plain[entity] for record, entity in found.items())
