"""Court bundles: exported with proofs, verified offline, and any tampering named."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peel.core.config import Settings
from peel.core.errors import InvalidInput
from peel.evidence import bundle, custody, export, service
from peel.evidence.cli import app as evidence_cli
from tests.conftest import World
from tests.evidence.conftest import CaseWithFile, add_png


@pytest.fixture
def exported(case_with_file: CaseWithFile, world: World, sessions, settings: Settings, tmp_path):
    db = world.db
    second = add_png(db, case_with_file.store, case_with_file.officer, case_with_file.case, size=7)
    service.record_access(db, case_with_file.officer, second, "viewed", "test")
    db.commit()
    out = tmp_path / "bundle.zip"
    signer = custody.signer_for(settings)
    summary = export.export_case(
        sessions, case_with_file.store, signer, case_with_file.officer, case_with_file.case.id, out
    )
    key = tmp_path / "key.pem"
    key.write_bytes(signer.public_key_pem())
    return out, key, summary


def _rewrite(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def test_a_fresh_bundle_verifies(exported):
    out, key, summary = exported
    report = bundle.verify_bundle(out, key.read_bytes())
    assert report.ok, report.problems
    assert report.items_checked == summary["items"] == 2
    assert report.events_checked >= 4


def test_the_export_is_in_the_custody_log(exported, world: World, case_with_file):
    kinds = [e.kind for e in custody.events_for(world.db, case_id=case_with_file.case.id)]
    assert kinds[-1] == "exported"


def test_one_changed_byte_in_a_file_names_the_item(exported, tmp_path, case_with_file):
    out, key, _ = exported
    bad = tmp_path / "bad.zip"

    def flip(name: str, data: bytes) -> bytes:
        if name.startswith("files/") and case_with_file.item.id[:12] in name:
            return data[:-1] + bytes([data[-1] ^ 1])
        return data

    _rewrite(out, bad, flip)
    report = bundle.verify_bundle(bad, key.read_bytes())
    assert not report.ok
    assert any(case_with_file.item.id in p for p in report.problems), report.problems


def test_a_removed_event_is_named(exported, tmp_path):
    out, key, _ = exported
    bad = tmp_path / "bad.zip"
    removed: list[int] = []

    def drop_first(name: str, data: bytes) -> bytes:
        if name == "custody/events.jsonl":
            lines = data.decode().splitlines()
            removed.append(json.loads(lines[0])["index"])
            return ("\n".join(lines[1:]) + "\n").encode()
        return data

    _rewrite(out, bad, drop_first)
    report = bundle.verify_bundle(bad, key.read_bytes())
    assert not report.ok
    assert any(str(removed[0]) in p for p in report.problems), report.problems


def test_the_wrong_key_fails(exported, tmp_path):
    from peel.evidence.signing import LogSigner

    out, _, _ = exported
    other = LogSigner.load_or_create(tmp_path / "other.pem")
    report = bundle.verify_bundle(out, other.public_key_pem())
    assert not report.ok


def test_cli_verify_passes_then_fails_naming_the_item(exported, tmp_path, case_with_file):
    out, key, _ = exported
    runner = CliRunner()
    good = runner.invoke(evidence_cli, ["verify", str(out), "--key", str(key)])
    assert good.exit_code == 0, good.output
    assert "OK" in good.output
    bad = tmp_path / "bad.zip"
    _rewrite(
        out,
        bad,
        lambda name, data: data[:-1] + bytes([data[-1] ^ 1]) if name.startswith("files/") else data,
    )
    failed = runner.invoke(evidence_cli, ["verify", str(bad), "--key", str(key)])
    assert failed.exit_code == 1
    assert "FAIL" in failed.output


def test_exporting_an_empty_case_is_refused(world: World, sessions, settings, tmp_path, store):
    officer = world.principal("officer")
    case = service.open_case(world.db, officer, "Nothing in it yet")
    world.db.commit()
    with pytest.raises(InvalidInput, match="no files"):
        export.export_case(
            sessions, store, custody.signer_for(settings), officer, case.id, tmp_path / "x.zip"
        )
    assert not (tmp_path / "x.zip").exists()


def test_another_force_cannot_export(case_with_file, world: World, sessions, settings, tmp_path):
    world.db.commit()
    with pytest.raises(LookupError):
        export.export_case(
            sessions,
            case_with_file.store,
            custody.signer_for(settings),
            world.principal("social"),
            case_with_file.case.id,
            tmp_path / "x.zip",
        )
