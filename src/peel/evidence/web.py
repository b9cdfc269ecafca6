"""Serving evidence bytes over HTTP: ranges for video, watermarks naming the viewer."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from peel.core import streaming
from peel.core.blobstore import BlobStore
from peel.core.db import utcnow
from peel.core.errors import InvalidInput
from peel.core.policy import NotFound
from peel.core.principal import Principal
from peel.core.streaming import CHUNK_SIZE, Unsatisfiable, byte_range, content_disposition
from peel.evidence import jobs, media, processing
from peel.evidence.models import EvidenceItem

_INLINE = re.compile(r"^(image/(png|jpeg|gif|webp)|video/(mp4|webm)|audio/(mpeg|mp4|ogg|wav))$")
#: Watermarking a video re-encodes it while the viewer waits; larger ones go in a bundle.
MAX_WATERMARK_VIDEO_BYTES = 300 * 1024 * 1024


def describe_new(request: Request, principal: Principal, items: list[EvidenceItem]) -> None:
    """Start making thumbnails and previews; the caller has committed the new items."""
    jobs.submit_processing(
        request.app.state.jobs,
        request.app.state.blobs,
        principal,
        [i.id for i in items],
        f"Describe {items[0].name}" if len(items) == 1 else f"Describe {len(items)} files",
    )


def reads_from_start(request: Request, size: int) -> bool:
    """Whether this request gets the file's first byte: every such read is recorded.

    Later ranges (a player seeking, a resumed download) continue a read already recorded; a
    header that cannot be parsed is answered with the whole file, so it counts too.
    """
    try:
        wanted = byte_range(request.headers.get("range"), size)
    except Unsatisfiable:
        return False
    return wanted is None or wanted[0] == 0


def stream_blob(
    request: Request,
    store: BlobStore,
    sha256: str,
    name: str,
    content_type: str,
    *,
    download: bool = False,
) -> Response:
    """The bytes (ranges supported); browser-playable media inline unless ``download``."""
    if not store.exists(sha256):
        raise NotFound("evidence file", sha256[:12])
    inline = bool(_INLINE.match(content_type)) and not download
    return streaming.stream_blob(
        request,
        store,
        sha256,
        name,
        content_type,
        inline=inline,
        extra_headers={"Cache-Control": "private, no-store"},
    )


def watermark_text(viewer: str) -> str:
    return f"{viewer} · {utcnow():%Y-%m-%d %H:%M} UTC · do not copy"


def watermarked(store: BlobStore, item: EvidenceItem, viewer: str) -> Response:
    """A copy of an image or video with the viewer's name across it (the original is kept)."""
    if item.kind not in ("image", "video"):
        raise InvalidInput({"watermark": "Only photos and videos can carry a watermark"})
    if item.kind == "video" and item.size > MAX_WATERMARK_VIDEO_BYTES:
        raise InvalidInput(
            {"watermark": "This video is too large to watermark while you wait; export a bundle"}
        )
    work = tempfile.TemporaryDirectory(prefix="peel-watermark-")
    suffix = ".png" if item.kind == "image" else ".mp4"
    out = Path(work.name) / f"watermarked{suffix}"
    try:
        with processing.local_copy(store, item.sha256, Path(item.name).suffix) as path:
            if item.kind == "image":
                media.watermark_image(path, out, watermark_text(viewer))
            else:
                media.watermark_video(path, out, watermark_text(viewer))
    except media.MediaError as exc:
        work.cleanup()
        raise InvalidInput({"watermark": str(exc).replace(str(out), item.name)}) from None
    stem = Path(item.name).stem or "evidence"

    def chunks() -> object:
        with out.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    return StreamingResponse(
        chunks(),  # type: ignore[arg-type]
        media_type="image/png" if item.kind == "image" else "video/mp4",
        headers={
            "Content-Disposition": content_disposition("attachment", f"{stem}-watermarked{suffix}"),
            "Content-Length": str(out.stat().st_size),
            "Cache-Control": "private, no-store",
        },
        background=BackgroundTask(work.cleanup),
    )
