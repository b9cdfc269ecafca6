"""Court bundles: a good one verifies offline, and every kind of tampering is named."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peel.evidence.bundle import (
    BUNDLE_FORMAT,
    EVENTS,
    EXPORT,
    MANIFEST,
    PROOFS,
    PUBLIC_KEY,
    README,
    REQUIRED,
    TREE_HEAD,
    BundleError,
    canonical_json,
    sha256_hex,
    verify_bundle,
    write_bundle,
)
from peel.evidence.merkle import MemoryLog
from peel.evidence.signing import LogSigner, TreeHead

CASE = "case-7f3a"
DOOR = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
CLIP = b"\x00\x00\x00\x18ftypmp42" + b"body-worn video " * 500


@dataclass
class Case:
    """Everything one export needs, built on a scratch log; ``write`` makes the bundle."""

    signer: LogSigner
    log: MemoryLog = field(default_factory=MemoryLog)
    manifest: dict[str, Any] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    events: list[tuple[int, bytes]] = field(default_factory=list)
    export: tuple[int, bytes] = (0, b"")

    def event(self, kind: str, item_id: str | None, logged: bool = True, **details: Any) -> int:
        entry = canonical_json(
            {"kind": kind, "case_id": CASE, "item_id": item_id, "actor": "PC 1234", **details}
        )
        index = self.log.append(entry)
        if logged:
            self.events.append((index, entry))
        return index

    def write(self, out: Path, **overrides: Any) -> Path:
        head = self.signer.sign(TreeHead(self.log.size, self.log.root(), 1_767_225_600_000))
        indexes = [i for i, _ in self.events] + [self.export[0]]
        arguments: dict[str, Any] = {
            "manifest": self.manifest,
            "files": [(path, opener(data)) for path, data in self.contents.items()],
            "events": self.events,
            "export_event": self.export,
            "tree_head": head,
            "proofs": {i: self.log.inclusion_proof(i) for i in indexes},
            "public_key_pem": self.signer.public_key_pem(),
        }
        arguments.update(overrides)
        write_bundle(out, **arguments)
        return out


def opener(data: bytes) -> Callable[[], io.BytesIO]:
    return lambda: io.BytesIO(data)


def build_case(signer: LogSigner) -> Case:
    case = Case(signer)
    case.event("received", "other-item", logged=False, sha256="0" * 64, size=1)  # another case
    opened = case.event("case_opened", None, reference="EV-2026-K7M2QX")
    items = []
    for item_id, name, data in (("item-door", "door.png", DOOR), ("item-clip", "clip.mp4", CLIP)):
        path = f"files/{item_id}-{name}"
        received = case.event("received", item_id, sha256=sha256_hex(data), size=len(data))
        case.event("viewed", None, logged=False)  # unrelated noise in between
        viewed = case.event("viewed", item_id, reason="review")
        case.contents[path] = data
        items.append(
            {
                "id": item_id,
                "name": name,
                "path": path,
                "sha256": sha256_hex(data),
                "size": len(data),
                "event_indexes": [received, viewed],
                "captured_by": "PC 1234",
            }
        )
    case.manifest = {
        "format": BUNDLE_FORMAT,
        "case": {"id": CASE, "reference": "EV-2026-K7M2QX", "title": "Burglary at № 7 — café"},
        "items": items,
        "case_event_indexes": [opened],
    }
    entry = canonical_json(
        {
            "kind": "exported",
            "case_id": CASE,
            "item_id": None,
            "manifest_sha256": sha256_hex(canonical_json(case.manifest)),
        }
    )
    case.export = (case.log.append(entry), entry)
    case.event("viewed", "other-item", logged=False)  # the log moves on before the head is signed
    return case


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> LogSigner:
    return LogSigner.load_or_create(tmp_path_factory.mktemp("keys") / "custody.pem")


@pytest.fixture(scope="module")
def good(signer: LogSigner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_case(signer).write(tmp_path_factory.mktemp("bundle") / "bundle.zip")


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rewrite(src: Path, dst: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """Copy a bundle, passing each member through ``change`` (None drops it)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info, data)
    return dst


def replacing(member: str, new: Callable[[bytes], bytes]) -> Callable[[str, bytes], bytes]:
    return lambda name, data: new(data) if name == member else data


def problems_of(path: Path, signer: LogSigner) -> list[str]:
    report = verify_bundle(path, signer.public_key_pem())
    assert not report.ok
    return report.problems


# --- a good bundle -----------------------------------------------------------------------------


def test_a_good_bundle_verifies_with_the_published_key(good: Path, signer: LogSigner) -> None:
    report = verify_bundle(good, signer.public_key_pem())
    assert report.ok, report.problems
    assert report.problems == [] and report.notes == []
    assert report.items_checked == 2
    assert report.events_checked == 6  # case opened, two per item, the export
    assert report.tree_size == 10
    assert report.key_id == signer.key_id


def test_without_a_key_the_bundle_key_is_used_and_the_reader_is_told(
    good: Path, signer: LogSigner
) -> None:
    report = verify_bundle(good)
    assert report.ok, report.problems
    assert len(report.notes) == 1
    assert "only against the key inside the bundle" in report.notes[0]
    assert signer.key_id in report.notes[0]


def test_the_bundle_has_the_documented_layout(good: Path, signer: LogSigner) -> None:
    case = build_case(signer)
    with zipfile.ZipFile(good) as zf:
        infos = {info.filename: info for info in zf.infolist()}
    assert set(infos) == {
        README,
        MANIFEST,
        PUBLIC_KEY,
        TREE_HEAD,
        EXPORT,
        PROOFS,
        EVENTS,
        "files/item-door-door.png",
        "files/item-clip-clip.mp4",
    }
    assert infos["files/item-clip-clip.mp4"].compress_type == zipfile.ZIP_STORED
    got = members(good)
    assert got[MANIFEST] == canonical_json(case.manifest)
    assert got["files/item-door-door.png"] == DOOR
    assert got[PUBLIC_KEY] == signer.public_key_pem()
    lines = got[EVENTS].decode().splitlines()
    assert [json.loads(line)["index"] for line in lines] == [1, 2, 4, 5, 7]
    assert json.loads(lines[1])["entry"].encode() == case.events[1][1]
    export = json.loads(got[EXPORT])
    assert json.loads(export["entry"])["manifest_sha256"] == sha256_hex(got[MANIFEST])
    assert set(json.loads(got[PROOFS])) == {"1", "2", "4", "5", "7", "8"}
    head = json.loads(got[TREE_HEAD])
    assert head["tree_size"] == 10 and head["key_id"] == signer.key_id
    readme = got[README].decode()
    assert signer.key_id in readme and "published" in readme and "sha256sum" in readme
    assert [p.name for p in good.parent.iterdir()] == ["bundle.zip"]  # nothing left beside it


def test_the_readme_recipe_checks_the_signature_with_openssl(good: Path, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    got = members(good)
    head = json.loads(got[TREE_HEAD])
    (tmp_path / "public-key.pem").write_bytes(got[PUBLIC_KEY])
    message = "peel-custody-tree-head/1\n{key_id}\n{tree_size}\n{timestamp_ms}\n{root_hash}\n"
    (tmp_path / "message").write_text(message.format(**head))
    (tmp_path / "signature").write_bytes(base64.b64decode(head["signature"]))
    command = "openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in message "
    command += "-sigfile signature"
    assert "openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in message" in " ".join(
        got[README].decode().split()
    )
    checked = subprocess.run(command.split(), cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 0 and "Signature Verified Successfully" in checked.stdout
    (tmp_path / "message").write_text(message.format(**{**head, "tree_size": 9}))
    forged = subprocess.run(command.split(), cwd=tmp_path, capture_output=True, text=True)
    assert forged.returncode != 0


def test_files_are_streamed_not_read_whole(signer: LogSigner, tmp_path: Path) -> None:
    class ChunksOnly(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            assert size is not None and 0 < size <= 1 << 20, f"read({size})"
            return super().read(size)

    case = build_case(signer)
    files = [(path, lambda data=data: ChunksOnly(data)) for path, data in case.contents.items()]
    out = case.write(tmp_path / "bundle.zip", files=files)
    assert verify_bundle(out, signer.public_key_pem()).ok


# --- tampering ---------------------------------------------------------------------------------


def test_one_changed_byte_in_a_file_names_the_item(
    good: Path, signer: LogSigner, tmp_path: Path
) -> None:
    def flip_last(data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 0x01])

    bad = rewrite(good, tmp_path / "bad.zip", replacing("files/item-clip-clip.mp4", flip_last))
    problems = problems_of(bad, signer)
    assert len(problems) == 1
    assert 'item item-clip ("clip.mp4")' in problems[0] and "has been changed" in problems[0]


def test_a_byte_changed_inside_the_zip_itself_names_the_item(
    good: Path, signer: LogSigner, tmp_path: Path
) -> None:
    raw = bytearray(good.read_bytes())
    at = raw.find(DOOR[100:140])
    assert at > 0
    raw[at] ^= 0x01
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(raw))
    problems = problems_of(bad, signer)
    assert any('item item-door ("door.png")' in p for p in problems), problems


def test_a_changed_event_entry_names_the_event(
    good: Path, signer: LogSigner, tmp_path: Path
) -> None:
    def reword(data: bytes) -> bytes:
        return data.replace(b"review", b"reviex", 1)

    bad = rewrite(good, tmp_path / "bad.zip", replacing(EVENTS, reword))
    problems = problems_of(bad, signer)
    assert problems == [
        "custody event 4 (viewed, item item-door) is not in the signed custody log: its entry or "
        "its proof has been changed"
    ]


def test_a_removed_event_line_is_named(good: Path, signer: LogSigner, tmp_path: Path) -> None:
    def drop_received_of_clip(data: bytes) -> bytes:
        return b"".join(line for line in data.splitlines(True) if b'"index":5' not in line)

    bad = rewrite(good, tmp_path / "bad.zip", replacing(EVENTS, drop_received_of_clip))
    problems = problems_of(bad, signer)
    assert problems == [
        'custody event 5 is listed for item item-clip ("clip.mp4") but missing from the bundle'
    ]


def test_an_edited_manifest_is_caught(good: Path, signer: LogSigner, tmp_path: Path) -> None:
    def rename(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["items"][0]["captured_by"] = "PC 9999"
        return canonical_json(manifest)

    bad = rewrite(good, tmp_path / "bad.zip", replacing(MANIFEST, rename))
    problems = problems_of(bad, signer)
    assert len(problems) == 1
    assert problems[0].startswith("manifest.json is not the manifest that was exported")


def test_a_swapped_file_with_a_matching_manifest_is_still_caught(
    good: Path, signer: LogSigner, tmp_path: Path
) -> None:
    forged = b"a different picture"

    def swap(name: str, data: bytes) -> bytes:
        if name == "files/item-door-door.png":
            return forged
        if name == MANIFEST:
            manifest = json.loads(data)
            manifest["items"][0].update(sha256=sha256_hex(forged), size=len(forged))
            return canonical_json(manifest)
        return data

    problems = problems_of(rewrite(good, tmp_path / "bad.zip", swap), signer)
    assert any(
        p.startswith("manifest.json is not the manifest that was exported") for p in problems
    )
    assert any(
        'item item-door ("door.png"): custody event 2 (received, item item-door) recorded' in p
        for p in problems
    ), problems


@pytest.mark.parametrize(
    ("field_name", "value"),
    [("tree_size", 11), ("timestamp_ms", 1_767_225_600_001), ("root_hash", "ab" * 32)],
)
def test_an_edited_tree_head_fails_its_signature(
    good: Path, signer: LogSigner, tmp_path: Path, field_name: str, value: object
) -> None:
    def edit(data: bytes) -> bytes:
        return json.dumps({**json.loads(data), field_name: value}).encode()

    problems = problems_of(rewrite(good, tmp_path / "bad.zip", replacing(TREE_HEAD, edit)), signer)
    assert any("signature does not verify" in p for p in problems), problems


def test_the_wrong_key_fails_naming_both_keys(good: Path, signer: LogSigner) -> None:
    other = LogSigner.generate()
    problems = problems_of(good, other)
    assert any(signer.key_id in p and other.key_id in p for p in problems), problems
    assert any("public-key.pem in the bundle" in p for p in problems)


def test_a_bundle_re_signed_with_another_key_passes_only_against_that_key(
    signer: LogSigner, tmp_path: Path
) -> None:
    forger = LogSigner.generate()
    out = build_case(forger).write(tmp_path / "forged.zip")
    alone = verify_bundle(out)
    assert alone.ok and forger.key_id in alone.notes[0] and signer.key_id not in alone.notes[0]
    problems = problems_of(out, signer)
    assert any("is not the key given" in p for p in problems)


@pytest.mark.parametrize("member", [*REQUIRED, PUBLIC_KEY])
def test_a_missing_member_is_named(good: Path, tmp_path: Path, member: str) -> None:
    bad = rewrite(good, tmp_path / "bad.zip", lambda name, data: None if name == member else data)
    report = verify_bundle(bad)
    assert not report.ok
    assert f"the bundle has no {member}" in report.problems


def test_a_missing_file_is_named(good: Path, signer: LogSigner, tmp_path: Path) -> None:
    bad = rewrite(
        good, tmp_path / "bad.zip", lambda name, data: None if name.endswith(".png") else data
    )
    assert problems_of(bad, signer) == [
        'item item-door ("door.png"): its file files/item-door-door.png is missing from the bundle'
    ]


def test_an_unlisted_file_is_named(good: Path, signer: LogSigner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    shutil.copy(good, bad)
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("files/extra.txt", b"slipped in")
    assert problems_of(bad, signer) == [
        "files/extra.txt is in the bundle but not listed in the manifest"
    ]


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_a_truncated_zip_is_a_problem_not_a_crash(
    good: Path, signer: LogSigner, tmp_path: Path, keep: float
) -> None:
    data = good.read_bytes()
    bad = tmp_path / "bad.zip"
    bad.write_bytes(data[: int(len(data) * keep)])
    problems = problems_of(bad, signer)
    assert "cannot be opened as a zip file" in problems[0]


def test_something_that_is_not_a_zip_or_not_there(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    assert not verify_bundle(tmp_path / "notes.txt").ok
    assert not verify_bundle(tmp_path / "missing.zip").ok


@pytest.mark.parametrize("member", [MANIFEST, TREE_HEAD, EXPORT, PROOFS, EVENTS])
@pytest.mark.parametrize(
    "garbage",
    [b"", b"{", b"\xff\xfe", b"[]", b"null", b'{"format": 1}', b'{"items": "x"}', b"123\n"],
)
def test_malformed_json_is_a_problem_not_a_crash(
    good: Path, signer: LogSigner, tmp_path: Path, member: str, garbage: bytes
) -> None:
    bad = rewrite(good, tmp_path / "bad.zip", replacing(member, lambda _: garbage))
    problems = problems_of(bad, signer)
    assert any(member in p for p in problems), problems


def test_a_duplicated_member_is_named(good: Path, signer: LogSigner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    shutil.copy(good, bad)
    with pytest.warns(UserWarning), zipfile.ZipFile(bad, "a") as zf:
        zf.writestr(MANIFEST, b"{}")
    problems = problems_of(bad, signer)
    assert "the zip holds more than one manifest.json; a bundle has one" in problems


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_single_changed_byte_in_events_jsonl_is_detected(
    good: Path, signer: LogSigner, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    original = members(good)[EVENTS]
    position = data.draw(st.integers(0, len(original) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="xor")
    changed = bytearray(original)
    changed[position] ^= mask
    bad = tmp_path_factory.mktemp("flip") / "bad.zip"
    rewrite(good, bad, replacing(EVENTS, lambda _: bytes(changed)))
    report = verify_bundle(bad, signer.public_key_pem())
    assert not report.ok
    bad.unlink()


# --- the writer refuses to make a bundle that would not verify ---------------------------------


def writer_refuses(case: Case, out: Path, match: str, **overrides: Any) -> None:
    with pytest.raises(BundleError, match=match):
        case.write(out, **overrides)
    assert list(out.parent.iterdir()) == [], "a failed write left a file behind"


def test_a_file_that_does_not_match_its_manifest_is_refused(
    signer: LogSigner, tmp_path: Path
) -> None:
    case = build_case(signer)
    (tmp_path / "out").mkdir()
    files = [(path, opener(data + b"!")) for path, data in case.contents.items()]
    writer_refuses(case, tmp_path / "out" / "bundle.zip", "item-door", files=files)


def test_a_bad_proof_or_export_is_refused(signer: LogSigner, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "bundle.zip"
    case = build_case(signer)
    proofs = {i: case.log.inclusion_proof(i) for i, _ in [*case.events, case.export]}
    proofs[4] = proofs[4][:-1]
    writer_refuses(case, out, "custody event 4", proofs=proofs)
    del proofs[4]
    writer_refuses(case, out, "custody event 4 .* has no inclusion proof", proofs=proofs)
    manifest = {**case.manifest, "exported_by": "someone else"}
    writer_refuses(case, out, "not the manifest that was exported", manifest=manifest)
    writer_refuses(case, out, "canonical_json", manifest_bytes=b"{}")
    writer_refuses(case, out, "not UTF-8", events=[*case.events[:-1], (7, b"\xff")])


def test_a_received_event_with_another_hash_is_refused(signer: LogSigner, tmp_path: Path) -> None:
    case = build_case(signer)
    case.manifest["items"][0]["event_indexes"].append(
        case.event("received", "item-door", sha256="1" * 64, size=len(DOOR))
    )
    entry = canonical_json(
        {
            "kind": "exported",
            "case_id": CASE,
            "item_id": None,
            "manifest_sha256": sha256_hex(canonical_json(case.manifest)),
        }
    )
    case.export = (case.log.append(entry), entry)
    (tmp_path / "out").mkdir()
    writer_refuses(case, tmp_path / "out" / "bundle.zip", "recorded SHA-256 1111")


def test_file_names_must_be_inside_files_and_listed(signer: LogSigner, tmp_path: Path) -> None:
    case = build_case(signer)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "bundle.zip"
    paths = list(case.contents)
    writer_refuses(case, out, "not a file name", files=[("../evil", opener(b""))])
    writer_refuses(case, out, "no file was given", files=[(paths[0], opener(DOOR))])
    extra = [*((p, opener(d)) for p, d in case.contents.items()), ("files/x", opener(b""))]
    writer_refuses(case, out, "not the path of any item", files=extra)


@pytest.fixture
def broken_opener() -> Iterator[Callable[[], io.BytesIO]]:
    def fail() -> io.BytesIO:
        raise OSError("the blob store is unreachable")

    yield fail


def test_a_failure_while_writing_leaves_no_half_bundle(
    signer: LogSigner, tmp_path: Path, broken_opener: Callable[[], io.BytesIO]
) -> None:
    case = build_case(signer)
    out = tmp_path / "bundle.zip"
    out.write_bytes(b"the previous bundle")
    files = [(path, broken_opener) for path in case.contents]
    with pytest.raises(OSError, match="unreachable"):
        case.write(out, files=files)
    assert out.read_bytes() == b"the previous bundle"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.zip"]
