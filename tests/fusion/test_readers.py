"""Reading agencies' files: each format, type judged by content, names that lie, size limits."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from peel.fusion.readers import FileRejected, Table, detect_format, read_table, text_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fusion"
LIMIT = 1024 * 1024


def read(data: bytes, name: str, **options: str | None) -> Table:
    return read_table(data, name, max_bytes=LIMIT, **options)


def rows_of(table: Table) -> list[tuple[int, dict[str, str]]]:
    return [(row.number, row.values) for row in table.rows]


def rejected(data: bytes, name: str, **options: str | None) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        rows_of(read(data, name, **options))
    return caught.value


# --- CSV ------------------------------------------------------------------------------------


def test_the_children_fixture_reads_as_csv() -> None:
    table = read((FIXTURES / "children.csv").read_bytes(), "children.csv")
    assert table.format == "csv"
    assert table.columns[:3] == ["child_id", "first_name", "surname"]
    rows = rows_of(table)
    assert len(rows) == 5
    assert rows[0][0] == 1
    assert rows[3][1]["status"] == ""
    assert rows[4][1]["surname"] == "O'Neill"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiters_are_sniffed(delimiter: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerows([["id", "name", "note"], ["1", "Amy", "a, b; c\td"]])
    text = buffer.getvalue()
    rows = rows_of(read(text.encode(), "people.csv"))
    assert rows == [(1, {"id": "1", "name": "Amy", "note": "a, b; c\td"})]


def test_a_byte_order_mark_and_blank_rows_are_ignored_but_counted() -> None:
    data = "\ufeffid,name\r\n1,Amy\r\n,\r\n\r\n2,Ben\r\n".encode()
    assert rows_of(read(data, "p.csv")) == [
        (1, {"id": "1", "name": "Amy"}),
        (4, {"id": "2", "name": "Ben"}),
    ]


def test_csv_structure_problems_name_the_row() -> None:
    assert rejected(b"id,name\n1,Amy\n2,Ben,extra\n", "p.csv").row == 2
    assert "header names column 'id' twice" in str(rejected(b"id,id\n1,2\n", "p.csv"))
    problem = rejected("id,name\n1,Zo\u00eb\n".encode("latin-1"), "p.csv")
    assert "not UTF-8" in problem.problem


@given(st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]),
                                 max_size=8).filter(lambda s: s.strip() == s), min_size=3,
                         max_size=3), min_size=1, max_size=5))  # fmt: skip
def test_whatever_a_csv_writer_writes_reads_back(cells: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["a", "b", "c"])
    writer.writerows(cells)
    got = [values for _, values in rows_of(read(buffer.getvalue().encode(), "x.csv"))]
    expected = [dict(zip("abc", row, strict=True)) for row in cells if any(row)]
    assert got == expected


# --- Excel -----------------------------------------------------------------------------------


def workbook(tmp_path: Path) -> bytes:
    book = openpyxl.Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Notes"
    notes.append(["This workbook holds children on the second sheet"])
    children = book.create_sheet("Children")
    children.append(["child_id", "name", "dob", "seen", "visits", "score"])
    children.append(["C1", "Amy", date(2011, 3, 2), datetime(2024, 1, 5, 22, 10), 3, 2.5])
    children.append([None, None, None, None, None, None])
    children.append([42, "Ben", datetime(2009, 7, 15), None, 0, None])
    path = tmp_path / "children.xlsx"
    book.save(path)
    return path.read_bytes()


def test_an_excel_sheet_reads_with_dates_and_numbers_as_text(tmp_path: Path) -> None:
    data = workbook(tmp_path)
    table = read(data, "children.xlsx", sheet="Children")
    assert (table.format, table.sheet) == ("excel", "Children")
    assert rows_of(table) == [
        (1, {"child_id": "C1", "name": "Amy", "dob": "2011-03-02", "seen": "2024-01-05T22:10:00",
             "visits": "3", "score": "2.5"}),
        (3, {"child_id": "42", "name": "Ben", "dob": "2009-07-15", "seen": "", "visits": "0",
             "score": ""}),
    ]  # fmt: skip


def test_excel_defaults_to_the_first_sheet_and_names_unknown_ones(tmp_path: Path) -> None:
    data = workbook(tmp_path)
    assert read(data, "c.xlsx").sheet == "Notes"
    problem = rejected(data, "c.xlsx", sheet="Pupils")
    assert "no sheet 'Pupils'; it has Notes, Children" in problem.problem


def test_a_zip_that_is_not_a_workbook_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "not an Excel workbook" in rejected(buffer.getvalue(), "c.xlsx").problem


# --- JSON ------------------------------------------------------------------------------------


def test_json_rows_under_a_key_with_nested_objects_and_lists() -> None:
    table = read((FIXTURES / "school.json").read_bytes(), "school.json", records="pupils")
    rows = rows_of(table)
    assert table.row_count == 3
    assert rows[0][1]["contact.phone"] == "+44 7700 900123"
    assert rows[1][1]["exclusions"] == "persistent disruption;assault"
    assert rows[0][1]["excluded_on"] == ""
    assert "contact.email" in table.columns


def test_json_lists_records_keys_and_ndjson() -> None:
    listed = json.dumps([{"id": 1, "ok": True}, {"id": 2.0, "name": "Ben"}]).encode()
    assert rows_of(read(listed, "a.json")) == [
        (1, {"id": "1", "ok": "true"}), (2, {"id": "2", "name": "Ben"}),
    ]  # fmt: skip
    keyed = json.dumps({"records": [{"id": "x"}], "meta": {}}).encode()
    assert rows_of(read(keyed, "a.json")) == [(1, {"id": "x"})]
    ndjson = b'{"id": "a"}\n\n{"id": "b"}\n'
    assert [v for _, v in rows_of(read(ndjson, "a.ndjson"))] == [{"id": "a"}, {"id": "b"}]


def test_json_problems_say_what_to_do() -> None:
    unkeyed = json.dumps({"pupils": [], "staff": []}).encode()
    assert "name the key of its rows with records: (lists here: pupils, staff)" in str(
        rejected(unkeyed, "a.json")
    )
    assert "not valid JSON at line 1" in rejected(b"[1, 2", "a.json").problem
    assert rejected(b"[1, 2]", "a.json").row == 1
    nested = json.dumps([{"kids": [{"id": 1}]}]).encode()
    problem = rejected(nested, "a.json")
    assert (problem.row, problem.column) == (1, "kids")
    assert "line 2 is not valid JSON" in rejected(b'{"a": 1}\n{oops}\n', "a.ndjson").problem


# --- Parquet ---------------------------------------------------------------------------------


def test_parquet_cells_become_text() -> None:
    table = pa.table(
        {
            "record_id": ["r1", "r2"],
            "date_of_birth": pa.array([date(2011, 3, 2), None], pa.date32()),
            "seen": pa.array(
                [datetime(2024, 1, 5), datetime(2024, 1, 5, 9, 30)], pa.timestamp("s")
            ),
            "visits": pa.array([3, None], pa.int64()),
            "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    read_back = read(buffer.getvalue(), "persons.parquet")
    assert read_back.row_count == 2
    assert rows_of(read_back) == [
        (1, {"record_id": "r1", "date_of_birth": "2011-03-02", "seen": "2024-01-05",
             "visits": "3", "tags": "a;b"}),
        (2, {"record_id": "r2", "date_of_birth": "", "seen": "2024-01-05T09:30:00",
             "visits": "", "tags": ""}),
    ]  # fmt: skip


# --- what a file is --------------------------------------------------------------------------


def parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": [1]}), buffer)
    return buffer.getvalue()


def test_the_content_decides_and_the_name_must_agree(tmp_path: Path) -> None:
    assert detect_format(b"a,b\n1,2\n", "x.CSV") == "csv"
    assert detect_format(b"  [{}]", "x.json") == "json"
    assert detect_format(parquet_bytes(), "x.parquet") == "parquet"
    assert detect_format(workbook(tmp_path), "x.xlsx") == "excel"
    with pytest.raises(
        FileRejected, match=r"'x.xlsx' is named as Excel workbook but its content is CSV"
    ):
        detect_format(b"a,b\n1,2\n", "x.xlsx")
    with pytest.raises(FileRejected, match="named as CSV but its content is Parquet"):
        detect_format(parquet_bytes(), "x.csv")
    with pytest.raises(FileRejected, match="named as JSON but its content is Excel workbook"):
        detect_format(workbook(tmp_path), "x.json")
    with pytest.raises(FileRejected, match=r"should end in one of \.csv"):
        detect_format(b"a,b\n", "x.exe")
    with pytest.raises(FileRejected, match="the mapping says format: json but the file is CSV"):
        detect_format(b"a,b\n", "x.csv", "json")


def test_files_that_are_not_tables_are_refused() -> None:
    assert (
        "older Excel workbook (.xls)"
        in rejected(b"\xd0\xcf\x11\xe0" + b"\0" * 64, "x.xlsx").problem
    )
    assert "empty" in rejected(b"  \n", "x.csv").problem
    assert "NUL" in rejected(b"a,b\n1,\x002\n", "x.csv").problem


def test_files_over_the_limit_are_refused_before_reading() -> None:
    data = b"id\n" + b"1\n" * 100
    with pytest.raises(FileRejected, match=r"the file is 0\.0 MB; the largest accepted is"):
        read_table(data, "big.csv", max_bytes=50)


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (3.0, "3"), (2.5, "2.5"), (float("nan"), ""), (False, "false"),
     (date(2020, 1, 2), "2020-01-02"), (["a", None, 1], "a;1"), (b"hi", "hi")],
)  # fmt: skip
def test_cells_as_text(value: object, text: str) -> None:
    assert text_of(value) == text
