"""Importing files into a source: all or nothing, row/column errors, replacement, stable ids."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from peel.core.enums import Role
from peel.core.models import AuditEvent
from peel.core.policy import Forbidden, NotFound
from peel.core.principal import Principal
from peel.fusion import ingest
from peel.fusion.ingest import ImportRejected, import_file, record_rejected_import
from peel.fusion.mapping import parse_mapping
from peel.fusion.models import FusionImport, FusionRecord, FusionRelation, FusionSource
from peel.fusion.schema import record_id, relation_id
from tests.conftest import World, make_user
from tests.fusion.fixtures import add_person, make_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fusion"
CHILDREN = (FIXTURES / "children.csv").read_bytes()
MAPPING = (FIXTURES / "children.yaml").read_text()
HEADER = CHILDREN.decode().split("\n", 1)[0] + "\n"
LIMIT = 10 * 1024 * 1024


@pytest.fixture
def analyst(world: World) -> Principal:
    from peel.core.identity import principal_for_user

    user = make_user(world.db, "analyst@council.example", "test-council", [Role.analyst])
    return principal_for_user(user)


@pytest.fixture
def source(db: Session, world: World) -> FusionSource:
    return make_source(db, world.orgs["council"], "kids", mapping=MAPPING)


def run(db: Session, actor: Principal, source: FusionSource, data: bytes, name: str = "c.csv",
        mapping: str | None = None) -> FusionImport:  # fmt: skip
    return import_file(db, actor, source, data, name, mapping, max_bytes=LIMIT)


def rejection(db: Session, actor: Principal, source: FusionSource, data: bytes,
              name: str = "c.csv", mapping: str | None = None) -> ImportRejected:  # fmt: skip
    with pytest.raises(ImportRejected) as caught:
        run(db, actor, source, data, name, mapping)
    return caught.value


def facts(db: Session, source: FusionSource) -> dict[str, dict[str, list[str]]]:
    rows = db.scalars(select(FusionRecord).where(FusionRecord.source_id == source.id))
    return {r.id: r.properties for r in rows}


def relations(db: Session, source: FusionSource) -> set[tuple[str, str, str, str]]:
    rows = db.scalars(select(FusionRelation).where(FusionRelation.source_id == source.id))
    return {(r.kind, r.from_record_id, r.to_record_id, r.role) for r in rows}


def test_a_file_becomes_records_relations_an_import_and_an_audit_event(
    db: Session, analyst: Principal, source: FusionSource
) -> None:
    attempt = run(db, analyst, source, CHILDREN, "children.csv")
    assert (attempt.status, attempt.file_format, attempt.rows) == ("done", "csv", 5)
    assert (attempt.records, attempt.relations) == (10, 7)
    assert (source.record_count, source.relation_count) == (10, 7)
    assert source.last_imported_at is not None
    amy = db.get(FusionRecord, record_id(source.id, "Person", "C001"))
    assert amy is not None
    assert amy.caption == "Amy Smith"
    assert amy.properties["date_of_birth"] == ["2011-03-02"]
    assert amy.properties["flags"] == ["looked-after", "child-in-need"]  # two rows, merged
    assert amy.row_number == 1
    ben = db.get(FusionRecord, record_id(source.id, "Person", "C002"))
    assert ben is not None and ben.properties["markers"] == ["gang-associated"]
    episode = db.get(FusionRecord, record_id(source.id, "Event", "M102"))
    assert episode is not None and episode.occurred_on == date(2024, 2, 20)
    assert episode.caption == "Missing episode on 2024-02-20"
    home = record_id(source.id, "Address", "22 Mill Lane|BH2 5RT")
    assert ("lives_at", ben.id, home, "") in relations(db, source)
    link = db.get(FusionRelation, relation_id(source.id, "involved_in", ben.id, episode.id,
                                              "missing-person"))  # fmt: skip
    assert link is not None and link.row_number == 3
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "fusion.source.imported")
    ).one()
    assert event.record_id == source.id
    assert event.changes is not None and event.changes["records"] == [0, 10]
    assert "children.csv: 5 rows, 10 records, 7 relations" in (event.detail or "")


def test_a_bad_row_changes_nothing_and_names_row_and_column(
    db: Session, analyst: Principal, source: FusionSource
) -> None:
    run(db, analyst, source, CHILDREN)
    before, links = facts(db, source), relations(db, source)
    imports = db.scalar(select(func.count()).select_from(FusionImport))
    broken = CHILDREN.replace(b"15/07/2009", b"31/02/2009").replace(b"C003,Chloe", b",Chloe")
    broken += b"C009,Finn,Hall,,M,,N,,,,,\n"
    problem = rejection(db, analyst, source, broken)
    assert problem.errors == [
        {"row": 3, "column": "dob", "problem": "child.date_of_birth: expected a date like "
         "'02/03/2011' (%d/%m/%Y), got '31/02/2009'"},
        {"row": 6, "column": "dob", "problem": "child.date_of_birth is required"},
    ]  # fmt: skip
    assert facts(db, source) == before
    assert relations(db, source) == links
    assert source.record_count == 10
    assert db.scalar(select(func.count()).select_from(FusionImport)) == imports


def test_reimporting_a_corrected_file_replaces_the_records_and_keeps_ids(
    db: Session, analyst: Principal, source: FusionSource
) -> None:
    run(db, analyst, source, CHILDREN)
    amy_id = record_id(source.id, "Person", "C001")
    dylan_id = record_id(source.id, "Person", "C004")
    assert dylan_id in facts(db, source)
    corrected = b"\n".join(
        line.replace(b"Amy,Smith", b"Amie,Smith")
        for line in CHILDREN.splitlines()
        if not line.startswith(b"C004")
    )
    attempt = run(db, analyst, source, corrected)
    after = facts(db, source)
    assert amy_id in after and after[amy_id]["given_name"] == ["Amie"]
    assert dylan_id not in after
    assert (attempt.records, source.record_count) == (8, 8)
    assert not any(dylan_id in r for r in relations(db, source))
    audits = db.scalars(
        select(AuditEvent.changes).where(AuditEvent.action == "fusion.source.imported")
        .order_by(AuditEvent.id)
    ).all()  # fmt: skip
    assert audits[-1] is not None and audits[-1]["records"] == [10, 8]


def test_records_loaded_before_an_import_are_not_served_stale(
    db: Session, analyst: Principal, source: FusionSource
) -> None:
    old = add_person(db, source, "C001", "Old", "Name")
    run(db, analyst, source, CHILDREN)
    fresh = db.get(FusionRecord, old.id)
    assert fresh is not None and fresh.properties["given_name"] == ["Amy"]


def test_the_same_key_twice_keeps_both_conflicting_values(
    db: Session, analyst: Principal, source: FusionSource
) -> None:
    data = HEADER + "C1,Amy,Smith,02/03/2011,F,,N,,,,,\nC1,Amy,Smyth,03/02/2011,F,,N,,,,,\n"
    run(db, analyst, source, data.encode())
    amy = facts(db, source)[record_id(source.id, "Person", "C1")]
    assert amy["family_name"] == ["Smith", "Smyth"]
    assert amy["date_of_birth"] == ["2011-03-02", "2011-02-03"]


def test_missing_columns_and_bad_roles_are_reported_together(
    db: Session, analyst: Principal, source: FusionSource
) -> None:
    no_role = CHILDREN.replace(b",role\n", b",part\n")
    problem = rejection(db, analyst, source, no_role)
    assert problem.errors[0]["row"] == 0 and problem.errors[0]["column"] == "role"
    assert "relations[1].role" in problem.errors[0]["problem"]
    bad_role = CHILDREN.replace(b"23:40,missing-person", b"23:40,bystander")
    problem = rejection(db, analyst, source, bad_role)
    assert problem.errors == [{"row": 2, "column": "role", "problem":
                               "involved_in role: expected one of victim, suspect, offender, "
                               "arrested, witness, missing-person, patient, pupil, subject, "
                               "associate, reporter, other, got 'bystander'"}]  # fmt: skip


def test_at_most_two_hundred_problems_are_collected(
    db: Session, analyst: Principal, source: FusionSource
) -> None:
    rows = "".join(f"C{i},A,B,not a date,F,,N,,,,,\n" for i in range(300))
    problem = rejection(db, analyst, source, (HEADER + rows).encode())
    assert len(problem.errors) == ingest.MAX_ERRORS
    assert problem.truncated
    assert problem.errors[-1]["row"] == ingest.MAX_ERRORS


def test_excel_problems_name_the_sheet(
    db: Session, analyst: Principal, source: FusionSource, tmp_path: Path
) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Children"
    sheet.append(["id", "sex"])
    sheet.append(["K1", "F"])
    sheet.append(["K2", "sometimes"])
    book.save(tmp_path / "kids.xlsx")
    mapping = "format: excel\nentities:\n  k: {schema: Person, key: [id], properties: {sex: sex}}\n"
    problem = rejection(db, analyst, source, (tmp_path / "kids.xlsx").read_bytes(), "kids.xlsx",
                        mapping)  # fmt: skip
    assert problem.errors[0]["sheet"] == "Children"
    assert (problem.errors[0]["row"], problem.errors[0]["column"]) == (2, "sex")
    assert source.mapping == MAPPING  # a rejected import keeps the old mapping


def test_a_given_mapping_is_used_and_kept_and_symmetric_links_are_stored_once(
    db: Session, analyst: Principal, source: FusionSource
) -> None:
    mapping = (
        "entities:\n  a: {schema: Person, key: [a]}\n  b: {schema: Person, key: [b]}\n"
        "relations:\n  - {kind: associate_of, from: a, to: b}\n"
    )
    attempt = run(db, analyst, source, b"a,b\nP1,P2\nP2,P1\nP3,\n", "links.csv", mapping)
    assert (attempt.records, attempt.relations) == (3, 1)
    assert source.mapping == mapping
    [(kind, start, end, _)] = relations(db, source)
    assert kind == "associate_of" and start < end


def test_batches_are_inserted_in_chunks(
    db: Session, analyst: Principal, source: FusionSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "INSERT_BATCH", 7)
    rows = "".join(f"C{i},A{i},B,02/03/2011,F,,N,{i} Road,BH1 1AA,E{i},2024-01-05 10:00,victim\n"
                   for i in range(40))  # fmt: skip
    seen: list[tuple[str, int, int | None]] = []
    attempt = import_file(
        db, analyst, source, (HEADER + rows).encode(), "c.csv", max_bytes=LIMIT,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )  # fmt: skip
    assert (attempt.records, attempt.relations) == (120, 80)
    assert len(facts(db, source)) == 120
    assert ("storing", 7, 200) in seen and seen[-1] == ("storing", 200, 200)


def test_only_the_owners_source_managers_import(
    db: Session, world: World, analyst: Principal, source: FusionSource
) -> None:
    with pytest.raises(Forbidden, match="analysts, supervisors and administrators"):
        run(db, world.principal("social"), source, CHILDREN)  # an officer of the owner
    with pytest.raises(NotFound):
        run(db, world.principal("supervisor"), source, CHILDREN)  # another agency
    assert facts(db, source) == {}


def test_a_rejected_attempt_is_kept_in_its_own_transaction(
    db: Session, sessions: sessionmaker[Session], analyst: Principal, source: FusionSource
) -> None:
    db.commit()
    problem = rejection(db, analyst, source, b"child_id\nC1\n")
    db.rollback()
    kept = record_rejected_import(sessions, analyst, source.id, "c.csv", b"child_id\nC1\n",
                                  problem.errors, rows=problem.rows)  # fmt: skip
    with sessions() as fresh:
        row = fresh.get(FusionImport, kept.id)
        assert row is not None
        assert (row.status, row.file_format, row.filename) == ("failed", "csv", "c.csv")
        assert row.errors == problem.errors
        assert (
            fresh.scalar(
                select(AuditEvent.record_id).where(
                    AuditEvent.action == "fusion.source.import_rejected"
                )
            )
            == source.id
        )
        assert fresh.scalar(select(func.count()).select_from(FusionRecord)) == 0


def test_awkward_text_is_stored_exactly(
    db: Session, analyst: Principal, source: FusionSource
) -> None:
    mapping = (
        "format: json\nentities:\n  e:\n    schema: Event\n    key: [id]\n"
        "    properties: {kind: {value: incident}, description: text, category: cat}\n"
    )
    text = 'Zoë said "no"\n\tthen left \\ ran; 🙂 \\N'
    data = json.dumps([{"id": "tab\tkey", "text": text, "cat": "knife injury"}]).encode()
    run(db, analyst, source, data, "events.json", mapping)
    db.expire_all()
    stored = db.get(FusionRecord, record_id(source.id, "Event", "tab\tkey"))
    assert stored is not None
    assert stored.properties["description"] == [text.strip()]
    assert stored.source_key == "tab\tkey"
    assert stored.occurred_on is None


_CELLS = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=10)


@given(st.lists(st.tuples(_CELLS, _CELLS, _CELLS), min_size=1, max_size=6))
def test_every_problem_names_a_row_and_a_column_of_the_file(
    rows: list[tuple[str, str, str]],
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "dob", "gender"])
    writer.writerows(rows)
    mapping = parse_mapping(
        "entities:\n  p:\n    schema: Person\n    key: [id]\n"
        "    properties: {date_of_birth: {column: dob, format: '%d/%m/%Y'}, sex: gender}\n"
    )
    try:
        prepared = ingest.prepare_import(
            "s", mapping, buffer.getvalue().encode(), "x.csv", max_bytes=LIMIT
        )
    except ImportRejected as rejected:
        for error in rejected.errors:
            assert error["column"] in ("dob", "gender"), error
            assert 1 <= error["row"] <= len(rows), error
            assert "expected" in error["problem"]
    else:
        assert len(prepared.records) == len({r[0].strip() for r in rows if r[0].strip()})
