"""Work done on an item's bytes after it arrives: metadata, thumbnail, preview, redaction.

Originals are never changed. Derived files (thumbnail, browser preview, redacted copy) go to
the blob store under their own hashes; a redacted copy becomes a new item linked to its
original, and the custody log records exactly what was done so it can be repeated.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from peel.core.blobstore import BlobStore, LocalBlobStore
from peel.core.db import transaction
from peel.core.errors import InvalidInput
from peel.core.principal import Principal
from peel.evidence import custody, intake, media, service
from peel.evidence.models import EvidenceItem

Progress = Callable[[float, str], None]


@contextmanager
def local_copy(store: BlobStore, sha256: str, suffix: str = "") -> Iterator[Path]:
    """A path to the blob's bytes: the stored file itself when local, else a temporary copy."""
    if isinstance(store, LocalBlobStore):
        yield store.path_for(sha256)
        return
    with tempfile.TemporaryDirectory(prefix="peel-blob-") as folder:
        path = Path(folder) / f"blob{suffix}"
        with store.open(sha256) as source, path.open("wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        yield path


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()[:10]


def _parse_time(value: Any) -> datetime | None:
    """A capture time the file carries, or None when it has none we can read."""
    try:
        return intake.parse_time(value, "captured_at")
    except InvalidInput:
        return None


def describe(
    store: BlobStore, item_id: str, sha256: str, kind: str, name: str
) -> tuple[dict[str, Any], str | None, str | None, str, str]:
    """Probe the file and make its thumbnail and preview (outside any transaction).

    Returns (capture metadata, thumbnail sha256, preview sha256, preview status, message).
    """
    capture: dict[str, Any] = {}
    thumb: str | None = None
    preview: str | None = None
    status, message = "none", ""
    if kind not in ("image", "video", "audio"):
        return capture, thumb, preview, status, message
    with (
        local_copy(store, sha256, _suffix(name)) as path,
        tempfile.TemporaryDirectory(prefix="peel-media-") as work,
    ):
        try:
            capture = media.probe(path, kind)
        except media.MediaError as exc:
            return {}, None, None, "failed", str(exc).replace(str(path), name)
        if kind in ("image", "video"):
            try:
                out = Path(work) / "thumb.jpg"
                media.thumbnail(path, kind, out)
                thumb = store.put_file(out).sha256
            except media.MediaError as exc:
                message = str(exc).replace(str(path), name)
        if kind == "image" or capture.get("browser_playable"):
            status = "original"
        elif kind == "video":
            try:
                out = Path(work) / "preview.mp4"
                media.transcode_preview(path, out)
                preview = store.put_file(out).sha256
                status = "ready"
            except media.MediaError as exc:
                status, message = "failed", str(exc).replace(str(path), name)
        else:
            status = "original"
    return capture, thumb, preview, status, message


def apply_description(
    session: Session,
    actor: Principal | str,
    item: EvidenceItem,
    result: tuple[dict[str, Any], str | None, str | None, str, str],
) -> None:
    capture, thumb, preview, status, message = result
    item.capture = {**(item.capture or {}), **capture}
    item.thumb_sha256 = thumb
    item.preview_sha256 = preview
    item.preview_status = status
    item.preview_message = message
    if item.captured_at is None:
        item.captured_at = _parse_time(capture.get("captured_at") or capture.get("creation_time"))
    details: dict[str, Any] = {"status": status}
    if preview:
        details["preview_sha256"] = preview
        details["method"] = "ffmpeg libx264 crf 23 preset veryfast, yuv420p, aac, faststart"
    if message:
        details["message"] = message[:500]
    custody.append_event(
        session,
        "preview",
        actor,
        case_id=item.case_id,
        item_id=item.id,
        owner_org_id=item.owner_org_id,
        **details,
    )


def process_item(
    sessions: sessionmaker[Session], store: BlobStore, item_id: str, actor: Principal | str
) -> str:
    """Describe one item and save the result; returns its preview status."""
    with transaction(sessions) as session:
        item = session.get(EvidenceItem, item_id)
        if item is None:
            raise LookupError(f"No evidence item {item_id}")
        sha256, kind, name = item.sha256, item.kind, item.name
    result = describe(store, item_id, sha256, kind, name)
    with transaction(sessions) as session:
        item = session.get(EvidenceItem, item_id)
        if item is None:
            raise LookupError(f"No evidence item {item_id}")
        apply_description(session, actor, item, result)
        return item.preview_status


def process_items(
    sessions: sessionmaker[Session],
    store: BlobStore,
    item_ids: Sequence[str],
    actor: Principal | str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    done: dict[str, str] = {}
    for number, item_id in enumerate(item_ids, start=1):
        done[item_id] = process_item(sessions, store, item_id, actor)
        if progress:
            progress(100 * number / len(item_ids), f"{number} of {len(item_ids)} files described")
    return {"items": done}


# --- redaction ------------------------------------------------------------------------------


def parse_boxes(raw: Sequence[dict[str, Any]], field: str = "boxes") -> list[media.Box]:
    boxes = []
    if not raw:
        raise InvalidInput({field: "Draw or enter at least one box to redact"})
    if len(raw) > 200:
        raise InvalidInput({field: "At most 200 boxes at once"})
    for number, values in enumerate(raw):
        try:
            boxes.append(
                media.Box(
                    x=int(values["x"]),
                    y=int(values["y"]),
                    width=int(values["width"]),
                    height=int(values["height"]),
                    start=None if values.get("start") in (None, "") else float(values["start"]),
                    end=None if values.get("end") in (None, "") else float(values["end"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                {f"{field}[{number}]": str(exc) or "x, y, width and height"}
            ) from None
    return boxes


def redact(
    sessions: sessionmaker[Session],
    store: BlobStore,
    actor: Principal,
    item_id: str,
    boxes: Sequence[media.Box],
    mode: str,
    progress: Progress | None = None,
) -> str:
    """Make a redacted copy of an image or video as a new item; returns the new item's id."""
    if mode not in ("blur", "black"):
        raise InvalidInput({"mode": "Use blur or black"})
    with transaction(sessions) as session:
        item, _ = service.access_item(session, actor, item_id, "edit")
        if item.status != "present":
            raise InvalidInput({"item": "This item's file has been deleted"})
        if item.kind not in ("image", "video"):
            raise InvalidInput({"item": "Only photos and videos can be redacted"})
        sha256, kind, name, case_id = item.sha256, item.kind, item.name, item.case_id
    stem = Path(name).stem or "evidence"
    out_name = f"{stem}-redacted.{'png' if kind == 'image' else 'mp4'}"
    with (
        local_copy(store, sha256, _suffix(name)) as path,
        tempfile.TemporaryDirectory(prefix="peel-redact-") as work,
    ):
        out = Path(work) / out_name
        try:
            if kind == "image":
                media.redact_image(path, out, list(boxes), mode)  # type: ignore[arg-type]
            else:
                media.redact_video(
                    path,
                    out,
                    list(boxes),
                    mode,  # type: ignore[arg-type]
                    progress=(lambda f: progress(f * 90, "Redacting")) if progress else None,
                )
        except ValueError as exc:
            raise InvalidInput({"boxes": str(exc)}) from None
        except media.MediaError as exc:
            raise InvalidInput({"item": str(exc).replace(str(path), name)}) from None
        ref = store.put_file(out)
    derivation = {
        "from_sha256": sha256,
        "mode": mode,
        "boxes": [
            {
                "x": b.x,
                "y": b.y,
                "width": b.width,
                "height": b.height,
                "start": b.start,
                "end": b.end,
            }
            for b in boxes
        ],
        "tool": "peel.evidence.media " + ("redact_image" if kind == "image" else "redact_video"),
    }
    with transaction(sessions) as session:
        original, labelled = service.access_item(session, actor, item_id, "edit")
        case = session.get(service.EvidenceCase, case_id) if case_id else None
        new = service.add_item(
            session,
            actor,
            service.NewItem(
                sha256=ref.sha256,
                size=ref.size,
                content_type="image/png" if kind == "image" else "video/mp4",
                kind=kind,
                name=out_name,
                source="redaction",
                source_ref=original.id,
                description=f"Redacted copy of {original.name} ({mode}, {len(boxes)} boxes)",
                categories=tuple(original.categories),
                captured_at=original.captured_at,
                device_id=original.device_id,
                captured_by=original.captured_by,
                derived_from_id=original.id,
                derivation=derivation,
            ),
            case=case if case is not None and case.status == "open" else None,
            tlp=labelled.tlp,
        )
        if case is not None and case.status != "open":
            new.case_id = case.id
        custody.append_event(
            session,
            "redacted",
            actor,
            case_id=original.case_id,
            item_id=original.id,
            owner_org_id=original.owner_org_id,
            copy=new.id,
            copy_sha256=ref.sha256,
            mode=mode,
            boxes=len(boxes),
        )
        new_id = new.id
    process_item(sessions, store, new_id, actor)
    if progress:
        progress(100, "Redacted copy saved")
    return new_id
