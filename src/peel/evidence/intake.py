"""How files become evidence: resumable uploads, report attachments and body-worn video docks.

A body-worn video dock writes each clip beside a JSON sidecar of the same name
(``clip.mp4`` + ``clip.json``)::

    {"device_id": "BWV-0042", "officer": "PC 1234 Sam Patel",
     "started_at": "2026-11-20T21:14:03Z", "ended_at": "2026-11-20T21:19:40Z"}

Imported clips are unfiled, categorised as non-evidential body-worn video (deleted after
31 days by default) until someone adds them to a case. Importing the same clip again does
nothing: a clip is known by its SHA-256 and device.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peel.core.blobstore import BlobStore
from peel.core.db import transaction
from peel.core.errors import InvalidInput
from peel.core.policy import access_record
from peel.core.principal import Principal
from peel.core.scan import Scanner
from peel.core.sniff import EVIDENCE_KINDS, sniff
from peel.core.uploads import completed_upload
from peel.evidence import service
from peel.evidence.models import EvidenceCase, EvidenceItem
from peel.reporting.evidence import check_for_viruses
from peel.reporting.models import Report

SIDECAR_FIELDS = ("device_id", "officer", "started_at", "ended_at")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".ts", ".mts", ".webm")


def parse_time(value: Any, field_name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidInput({field_name: "Give an ISO 8601 time such as 2026-11-20T21:14:03Z"})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            {field_name: f"{value[:40]!r} is not an ISO 8601 time such as 2026-11-20T21:14:03Z"}
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_from_upload(
    session: Session,
    actor: Principal,
    upload_id: str,
    *,
    case: EvidenceCase | None,
    description: str = "",
    categories: tuple[str, ...] = (),
    source: str = "upload",
    device_id: str | None = None,
    captured_by: str | None = None,
    captured_at: datetime | None = None,
    captured_until: datetime | None = None,
    field: str = "upload",
    store: BlobStore | None = None,
    scanner: Scanner | None = None,
) -> EvidenceItem:
    """Turn a finished resumable upload into an item (the signed-in uploader's own upload).

    With a ``scanner`` (and the ``store`` holding the bytes) the file is virus-checked first.
    """
    upload = completed_upload(session, upload_id, None, principal=actor, field=field)
    if upload.purpose != "evidence":
        raise InvalidInput({field: "This upload was not started for evidence"})
    if scanner is not None and store is not None:
        check_for_viruses(store, scanner, upload.sha256 or "", upload.filename or "upload", field)
    existing = session.scalar(
        select(EvidenceItem).where(
            EvidenceItem.source_ref == f"upload:{upload.id}",
            EvidenceItem.owner_org_id == actor.organisation_id,
        )
    )
    if existing is not None:
        return existing  # the same upload sent twice (a retried request)
    return service.add_item(
        session,
        actor,
        service.NewItem(
            sha256=upload.sha256 or "",
            size=upload.length,
            content_type=upload.content_type or "application/octet-stream",
            kind=upload.kind or "document",
            name=upload.filename or "upload",
            source=source,
            source_ref=f"upload:{upload.id}",
            description=description,
            categories=categories,
            device_id=device_id,
            captured_by=captured_by,
            captured_at=captured_at,
            captured_until=captured_until,
        ),
        case=case,
    )


def import_report_attachments(
    session: Session, actor: Principal, case: EvidenceCase, report_reference: str
) -> list[EvidenceItem]:
    """Take the photos and videos a member of the public sent with a report into a case."""
    report_id = session.scalar(
        select(Report.id).where(Report.reference == report_reference.strip().upper())
    )
    if report_id is None:
        raise InvalidInput({"report": f"No report with reference {report_reference[:20]!r}"})
    try:
        report, _ = access_record(session, actor, Report, report_id)
    except LookupError:
        raise InvalidInput({"report": f"No report with reference {report_reference!r}"}) from None
    if report.owner_org_id != case.owner_org_id:
        raise InvalidInput({"report": f"Report {report.reference} belongs to another organisation"})
    known = set(
        session.scalars(
            select(EvidenceItem.source_ref).where(
                EvidenceItem.case_id == case.id, EvidenceItem.source == "report"
            )
        )
    )
    items = []
    for attachment in report.attachments:
        ref = f"{report.reference}/{attachment.id}"
        if ref in known:
            continue
        items.append(
            service.add_item(
                session,
                actor,
                service.NewItem(
                    sha256=attachment.sha256,
                    size=attachment.size,
                    content_type=attachment.content_type,
                    kind=attachment.kind,
                    name=attachment.original_name,
                    source="report",
                    source_ref=ref,
                    description=f"Sent with online report {report.reference}",
                    captured_by="Member of the public (online report)",
                ),
                case=case,
            )
        )
    if not items and not report.attachments:
        raise InvalidInput({"report": f"Report {report.reference} has no photos or videos"})
    if case.report_id is None:
        case.report_id = report.id
    return items


@dataclass
class DockResult:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _sidecar(clip: Path) -> dict[str, Any]:
    path = clip.with_suffix(".json")
    if not path.exists():
        raise InvalidInput({str(path.name): "No sidecar: the dock must write clip.json beside it"})
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput({path.name: f"not readable JSON ({exc})"}) from None
    if not isinstance(data, dict):
        raise InvalidInput({path.name: "must hold a JSON object"})
    missing = [k for k in ("device_id", "officer") if not str(data.get(k) or "").strip()]
    if missing:
        raise InvalidInput({path.name: f"is missing {', '.join(missing)}"})
    return data


def import_dock(
    sessions: sessionmaker[Session],
    store: BlobStore,
    actor: Principal,
    folder: Path,
    *,
    move_done: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> DockResult:
    """Import every clip in a dock folder; each clip commits on its own."""
    if not folder.is_dir():
        raise InvalidInput({"folder": f"{folder} is not a folder"})
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    result = DockResult()
    done_dir = folder / "imported"
    for number, clip in enumerate(clips, start=1):
        try:
            meta = _sidecar(clip)
            started = parse_time(meta.get("started_at"), f"{clip.stem}.json started_at")
            ended = parse_time(meta.get("ended_at"), f"{clip.stem}.json ended_at")
            with clip.open("rb") as handle:
                head = handle.read(64 * 1024)
            sniffed = sniff(head)
            if sniffed.kind not in EVIDENCE_KINDS or sniffed.kind != "video":
                raise InvalidInput({clip.name: "is not a video file"})
            ref = store.put_file(clip)
            with transaction(sessions) as session:
                exists = session.scalar(
                    select(EvidenceItem.id).where(
                        EvidenceItem.sha256 == ref.sha256,
                        EvidenceItem.device_id == str(meta["device_id"]),
                    )
                )
                if exists:
                    result.skipped.append(clip.name)
                else:
                    item = service.add_item(
                        session,
                        actor,
                        service.NewItem(
                            sha256=ref.sha256,
                            size=ref.size,
                            content_type=sniffed.content_type or "video/mp4",
                            kind="video",
                            name=clip.name,
                            source="bwv",
                            source_ref=f"dock:{folder.name}",
                            categories=("bwv-non-evidential",),
                            device_id=str(meta["device_id"])[:80],
                            captured_by=str(meta["officer"])[:200],
                            captured_at=started,
                            captured_until=ended,
                        ),
                    )
                    result.imported.append(item.id)
            if move_done:
                done_dir.mkdir(exist_ok=True)
                for path in (clip, clip.with_suffix(".json")):
                    shutil.move(str(path), done_dir / path.name)
        except InvalidInput as exc:
            result.problems.append(f"{clip.name}: {exc}")
        if progress:
            progress(number, len(clips), clip.name)
    return result
