"""Court bundles: evidence files with their custody events and proofs, checkable offline.

A bundle is one zip file. Checking it needs only the zip, the force's published public key,
this module, ``merkle.py`` and ``signing.py`` (the standard library and ``cryptography``)::

    README.txt              how a court or defence expert checks the bundle without Peel
    manifest.json           canonical_json(manifest): {"format": "peel-evidence-bundle/1",
                              "items": [{"id", "name", "path", "sha256", "size",
                                         "event_indexes", ...other metadata}, ...],
                              optional "case_event_indexes": [...], ...other metadata}
    public-key.pem          the custody log's Ed25519 public key (PEM), for convenience only
    custody/tree-head.json  SignedTreeHead.to_json() of the log after the export event
    custody/export.json     {"index": int, "entry": str} of the "exported" custody event, whose
                              entry holds "manifest_sha256", the SHA-256 of manifest.json
    custody/proofs.json     {"<index>": [hex, ...]}: an RFC 9162 section 2.1.3.1 inclusion proof
                              at the tree head's size for every event and the export event
    custody/events.jsonl    one canonical_json({"index": int, "entry": str}) per line, in index
                              order; ``entry`` is the exact UTF-8 text of the Merkle leaf
    files/...               the items' files, byte for byte; an item's "path" is its member
                              name, "files/" included

An entry is a JSON object with at least "kind", "case_id" and "item_id" (null for case
events); a "received" entry also records the "sha256" and "size" taken on intake.

``verify_bundle`` checks every file's streamed SHA-256 and size against the manifest, each
item's "received" event against the same hash, every event's leaf hash (RFC 9162 section
2.1.1) and inclusion proof (section 2.1.3.2) against the signed root, that every event the
manifest lists is present, that the export event recorded this manifest, and the tree head's
Ed25519 signature. ``write_bundle`` runs the same checks before it writes, so it never
produces a bundle that would fail them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from peel.evidence.merkle import leaf_hash, verify_inclusion
from peel.evidence.signing import (
    SignedTreeHead,
    SigningKeyError,
    key_id_of,
    verify_tree_head,
)

BUNDLE_FORMAT = "peel-evidence-bundle/1"
README = "README.txt"
MANIFEST = "manifest.json"
PUBLIC_KEY = "public-key.pem"
TREE_HEAD = "custody/tree-head.json"
EXPORT = "custody/export.json"
PROOFS = "custody/proofs.json"
EVENTS = "custody/events.jsonl"
FILES = "files/"
REQUIRED = (MANIFEST, EVENTS, EXPORT, TREE_HEAD, PROOFS)
"""Members a bundle cannot be checked without (``public-key.pem`` too when no key is given)."""

_CHUNK = 1 << 20
_MAX_METADATA_BYTES = 512 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    NotImplementedError,
    RuntimeError,
)


class BundleError(ValueError):
    """A court bundle cannot be written as asked."""


def canonical_json(obj: Any) -> bytes:
    """The one byte form of a JSON value: sorted keys, no whitespace, UTF-8 (not \\u-escaped)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class BundleReport:
    """What ``verify_bundle`` found: ``ok`` when there are no problems."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    items_checked: int = 0
    events_checked: int = 0
    tree_size: int | None = None
    key_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Item:
    id: str
    name: str
    path: str
    sha256: str
    size: int
    event_indexes: tuple[int, ...]

    @property
    def label(self) -> str:
        return f'item {self.id} ("{self.name}")'


@dataclass(frozen=True)
class _Event:
    index: int
    entry: bytes
    body: dict[str, Any] | None

    @property
    def kind(self) -> str:
        kind = self.body.get("kind") if self.body else None
        return kind if isinstance(kind, str) else "unknown kind"

    @property
    def label(self) -> str:
        item = self.body.get("item_id") if self.body else None
        return f"custody event {self.index} ({self.kind}{f', item {item}' if item else ''})"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _safe_member(name: str) -> bool:
    parts = name.split("/")
    return (
        name.startswith(FILES)
        and len(name) > len(FILES)
        and "\\" not in name
        and not name.endswith("/")
        and all(part not in ("", ".", "..") for part in parts)
    )


# --- checks shared by the writer and the verifier ---------------------------------------------


class _Checker:
    """Checks a bundle's metadata members, recording each failure in plain English."""

    def __init__(self, report: BundleReport, public_key_pem: bytes | None) -> None:
        self.report = report
        self.key_pem = public_key_pem
        self.problem = report.problems.append

    def json_member(self, name: str, data: bytes) -> Any:
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.problem(f"{name} is not valid JSON ({exc}); it has been damaged or edited")
            return None
        if value is None:
            self.problem(f"{name} holds nothing (null)")
        return value

    def manifest(self, data: bytes) -> tuple[list[_Item], list[int]] | None:
        manifest = self.json_member(MANIFEST, data)
        if manifest is None:
            return None
        if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
            self.problem(f'{MANIFEST} is not a Peel bundle manifest ("format": "{BUNDLE_FORMAT}")')
            return None
        raw_items = manifest.get("items")
        if not isinstance(raw_items, list):
            self.problem(f'{MANIFEST} has no "items" list')
            return None
        items = [item for n, raw in enumerate(raw_items, 1) if (item := self.item(n, raw))]
        seen: set[str] = set()
        for item in items:
            if item.path in seen:
                self.problem(f"{item.label}: another item already uses the file {item.path}")
            seen.add(item.path)
        case_events = manifest.get("case_event_indexes", [])
        if not isinstance(case_events, list) or not all(_is_count(i) for i in case_events):
            self.problem(f'{MANIFEST}: "case_event_indexes" should be a list of whole numbers')
            case_events = []
        return items, case_events

    def item(self, n: int, raw: Any) -> _Item | None:
        if not isinstance(raw, dict):
            self.problem(f"{MANIFEST}: item {n} is not a JSON object")
            return None
        label = f'{MANIFEST}: item {n} ({raw.get("id")!r}, "{raw.get("name")}")'
        wrong = []
        for key in ("id", "name", "path"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                wrong.append(f'"{key}" should be text')
        if isinstance(raw.get("path"), str) and not _safe_member(raw["path"]):
            wrong.append(f'"path" should be a file name under {FILES}')
        if not isinstance(raw.get("sha256"), str) or not _HEX64.fullmatch(raw["sha256"]):
            wrong.append('"sha256" should be 64 lowercase hexadecimal digits')
        if not _is_count(raw.get("size")):
            wrong.append('"size" should be a whole number of bytes')
        indexes = raw.get("event_indexes")
        if not isinstance(indexes, list) or not all(_is_count(i) for i in indexes):
            wrong.append('"event_indexes" should be a list of whole numbers')
        if wrong:
            self.problem(f"{label}: {'; '.join(wrong)}")
            return None
        return _Item(
            raw["id"],
            raw["name"],
            raw["path"],
            raw["sha256"],
            raw["size"],
            tuple(raw["event_indexes"]),
        )

    def tree_head(self, data: bytes) -> SignedTreeHead | None:
        raw = self.json_member(TREE_HEAD, data)
        if raw is None:
            return None
        try:
            sth = SignedTreeHead.from_json(raw)
        except ValueError as exc:
            self.problem(f"{TREE_HEAD} is not a valid signed tree head: {exc}")
            return None
        self.report.tree_size = sth.tree_size
        return sth

    def signature(self, sth: SignedTreeHead, bundle_key_pem: bytes | None) -> None:
        key_pem = self.key_pem
        if key_pem is None:
            if bundle_key_pem is None:
                self.problem(f"no public key was given and the bundle has no {PUBLIC_KEY}")
                return
            key_pem = bundle_key_pem
        try:
            key_id = key_id_of(key_pem)
        except SigningKeyError as exc:
            source = "the public key given" if self.key_pem is not None else PUBLIC_KEY
            self.problem(f"{source} cannot be used: {exc}")
            return
        self.report.key_id = key_id
        if self.key_pem is None:
            self.report.notes.append(
                f"The signature was checked only against the key inside the bundle, key id "
                f"{key_id}. Whoever made a bundle can make a key: compare this key id with the "
                "one the force publishes, or check again with the published key."
            )
        elif bundle_key_pem is not None:
            try:
                inside = key_id_of(bundle_key_pem)
            except SigningKeyError as exc:
                self.problem(f"{PUBLIC_KEY} in the bundle cannot be read: {exc}")
            else:
                if inside != key_id:
                    self.problem(
                        f"{PUBLIC_KEY} in the bundle (key id {inside}) is not the key given "
                        f"(key id {key_id})"
                    )
        if sth.key_id != key_id:
            self.problem(
                f"the tree head says it was signed by key id {sth.key_id}, not by the key "
                f"checked (key id {key_id})"
            )
        elif not verify_tree_head(sth, key_pem):
            self.problem(
                f"the tree head's signature does not verify with key id {key_id}: "
                f"{TREE_HEAD} has been changed or was not signed by this key"
            )

    def proofs(self, data: bytes) -> dict[int, list[bytes]]:
        raw = self.json_member(PROOFS, data)
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(f"{PROOFS} should map event indexes to lists of hashes")
            return {}
        proofs: dict[int, list[bytes]] = {}
        for key, value in raw.items():
            if not (key.isdigit() and str(int(key)) == key):
                self.problem(f"{PROOFS}: {key!r} is not an event index")
            elif not isinstance(value, list) or not all(
                isinstance(h, str) and _HEX64.fullmatch(h) for h in value
            ):
                self.problem(f"{PROOFS}: the proof for event {key} is not a list of hex hashes")
            else:
                proofs[int(key)] = [bytes.fromhex(h) for h in value]
        return proofs

    def event_record(self, where: str, raw: Any) -> _Event | None:
        """An {"index", "entry"} record; its entry is kept as the exact leaf bytes."""
        if (
            not isinstance(raw, dict)
            or set(raw) != {"index", "entry"}
            or not _is_count(raw["index"])
            or not isinstance(raw["entry"], str)
        ):
            self.problem(f'{where} should be {{"index": <number>, "entry": <text>}}')
            return None
        try:
            entry = raw["entry"].encode("utf-8")
        except UnicodeEncodeError:
            self.problem(f"{where}: the entry of custody event {raw['index']} is not valid text")
            return None
        try:
            body = json.loads(entry)
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            self.problem(f"{where}: the entry of custody event {raw['index']} is not a JSON object")
            body = None
        return _Event(raw["index"], entry, body)

    def events(self, data: bytes) -> dict[int, _Event]:
        events: dict[int, _Event] = {}
        lines = data.split(b"\n")
        if not data:
            self.problem(f"{EVENTS} holds no custody events")
        elif lines[-1]:
            self.problem(f"{EVENTS} does not end with a line break; it has been edited")
        for number, line in enumerate(lines[:-1], 1):
            where = f"{EVENTS} line {number}"
            raw = self.json_member(where, line)
            if raw is None:
                continue
            event = self.event_record(where, raw)
            if event is None:
                continue
            if canonical_json(raw) != line:
                self.problem(f"{where} is not exactly as exported (spacing or order changed)")
            if event.index in events:
                self.problem(f"{where} repeats custody event {event.index}")
            events[event.index] = event
        return events

    def included(
        self, event: _Event, sth: SignedTreeHead, proofs: Mapping[int, list[bytes]]
    ) -> bool:
        self.report.events_checked += 1
        proof = proofs.get(event.index)
        if proof is None:
            self.problem(f"{event.label} has no inclusion proof in {PROOFS}")
            return False
        if event.index >= sth.tree_size:
            self.problem(f"{event.label} is beyond the signed tree head's size {sth.tree_size}")
            return False
        leaf = leaf_hash(event.entry)
        if not verify_inclusion(leaf, event.index, sth.tree_size, proof, sth.root_hash):
            self.problem(
                f"{event.label} is not in the signed custody log: its entry or its proof has "
                "been changed"
            )
            return False
        return True

    def export(
        self,
        data: bytes,
        manifest_bytes: bytes,
        sth: SignedTreeHead | None,
        proofs: Mapping[int, list[bytes]],
    ) -> None:
        raw = self.json_member(EXPORT, data)
        if raw is None:
            return
        event = self.event_record(EXPORT, raw)
        if event is None:
            return
        if event.kind != "exported":
            self.problem(f'{EXPORT} holds {event.label}, not an "exported" event')
        recorded = event.body.get("manifest_sha256") if event.body else None
        actual = sha256_hex(manifest_bytes)
        if recorded != actual:
            self.problem(
                f"{MANIFEST} is not the manifest that was exported: its SHA-256 is {actual}, "
                f"but the export ({event.label}) recorded {recorded}"
            )
        if sth is not None:
            self.included(event, sth, proofs)

    def listed_events(
        self, items: Sequence[_Item], case_events: Sequence[int], events: Mapping[int, _Event]
    ) -> None:
        for index in case_events:
            if index not in events:
                self.problem(f"custody event {index} is listed for the case but missing")
        for item in items:
            received = False
            for index in item.event_indexes:
                event = events.get(index)
                if event is None:
                    self.problem(
                        f"custody event {index} is listed for {item.label} but missing from "
                        "the bundle"
                    )
                    continue
                if event.body is None:
                    continue
                if event.body.get("item_id") != item.id:
                    self.problem(f"{event.label} is listed for {item.label} but is about another")
                if event.kind == "received":
                    received = True
                    self.received(item, event)
            if not received:
                self.report.notes.append(
                    f'{item.label} has no "received" event in the bundle, so its hash is '
                    "vouched for by the manifest and the export event only"
                )

    def received(self, item: _Item, event: _Event) -> None:
        body = event.body or {}
        if body.get("sha256") != item.sha256:
            self.problem(
                f"{item.label}: {event.label} recorded SHA-256 {body.get('sha256')}, but the "
                f"manifest says {item.sha256}"
            )
        if "size" in body and body["size"] != item.size:
            self.problem(
                f"{item.label}: {event.label} recorded {body['size']} bytes, but the manifest "
                f"says {item.size}"
            )

    def metadata(self, members: Mapping[str, bytes | None]) -> list[_Item] | None:
        """Check every member except the item files; the items to check next (None: unknown)."""
        manifest_bytes = members.get(MANIFEST)
        parsed = self.manifest(manifest_bytes) if manifest_bytes is not None else None
        items, case_events = parsed if parsed is not None else ([], [])
        tree_head = members.get(TREE_HEAD)
        sth = self.tree_head(tree_head) if tree_head is not None else None
        if sth is not None:
            self.signature(sth, members.get(PUBLIC_KEY))
        proofs_bytes, events_bytes = members.get(PROOFS), members.get(EVENTS)
        proofs = self.proofs(proofs_bytes) if proofs_bytes is not None else {}
        events = self.events(events_bytes) if events_bytes is not None else {}
        if sth is not None and proofs_bytes is not None:
            for index in sorted(events):
                self.included(events[index], sth, proofs)
        elif events:
            self.problem("no custody event can be checked without a valid tree head and proofs")
        export = members.get(EXPORT)
        if export is not None and manifest_bytes is not None:
            provable = sth if proofs_bytes is not None else None
            self.export(export, manifest_bytes, provable, proofs)
        if events_bytes is not None:
            self.listed_events(items, case_events, events)
        return items if parsed is not None else None


# --- verifying ---------------------------------------------------------------------------------


def _read_member(zf: zipfile.ZipFile, name: str, report: BundleReport) -> bytes | None:
    info = zf.getinfo(name)
    if info.file_size > _MAX_METADATA_BYTES:
        report.problems.append(f"{name} is implausibly large ({info.file_size} bytes)")
        return None
    try:
        return zf.read(info)
    except _READ_ERRORS as exc:
        report.problems.append(f"{name} cannot be read from the zip, which is damaged ({exc})")
        return None


def _hash_member(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with zf.open(name) as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_files(zf: zipfile.ZipFile, items: Sequence[_Item] | None, report: BundleReport) -> None:
    if items is None:  # without a manifest there is nothing to check the files against
        return
    names = set(zf.namelist())
    for item in items:
        if item.path not in names:
            report.problems.append(f"{item.label}: its file {item.path} is missing from the bundle")
            continue
        try:
            digest, size = _hash_member(zf, item.path)
        except _READ_ERRORS as exc:
            report.problems.append(
                f"{item.label}: its file {item.path} is damaged inside the zip ({exc}), so it "
                "is not the file that was exported"
            )
            continue
        report.items_checked += 1
        if digest != item.sha256 or size != item.size:
            report.problems.append(
                f"{item.label}: its file {item.path} has SHA-256 {digest} ({size} bytes), but "
                f"the manifest records {item.sha256} ({item.size} bytes): the file has been "
                "changed"
            )
    listed = {item.path for item in items}
    for name in sorted(names):
        if name.startswith(FILES) and not name.endswith("/") and name not in listed:
            report.problems.append(f"{name} is in the bundle but not listed in the manifest")


def verify_bundle(path: Path, public_key_pem: bytes | None = None) -> BundleReport:
    """Check a court bundle offline against the force's public key (PEM).

    Without a key the signature is checked against ``public-key.pem`` inside the bundle, and a
    note says so. Every failure is a problem in plain English naming the item or event; a
    damaged zip or JSON is a problem too, never an exception.
    """
    report = BundleReport()
    try:
        zf = zipfile.ZipFile(path)
    except (*_READ_ERRORS, ValueError) as exc:
        report.problems.append(
            f"{path} cannot be opened as a zip file; it may be incomplete or damaged ({exc})"
        )
        return report
    with zf:
        names = zf.namelist()
        for name in sorted(name for name, count in Counter(names).items() if count > 1):
            report.problems.append(f"the zip holds more than one {name}; a bundle has one")
        required = [*REQUIRED, *([PUBLIC_KEY] if public_key_pem is None else [])]
        members: dict[str, bytes | None] = {}
        for name in (*REQUIRED, PUBLIC_KEY):
            if name in names:
                members[name] = _read_member(zf, name, report)
            elif name in required:
                report.problems.append(f"the bundle has no {name}")
        if README not in names:
            report.notes.append(f"the bundle has no {README} (it is not needed for the checks)")
        items = _Checker(report, public_key_pem).metadata(members)
        _check_files(zf, items, report)
    return report


# --- writing -----------------------------------------------------------------------------------


def _zip_time(timestamp_ms: int) -> tuple[int, int, int, int, int, int]:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    if moment.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _readme(tree_head: SignedTreeHead, items: int, events: int) -> bytes:
    signed_at = datetime.fromtimestamp(tree_head.timestamp_ms / 1000, UTC)
    return _README.format(
        items=items,
        events=events,
        key_id=tree_head.key_id,
        tree_size=tree_head.tree_size,
        root=tree_head.root_hash.hex(),
        signed_at=signed_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        timestamp_ms=tree_head.timestamp_ms,
    ).encode("utf-8")


def _pretty_json(obj: Any) -> bytes:
    """JSON for people to read; only manifest.json and events.jsonl need one exact form."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def _metadata_members(
    manifest_bytes: bytes,
    events: Sequence[tuple[int, bytes]],
    export_event: tuple[int, bytes],
    tree_head: SignedTreeHead,
    proofs: Mapping[int, Sequence[bytes]],
    public_key_pem: bytes,
) -> dict[str, bytes]:
    def record(index: int, entry: bytes) -> dict[str, Any]:
        try:
            return {"index": index, "entry": entry.decode("utf-8")}
        except UnicodeDecodeError:
            raise BundleError(f"the entry of custody event {index} is not UTF-8 text") from None

    ordered = sorted(events, key=lambda event: event[0])
    lines = [canonical_json(record(index, entry)) + b"\n" for index, entry in ordered]
    wanted = [index for index, _ in ordered] + [export_event[0]]
    return {
        MANIFEST: manifest_bytes,
        PUBLIC_KEY: public_key_pem,
        TREE_HEAD: _pretty_json(tree_head.to_json()),
        EXPORT: _pretty_json(record(*export_event)),
        PROOFS: _pretty_json({str(i): [h.hex() for h in proofs[i]] for i in wanted if i in proofs}),
        EVENTS: b"".join(lines),
    }


def _check_file_list(items: Sequence[_Item], names: Sequence[str]) -> None:
    for name in names:
        if not _safe_member(name):
            raise BundleError(f"{name!r} is not a file name under {FILES}")
    if len(set(names)) != len(names):
        raise BundleError("the same file name is given twice")
    listed = {item.path for item in items}
    for name in names:
        if name not in listed:
            raise BundleError(f"{name} is not the path of any item in the manifest")
    for item in items:
        if item.path not in names:
            raise BundleError(f"{item.label}: no file was given for its path {item.path}")


def _write_file(zf: zipfile.ZipFile, info: zipfile.ZipInfo, item: _Item, source: IO[bytes]) -> None:
    digest, size = hashlib.sha256(), 0
    with zf.open(info, "w", force_zip64=True) as dst:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            dst.write(chunk)
    if digest.hexdigest() != item.sha256 or size != item.size:
        raise BundleError(
            f"{item.label}: the stored file has SHA-256 {digest.hexdigest()} ({size} bytes), but "
            f"the manifest records {item.sha256} ({item.size} bytes); no bundle was written"
        )


def write_bundle(
    out: Path,
    manifest: dict[str, Any],
    files: Iterable[tuple[str, Callable[[], BinaryIO]]],
    events: Sequence[tuple[int, bytes]],
    export_event: tuple[int, bytes],
    tree_head: SignedTreeHead,
    proofs: Mapping[int, Sequence[bytes]],
    public_key_pem: bytes,
    *,
    manifest_bytes: bytes | None = None,
) -> None:
    """Write a court bundle to ``out`` (layout in the module docstring), replacing any file there.

    ``files`` pairs each item's ``path`` with a function opening its bytes; ``events`` and
    ``export_event`` are ``(leaf index, exact entry bytes)``; ``proofs`` maps every one of
    those indexes to its inclusion proof at ``tree_head``'s size. ``manifest.json`` is written
    as ``canonical_json(manifest)`` (pass those bytes as ``manifest_bytes`` if already made).
    Everything is checked as ``verify_bundle`` would before and while writing, and BundleError
    says what is wrong. The zip is built beside ``out`` and renamed into place, so a failure
    leaves no partial bundle.
    """
    expected = canonical_json(manifest)
    if manifest_bytes is not None and manifest_bytes != expected:
        raise BundleError("manifest_bytes are not canonical_json(manifest)")
    members = _metadata_members(expected, events, export_event, tree_head, proofs, public_key_pem)
    report = BundleReport()
    items = _Checker(report, public_key_pem).metadata(members)
    if report.problems or items is None:
        raise BundleError("the bundle would not verify: " + "; ".join(report.problems))
    members[README] = _readme(tree_head, len(items), len(events) + 1)
    given = list(files)
    _check_file_list(items, [name for name, _ in given])
    _write_zip(Path(out), members, items, dict(given), _zip_time(tree_head.timestamp_ms))


def _write_zip(
    out: Path,
    members: Mapping[str, bytes],
    items: Sequence[_Item],
    opened: Mapping[str, Callable[[], BinaryIO]],
    when: tuple[int, int, int, int, int, int],
) -> None:
    """Write the zip beside ``out``, then rename it into place; on failure remove it."""
    fd, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
            for name in (README, MANIFEST, PUBLIC_KEY, TREE_HEAD, EXPORT, PROOFS, EVENTS):
                info = zipfile.ZipInfo(name, when)
                info.external_attr = 0o644 << 16
                zf.writestr(info, members[name], compress_type=zipfile.ZIP_DEFLATED)
            for item in items:  # already-compressed media: stored, streamed in chunks
                info = zipfile.ZipInfo(item.path, when)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_STORED
                with opened[item.path]() as source:
                    _write_file(zf, info, item, source)
            zf.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


_README = """\
COURT BUNDLE OF DIGITAL EVIDENCE
================================

This zip holds {items} evidence file(s) exported from Peel, the {events} chain-of-custody
record(s) about them, and the cryptographic proofs that those records are part of the
force's tamper-evident custody log. Everything can be checked with standard tools; Peel
is not needed.

  Custody log signed by key id   {key_id}
  Log size when signed           {tree_size} events
  Log root hash when signed      {root}
  Signed at                      {signed_at} ({timestamp_ms} ms since 1970 UTC)


WHAT EACH FILE IS

  files/                   The evidence files, byte for byte as Peel holds them.
  manifest.json            The list of items. For each: "id", "name", "path" (where its file
                           is in this zip), "sha256" (its SHA-256 hash), "size" (in bytes)
                           and "event_indexes" (the positions of its custody records in the
                           log), with other details such as when and how it was captured.
  custody/events.jsonl     One custody record per line: {{"index": its position in the log,
                           "entry": the exact text the log holds}}. The entry says what was
                           done ("kind": received, viewed, shared, redacted, exported, ...),
                           to which item ("item_id") and case, by whom and when.
  custody/export.json      The record of this export. Its entry holds "manifest_sha256",
                           the SHA-256 hash of manifest.json as exported.
  custody/tree-head.json   The signed tree head: the log's size ("tree_size") and root hash
                           ("root_hash", hex) at "timestamp_ms", the signing key's id
                           ("key_id") and the Ed25519 signature ("signature", base64).
  custody/proofs.json      For every record's index, its inclusion proof: the list of hex
                           hashes linking the record to the signed root hash.
  public-key.pem           The custody log's public key, for convenience only (step 5).
  README.txt               This file.


HOW TO CHECK IT WITHOUT PEEL

1. The files. Compute each file's SHA-256 hash, for example
       sha256sum files/NAME                         (Linux)
       shasum -a 256 files/NAME                     (macOS)
       certutil -hashfile files\\NAME SHA256         (Windows)
   It must equal the item's "sha256" in manifest.json, and the file's size in bytes must
   equal "size". The item's "received" record in custody/events.jsonl holds the hash taken
   when Peel first received the file, and must show the same hash.

2. The manifest. The SHA-256 hash of manifest.json must equal "manifest_sha256" in the
   entry of custody/export.json, so the manifest cannot have been changed since export.

3. The custody records. A record's leaf hash is the SHA-256 hash of one zero byte (0x00)
   followed by the UTF-8 bytes of its "entry" text (RFC 9162, section 2.1.1). The text is
   the value as JSON reads it, so \\" in the file stands for a plain quote. In Python:
       entry = json.loads(line)["entry"]
       leaf = hashlib.sha256(b"\\x00" + entry.encode("utf-8")).hexdigest()

4. The proofs. From a record's leaf hash, its index and the tree head's "tree_size", the
   hashes in custody/proofs.json rebuild a root hash by the algorithm of RFC 9162, section
   2.1.3.2, where joining two hashes is SHA-256 of the byte 0x01, the left hash and the
   right hash. The result must equal the tree head's "root_hash". This shows that the record
   was in the custody log, at that position, when the tree head was signed; a record changed
   by even one character gives a different leaf hash and the proof fails. Check the export
   record of custody/export.json the same way.

5. The signature. The tree head is signed with Ed25519 over exactly these five lines, each
   ending with one line feed:
       peel-custody-tree-head/1
       KEY_ID
       TREE_SIZE
       TIMESTAMP_MS
       ROOT_HASH
   With OpenSSL 3 (fill in the values from custody/tree-head.json):
       printf 'peel-custody-tree-head/1\\n%s\\n%s\\n%s\\n%s\\n' KEY_ID TREE_SIZE TIMESTAMP_MS \\
           ROOT_HASH > message
       printf '%s' 'SIGNATURE' | base64 -d > signature
       openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in message \\
           -sigfile signature
   The key id is the SHA-256 hash of the 32-byte raw public key.

   IMPORTANT: a key shipped inside a bundle proves nothing by itself, because whoever made
   the bundle could also have made the key. Compare the key (or its key id, above) with the
   one the force publishes, and check the signature with the published key.


WHAT THE BUNDLE DOES NOT SHOW

The proofs show that these records are in the force's custody log. They do not show that
the log holds no other records about these items: ask the force for them if that matters.
That the log was never rewritten is shown by comparing this tree head with tree heads the
force published earlier or that others kept (RFC 9162 consistency proofs).

With Peel installed, "peel evidence verify bundle.zip --key published-key.pem" runs every
check above and names anything that fails.
"""
