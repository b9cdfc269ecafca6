"""``peel fusion link`` and ``peel fusion evaluate`` on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from peel.cli import app
from peel.fusion import linkage
from tests.conftest import SHARED_DATA
from tests.fusion.linkage_fixtures import people

runner = CliRunner()
FAKE = SHARED_DATA / "linkage" / "fake_1000.csv"
FAKE_LABELS = SHARED_DATA / "linkage" / "fake_1000_labels.csv"


def peel(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def person_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test population as a CSV person file, its truth in the ``cluster`` column."""
    path = tmp_path_factory.mktemp("link") / "people.csv"
    linkage.write_table(people(), path)
    return path


@pytest.fixture(scope="module")
def linked(person_file: Path) -> Path:
    out = person_file.parent / "entities.parquet"
    code, output = peel("fusion", "link", person_file, "--out", out)
    assert code == 0, output
    assert "Linked 460 records into" in output
    return out


def test_link_writes_an_entity_for_every_record(linked: Path, person_file: Path) -> None:
    out = linkage.read_table(linked)
    assert out.column_names == ["record_id", "entity_id", "match_probability"]
    assert out.num_rows == linkage.read_table(person_file).num_rows
    rows = {r["record_id"]: r["entity_id"] for r in out.to_pylist()}
    assert rows["typo-b"] == rows["typo-a"] == "typo-a"


def test_link_reports_json_and_takes_a_threshold(person_file: Path, tmp_path: Path) -> None:
    code, output = peel(
        "fusion", "link", person_file, "--out", tmp_path / "e.csv", "--threshold", "0.99", "--json"
    )
    assert code == 0, output
    summary = json.loads(output)
    assert summary["records"] == 460 and summary["match_threshold"] == 0.99
    assert summary["engine"] == "duckdb" and summary["candidate_pairs"] > 0
    assert set(summary["seconds"]) >= {"train", "score", "cluster", "write"}


def test_evaluate_prints_pairwise_and_cluster_scores(linked: Path, person_file: Path) -> None:
    code, output = peel("fusion", "evaluate", linked, person_file, "--truth-column", "cluster")
    assert code == 0, output
    assert "pairwise" in output and "cluster" in output and "Precision" in output
    code, output = peel("fusion", "evaluate", linked, person_file, "--by", "source", "--json")
    assert code == 0, output
    result = json.loads(output)
    assert result["overall"]["pairwise"]["f1"] > 0.95
    assert set(result["groups"]) == {"police", "health", "school", "childrens-services"}


def test_evaluate_one_file_holding_both(linked: Path, person_file: Path, tmp_path: Path) -> None:
    both = linkage.read_table(linked).join(
        linkage.read_table(person_file).select(["record_id", "cluster"]), "record_id"
    )
    linkage.write_table(both, tmp_path / "both.csv")
    code, output = peel("fusion", "evaluate", tmp_path / "both.csv", "--json")
    assert code == 0, output
    assert json.loads(output)["overall"]["cluster"]["f1"] > 0.95


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["link", "absent.csv", "--out", "x.csv"], "absent.csv: no such file"),
        (["link", "{short}", "--out", "x.csv"], "column date_of_birth: missing"),
        (["link", "{short}", "--out", "x.csv", "--engine", "excel"], "engine: must be one of"),
        (["link", "{short}", "--out", "x.csv", "--threshold", "2"], "match_threshold: must be"),
        (["evaluate", "{short}", "{short}"], "column entity_id is missing"),
        (["evaluate", "{garbled}"], "not a readable Parquet file"),
    ],
)
def test_bad_input_gives_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("short.csv").write_text(
        "record_id,source,given_name,family_name,sex,address,postcode\n1,a,Ann,Lee,F,,\n"
    )
    Path("garbled.parquet").write_bytes(b"PAR1 but no more")
    filled = [a.format(short="short.csv", garbled="garbled.parquet") for a in args]
    code, output = peel("fusion", *filled)
    assert code == 2
    assert expected in " ".join(output.split())
    assert output.count("error:") == 1
    assert "Traceback" not in output


def fake_person_file(folder: Path) -> Path:
    """Splink's fake_1000 set as a Peel person file (its city standing in for the address)."""
    raw = linkage.read_table(FAKE)
    n = raw.num_rows
    path = folder / "fake_1000_people.csv"
    table = pa.table(
        {
            "record_id": raw["unique_id"],
            "source": pa.array(["fake"] * n),
            "given_name": raw["first_name"],
            "family_name": raw["surname"],
            "date_of_birth": raw["dob"],
            "sex": pa.nulls(n, pa.string()),
            "address": raw["city"],
            "postcode": pa.nulls(n, pa.string()),
        }
    )
    linkage.write_table(table, path)
    return path


@pytest.mark.skipif(not FAKE.is_file(), reason=f"{FAKE} (Splink's fake_1000 set) is not present")
def test_fake_1000_links_well_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "fake_entities.csv"
    code, output = peel("fusion", "link", fake_person_file(tmp_path), "--out", out)
    assert code == 0, output
    truth = FAKE_LABELS if FAKE_LABELS.is_file() else FAKE
    if truth == FAKE:
        renamed = linkage.read_table(FAKE).rename_columns(
            ["record_id" if c == "unique_id" else c for c in linkage.read_table(FAKE).column_names]
        )
        truth = tmp_path / "fake_truth.csv"
        linkage.write_table(renamed, truth)
    code, output = peel("fusion", "evaluate", out, truth, "--json")
    assert code == 0, output
    scores = json.loads(output)["overall"]
    # Heavily garbled names and dates, no postcode or sex: recall suffers, precision must not.
    assert scores["pairwise"]["f1"] > 0.7
    assert scores["pairwise"]["precision"] > 0.95
