"""A whole analysis run: linkage, scopes, entities, groups, indicators, decisions, failure, CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from peel.cli import app
from peel.core.config import Settings, get_settings
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.core.enums import OrganisationType, Role
from peel.core.identity import principal_for_user
from peel.core.models import AuditEvent, User
from peel.core.policy import Forbidden
from peel.fusion import analyse, linkage
from peel.fusion.analyse import run_analysis
from peel.fusion.graph import Facts, Record
from peel.fusion.indicators import IndicatorFileError, shipped_indicators
from peel.fusion.models import (
    FusionEntity,
    FusionEntityMember,
    FusionGroup,
    FusionIndicatorHit,
    FusionLinkDecision,
    FusionMatch,
    FusionRecord,
    FusionRun,
    FusionScope,
)
from peel.fusion.service import principal_scope
from tests.conftest import World, _worker, database_url_for, drop_postgres_database
from tests.fusion.analysis_fixtures import ANALYSIS_DAY, SmallWorld, small_world


@pytest.fixture
def small(db: Session, world: World) -> SmallWorld:
    return small_world(db, world)


def run(sessions: sessionmaker[Session], world: World, settings: Settings) -> str:
    return run_analysis(sessions, world.principal("supervisor"), settings, as_of=ANALYSIS_DAY)


def scope_of(db: Session, world: World, user: str) -> str:
    return principal_scope(db, world.principal(user))[0]


def entity_of(db: Session, scope: str, record: FusionRecord) -> FusionEntity:
    member = db.get(FusionEntityMember, (scope, record.id))
    assert member is not None, f"{record.id} is not in scope"
    found = db.get(FusionEntity, (scope, member.entity_id))
    assert found is not None
    return found


def members(db: Session, scope: str, entity_id: str) -> set[str]:
    return set(
        db.scalars(
            select(FusionEntityMember.record_id).where(
                FusionEntityMember.scope == scope, FusionEntityMember.entity_id == entity_id
            )
        )
    )


def codes(db: Session, scope: str, entity_id: str) -> set[str]:
    return set(
        db.scalars(
            select(FusionIndicatorHit.code).where(
                FusionIndicatorHit.scope == scope, FusionIndicatorHit.entity_id == entity_id
            )
        )
    )


def test_a_run_links_records_into_entities_and_rates_them_per_scope(
    db: Session,
    sessions: sessionmaker[Session],
    world: World,
    small: SmallWorld,
    settings: Settings,
) -> None:
    progress: list[tuple[float, str]] = []
    run_id = run_analysis(
        sessions,
        world.principal("supervisor"),
        settings,
        as_of=ANALYSIS_DAY,
        progress=lambda f, m: progress.append((f, m)),
    )
    done = db.get(FusionRun, run_id)
    assert done is not None and done.status == "done" and done.error == ""
    assert done.stats["scopes"] == 3  # force, council, health; nobody else uses fusion
    assert done.model and done.stats["pairs"] > 0
    assert progress[0][0] == 0.0 and progress[-1] == (1.0, "Done")
    assert [f for f, _m in progress] == sorted(f for f, _m in progress)
    audit = db.scalars(select(AuditEvent).where(AuditEvent.action == "fusion.analysis.run")).one()
    assert audit.record_id == run_id and "scopes=3" in (audit.detail or "")

    council = scope_of(db, world, "social")
    amy = entity_of(db, council, small.amy["social"])
    assert members(db, council, amy.id) == {r.id for r in small.amy.values()}
    assert amy.id == "e" + min(r.id for r in small.amy.values())
    assert (amy.record_count, amy.source_count, amy.is_child) == (4, 4, True)
    assert amy.date_of_birth is not None and amy.date_of_birth.isoformat() == "2012-04-01"
    assert amy.caption == "Amy Smith" and amy.rag == "red"
    found = codes(db, council, amy.id)
    assert {"knife-ae", "missing-3-in-90", "household-violence", "re-referral"} <= found
    assert {"exclusion-police", "looked-after", "many-agencies"} & found
    assert amy.score == pytest.approx(
        sum(
            db.scalars(
                select(FusionIndicatorHit.weight).where(
                    FusionIndicatorHit.scope == council, FusionIndicatorHit.entity_id == amy.id
                )
            )
        )
    )

    force = scope_of(db, world, "officer")
    amy_police = entity_of(db, force, small.amy["police"])
    assert members(db, force, amy_police.id) == {small.amy["police"].id}
    assert "knife-ae" not in codes(db, force, amy_police.id)
    group = db.scalars(select(FusionGroup).where(FusionGroup.scope == force)).one()
    assert {entity_of(db, force, m).id for m in small.gang} <= set(group.members)
    assert entity_of(db, force, small.gang[0]).group_id == group.id
    assert group.key_people and group.edges

    matches = db.scalars(select(FusionMatch)).all()
    assert matches and {m.run_id for m in matches} == {run_id}
    amy_ids = sorted(r.id for r in small.amy.values())
    assert any((m.record_a, m.record_b) == (amy_ids[0], amy_ids[1]) for m in matches)
    for scope in db.scalars(select(FusionScope)):
        visible = set(scope.source_ids)
        for hit in db.scalars(
            select(FusionIndicatorHit).where(FusionIndicatorHit.scope == scope.key)
        ):
            sources = {db.get(FusionRecord, r).source_id for r in hit.evidence}  # type: ignore[union-attr]
            assert sources <= visible, hit.code


def _decide(
    db: Session, world: World, kind: str, left: list[str], right: list[str]
) -> FusionLinkDecision:
    decision = FusionLinkDecision(
        kind=kind,
        left_records=left,
        right_records=right,
        reason="checked the school roll",
        owner_org_id=world.orgs["council"].id,
        decided_by_id=world.users["social"].id,
    )
    db.add(decision)
    db.flush()
    return decision


def test_practitioners_splits_and_merges_are_reapplied_on_every_run(
    db: Session,
    sessions: sessionmaker[Session],
    world: World,
    small: SmallWorld,
    settings: Settings,
) -> None:
    council = scope_of(db, world, "social")
    school = small.amy["school"]
    others = [r.id for k, r in small.amy.items() if k != "school"]
    split = _decide(db, world, "split", [school.id], others)
    run(sessions, world, settings)
    assert members(db, council, entity_of(db, council, school).id) == {school.id}
    assert members(db, council, entity_of(db, council, small.amy["ae"]).id) == set(others)

    run(sessions, world, settings)  # the decision holds on the next run too
    assert members(db, council, entity_of(db, council, school).id) == {school.id}

    split.withdrawn_at = split.created_at
    _decide(db, world, "merge", [small.ben.id], [small.rob.id])
    db.flush()
    run(sessions, world, settings)
    assert len(members(db, council, entity_of(db, council, school).id)) == 4
    ben = entity_of(db, council, small.ben)
    assert members(db, council, ben.id) == {small.ben.id, small.rob.id}
    member = db.get(FusionEntityMember, (council, small.rob.id))
    assert member is not None and member.match_probability == 1.0


def test_a_failed_run_is_recorded_and_leaves_the_previous_results(
    db: Session,
    sessions: sessionmaker[Session],
    world: World,
    small: SmallWorld,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = run(sessions, world, settings)
    council = scope_of(db, world, "social")
    before = {
        (e.id, e.score, e.rag)
        for e in db.scalars(select(FusionEntity).where(FusionEntity.scope == council))
    }

    def broken(*_args: Any) -> list[Any]:
        raise RuntimeError("indicator engine fell over")

    monkeypatch.setattr(analyse, "evaluate", broken)
    with pytest.raises(RuntimeError):
        run(sessions, world, settings)
    failed = db.scalars(select(FusionRun).where(FusionRun.id != first)).one()
    assert failed.status == "failed" and "indicator engine fell over" in failed.error
    assert failed.finished_at is not None
    after = {
        (e.id, e.score, e.rag)
        for e in db.scalars(select(FusionEntity).where(FusionEntity.scope == council))
    }
    assert after == before
    assert {m.run_id for m in db.scalars(select(FusionMatch))} == {first}
    details = db.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "fusion.analysis.run")
    ).all()
    assert any(d and d.startswith("failed: RuntimeError") for d in details)


def test_scopes_nobody_has_any_more_are_removed(
    db: Session,
    sessions: sessionmaker[Session],
    world: World,
    small: SmallWorld,
    settings: Settings,
) -> None:
    run(sessions, world, settings)
    nurse = db.scalars(select(User).where(User.email == "nurse@health.example")).one()
    health = principal_scope(db, principal_for_user(nurse))[0]
    assert db.get(FusionScope, health) is not None
    nurse.is_active = False
    db.flush()
    run(sessions, world, settings)
    db.expire_all()
    assert db.get(FusionScope, health) is None
    assert db.scalars(select(FusionEntity).where(FusionEntity.scope == health)).first() is None
    assert len(db.scalars(select(FusionScope)).all()) == 2


def test_only_analysts_supervisors_and_administrators_start_runs(
    sessions: sessionmaker[Session], world: World, settings: Settings
) -> None:
    with pytest.raises(Forbidden):
        run_analysis(sessions, world.principal("officer"), settings)
    with pytest.raises(Forbidden):
        run_analysis(sessions, world.principal("teacher"), settings)


def test_deployment_rules_replace_the_shipped_ones(
    db: Session,
    sessions: sessionmaker[Session],
    world: World,
    small: SmallWorld,
    settings: Settings,
) -> None:
    settings.fusion_dir.mkdir(parents=True, exist_ok=True)
    (settings.fusion_dir / "indicators.yaml").write_text(
        "rag: {red: 3, amber: 1}\n"
        "indicators:\n"
        "  - code: looked-after-only\n"
        "    title: Looked after\n"
        "    description: Only this rule.\n"
        "    category: social-care\n"
        "    weight: 1\n"
        "    source: Local rule for a test (adapted)\n"
        "    rule: {kind: flag, flags: [looked-after]}\n"
    )
    run(sessions, world, settings)
    council = scope_of(db, world, "social")
    hits = db.scalars(select(FusionIndicatorHit).where(FusionIndicatorHit.scope == council)).all()
    assert [(h.code, h.evidence) for h in hits] == [("looked-after-only", [small.amy["social"].id])]
    assert entity_of(db, council, small.amy["social"]).rag == "amber"


def test_a_bad_rule_file_fails_the_run_before_linkage(
    db: Session,
    sessions: sessionmaker[Session],
    world: World,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.fusion_dir.mkdir(parents=True, exist_ok=True)
    rules = settings.fusion_dir / "indicators.yaml"
    rules.write_text("rag: {red: 1, amber: 2}\nindicators: []\n")
    monkeypatch.setattr(linkage, "score_pairs", None)  # never reached
    with pytest.raises(IndicatorFileError):
        run(sessions, world, settings)
    failed = db.scalars(select(FusionRun)).one()
    assert failed.status == "failed" and str(rules) in failed.error
    assert "amber must be below red" in failed.error


# --- the command line -----------------------------------------------------------------------------

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def cli_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database holding the small world, for the commands to open themselves."""
    from tests.conftest import make_org, make_user

    tmp_path = tmp_path_factory.mktemp("fusioncli")
    url = database_url_for(backend, tmp_path, "fusioncli")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("PEEL_DATABASE_URL", url)
    monkeypatch.setenv("PEEL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PEEL_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = build_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        orgs = {
            "force": make_org(session, "test-force"),
            "council": make_org(session, "test-council", OrganisationType.local_authority),
            "school": make_org(session, "test-school", OrganisationType.education),
        }
        users = {
            "supervisor": make_user(session, "sup@force.example", "test-force", [Role.supervisor]),
            "social": make_user(session, "social@council.example", "test-council", [Role.officer]),
        }
        session.flush()
        small_world(session, World(session, orgs, users))
    engine.dispose()
    yield url
    monkeypatch.undo()
    get_settings.cache_clear()
    if backend == "postgresql":
        drop_postgres_database(f"peel_fusioncli_{_worker()}")


def test_cli_analyse_then_queue(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from peel.fusion.cli_shared import console

    monkeypatch.setattr(console, "width", 200)  # a test worker has no terminal to measure
    result = runner.invoke(
        app, ["fusion", "analyse", "--as", "sup@force.example", "--as-of", ANALYSIS_DAY.isoformat()]
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the summary wraps at the terminal's width
    assert "3 scopes" in said and "people decide" in said
    assert "ae, police, school, social-care" in said

    shown = runner.invoke(app, ["fusion", "queue", "--as", "social@council.example", "--json"])
    assert shown.exit_code == 0, shown.output
    queue = json.loads(shown.output)
    assert queue["analysed"] is True
    first = queue["items"][0]
    assert (first["caption"], first["rag"], first["is_child"]) == ("Amy Smith", "red", True)
    assert "knife-ae" in {i["code"] for i in first["indicators"]}
    assert any(i["title"] == "A&E attendance with a knife injury" for i in first["indicators"])

    greens = runner.invoke(app, ["fusion", "queue", "--as", "sup@force.example", "--rag", "green"])
    assert greens.exit_code == 0, greens.output
    assert "Amy Smith" not in greens.output  # red in the force's scope too

    engine = build_engine(cli_db)
    with transaction(make_sessionmaker(engine)) as session:
        reads = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "fusion.queue.read")
        ).all()
        assert sorted((r.detail or "")[:9] for r in reads) == ["rag=all s", "rag=green"]
    engine.dispose()


def test_cli_refuses_a_bad_date_and_an_unknown_person(cli_db: str) -> None:
    bad = runner.invoke(
        app, ["fusion", "analyse", "--as", "sup@force.example", "--as-of", "30/06/2026"]
    )
    assert bad.exit_code == 2 and "--as-of" in bad.output
    nobody = runner.invoke(app, ["fusion", "queue", "--as", "nobody@example.org"])
    assert nobody.exit_code == 2 and "--as" in nobody.output


def test_records_with_different_nhs_numbers_never_become_one_person_through_a_chain() -> None:
    def person(record_id: str, nhs: str | None) -> Record:
        props = {"given_name": ["Amy"], "family_name": ["Price"], "date_of_birth": ["2012-03-04"]}
        return Record(
            record_id,
            "src",
            "Person",
            "Amy Price",
            {**props, **({"nhs_number": [nhs]} if nhs else {})},
        )

    facts = Facts(
        {
            r.id: r
            for r in (person("a", "9434765919"), person("b", None), person("c", "9434765870"))
        },
        [],
    )
    pairs = pa.table(
        {
            "record_a": ["a", "b"],
            "record_b": ["b", "c"],
            "match_probability": [0.99, 0.95],
            "match_weight": [10.0, 8.0],
            "evidence": ["{}", "{}"],
        }
    )
    inputs = analyse.ScopeInputs(facts, pairs, [], shipped_indicators(), ANALYSIS_DAY, 0.9)
    result = analyse.analyse_scope(inputs, "scope", frozenset({"src"}))
    entity_of_record = {m["record_id"]: m["entity_id"] for m in result.members}
    assert entity_of_record["a"] == entity_of_record["b"]  # the stronger link is kept
    assert entity_of_record["c"] != entity_of_record["a"]  # the weaker one is cut
