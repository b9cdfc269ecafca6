"""The simulated county: four agencies' files that import, truth for every record, and the
planted patterns really present in the files.

Planted patterns are checked on what the importer reads from the written files (records and
relations per agency), not on the simulator's own bookkeeping, so a simulator that claimed a
pattern it never wrote would fail.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import openpyxl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from peel.core.errors import InvalidInput
from peel.fusion import county as county_module
from peel.fusion.cli import app as fusion_app
from peel.fusion.ingest import PreparedImport, prepare_import
from peel.fusion.mapping import parse_mapping
from peel.fusion.population import valid_nhs_number
from peel.fusion.simulate import AGENCIES, FILES, SimulationResult, simulate

AS_OF = date(2025, 6, 1)
MAX_BYTES = 50 * 1024 * 1024


@dataclass
class Imported:
    """One agency's file as the importer reads it, indexed for the checks below."""

    agency: str
    prepared: PreparedImport

    def records(self, schema: str) -> list[Any]:
        return [r for r in self.prepared.records.values() if r.schema == schema]

    def by_key(self, schema: str) -> dict[str, Any]:
        return {r.source_key: r for r in self.records(schema)}

    def relations(self, kind: str) -> list[Any]:
        return [r for r in self.prepared.relations.values() if r.kind == kind]


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    return simulate(tmp_path_factory.mktemp("county"), children=120, seed=5, as_of=AS_OF)


@pytest.fixture(scope="module")
def truth(county: SimulationResult) -> dict[str, Any]:
    return dict(json.loads(county.truth_path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def imported(county: SimulationResult) -> dict[str, Imported]:
    found = {}
    for agency in AGENCIES:
        mapping = parse_mapping(county.mappings[agency].read_text(encoding="utf-8"))
        data = county.files[agency].read_bytes()
        prepared = prepare_import(
            agency, mapping, data, FILES[agency], max_bytes=MAX_BYTES
        )  # raises ImportRejected, naming rows and columns, if any row is wrong
        found[agency] = Imported(agency, prepared)
    return found


def _person_refs(imported: dict[str, Imported]) -> set[str]:
    return {f"{a}:{r.source_key}" for a, i in imported.items() for r in i.records("Person")}


def _keys_of(truth: dict[str, Any], agency: str, person: str) -> set[str]:
    prefix = f"{agency}:"
    return {
        ref[len(prefix) :]
        for ref, who in truth["records"].items()
        if who == person and ref.startswith(prefix)
    }


def _events_of(found: Imported, person_keys: Iterable[str]) -> list[tuple[Any, str]]:
    """(event record, role) for every event the person's records are involved in."""
    people = found.by_key("Person")
    ids = {people[k].id for k in person_keys if k in people}
    events = {r.id: r for r in found.records("Event")}
    return [
        (events[rel.to_record_id], rel.role)
        for rel in found.relations("involved_in")
        if rel.from_record_id in ids and rel.to_record_id in events
    ]


def _on(event: Any) -> date:
    return date.fromisoformat(event.properties["date"][0])


def test_files_are_in_each_agencys_own_format(county: SimulationResult) -> None:
    header = county.files["police"].read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("NOMINAL_ID,PNC_ID,FORENAME,SURNAME,DOB")
    book = openpyxl.load_workbook(county.files["childrens-services"], read_only=True)
    assert book.sheetnames == ["Case records", "About"]
    school = json.loads(county.files["school"].read_text(encoding="utf-8"))
    assert school["school"]["name"] == "Northgate Academy" and school["pupils"]
    ae = pq.read_table(county.files["health"])
    assert {"nhs_no", "category", "safeguarding_markers"} <= set(ae.column_names)
    assert sorted(p.name for p in county.mappings.values()) == [
        "ae.yaml", "childrens-services.yaml", "police.yaml", "school.yaml",
    ]  # fmt: skip


def test_every_file_imports_with_its_mapping(imported: dict[str, Imported]) -> None:
    for agency, found in imported.items():
        assert found.records("Person"), agency
        assert found.records("Event"), agency
        assert found.relations("involved_in"), agency
        assert found.relations("lives_at"), agency
    assert imported["police"].relations("associate_of")
    assert imported["police"].relations("uses")
    assert imported["childrens-services"].relations("parent_of")
    assert imported["school"].relations("attends")


def test_truth_names_the_person_behind_every_person_record(
    imported: dict[str, Imported], truth: dict[str, Any]
) -> None:
    assert set(truth["records"]) == _person_refs(imported)
    assert set(truth["records"].values()) <= set(truth["people"])


def test_persons_table_is_the_same_records_with_their_truth(
    county: SimulationResult, truth: dict[str, Any], imported: dict[str, Imported]
) -> None:
    rows = pq.read_table(county.persons_path).to_pylist()
    assert {r["record_id"] for r in rows} == set(truth["records"])
    assert all(truth["records"][r["record_id"]] == r["cluster"] for r in rows)
    for row in rows:
        agency, key = row["record_id"].split(":", 1)
        record = imported[agency].by_key("Person")[key]
        assert row["given_name"] in record.properties.get("given_name", [None])
        assert row["date_of_birth"] in record.properties.get("date_of_birth", [None])
        if row["nhs_number"]:
            assert valid_nhs_number(row["nhs_number"])
    assert len({r["cluster"] for r in rows}) < len(rows)  # people held by several agencies


def test_nhs_numbers_only_where_health_and_social_care_hold_them(
    imported: dict[str, Imported],
) -> None:
    for agency, found in imported.items():
        held = [r for r in found.records("Person") if r.properties.get("nhs_number")]
        assert bool(held) == (agency in ("health", "childrens-services")), agency


def test_the_same_seed_and_day_give_the_same_files(
    county: SimulationResult, tmp_path: Path
) -> None:
    again = simulate(tmp_path / "again", children=120, seed=5, as_of=AS_OF)
    for agency in ("police", "school", "health"):
        assert again.files[agency].read_bytes() == county.files[agency].read_bytes()
    assert again.truth_path.read_bytes() == county.truth_path.read_bytes()
    other = simulate(tmp_path / "other", children=120, seed=6, as_of=AS_OF)
    assert other.files["police"].read_bytes() != county.files["police"].read_bytes()


def test_dates_run_up_to_as_of(imported: dict[str, Imported]) -> None:
    dates = [_on(e) for found in imported.values() for e in found.records("Event")]
    assert max(dates) <= AS_OF
    assert max(dates) > AS_OF - timedelta(days=60)
    assert min(dates) > AS_OF - timedelta(days=800)


def test_planted_children_are_a_minority(truth: dict[str, Any]) -> None:
    children = [p for p in truth["people"].values() if p["role"] == "child"]
    planted = {entry["person"] for entry in truth["at_risk"]}
    assert len(children) == 120
    assert 0.05 * len(children) < len(planted) < 0.45 * len(children)
    patterns = {entry["pattern"] for entry in truth["at_risk"]}
    assert patterns == {
        "missing-episodes", "exclusion-and-police", "knife-injury", "violent-adult-at-home",
        "many-small-events", "group-member", "group-associate",
    }  # fmt: skip


def _planted(truth: dict[str, Any], pattern: str) -> list[str]:
    return [e["person"] for e in truth["at_risk"] if e["pattern"] == pattern]


def test_missing_children_go_missing_three_times_in_90_days(
    imported: dict[str, Imported], truth: dict[str, Any]
) -> None:
    for person in _planted(truth, "missing-episodes"):
        keys = _keys_of(truth, "police", person)
        episodes = sorted(
            _on(e)
            for e, role in _events_of(imported["police"], keys)
            if e.properties["kind"] == ["missing-episode"] and role == "missing-person"
        )
        assert any(b - a <= timedelta(days=90) for a, b in zip(episodes, episodes[2:])), person


def test_excluded_children_have_police_contact_within_six_months(
    imported: dict[str, Imported], truth: dict[str, Any]
) -> None:
    for person in _planted(truth, "exclusion-and-police"):
        school = _events_of(imported["school"], _keys_of(truth, "school", person))
        police = _events_of(imported["police"], _keys_of(truth, "police", person))
        excluded = [_on(e) for e, _ in school if e.properties["kind"] == ["school-exclusion"]]
        arrested = [_on(e) for e, role in police if role == "arrested"]
        assert any(abs(a - b) <= timedelta(days=183) for a in excluded for b in arrested)


def test_knife_injuries_are_at_ae(imported: dict[str, Imported], truth: dict[str, Any]) -> None:
    for person in _planted(truth, "knife-injury"):
        visits = _events_of(imported["health"], _keys_of(truth, "health", person))
        knife = [e for e, _ in visits if "knife" in e.properties.get("markers", [])]
        assert any(e.properties["category"] == ["knife injury"] for e in knife), person


def _homes(found: Imported) -> dict[str, set[tuple[str, str]]]:
    """Person record key -> (line 1 upper case, postcode) of the addresses it lives at."""
    people = {r.id: r.source_key for r in found.records("Person")}
    addresses = {r.id: r for r in found.records("Address")}
    homes: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for rel in found.relations("lives_at"):
        place = addresses[rel.to_record_id].properties
        homes[people[rel.from_record_id]].add((place["line1"][0].upper(), place["postcode"][0]))
    return homes


def test_children_live_with_an_adult_the_police_mark_as_violent(
    imported: dict[str, Imported], truth: dict[str, Any]
) -> None:
    police, social = imported["police"], imported["childrens-services"]
    police_homes, social_homes = _homes(police), _homes(social)
    nominals = police.by_key("Person")
    assert truth["violent_households"]
    for household in truth["violent_households"]:
        adult_keys = _keys_of(truth, "police", household["adult"])
        assert any("violence" in nominals[k].properties["markers"] for k in adult_keys)
        adult_homes = set().union(*(police_homes[k] for k in adult_keys))
        for child in household["children"]:
            child_homes = set().union(
                *(social_homes[k] for k in _keys_of(truth, "childrens-services", child))
            )
            assert adult_homes & child_homes, child


def test_the_group_is_tied_together_in_the_police_data(
    imported: dict[str, Imported], truth: dict[str, Any]
) -> None:
    police = imported["police"]
    person_of = {r.id: truth["records"][f"police:{r.source_key}"] for r in police.records("Person")}
    network = nx.Graph()
    for rel in police.relations("associate_of"):
        network.add_edge(person_of[rel.from_record_id], person_of[rel.to_record_id])
    co_involved: dict[str, list[str]] = defaultdict(list)
    for rel in police.relations("involved_in"):
        if rel.role in ("suspect", "arrested"):
            co_involved[rel.to_record_id].append(person_of[rel.from_record_id])
    for people in co_involved.values():
        network.add_edges_from((a, b) for a in people for b in people if a < b)
    group = truth["group"]
    members = set(group["members"])
    assert 10 <= len(members) <= 15
    assert nx.is_connected(network.subgraph(members))
    phones = {r.id: r.properties["number"][0] for r in police.records("Phone")}
    line = group["shared_phone"].replace(" ", "")
    users = {
        person_of[rel.from_record_id]
        for rel in police.relations("uses")
        if phones.get(rel.to_record_id) == line
    }
    assert len(users) >= 3 and users <= members
    for outsider in group["peripheral"]:
        assert set(network[outsider]) & members


def test_background_co_offenders_come_in_pairs(
    imported: dict[str, Imported], truth: dict[str, Any]
) -> None:
    events = imported["police"].by_key("Event")
    assert len(truth["co_offending_pairs"]) >= 3
    for a, b, ref in truth["co_offending_pairs"]:
        event = events[ref.split(":", 1)[1]]
        involved = {
            truth["records"][f"police:{k}"]
            for k, rec in imported["police"].by_key("Person").items()
            for rel in imported["police"].relations("involved_in")
            if rel.from_record_id == rec.id and rel.to_record_id == event.id
        }
        assert involved == {a, b}


def test_many_small_events_come_from_every_agency(
    imported: dict[str, Imported], truth: dict[str, Any]
) -> None:
    for person in _planted(truth, "many-small-events"):
        agencies = {
            agency
            for agency, found in imported.items()
            if _events_of(found, _keys_of(truth, agency, person))
        }
        assert agencies == set(AGENCIES), person


def test_twins_are_held_as_different_people(truth: dict[str, Any]) -> None:
    assert truth["twins"]
    for a, b in truth["twins"]:
        first, second = truth["people"][a], truth["people"][b]
        assert first["date_of_birth"] == second["date_of_birth"]
        assert first["home"] == second["home"]
        assert first["name"] != second["name"]


def test_too_few_children_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="children"):
        simulate(tmp_path, children=10)


def test_simulate_command_prints_a_summary(tmp_path: Path) -> None:
    args = ["simulate", str(tmp_path / "cli"), "--children", "40", "--as-of", "2025-01-31"]
    result = CliRunner().invoke(fusion_app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["children"] == 40 and summary["as_of"] == "2025-01-31"
    assert summary["group_size"] >= 10 and summary["at_risk_children"] > 0
    assert all(Path(p).is_file() for p in summary["files"].values())
    bad = CliRunner().invoke(fusion_app, ["simulate", str(tmp_path / "x"), "--as-of", "soon"])
    assert bad.exit_code != 0 and "--as-of" in bad.output


def test_a_large_county_never_runs_out_of_distinct_nhs_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(county_module, "NHS_BATCH", 50)
    county = county_module.County(np.random.default_rng(3), date(2026, 1, 1))
    numbers = [county.next_nhs_number() for _ in range(400)]
    assert len(set(numbers)) == 400
    assert all(valid_nhs_number(n) for n in numbers)
