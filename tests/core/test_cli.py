"""The peel command, run as an operator would, against a real database per backend."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peel.cli import app
from peel.core.config import get_settings
from tests.conftest import database_url_for, drop_postgres_database

runner = CliRunner()


@pytest.fixture
def cli_env(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = database_url_for(backend, tmp_path, "cli")
    monkeypatch.setenv("PEEL_DATABASE_URL", url)
    monkeypatch.setenv("PEEL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PEEL_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield url
    get_settings.cache_clear()
    if backend == "postgresql":
        from tests.conftest import _worker

        drop_postgres_database(f"peel_cli_{_worker()}")


def peel(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_operator_sets_up_an_organisation_a_person_and_a_token(cli_env: str) -> None:
    assert peel("org", "create", "test-force", "Test Force", "--type", "police_force")[0] == 0
    code, out = peel(
        "user",
        "create",
        "pc@force.example",
        "--name",
        "PC Test",
        "--org",
        "test-force",
        "--role",
        "officer",
        "--role",
        "analyst",
        "--password",
        "a long enough password",
    )
    assert code == 0, out
    code, out = peel("user", "list", "--json")
    (user,) = json.loads(out)
    assert user["email"] == "pc@force.example" and user["roles"] == "analyst,officer"
    code, out = peel(
        "token",
        "create",
        "Records system",
        "--org",
        "test-force",
        "--role",
        "officer",
        "--days",
        "30",
    )
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert token.startswith("peel_")
    code, out = peel("token", "list", "--json")
    (client,) = json.loads(out)
    assert token not in out and client["prefix"] in token
    assert peel("token", "revoke", client["prefix"])[0] == 0
    assert json.loads(peel("token", "list", "--json")[1])[0]["revoked"] is True


def test_audit_search_shows_who_did_what(cli_env: str) -> None:
    peel("org", "create", "test-cps", "Test CPS", "--type", "prosecutor")
    code, out = peel("audit", "search", "--action", "organisation.", "--json")
    assert code == 0
    (event,) = [json.loads(line) for line in out.strip().splitlines()]
    assert event["action"] == "organisation.create"
    assert event["actor"].startswith("cli:")
    assert event["changes"]["code"] == [None, "test-cps"]
    code, out = peel("audit", "search", "--since", "not-a-date")
    assert code == 2 and "--since" in out


def test_bad_input_gets_one_clear_line(cli_env: str) -> None:
    code, out = peel(
        "user",
        "create",
        "x@force.example",
        "--name",
        "X",
        "--org",
        "nowhere",
        "--password",
        "a long enough password",
    )
    assert code == 2 and "No organisation has the code 'nowhere'" in out
    peel("org", "create", "test-force", "Test Force", "--type", "police_force")
    code, out = peel(
        "user",
        "create",
        "y@force.example",
        "--name",
        "Y",
        "--org",
        "test-force",
        "--password",
        "short",
    )
    assert code == 2 and "password" in out
    code, out = peel("org", "create", "test-force", "Again", "--type", "other")
    assert code == 2 and "already exists" in out


def test_demo_load_is_idempotent(cli_env: str) -> None:
    code, first = peel("demo", "load")
    assert code == 0 and "officer@wessex.police.example" in first
    assert "fusion demo" in first and "data@northgate.example" in first
    code, _ = peel("demo", "load", "--quiet")
    assert code == 0
    users = json.loads(peel("user", "list", "--json")[1])
    # the core's 11 and the fusion demo's three data managers
    assert len(users) == len({u["email"] for u in users}) == 14
    orgs = json.loads(peel("org", "list", "--json")[1])
    assert len(orgs) == 7


def test_demo_load_refuses_production(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEEL_ENV", "production")
    monkeypatch.setenv("PEEL_SECRET_KEY", "x" * 48)
    get_settings.cache_clear()
    code, out = peel("demo", "load")
    assert code == 2 and "production" in out


def _run_peel(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peel", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_broken_database_url_is_one_clear_line(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin:/bin", "PEEL_DATA_DIR": str(tmp_path)}
    bad_scheme = _run_peel("serve", env={**base, "PEEL_DATABASE_URL": "nonsense://"})
    assert bad_scheme.returncode == 2
    assert "Traceback" not in bad_scheme.stderr
    assert "PEEL_DATABASE_URL" in bad_scheme.stderr
    unreachable = _run_peel(
        "serve", env={**base, "PEEL_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    )
    assert unreachable.returncode == 2
    assert "cannot reach the database" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    behind = _run_peel("serve", env={**base, "PEEL_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert behind.returncode == 2 and "peel db upgrade" in behind.stderr


def test_production_refuses_the_default_secret(tmp_path: Path) -> None:
    result = _run_peel(
        "db",
        "upgrade",
        env={"PATH": "/usr/bin:/bin", "PEEL_ENV": "production", "PEEL_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "PEEL_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr
