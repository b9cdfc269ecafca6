"""``peel fusion sources add|list|share|mapping`` and ``peel fusion import`` end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from peel.cli import app
from peel.core.config import Settings, get_settings
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.core.enums import OrganisationType, Role
from peel.core.models import AuditEvent
from peel.fusion.models import FusionImport, FusionRecord
from tests.conftest import _worker, database_url_for, drop_postgres_database, make_org, make_user

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fusion"
ANALYST = "analyst@cli-council.example"
LEAD = "lead@cli-council.example"
POLICE = "analyst@cli-police.example"


@pytest.fixture(scope="module")
def peel_env(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A migrated database with a council (analyst, supervisor) and a police force."""
    tmp_path = tmp_path_factory.mktemp("fusioncli")
    url = database_url_for(backend, tmp_path, "fusioncli")
    patch = pytest.MonkeyPatch()
    patch.setenv("PEEL_DATABASE_URL", url)
    patch.setenv("PEEL_DATA_DIR", str(tmp_path / "var"))
    patch.setenv("PEEL_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = build_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        make_org(session, "cli-council", OrganisationType.local_authority)
        make_org(session, "cli-police")
        make_user(session, ANALYST, "cli-council", [Role.analyst])
        make_user(session, LEAD, "cli-council", [Role.supervisor])
        make_user(session, POLICE, "cli-police", [Role.analyst])
    engine.dispose()
    yield get_settings()
    patch.undo()
    get_settings.cache_clear()
    if backend == "postgresql":
        drop_postgres_database(f"peel_fusioncli_{_worker()}")


def peel(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def query(settings: Settings, statement: object) -> list[object]:
    engine = build_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return list(session.scalars(statement))  # type: ignore[call-overload]
    finally:
        engine.dispose()


def test_register_share_import_and_list(peel_env: Settings, tmp_path: Path) -> None:
    code, out = peel(
        "fusion", "sources", "add", "cli-kids", "--name", "Children's social care",
        "--agency", "cli-council", "--legal-basis-kind", "safeguarding",
        "--legal-basis", "Children Act 2004 s.11", "--tlp", "AMBER+STRICT",
        "--mapping", str(FIXTURES / "children.yaml"), "--as", ANALYST,
    )  # fmt: skip
    assert code == 0, out
    assert "Registered cli-kids (Children's social care), TLP:AMBER+STRICT" in out

    code, out = peel("fusion", "import", "cli-kids", str(FIXTURES / "children.csv"),
                     "--as", ANALYST)  # fmt: skip
    assert code == 0, out
    assert "5 rows gave 10 records and 7 relations" in out

    code, out = peel("fusion", "sources", "list", "--json", "--as", POLICE)
    assert code == 0 and json.loads(out) == []
    code, out = peel("fusion", "sources", "share", "cli-kids", "cli-police", "--as", LEAD)
    assert code == 0, out
    assert "shared with cli-police" in out
    code, out = peel("fusion", "sources", "list", "--json", "--as", POLICE)
    [listed] = json.loads(out)
    assert (listed["code"], listed["records"], listed["shared_with"]) == (
        "cli-kids",
        10,
        ["cli-police"],
    )
    code, out = peel("fusion", "sources", "list")
    assert code == 0 and "cli-kids" in out

    actions = query(peel_env, select(AuditEvent.action).where(AuditEvent.action.like("fusion.%")))
    assert {"fusion.source.created", "fusion.source.imported", "fusion.source.shared"} <= set(
        actions
    )


def test_a_bad_file_prints_rows_and_columns_and_exits_2(peel_env: Settings, tmp_path: Path) -> None:
    code, out = peel(
        "fusion", "sources", "add", "cli-school", "--name", "Harbour Academy",
        "--agency", "cli-council", "--legal-basis-kind", "consent", "--legal-basis", "x",
        "--as", ANALYST,
    )  # fmt: skip
    assert code == 0, out
    school = FIXTURES / "school.json"
    code, out = peel("fusion", "import", "cli-school", str(school), "--as", ANALYST)
    assert code == 2
    assert "the source has no mapping yet" in out

    broken = tmp_path / "school.json"
    broken.write_text(school.read_text().replace('"2009-07-15"', '"15th July"'))
    mapping = str(FIXTURES / "school.yaml")
    code, out = peel("fusion", "import", "cli-school", str(broken), "--mapping", mapping,
                     "--as", ANALYST)  # fmt: skip
    assert code == 2
    assert "1 problem(s); nothing was imported" in out
    assert "row 2, column birth_date: pupil.date_of_birth: expected an ISO date" in out

    code, out = peel("fusion", "import", "cli-school", str(school), "--mapping", mapping,
                     "--as", ANALYST, "--json")  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["records"] == 7
    statuses = query(peel_env, select(FusionImport.status).join(
        FusionImport.__table__.c.source_id.table  # same table; order by time below
    ).order_by(FusionImport.created_at)) if False else query(
        peel_env, select(FusionImport.status).where(FusionImport.filename == "school.json")
        .order_by(FusionImport.created_at)
    )  # fmt: skip
    assert statuses == ["failed", "done"]
    keys = query(peel_env, select(FusionRecord.source_key).where(FusionRecord.schema == "Event"))
    assert "X17" in keys


def test_refusals_name_what_is_wrong(peel_env: Settings) -> None:
    code, out = peel(
        "fusion", "sources", "add", "cli-red", "--name", "R", "--agency", "cli-council",
        "--legal-basis-kind", "other", "--legal-basis", "x", "--tlp", "RED", "--as", ANALYST,
    )  # fmt: skip
    assert code == 2 and "tlp: TLP:RED is for named people only" in out
    code, out = peel(
        "fusion", "sources", "add", "cli-private", "--name", "P", "--agency", "cli-council",
        "--legal-basis-kind", "other", "--legal-basis", "x", "--as", ANALYST,
    )  # fmt: skip
    assert code == 0, out
    code, out = peel("fusion", "import", "cli-private", str(FIXTURES / "children.csv"),
                     "--as", POLICE)  # fmt: skip
    assert code == 2 and "No fusion source with id 'cli-private'" in out
    code, out = peel("fusion", "sources", "share", "cli-private", "cli-police", "--as", ANALYST)
    assert code == 2 and "not relabel it" in out
    code, out = peel("fusion", "sources", "mapping", "cli-private",
                     str(FIXTURES / "children.csv"), "--as", ANALYST)  # fmt: skip
    assert code == 2 and "mapping" in out
    code, out = peel("fusion", "import", "cli-private", "no-such-file.csv", "--as", ANALYST)
    assert code == 2 and "no-such-file.csv is not a file" in out
