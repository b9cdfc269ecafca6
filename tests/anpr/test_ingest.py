"""Importing cameras and the register, ingesting reads from files, and small live batches."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peel.anpr import ingest
from peel.anpr.models import AnprCamera, AnprIngestBatch
from peel.anpr.store import ReadStore, read_id_for, source_read_id
from peel.core.config import Settings
from peel.core.enums import Role
from peel.core.errors import InvalidInput
from peel.core.geo import wgs84_to_bng
from peel.core.identity import principal_for_user
from peel.core.models import AuditEvent
from peel.core.policy import Forbidden
from tests.conftest import World, make_org, make_user

CAMERAS = [
    {"camera_id": "M4-J10-E", "name": "M4 J10 eastbound", "lat": 51.45, "lon": -0.85,
     "direction": "E"},
    {"camera_id": "A33-N", "name": "A33 Reading north", "lat": 51.42, "lon": -0.97,
     "direction": "N"},
    {"camera_id": "SEA-1", "name": "Seattle test", "lat": 47.6, "lon": -122.33, "direction": ""},
]  # fmt: skip

# (row, expected problem: (field, start of message) or None). Line numbers follow the order.
READS: list[tuple[dict[str, Any], tuple[str, str] | None]] = [
    ({"camera_id": "M4-J10-E", "plate": "ab51 cde", "read_at": "2021-10-04T08:00:00Z",
      "confidence": "0.93", "make": "Ford"}, None),
    ({"camera_id": "NOPE", "plate": "AB51CDE", "read_at": "2021-10-04T08:01:00Z"},
     ("camera_id", 'no camera with id "NOPE" is known')),
    ({"camera_id": "A33-N", "plate": "XY02 ZZZ", "read_at": "04/10/2021 08:00"},
     ("read_at", 'read_at "04/10/2021 08:00" has no UTC offset')),
    ({"camera_id": "A33-N", "plate": "XY02 ZZZ", "read_at": "2021-10-04T08:02:00"},
     ("read_at", 'read_at "2021-10-04T08:02:00" has no UTC offset')),
    ({"camera_id": "A33-N", "plate": "XY02ZZZ", "read_at": "2021-13-04T08:02:00Z"},
     ("read_at", 'read_at "2021-13-04T08:02:00Z" is not an ISO 8601 time')),
    ({"camera_id": "A33-N", "plate": " -- ", "read_at": "2021-10-04T08:03:00Z"},
     ("plate", 'plate " -- " has no letters or digits')),
    ({"camera_id": "A33-N", "plate": "ABCDEFGHIJK", "read_at": "2021-10-04T08:03:00Z"},
     ("plate", 'plate "ABCDEFGHIJK" is longer than 10')),
    ({"camera_id": "A33-N", "plate": "XY02ZZZ", "read_at": "2021-10-04T09:03:00+01:00",
      "confidence": "85"}, None),
    ({"camera_id": "A33-N", "plate": "XY02ZZZ", "read_at": "2021-10-04T08:04:00Z",
      "confidence": "150"}, ("confidence", 'confidence "150" must be a number from 0 to 1')),
    ({"camera_id": "SEA-1", "plate": "MOB1LE", "read_at": "2021-10-05T23:59:59.5-07:00",
      "lat": "47.61", "lon": "-122.3", "direction": "N"}, None),
    ({"camera_id": "SEA-1", "plate": "MOB1LE", "read_at": "2021-10-06T08:00:00Z",
      "lat": "47.61"}, ("lat", "give both lat and lon")),
    ({"camera_id": "M4-J10-E", "plate": "A123 BCD", "read_at": "2021-10-04T10:00:00Z",
      "read_id": "source-0001", "colour": "Blue"}, None),
]  # fmt: skip
FIELDS = ["camera_id", "plate", "read_at", "confidence", "make", "colour", "read_id", "lat",
          "lon", "direction"]  # fmt: skip
GOOD = sum(1 for _, problem in READS if problem is None)


def write_reads(folder: Path, fmt: str, rows: list[dict[str, Any]], name: str = "reads") -> Path:
    """The rows as one file: csv, csv.gz, ndjson or parquet (all columns text)."""
    if fmt == "parquet":
        path = folder / f"{name}.parquet"
        columns = {f: [r.get(f) for r in rows] for f in FIELDS}
        pq.write_table(
            pa.table(columns, schema=pa.schema([(f, pa.string()) for f in FIELDS])), path
        )
        return path
    if fmt == "ndjson":
        path = folder / f"{name}.ndjson"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path
    text = [",".join(FIELDS)]
    for row in rows:
        text.append(",".join(_csv_cell(row.get(f)) for f in FIELDS))
    data = "\n".join(text) + "\n"
    if fmt == "csv.gz":
        path = folder / f"{name}.csv.gz"
        path.write_bytes(gzip.compress(data.encode()))
        return path
    path = folder / f"{name}.csv"
    path.write_text(data, encoding="utf-8")
    return path


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def write_cameras(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["camera_id", "name", "lat", "lon", "direction"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def cameras(db: Session, world: World, settings: Settings, tmp_path: Path) -> ReadStore:
    path = write_cameras(tmp_path / "cameras.csv", CAMERAS)
    result = ingest.import_cameras(
        db, settings, path, world.orgs["force"], world.principal("force_admin")
    )
    assert (result.created, result.updated, result.total) == (3, 0, 3)
    return ReadStore(settings.anpr_dir)


def stored(store: ReadStore) -> list[dict[str, Any]]:
    if not store.has_reads():
        return []
    relation = duckdb.sql(
        f"SELECT * FROM read_parquet('{store.reads_glob()}', hive_partitioning=false) "
        "ORDER BY read_at"
    )
    assert relation is not None
    return relation.to_arrow_table().to_pylist()


def camera(db: Session, camera_id: str) -> AnprCamera:
    found = db.get(AnprCamera, camera_id)
    assert found is not None
    return found


# --- cameras ------------------------------------------------------------------------------


def test_camera_import_adds_updates_and_snapshots(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    snapshot = pq.read_table(cameras.cameras_path).to_pylist()
    assert [c["camera_id"] for c in snapshot] == ["A33-N", "M4-J10-E", "SEA-1"]
    m4 = next(c for c in snapshot if c["camera_id"] == "M4-J10-E")
    assert (m4["easting"], m4["northing"]) == pytest.approx(wgs84_to_bng(51.45, -0.85))
    assert 470_000 < m4["easting"] < 490_000  # a few miles east of Reading
    assert m4["owner_org_id"] == world.orgs["force"].id
    changed = [{**CAMERAS[0], "name": "M4 J10 east (renamed)"}, CAMERAS[1]]
    result = ingest.import_cameras(
        db,
        settings,
        write_cameras(tmp_path / "again.csv", changed),
        world.orgs["force"],
        world.principal("supervisor"),
    )
    assert (result.created, result.updated, result.unchanged, result.total) == (0, 1, 1, 3)
    assert camera(db, "M4-J10-E").name == "M4 J10 east (renamed)"
    names = pq.read_table(cameras.cameras_path)["name"].to_pylist()
    assert "M4 J10 east (renamed)" in names
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "anpr.cameras.import")).all()
    assert len(events) == 2
    assert events[-1].changes == {"created": [None, []], "updated": [None, ["M4-J10-E"]]}


@pytest.mark.parametrize("fmt", ["ndjson", "parquet"])
def test_cameras_come_from_ndjson_and_parquet_too(
    db: Session, world: World, settings: Settings, tmp_path: Path, fmt: str
) -> None:
    if fmt == "ndjson":
        path = tmp_path / "cameras.ndjson"
        path.write_text("\n".join(json.dumps(c) for c in CAMERAS[:2]) + "\n\n", "utf-8")
    else:
        path = tmp_path / "cameras.parquet"
        pq.write_table(pa.Table.from_pylist(CAMERAS[:2]), path)
    result = ingest.import_cameras(
        db, settings, path, world.orgs["force"], world.principal("force_admin")
    )
    assert result.created == 2
    assert camera(db, "A33-N").lat == pytest.approx(51.42)


def test_a_bad_camera_file_changes_nothing(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    before = cameras.cameras_path.read_bytes()
    rows = [
        {"camera_id": "NEW-1", "name": "New", "lat": 51.0, "lon": -1.0},
        {"camera_id": "NEW-2", "name": "Bad lat", "lat": 95, "lon": -1.0},
        {"camera_id": "NEW-3", "name": "", "lat": 51.0, "lon": -1.0},
        {"camera_id": "NEW-1", "name": "Again", "lat": 51.0, "lon": -1.0},
        {"camera_id": "M4-J10-E", "name": "Renamed", "lat": 51.0, "lon": -1.0},
    ]
    with pytest.raises(InvalidInput) as caught:
        ingest.import_cameras(
            db,
            settings,
            write_cameras(tmp_path / "bad.csv", rows),
            world.orgs["force"],
            world.principal("force_admin"),
        )
    errors = caught.value.errors
    assert errors["line 3"] == 'lat must be a number from -90 to 90, found "95"'
    assert errors["line 4"] == "name is missing"
    assert errors["line 5"] == "camera_id 'NEW-1' is also on line 2"
    assert "line 2" not in errors and "line 6" not in errors
    assert errors["file"].startswith("3 rows have problems; nothing was imported")
    assert db.scalar(select(func.count()).select_from(AnprCamera)) == 3
    assert camera(db, "M4-J10-E").name == "M4 J10 eastbound"
    assert cameras.cameras_path.read_bytes() == before


def test_cameras_of_another_force_are_refused(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    from tests.conftest import make_org, make_user

    make_org(db, "other-force")
    make_user(db, "admin@other.example", "other-force", [ingest.Role.admin])
    other = db.scalar(select(ingest.Organisation).where(ingest.Organisation.code == "other-force"))
    assert other is not None
    from peel.core.identity import principal_for_user
    from peel.core.models import User

    user = db.scalar(select(User).where(User.email == "admin@other.example"))
    assert user is not None
    admin = principal_for_user(user)
    path = write_cameras(tmp_path / "steal.csv", [CAMERAS[0]])
    with pytest.raises(InvalidInput) as caught:
        ingest.import_cameras(db, settings, path, other, admin)
    assert caught.value.errors["line 2"] == "camera 'M4-J10-E' belongs to another force"
    with pytest.raises(Forbidden):
        ingest.import_cameras(db, settings, path, world.orgs["force"], admin)
    with pytest.raises(Forbidden):
        ingest.import_cameras(db, settings, path, world.orgs["force"], world.principal("officer"))
    with pytest.raises(InvalidInput, match="not a police force"):
        ingest.import_cameras(
            db, settings, path, world.orgs["council"], world.principal("platform")
        )


# --- reads from files -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "ndjson", "parquet"])
def test_good_reads_land_and_bad_ones_are_quarantined(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore, fmt: str
) -> None:
    path = write_reads(tmp_path, fmt, [row for row, _ in READS])
    (result,) = ingest.ingest_files(db, settings, [path], world.principal("force_admin"))
    first = 2 if fmt.startswith("csv") else 1  # a CSV header is line 1
    unit = "row" if fmt == "parquet" else "line"
    expected = [(first + i, problem) for i, (_, problem) in enumerate(READS) if problem is not None]
    assert result.rows_read == len(READS)
    assert (result.rows_landed, result.rows_duplicate) == (GOOD, 0)
    assert result.rows_rejected == len(expected)
    assert [(p["line"], p["field"]) for p in result.problems] == [
        (line, field) for line, (field, _) in expected
    ]
    for problem, (line, (_, message)) in zip(result.problems, expected, strict=True):
        assert problem["problem"].startswith(f"{unit} {line}: {message}"), problem

    assert result.quarantine_path is not None
    with result.quarantine_path.open(newline="", encoding="utf-8") as handle:
        quarantined = list(csv.DictReader(handle))
    assert [int(q["line"]) for q in quarantined] == [line for line, _ in expected]
    assert quarantined[0]["camera_id"] == "NOPE" and quarantined[0]["field"] == "camera_id"
    assert quarantined[2]["read_at"] == "2021-10-04T08:02:00"

    reads = stored(cameras)
    assert len(reads) == GOOD
    first_read = reads[0]
    assert first_read["plate"] == "AB51CDE" and first_read["plate_raw"] == "ab51 cde"
    assert first_read["read_id"] == read_id_for(
        "M4-J10-E", "AB51CDE", datetime(2021, 10, 4, 8, tzinfo=UTC)
    )
    assert first_read["confidence"] == pytest.approx(0.93)
    by_plate = {r["plate"]: r for r in reads}
    assert by_plate["XY02ZZZ"]["read_at"] == datetime(2021, 10, 4, 8, 3, tzinfo=UTC)
    assert by_plate["XY02ZZZ"]["confidence"] == pytest.approx(0.85)  # a percentage
    assert by_plate["XY02ZZZ"]["fuzzy"] == "XY02222"
    mobile = by_plate["MOB1LE"]
    assert (mobile["lat"], mobile["lon"], mobile["direction"]) == (47.61, -122.3, "N")
    assert mobile["read_at"] == datetime(2021, 10, 6, 6, 59, 59, 500000, tzinfo=UTC)
    assert by_plate["A123BCD"]["read_id"] == source_read_id("M4-J10-E", "source-0001")
    assert by_plate["A123BCD"]["colour"] == "Blue"
    assert {r["batch_id"] for r in reads} == {result.batch_id}
    assert result.days == [datetime(2021, 10, 4).date(), datetime(2021, 10, 6).date()]

    batch = db.get(AnprIngestBatch, result.batch_id)
    assert batch is not None and batch.channel == "file"
    assert (batch.rows_read, batch.rows_landed, batch.rows_rejected) == (
        len(READS),
        GOOD,
        len(expected),
    )
    assert batch.problems == result.problems
    assert batch.quarantine_path == f"quarantine/{result.batch_id}.csv"
    assert batch.owner_org_id == world.orgs["force"].id
    event = db.scalar(select(AuditEvent).where(AuditEvent.record_id == result.batch_id))
    assert event is not None and event.action == "anpr.ingest"
    assert event.changes is not None and event.changes["rows_landed"] == [None, GOOD]


def test_the_same_file_twice_adds_nothing(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    path = write_reads(tmp_path, "csv", [row for row, _ in READS])
    actor = world.principal("supervisor")
    first, again = ingest.ingest_files(db, settings, [path, path], actor)
    assert first.rows_landed == GOOD
    assert (again.rows_landed, again.rows_duplicate) == (0, GOOD)
    assert again.rows_rejected == first.rows_rejected
    as_parquet = write_reads(tmp_path, "parquet", [row for row, _ in READS])
    (third,) = ingest.ingest_files(db, settings, [as_parquet], actor)
    assert (third.rows_landed, third.rows_duplicate) == (0, GOOD)
    assert len(stored(cameras)) == GOOD
    assert db.scalar(select(func.count()).select_from(AnprIngestBatch)) == 3


def test_csv_line_numbers_count_blank_lines_and_values_spanning_lines(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    path = tmp_path / "awkward.csv"
    path.write_text(
        "camera_id,plate,read_at,make\n"  # 1
        "A33-N,AB51CDE,2021-10-04T08:00:00Z,Ford\n"  # 2
        "\n"  # 3
        'A33-N,AB51CDF,2021-10-04T08:00:00Z,"Land\nRover"\n'  # 4-5
        "A33-N,AB51CDG,2021-10-04T08:00:00Z,Ford,extra,fields\n"  # 6
        "A33-N,AB51CDH,yesterday,Ford\n",  # 7
        encoding="utf-8",
    )
    (result,) = ingest.ingest_files(db, settings, [path], world.principal("force_admin"))
    assert result.rows_landed == 2
    assert [(p["line"], p["field"]) for p in result.problems] == [(6, "record"), (7, "read_at")]
    assert result.problems[0]["problem"].startswith("line 6: not a well-formed CSV record")
    assert {r["make"] for r in stored(cameras)} == {"Ford", "Land\nRover"}
    assert result.quarantine_path is not None
    quarantined = list(csv.DictReader(result.quarantine_path.open(encoding="utf-8")))
    assert quarantined[0]["record"] == "A33-N,AB51CDG,2021-10-04T08:00:00Z,Ford,extra,fields"


def test_ndjson_lines_that_are_not_objects_are_quarantined(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    good = {"camera_id": "A33-N", "plate": "AB51CDE", "read_at": "2021-10-04T08:00:00Z"}
    path = tmp_path / "feed.ndjson"
    path.write_text(
        json.dumps(good) + "\n{not json\n\n[1, 2]\n" + json.dumps({**good, "confidence": 0.5}),
        encoding="utf-8",
    )
    (result,) = ingest.ingest_files(db, settings, [path], world.principal("force_admin"))
    assert result.rows_read == 4 and result.rows_rejected == 2
    assert [p["line"] for p in result.problems] == [2, 4]
    assert result.rows_landed == 1 and result.rows_duplicate == 1  # same read, twice


def test_files_are_checked_before_any_is_loaded(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    good = write_reads(tmp_path, "csv", [READS[0][0]])
    no_plate = tmp_path / "no_plate.csv"
    no_plate.write_text("camera_id,read_at\nA33-N,2021-10-04T08:00:00Z\n", encoding="utf-8")
    array = tmp_path / "array.json"
    array.write_text("[{}]", encoding="utf-8")
    binary = tmp_path / "sheet.xlsx"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    naive = tmp_path / "naive.parquet"
    pq.write_table(
        pa.table({"camera_id": ["A33-N"], "plate": ["AB51CDE"], "read_at": [datetime(2021, 1, 1)]}),
        naive,
    )
    actor = world.principal("force_admin")
    cases = {
        no_plate: "missing columns plate",
        array: "is a JSON array",
        binary: "is not CSV, NDJSON or Parquet",
        naive: "its read_at column has no time zone",
        tmp_path / "absent.csv": "is not a file",
    }
    for bad, message in cases.items():
        with pytest.raises(InvalidInput) as caught:
            ingest.ingest_files(db, settings, [good, bad], actor)
        assert message in " ".join(caught.value.errors.values())
    assert not cameras.has_reads()
    assert db.scalar(select(func.count()).select_from(AnprIngestBatch)) == 0
    with pytest.raises(InvalidInput, match="seattle"):
        ingest.ingest_files(db, settings, [good], actor, mapping="atlantis")


def test_parquet_with_typed_columns(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    at = datetime(2021, 10, 4, 8, tzinfo=UTC)
    path = tmp_path / "typed.parquet"
    pq.write_table(
        pa.table(
            {
                "Camera_ID": ["A33-N", "A33-N", "M4-J10-E"],
                "Plate": ["AB51CDE", "AB51CDF", "AB51CDG"],
                "read_at": pa.array([at, at, None], pa.timestamp("us", tz="UTC")),
                "confidence": pa.array([0.5, -1.0, None], pa.float64()),
            }
        ),
        path,
    )
    (result,) = ingest.ingest_files(db, settings, [path], world.principal("force_admin"))
    assert result.rows_landed == 1
    assert [p["problem"] for p in result.problems] == [
        'row 2: confidence "-1.0" must be a number from 0 to 1 (or a percentage up to 100)',
        "row 3: read_at is missing",
    ]


def test_progress_reaches_the_total(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    files = [
        write_reads(tmp_path, "csv", [row for row, _ in READS], "one"),
        write_reads(tmp_path, "parquet", [row for row, _ in READS[:5]], "two"),
    ]
    calls: list[tuple[int, int]] = []
    ingest.ingest_files(
        db,
        settings,
        files,
        world.principal("force_admin"),
        progress=lambda d, t: calls.append((d, t)),
    )
    total = len(READS) + 5
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_loading_reads_needs_a_force_loader(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    path = write_reads(tmp_path, "csv", [READS[0][0]])
    for person in ("officer", "social", "lawyer"):
        with pytest.raises(Forbidden):
            ingest.ingest_files(db, settings, [path], world.principal(person))
    with pytest.raises(Forbidden):
        ingest.ingest_files(
            db, settings, [path], world.principal("supervisor"), world.orgs["cps"].id
        )
    assert not cameras.has_reads()


def test_a_force_loads_reads_for_its_own_cameras_only(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    """The cameras belong to test-force: another force's analyst cannot land reads on them."""
    other = make_org(db, "other-force")
    analyst = make_user(db, "analyst@other.example", "other-force", [Role.analyst])
    db.flush()
    path = write_reads(tmp_path, "csv", [READS[0][0]])
    (result,) = ingest.ingest_files(db, settings, [path], principal_for_user(analyst), other.id)
    assert (result.rows_landed, result.rows_rejected) == (0, 1)
    assert result.problems[0]["field"] == "camera_id"
    assert not cameras.has_reads()


# --- small batches ----------------------------------------------------------------------------


def test_prepare_reads_judges_rows_as_file_ingest_does(
    db: Session, world: World, settings: Settings, tmp_path: Path, cameras: ReadStore
) -> None:
    rows = [row for row, _ in READS]
    path = write_reads(tmp_path, "ndjson", rows)
    (result,) = ingest.ingest_files(db, settings, [path], world.principal("force_admin"))
    known = ingest.cameras_for_reads(db.scalars(select(AnprCamera)))
    table, problems = ingest.prepare_reads(rows, known, batch_id=result.batch_id)
    assert [(p["line"], p["field"]) for p in problems] == [
        (p["line"], p["field"]) for p in result.problems
    ]
    for live, file in zip(problems, result.problems, strict=True):
        assert live["problem"].removeprefix("row") == file["problem"].removeprefix("line")
    landed = sorted(stored(cameras), key=lambda r: r["read_id"])
    prepared = sorted(table.to_pylist(), key=lambda r: r["read_id"])
    assert prepared == landed


def test_prepare_reads_takes_datetimes_and_numbers(cameras: ReadStore) -> None:
    at = datetime(2021, 10, 4, 8, tzinfo=UTC)
    rows: list[Any] = [
        {"camera_id": "A33-N", "plate": "ab51cde", "read_at": at, "confidence": 91, "lat": 51.4,
         "lon": -0.9},
        {"camera_id": "A33-N", "plate": "ab51cde", "read_at": datetime(2021, 10, 4, 8)},
        {"camera_id": "A33-N", "plate": "ab51cde", "read_at": at, "confidence": True},
        "not a dict",
    ]  # fmt: skip
    table, problems = ingest.prepare_reads(rows, {"A33-N": object()})
    assert table.num_rows == 1
    read = table.to_pylist()[0]
    assert (read["plate"], read["read_at"], read["lat"]) == ("AB51CDE", at, 51.4)
    assert read["confidence"] == pytest.approx(0.91)
    assert len(read["batch_id"]) == 32
    assert [(p["line"], p["field"]) for p in problems] == [
        (2, "read_at"),
        (3, "confidence"),
        (4, "record"),
    ]
    hashed, issues = ingest.prepare_reads(
        [{"camera_id": "A33-N", "plate": "1ea4" * 10, "read_at": at}],
        {"A33-N": None},
        batch_id="b1",
        hashed_plates=True,
    )
    assert not issues and hashed.column("plate")[0].as_py() == "1EA4" * 10


# --- the register -----------------------------------------------------------------------------


def test_register_import_normalises_plates(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_text(
        "plate,make,model,colour,keeper_area\n"
        "ab51 cde,Ford,Focus,Blue,Reading\n"
        "XY02-ZZZ,Audi,A3,,\n",
        encoding="utf-8",
    )
    result = ingest.import_register(settings, path)
    assert result.rows == 2
    rows = pq.read_table(result.path).to_pylist()
    assert rows == [
        {"plate": "AB51CDE", "make": "Ford", "model": "Focus", "colour": "Blue",
         "keeper_area": "Reading"},
        {"plate": "XY02ZZZ", "make": "Audi", "model": "A3", "colour": None, "keeper_area": None},
    ]  # fmt: skip


def test_a_bad_register_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    good = tmp_path / "good.ndjson"
    good.write_text(
        json.dumps({"plate": "AB51CDE", "make": "Ford", "model": "Ka", "colour": "Red"}) + "\n",
        encoding="utf-8",
    )
    ingest.import_register(settings, good)
    before = ReadStore(settings.anpr_dir).register_path.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "plate,make,model,colour\n"
        "AB51CDE,Ford,Ka,Red\n"
        ",Audi,A3,Black\n"
        "ab51-cde,Ford,Ka,Red\n"
        "ABCDEFGHIJKL,Audi,A4,Grey\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as caught:
        ingest.import_register(settings, bad)
    assert caught.value.errors == {
        "file": "3 rows have problems; nothing was imported",
        "line 3": "plate is missing",
        "line 4": "plate AB51CDE is also on line 2",
        "line 5": 'plate "ABCDEFGHIJKL" is longer than 10 letters and digits',
    }
    assert ReadStore(settings.anpr_dir).register_path.read_bytes() == before
    with pytest.raises(InvalidInput, match="missing columns colour"):
        no_colour = tmp_path / "no_colour.csv"
        no_colour.write_text("plate,make,model\nAB51CDE,Ford,Ka\n", encoding="utf-8")
        ingest.import_register(settings, no_colour)
