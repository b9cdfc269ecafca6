"""`peel evidence`: the demo case exported, verified, tampered with; retention; the log."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peel.cli import app
from peel.core.blobstore import blob_store_from_settings
from peel.core.config import get_settings
from peel.core.db import build_engine, make_sessionmaker, transaction
from peel.core.demo import load_demo
from peel.evidence import media
from peel.evidence.demo import load_evidence_demo
from tests.conftest import _worker, database_url_for, drop_postgres_database

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database with the demo people and evidence (made once per backend)."""
    if not media.ffmpeg_available():
        pytest.skip("the demo's video needs Debian's ffmpeg")
    tmp_path = tmp_path_factory.mktemp("evcli")
    url = database_url_for(backend, tmp_path, "evcli")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("PEEL_DATABASE_URL", url)
    monkeypatch.setenv("PEEL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PEEL_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    settings = get_settings()
    engine = build_engine(url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        load_demo(session)
    loaded = load_evidence_demo(sessions, blob_store_from_settings(settings))
    assert loaded is not None
    assert load_evidence_demo(sessions, blob_store_from_settings(settings)) is None  # idempotent
    engine.dispose()
    yield loaded.reference
    monkeypatch.undo()
    get_settings.cache_clear()
    if backend == "postgresql":
        drop_postgres_database(f"peel_evcli_{_worker()}")


def peel(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_export_verify_and_tamper(demo: str, tmp_path: Path):
    code, out = peel("evidence", "cases", "--json")
    assert code == 0, out
    cases = json.loads(out)
    assert [c["reference"] for c in cases] == [demo]
    assert cases[0]["items"] >= 4

    bundle = tmp_path / "bundle.zip"
    code, out = peel("evidence", "export", "--case", demo, "--out", str(bundle))
    assert code == 0, out
    key = tmp_path / "key.pem"
    assert peel("evidence", "log", "key", "--out", str(key))[0] == 0
    code, out = peel("evidence", "verify", str(bundle), "--key", str(key))
    assert code == 0, out
    assert "OK" in out

    manifest = json.loads(zipfile.ZipFile(bundle).read("manifest.json"))
    victim = manifest["items"][0]
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bundle) as zin, zipfile.ZipFile(tampered, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == victim["path"]:
                data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
            zout.writestr(info.filename, data)
    code, out = peel("evidence", "verify", str(tampered), "--key", str(key))
    assert code == 1
    assert "FAIL" in out and victim["id"] in out.replace("\n", "")


def test_retention_dry_run_then_run(demo: str):
    code, out = peel("evidence", "retention", "--dry-run", "--json")
    assert code == 0, out
    due = json.loads(out)
    deleting = [d for d in due if d["will_delete"]]
    held = [d for d in due if d["held_by"]]
    assert len(deleting) == 1 and deleting[0]["case"] is None  # the 40-day-old docked clip
    assert not held  # the held clip is 12 days old: not due yet
    code, out = peel("evidence", "retention", "--json")
    assert code == 0, out
    code, out = peel("evidence", "retention", "--dry-run", "--json")
    assert json.loads(out) == []


def test_log_commands(demo: str):
    code, out = peel("evidence", "log", "head", "--publish")
    assert code == 0, out
    head = json.loads(out)
    assert head["tree_size"] > 5
    code, out = peel("evidence", "log", "proof", "0")
    assert code == 0 and json.loads(out)["index"] == 0
    code, out = peel("evidence", "log", "consistency", "1")
    assert code == 0 and json.loads(out)["first"] == 1
    code, out = peel("evidence", "log", "proof", "999999")
    assert code == 2 and "index" in out


def test_verify_refuses_a_missing_file(tmp_path: Path):
    code, out = peel("evidence", "verify", str(tmp_path / "nope.zip"))
    assert code == 2 and "not a file" in out
