"""Tests for importing crime CSVs into Parquet and reading them back with DuckDB."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from peel.analytics import ingest
from peel.analytics.ingest import (
    CRIME_SCHEMA,
    OUTCOME_SCHEMA,
    connect,
    crimes_with_latest_outcome,
    import_generic,
    import_outcomes,
    import_police_uk,
    list_datasets,
)
from peel.core.errors import InvalidInput
from peel.core.geo import wgs84_to_bng

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)
SNAKE_HEADER = (
    "crime_id,month,reported_by,falls_within,longitude,latitude,location,lsoa_code,lsoa_name,"
    "crime_type,last_outcome_category,context"
)
OUTCOME_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Outcome type"
)
FORCE = "City of London Police"


def street_row(
    crime_id: str = "a1",
    month: str = "2016-01",
    lon: str = "-0.097700",
    lat: str = "51.517600",
    crime_type: str = "Burglary",
    outcome: str = "Under investigation",
) -> str:
    """One data.police.uk street-level line."""
    return (
        f"{crime_id},{month},{FORCE},{FORCE},{lon},{lat},On or near Wood Street,E01000001,"
        f"City of London 001A,{crime_type},{outcome},"
    )


def write_csv(folder: Path, name: str, header: str, rows: list[str], newline: str = "\n") -> Path:
    """Write a CSV file with the given header and lines."""
    path = folder / name
    path.write_bytes((newline.join([header, *rows]) + newline).encode())
    return path


def read_parquet(path: Path) -> list[dict[str, object]]:
    """Every row of a Parquet file as dictionaries, in file order."""
    cursor = duckdb.connect().execute(f"SELECT * FROM read_parquet('{path}')")
    names = [column[0] for column in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def assert_adds_up(report: ingest.ImportReport) -> None:
    assert report.rows_imported + sum(report.skipped.values()) == report.rows_read


# --- police.uk street files ------------------------------------------------------------


def test_exact_police_uk_header_imports_every_column(tmp_path: Path) -> None:
    rows = [
        street_row(),
        street_row("", "2016-02", "-0.080000", "51.515000", "Anti-social behaviour", ""),
        street_row("c3", "2016-02", crime_type="Violence and sexual offences"),
        street_row("c4", "2016-03", crime_type="Criminal damage and arson"),
    ]
    source = write_csv(tmp_path, "2016-01-city-of-london-street.csv", HEADER, rows)
    report = import_police_uk([source], "col", tmp_path / "out")

    assert report.path == tmp_path / "out" / "crime" / "col.parquet"
    assert (report.rows_read, report.rows_imported) == (4, 4)
    assert set(report.skipped.values()) == {0}
    stored = read_parquet(report.path)
    assert list(stored[0]) == list(CRIME_SCHEMA)
    first = stored[0]
    easting, northing = wgs84_to_bng(51.5176, -0.0977)
    assert first["easting"] == pytest.approx(easting, abs=0.01)
    assert first["northing"] == pytest.approx(northing, abs=0.01)
    assert first["month"] == date(2016, 1, 1) and first["occurred_at"] is None
    assert (first["crime_id"], first["source"], first["line"]) == ("a1", "col", 2)
    assert first["file"] == "2016-01-city-of-london-street.csv"
    assert first["outcome"] == "Under investigation" and first["reported_by"] == FORCE
    categories = ["burglary", "anti-social-behaviour", "violent-crime", "criminal-damage-arson"]
    assert [row["category"] for row in stored] == categories
    assert stored[1]["crime_id"] is None and stored[1]["outcome"] is None
    assert (report.first_month, report.last_month) == (date(2016, 1, 1), date(2016, 3, 1))


def test_snake_case_header_with_crlf_line_endings(tmp_path: Path) -> None:
    rows = [street_row(f"e{i}", "2018-01", "0.738080", "52.042187") for i in range(3)]
    source = write_csv(tmp_path, "2018-01-essex-street.csv", SNAKE_HEADER, rows, "\r\n")
    report = import_police_uk(source, "essex", tmp_path)
    assert report.rows_imported == 3
    assert [row["line"] for row in read_parquet(report.path)] == [2, 3, 4]


def test_rows_without_coordinates_or_crime_id_are_counted(tmp_path: Path) -> None:
    rows = [
        street_row(),
        street_row("", crime_type="Anti-social behaviour", outcome=""),
        street_row("n1", lon="", lat="", crime_type="Drugs"),
        street_row("n2", lon="", lat="", crime_type="Drugs"),
    ]
    source = write_csv(tmp_path, "street.csv", HEADER, rows)
    report = import_police_uk(source, "col", tmp_path)
    assert report.rows_imported == 2 and report.skipped["no_coordinates"] == 2
    assert [row.line for row in report.examples["no_coordinates"]] == [4, 5]
    assert_adds_up(report)


def test_malformed_month_is_reported_with_its_line(tmp_path: Path) -> None:
    rows = [street_row(f"m{i}") for i in range(3)] + [street_row("bad", month="2016-13")]
    rows.append(street_row("after"))
    source = write_csv(tmp_path, "street.csv", HEADER, rows)
    report = import_police_uk(source, "col", tmp_path)

    assert report.skipped["bad_month"] == 1 and report.rows_imported == 4
    (example,) = report.examples["bad_month"]
    assert (example.file, example.line, example.column, example.value) == (
        "street.csv",
        5,
        "Month",
        "2016-13",
    )
    assert "expected a month as YYYY-MM" in str(example) and "line 5" in str(example)
    assert [row["line"] for row in read_parquet(report.path)] == [2, 3, 4, 6]


def test_unknown_crime_type_bad_coordinates_and_outside_the_uk(tmp_path: Path) -> None:
    rows = [
        street_row("u1", crime_type="Jaywalking"),
        street_row("b1", lon="west", lat="51.5"),
        street_row("b2", lon="-0.1", lat=""),
        street_row("o1", lon="2.35", lat="48.85"),
        street_row("ok"),
    ]
    report = import_police_uk(write_csv(tmp_path, "s.csv", HEADER, rows), "col", tmp_path)
    assert report.skipped["unknown_crime_type"] == 1
    assert report.skipped["bad_coordinates"] == 2
    assert report.skipped["outside_uk"] == 1
    assert report.examples["outside_uk"][0].value == "2.35, 48.85"
    assert report.examples["unknown_crime_type"][0].column == "Crime type"
    assert report.rows_imported == 1
    assert_adds_up(report)


def test_bounds_skip_points_far_outside_them(tmp_path: Path) -> None:
    rows = [
        street_row("in"),
        street_row("near", lon="-0.0700", lat="51.5176"),  # about 0.8 km east of the box
        street_row("far", lon="0.7381", lat="52.0422"),
    ]
    source = write_csv(tmp_path, "s.csv", HEADER, rows)
    report = import_police_uk(source, "col", tmp_path, bounds=(-0.115, 51.505, -0.0815, 51.525))
    assert report.skipped["outside_bounds"] == 1
    assert report.examples["outside_bounds"][0].line == 4
    assert [row["crime_id"] for row in read_parquet(report.path)] == ["in", "near"]
    with pytest.raises(InvalidInput) as error:
        import_police_uk(source, "col", tmp_path, bounds=(1.0, 51.0, 0.0, 52.0))
    assert "west < east" in error.value.errors["bounds"]


def test_wrong_header_raises_and_writes_nothing(tmp_path: Path) -> None:
    good = write_csv(tmp_path, "good.csv", HEADER, [street_row()])
    wrong = HEADER.replace("Longitude", "Lng")
    bad = write_csv(tmp_path, "bad.csv", wrong, [street_row()])
    with pytest.raises(InvalidInput) as error:
        import_police_uk([good, bad], "col", tmp_path / "out")
    message = error.value.errors[str(bad)]
    assert message.startswith("line 1: expected columns Crime ID, Month")
    assert "found Crime ID, Month, Reported by, Falls within, Lng" in message
    assert "missing: Longitude" in message and "not expected: Lng" in message
    assert not (tmp_path / "out").exists()


def test_empty_file_and_missing_path_are_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InvalidInput) as error:
        import_police_uk(empty, "col", tmp_path)
    assert "nothing (the file is empty)" in error.value.errors[str(empty)]
    with pytest.raises(InvalidInput) as error:
        import_police_uk(tmp_path / "nope.csv", "col", tmp_path)
    assert "nothing is there" in error.value.errors[str(tmp_path / "nope.csv")]


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 101])
def test_dataset_names_must_be_safe_file_names(tmp_path: Path, name: str) -> None:
    source = write_csv(tmp_path, "s.csv", HEADER, [street_row()])
    with pytest.raises(InvalidInput) as error:
        import_police_uk(source, name, tmp_path)
    assert "dataset" in error.value.errors


def test_reimport_replaces_the_dataset(tmp_path: Path) -> None:
    first = write_csv(tmp_path, "a.csv", HEADER, [street_row("a1"), street_row("a2")])
    second = write_csv(tmp_path, "b.csv", HEADER, [street_row("b1")])
    import_police_uk(first, "col", tmp_path / "out")
    report = import_police_uk(second, "col", tmp_path / "out")
    assert [row["crime_id"] for row in read_parquet(report.path)] == ["b1"]
    assert sorted(p.name for p in (tmp_path / "out" / "crime").iterdir()) == ["col.parquet"]


@pytest.mark.parametrize("step", ["_place", "replace"])
def test_failure_midway_leaves_the_previous_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    out = tmp_path / "out"
    report = import_police_uk(write_csv(tmp_path, "a.csv", HEADER, [street_row()]), "col", out)
    before = report.path.read_bytes()

    def explode(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ingest if step == "_place" else ingest.os, step, explode)
    newer = write_csv(tmp_path, "b.csv", HEADER, [street_row("b1"), street_row("b2")])
    with pytest.raises(OSError, match="disk full"):
        import_police_uk(newer, "col", out)
    assert report.path.read_bytes() == before
    assert sorted(p.name for p in (out / "crime").iterdir()) == ["col.parquet"]


def test_malformed_rows_are_skipped_and_later_lines_stay_right(tmp_path: Path) -> None:
    rows = [street_row("r1"), street_row("r2") + ",extra", "short,row", street_row("r4")]
    report = import_police_uk(write_csv(tmp_path, "s.csv", HEADER, rows), "col", tmp_path)
    assert report.skipped["malformed_row"] == 2 and report.rows_imported == 2
    assert [row.line for row in report.examples["malformed_row"]] == [3, 4]
    assert report.examples["malformed_row"][1].value == "short,row"
    assert [row["line"] for row in read_parquet(report.path)] == [2, 5]
    assert_adds_up(report)


def test_blank_lines_and_quoted_newlines_keep_line_numbers_exact(tmp_path: Path) -> None:
    multi = street_row("q1").replace("On or near Wood Street", '"On or near\nWood Street"')
    rows = [street_row("r1"), "", multi, street_row("r3", month="nope"), "", street_row("r4")]
    report = import_police_uk(write_csv(tmp_path, "s.csv", HEADER, rows), "col", tmp_path)
    assert report.examples["bad_month"][0].line == 6
    stored = read_parquet(report.path)
    assert [(row["crime_id"], row["line"]) for row in stored] == [
        ("r1", 2),
        ("q1", 4),
        ("r4", 8),
    ]
    assert stored[1]["location"] == "On or near\nWood Street"


def test_empty_months_are_reported_not_refused(tmp_path: Path) -> None:
    rows = [street_row("a", "2016-01"), street_row("b", "2016-04")]
    source = write_csv(tmp_path, "s.csv", HEADER, rows)
    report = import_police_uk(source, "col", tmp_path)
    assert report.months_without_rows == ["2016-02", "2016-03"]
    assert "months without rows: 2016-02, 2016-03" in report.summary()
    header_only = write_csv(tmp_path, "h.csv", HEADER, [])
    empty = import_police_uk(header_only, "none", tmp_path)
    assert (empty.rows_read, empty.first_month, empty.months_without_rows) == (0, None, [])
    assert read_parquet(empty.path) == []


def test_duplicate_crime_ids_are_counted(tmp_path: Path) -> None:
    rows = [street_row("d1"), street_row("d1", outcome="Court result unavailable")]
    report = import_police_uk(write_csv(tmp_path, "s.csv", HEADER, rows), "col", tmp_path)
    assert report.duplicate_crime_ids == 1 and report.rows_imported == 2
    assert report.to_dict()["first_month"] == "2016-01-01"


# --- Outcomes ---------------------------------------------------------------------------


def outcome_row(crime_id: str, month: str, outcome: str, lon: str = "-0.0977") -> str:
    return (
        f"{crime_id},{month},{FORCE},{FORCE},{lon},51.5176,On or near Wood Street,"
        f"E01000001,City of London 001A,{outcome}"
    )


def test_outcomes_join_the_latest_outcome_to_each_crime(tmp_path: Path) -> None:
    crimes = [
        street_row("c1"),
        street_row("c2"),
        street_row("", crime_type="Anti-social behaviour"),
    ]
    import_police_uk(write_csv(tmp_path, "s.csv", HEADER, crimes), "col", tmp_path)
    outcomes = [
        outcome_row("c1", "2016-03", "Offender fined"),
        outcome_row("c1", "2016-01", "Under investigation", lon=""),
        outcome_row("", "2016-01", "Local resolution"),
        outcome_row("c9", "2016-02", ""),
    ]
    report = import_outcomes(
        write_csv(tmp_path, "o.csv", OUTCOME_HEADER, outcomes), "col", tmp_path
    )
    assert (report.rows_imported, report.skipped["no_crime_id"], report.skipped["no_outcome"]) == (
        2,
        1,
        1,
    )
    stored = read_parquet(report.path)
    assert list(stored[0]) == list(OUTCOME_SCHEMA)
    assert stored[1]["easting"] is None and stored[0]["easting"] is not None

    joined = crimes_with_latest_outcome(tmp_path, "col")
    rows = joined.fetchall()
    latest = {row[0]: row[-2:] for row in rows}
    assert latest["c1"] == ("Offender fined", date(2016, 3, 1))
    assert latest["c2"] == (None, None) and len(rows) == 3
    with pytest.raises(InvalidInput):
        crimes_with_latest_outcome(tmp_path, "nope")


# --- Generic CSVs -----------------------------------------------------------------------


def test_generic_csv_with_times_and_projected_coordinates(tmp_path: Path) -> None:
    lines = [
        "case,when,x,y,kind",
        "A1,27/04/2016 13:44,365535.52,563965.21,BURGLARY",
        "A2,31/04/2016 09:00,365535.52,563965.21,THEFT",
        "A3,28/04/2016 09:00,,,THEFT",
        "A4,01/05/2016 23:59,354282.51,565699.28,Criminal Damage",
    ]
    (tmp_path / "chicago.csv").write_text("\n".join(lines) + "\n")
    mapping = {"crime_id": "case", "occurred_at": "when", "easting": "x", "northing": "y"}
    report = import_generic(
        tmp_path / "chicago.csv",
        "chicago",
        tmp_path,
        mapping | {"category": "kind"},
        "%d/%m/%Y %H:%M",
        projected_crs=26971,
    )
    assert report.skipped["bad_date"] == 1 and report.examples["bad_date"][0].line == 3
    assert report.skipped["no_coordinates"] == 1
    stored = read_parquet(report.path)
    first = stored[0]
    assert first["occurred_at"] == datetime(2016, 4, 27, 13, 44)
    assert first["month"] == date(2016, 4, 1) and first["category"] == "burglary"
    assert (first["easting"], first["northing"]) == (365535.52, 563965.21)
    assert first["lat"] == pytest.approx(41.8, abs=0.3) and float(str(first["lon"])) < -87
    assert stored[1]["category"] == "criminal-damage"


def test_generic_csv_with_lat_lon_and_a_category_map(tmp_path: Path) -> None:
    lines = ["ref;date;lat;lon;offence", "1;2016-04-27;51.5176;-0.0977;BURGLARY"]
    lines += ["2;2016-04-28;51.5176;-0.0977;Fraud", "3;2016-04-28;51.5176;-0.0977;Theft"]
    (tmp_path / "uk.csv").write_text("\n".join(lines) + "\n")
    mapping = {
        "crime_id": "ref",
        "month": "date",
        "lat": "lat",
        "lon": "lon",
        "category": "offence",
    }
    report = import_generic(
        tmp_path / "uk.csv",
        "uk",
        tmp_path,
        mapping,
        None,
        delimiter=";",
        category_map={"theft": "other-theft"},
    )
    assert report.skipped["unknown_crime_type"] == 1
    assert report.examples["unknown_crime_type"][0].value == "Fraud"
    stored = read_parquet(report.path)
    assert [row["category"] for row in stored] == ["burglary", "other-theft"]
    assert stored[0]["month"] == date(2016, 4, 1)
    assert stored[0]["easting"] == pytest.approx(wgs84_to_bng(51.5176, -0.0977)[0], abs=0.01)


def test_generic_mapping_and_format_problems_are_named(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("when,x,y\n2016-01-01,1,2\n")
    with pytest.raises(InvalidInput) as error:
        import_generic(path, "g", tmp_path, {"occurred_at": "when", "easting": "x"})
    assert "in pairs" in error.value.errors["mapping"]
    with pytest.raises(InvalidInput) as error:
        import_generic(path, "g", tmp_path, {"when": "when", "lat": "x", "lon": "y"})
    assert "unknown field(s) when" in error.value.errors["mapping"]
    mapping = {"occurred_at": "when", "easting": "x", "northing": "northing"}
    with pytest.raises(InvalidInput) as error:
        import_generic(path, "g", tmp_path, mapping)
    assert "missing: northing" in error.value.errors[str(path)]
    with pytest.raises(InvalidInput) as error:
        import_generic(path, "g", tmp_path, mapping | {"northing": "y"}, "%Q")
    assert "strptime" in error.value.errors["date_format"]
    assert not (tmp_path / "crime").exists()


# --- Reading back -----------------------------------------------------------------------


def test_connect_gives_views_over_every_dataset(tmp_path: Path) -> None:
    empty = connect(tmp_path)
    assert empty.sql("SELECT count(*) FROM crime").fetchall() == [(0,)]
    assert empty.sql("SELECT * FROM outcomes").columns == list(OUTCOME_SCHEMA)
    import_police_uk(write_csv(tmp_path, "a.csv", HEADER, [street_row("a")]), "one", tmp_path)
    rows = [street_row("b"), street_row("c")]
    import_police_uk(write_csv(tmp_path, "b.csv", HEADER, rows), "two", tmp_path)
    assert list_datasets(tmp_path) == ["one", "two"] and list_datasets(tmp_path, "outcomes") == []
    con = connect(tmp_path)
    counts = con.sql("SELECT source, count(*) FROM crime GROUP BY source ORDER BY source")
    assert counts.fetchall() == [("one", 1), ("two", 2)]
    assert con.sql("SELECT * FROM crime").columns == list(CRIME_SCHEMA)


# --- Real data.police.uk files ---------------------------------------------------------


def shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


def test_city_of_london_2016_to_2017_folder(tmp_path: Path) -> None:
    folder = shared("crime/city_of_london_2016-01_to_2017-06")
    bounds = (-0.14, 51.49, -0.0, 51.54)
    report = import_police_uk(folder, "col", tmp_path, bounds=bounds)
    assert len(report.files) == 18 and report.rows_read == 10_118
    assert report.skipped["no_coordinates"] == 465
    assert report.rows_imported == 10_118 - 465
    assert_adds_up(report)
    assert (report.first_month, report.last_month) == (date(2016, 1, 1), date(2017, 6, 1))
    assert report.months_without_rows == []
    con = connect(tmp_path)
    asb = con.sql(
        "SELECT count(*), count(crime_id) FROM crime WHERE category = 'anti-social-behaviour'"
    )
    assert asb.fetchall() == [(1980, 0)]
    outcomes = import_outcomes(folder, "col", tmp_path)
    assert outcomes.rows_read == 9_136 and outcomes.rows_imported == 9_136
    joined = crimes_with_latest_outcome(tmp_path, "col")
    assert joined.aggregate("count(*)").fetchall() == [(report.rows_imported,)]


def test_one_essex_month_with_snake_case_header(tmp_path: Path) -> None:
    path = shared("crime/essex_2018-01_to_2018-07/2018-01-essex-street.csv")
    report = import_police_uk(path, "essex-2018-01", tmp_path, bounds=(0.0, 51.4, 1.35, 52.1))
    assert report.rows_read == 14_786
    assert report.skipped["no_coordinates"] > 0 and report.skipped["outside_bounds"] > 0
    assert_adds_up(report)
    assert report.examples["no_coordinates"][0].column == "longitude, latitude"
    assert (report.first_month, report.last_month) == (date(2018, 1, 1), date(2018, 1, 1))
