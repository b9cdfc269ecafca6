"""The read store: day partitions, dedup, compaction, retention and the SQL plate twins."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peel.anpr import jobs
from peel.anpr.plates import fuzzy_key, normalise
from peel.anpr.store import (
    READ_SCHEMA,
    REGISTER_SCHEMA,
    ReadStore,
    connect,
    fuzzy_sql,
    plate_sql,
    read_id_for,
    read_id_sql,
    register_plate_functions,
    unicode_plate_sql,
)
from peel.core import migrate
from peel.core.config import Settings
from peel.core.db import build_engine, make_sessionmaker
from peel.core.models import AuditEvent

DAY = date(2021, 10, 4)


def reads(
    count: int, day: date = DAY, batch: str = "batch-a", start: int = 0, camera: str = "CAM1"
) -> pa.Table:
    """``count`` distinct reads on one day, plates out of order so sorting shows."""
    rows = []
    for i in range(start, start + count):
        at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=37 * i)
        plate = f"AB{(97 * i) % 89 + 10:02d}CDE"
        rows.append(
            {
                "read_id": read_id_for(camera, plate, at),
                "camera_id": camera,
                "plate": plate,
                "plate_raw": plate.lower(),
                "fuzzy": fuzzy_key(plate),
                "read_at": at,
                "confidence": 0.9,
                "lat": None,
                "lon": None,
                "make": f"make-{i}",
                "model": None,
                "colour": None,
                "direction": None,
                "batch_id": batch,
            }
        )
    return pa.Table.from_pylist(rows, schema=READ_SCHEMA)


def stored(store: ReadStore) -> pa.Table:
    relation = duckdb.sql(
        f"SELECT * FROM read_parquet('{store.reads_glob()}', hive_partitioning=false)"
    )
    assert relation is not None
    return relation.to_arrow_table()


def test_append_writes_one_sorted_file_per_day(tmp_path: Path) -> None:
    store = ReadStore(tmp_path)
    table = pa.concat_tables([reads(40), reads(30, DAY + timedelta(days=1))])
    result = store.append(table)
    assert (result.landed, result.duplicate) == (70, 0)
    assert result.days == [DAY, DAY + timedelta(days=1)]
    assert store.days() == result.days
    for day, count in ((DAY, 40), (DAY + timedelta(days=1), 30)):
        (path,) = store.files(day)
        assert path.parent.name == f"day={day.isoformat()}"
        assert path.name.startswith("batch-a-")
        written = pq.read_table(path)
        assert written.num_rows == count
        keys = list(zip(written["plate"].to_pylist(), written["read_at"].to_pylist(), strict=True))
        assert keys == sorted(keys)
        assert written.schema.field("read_at").type == pa.timestamp("us", tz="UTC")
        assert written.schema.field("confidence").type == pa.float32()
    assert not list(tmp_path.rglob("*.tmp"))
    assert store.has_reads()


def test_append_counts_repeats_and_reads_already_stored(tmp_path: Path) -> None:
    store = ReadStore(tmp_path)
    assert store.append(reads(25)).landed == 25
    again = store.append(reads(25))
    assert (again.landed, again.duplicate, again.days) == (0, 25, [])
    assert len(store.files(DAY)) == 1  # nothing new, no new file
    overlap = store.append(reads(20, start=15))  # 10 stored, 10 new
    assert (overlap.landed, overlap.duplicate) == (10, 10)
    assert stored(store).num_rows == 35


def test_repeats_are_found_across_many_small_files_of_one_day(tmp_path: Path) -> None:
    """Live flushes leave a file every few seconds; a repeat in any of them is still caught,
    including one whose file's time range only just overlaps the incoming reads."""
    store = ReadStore(tmp_path)
    for first in range(0, 100, 10):  # ten files of ten reads, each a later slice of the day
        assert store.append(reads(10, start=first, batch=f"flush-{first}")).landed == 10
    assert len(store.files(DAY)) == 10
    mixed = store.append(reads(30, start=85))  # 15 stored (in the last two files), 15 new
    assert (mixed.landed, mixed.duplicate) == (15, 15)
    assert stored(store).num_rows == 115
    assert store.append(reads(115)).landed == 0


def test_repeated_read_ids_in_one_batch_keep_the_first(tmp_path: Path) -> None:
    store = ReadStore(tmp_path)
    first, second = reads(5), reads(5)
    second = second.set_column(
        second.schema.get_field_index("make"), "make", pa.array(["later"] * 5)
    )
    result = store.append(pa.concat_tables([first, second]))
    assert (result.landed, result.duplicate) == (5, 5)
    assert set(stored(store)["make"].to_pylist()) == {f"make-{i}" for i in range(5)}


def test_append_refuses_reads_that_do_not_fit_the_schema(tmp_path: Path) -> None:
    store = ReadStore(tmp_path)
    with pytest.raises(ValueError, match="lacks columns: fuzzy"):
        store.append(reads(2).drop_columns(["fuzzy"]))
    naive = reads(2).set_column(5, "read_at", pa.array([datetime(2021, 1, 1)] * 2))
    with pytest.raises(ValueError, match="read_at"):
        store.append(naive)
    no_plate = reads(2).set_column(2, "plate", pa.array([None, "AB51CDE"], pa.string()))
    with pytest.raises(ValueError, match="plate"):
        store.append(no_plate)
    assert not store.has_reads()
    assert store.append(reads(0)).landed == 0


def test_compact_merges_a_days_files_without_losing_or_repeating_reads(tmp_path: Path) -> None:
    store = ReadStore(tmp_path)
    for part in range(3):
        store.append(reads(20, start=20 * part, batch=f"b{part}"))
    store.append(reads(5, DAY + timedelta(days=1)))
    before = sorted(stored(store)["read_id"].to_pylist())
    assert len(store.files(DAY)) == 3
    assert store.compact() == 1  # the second day has one file already
    (merged,) = store.files(DAY)
    assert merged.name.startswith("compact-")
    assert sorted(stored(store)["read_id"].to_pylist()) == before
    written = pq.read_table(merged)
    keys = list(zip(written["plate"].to_pylist(), written["read_at"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    assert [p.name for p in store.reads_dir.iterdir() if p.name.startswith(".")] == []
    assert store.compact(DAY) == 0
    assert store.append(reads(60)).duplicate == 60  # dedup still sees the merged file


def test_readers_never_see_duplicates_or_gaps_while_compacting(tmp_path: Path) -> None:
    """A reader counting reads during appends and compactions only ever sees a whole total."""
    store = ReadStore(tmp_path)
    store.append(reads(30))
    totals = {30}
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def reader() -> None:
        con = duckdb.connect()
        while not done.is_set():
            try:
                seen.append(
                    con.sql(
                        f"SELECT count(*), count(DISTINCT read_id) FROM "
                        f"read_parquet('{store.reads_glob()}')"
                    ).fetchall()[0]
                )
            except duckdb.Error:
                continue  # the documented window: a listed file was swapped away; re-run
        con.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for step in range(1, 8):
            store.append(reads(10, start=30 + 10 * (step - 1), batch=f"s{step}"))
            totals.add(30 + 10 * step)
            store.compact(DAY)
    finally:
        done.set()
        thread.join()
    assert seen, "the reader never finished a query"
    assert all(count == distinct and count in totals for count, distinct in seen)
    assert stored(store).num_rows == 100


def test_drop_before_removes_whole_days(tmp_path: Path) -> None:
    store = ReadStore(tmp_path)
    for offset in range(4):
        store.append(reads(3, DAY + timedelta(days=offset)))
    dropped = store.drop_before(DAY + timedelta(days=2))
    assert dropped == [DAY, DAY + timedelta(days=1)]
    assert store.days() == [DAY + timedelta(days=2), DAY + timedelta(days=3)]
    assert stored(store).num_rows == 6
    assert store.drop_before(DAY) == []


def test_cameras_and_register_are_replaced_whole(tmp_path: Path) -> None:
    store = ReadStore(tmp_path)
    camera = {"camera_id": "CAM1", "name": "A1 north", "lat": 51.5, "lon": -0.1}
    store.write_cameras([camera, {**camera, "camera_id": "CAM0", "name": "A1 south"}])
    first = pq.read_table(store.cameras_path)
    assert first["camera_id"].to_pylist() == ["CAM0", "CAM1"]
    assert first["easting"].to_pylist() == [None, None]  # optional columns come out empty
    store.write_cameras([camera])
    assert pq.read_table(store.cameras_path).num_rows == 1
    register = pa.table({"plate": ["ZZ99ZZZ", "AB51CDE"], "make": ["Ford", "Audi"]})
    store.write_register(register)
    written = pq.read_table(store.register_path)
    assert written.schema.names == REGISTER_SCHEMA.names
    assert written["plate"].to_pylist() == ["AB51CDE", "ZZ99ZZZ"]
    with pytest.raises(ValueError, match="plate"):
        store.write_register(pa.table({"make": ["Ford"]}))
    assert pq.read_table(store.register_path).num_rows == 2  # the failed write changed nothing
    assert not list(tmp_path.glob(".*.tmp"))


# --- retention ------------------------------------------------------------------------------


@pytest.fixture
def retention_db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = build_engine(f"sqlite:///{tmp_path / 'retention.db'}")
    migrate.upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_retention_drops_days_past_the_period_and_audits_them(
    tmp_path: Path, retention_db: sessionmaker[Session]
) -> None:
    settings = Settings(data_dir=tmp_path / "var", anpr_retention_days=30)
    store = ReadStore(settings.anpr_dir)
    now = datetime(2021, 11, 10, 12, tzinfo=UTC)
    for day in (date(2021, 10, 9), date(2021, 10, 10), date(2021, 10, 11), date(2021, 11, 9)):
        store.append(reads(2, day))
    assert jobs.expired_days(settings, now) == [date(2021, 10, 9), date(2021, 10, 10)]
    assert jobs.run_retention(settings, now, sessions=retention_db) == [
        date(2021, 10, 9),
        date(2021, 10, 10),
    ]
    assert store.days() == [date(2021, 10, 11), date(2021, 11, 9)]
    with retention_db() as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "anpr.retention"))
    assert event.actor == "system"
    assert event.changes == {"days_dropped": [["2021-10-09", "2021-10-10"], None]}
    assert jobs.run_retention(settings, now, sessions=retention_db) == []


def test_the_schedule_runs_retention_and_compacts_finished_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "var", anpr_retention_days=1)
    settings.ensure_data_dir()
    migrate.upgrade(engine := build_engine(settings.resolved_database_url))
    engine.dispose()
    store = ReadStore(settings.anpr_dir)
    today = datetime.now(UTC).date()
    store.append(reads(2, today - timedelta(days=10)))
    store.append(reads(2, today - timedelta(days=1)))
    store.append(reads(2, today - timedelta(days=1), start=2, batch="b2"))
    monkeypatch.setattr(jobs, "FIRST_RUN_SECONDS", 0.0)

    async def one_run() -> None:
        task = asyncio.create_task(jobs.retention_schedule(settings))
        for _ in range(400):
            await asyncio.sleep(0.01)
            if len(store.files()) == 1:
                break
        task.cancel()

    asyncio.run(one_run())
    assert store.days() == [today - timedelta(days=1)]
    assert len(store.files()) == 1


# --- the SQL twins of the plate functions ----------------------------------------------------


@pytest.fixture(scope="module")
def sql() -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect()
    register_plate_functions(con)
    yield con
    con.close()


ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@settings(max_examples=60, deadline=None)
@given(st.lists(ASCII, min_size=1, max_size=30))
def test_sql_normalisation_and_fuzzy_key_agree_with_python(
    sql: duckdb.DuckDBPyConnection, raws: list[str]
) -> None:
    rows = sql.execute(
        f"SELECT x, {plate_sql('x')}, {fuzzy_sql(plate_sql('x'))} FROM unnest(?) AS t(x)", [raws]
    ).fetchall()
    for raw, plate, fuzzy in rows:
        assert plate == normalise(raw)
        assert fuzzy == fuzzy_key(normalise(raw))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=20))
def test_unicode_plates_fold_as_python_does(
    sql: duckdb.DuckDBPyConnection, raws: list[str]
) -> None:
    rows = sql.execute(f"SELECT x, {unicode_plate_sql('x')} FROM unnest(?) AS t(x)", [raws])
    for raw, plate in rows.fetchall():
        assert plate == normalise(raw)


@settings(max_examples=40, deadline=None)
@given(
    st.text(alphabet="ABC123-_ ", min_size=1, max_size=10),
    st.text(alphabet="ABCXYZ0123456789", min_size=1, max_size=10),
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC)
    ),
)
def test_sql_read_id_matches_python(
    sql: duckdb.DuckDBPyConnection, camera: str, plate: str, at: datetime
) -> None:
    (value,) = sql.execute(
        f"SELECT {read_id_sql('c', 'p', 't')} FROM (SELECT ? AS c, ? AS p, ?::TIMESTAMPTZ AS t)",
        [camera, plate, at],
    ).fetchall()[0]
    assert value == read_id_for(camera, plate, at)


def test_compaction_swaps_by_renaming_where_folders_cannot_be_exchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peel.anpr import store as store_module

    monkeypatch.setattr(store_module, "_renameat2", lambda: None)
    store = ReadStore(tmp_path)
    store.append(reads(10))
    store.append(reads(10, start=10, batch="b2"))
    assert store.compact(DAY) == 1
    assert len(store.files(DAY)) == 1
    assert stored(store).num_rows == 20
    assert [p.name for p in store.reads_dir.iterdir()] == [f"day={DAY.isoformat()}"]
