"""Sending stored files over HTTP: one byte range (what <video> asks for), safe file names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from peel.core.blobstore import BlobStore

CHUNK_SIZE = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


class Unsatisfiable(Exception):
    pass


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range asked for (first, last inclusive); None means the whole file.

    Only a single range is honoured (what <video> asks for); anything else gets the whole file,
    as RFC 9110 allows.
    """
    match = _RANGE.match((header or "").strip())
    if not match or not any(match.groups()):
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise Unsatisfiable
    return start, min(end, size - 1)


def range_chunks(stream: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    with stream:
        if stream.seekable():
            stream.seek(start)
        else:
            skip = start
            while skip > 0:
                skipped = stream.read(min(CHUNK_SIZE, skip))
                if not skipped:
                    return
                skip -= len(skipped)
        remaining = length
        while remaining > 0:
            chunk = stream.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def safe_filename(name: str) -> str:
    """A file name safe inside a quoted header value: letters, digits, . _ - and spaces."""
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip(" ._")[:100]
    return cleaned or "attachment"


def content_disposition(disposition: str, name: str) -> str:
    plain = safe_filename(name)
    header = f'{disposition}; filename="{plain}"'
    if plain != name and name:
        header += "; filename*=UTF-8''" + quote(name[:200], safe="")
    return header


def stream_blob(
    request: Request,
    store: BlobStore,
    sha256: str,
    name: str,
    content_type: str,
    *,
    inline: bool,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """The blob's bytes, or the one range the request asks for; 416 for an impossible range.

    Shown inline only when ``inline``; otherwise sent as an attachment of unknown type so a
    browser never renders it.
    """
    size = store.size(sha256)
    headers = {
        "Content-Disposition": content_disposition("inline" if inline else "attachment", name),
        "Accept-Ranges": "bytes",
        "Cross-Origin-Resource-Policy": "same-origin",
        **(extra_headers or {}),
    }
    media_type = content_type if inline else "application/octet-stream"
    try:
        wanted = byte_range(request.headers.get("range"), size)
    except Unsatisfiable:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if wanted is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            store.iter_chunks(sha256, CHUNK_SIZE), media_type=media_type, headers=headers
        )
    start, end = wanted
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        range_chunks(store.open(sha256), start, end - start + 1),
        status_code=206,
        media_type=media_type,
        headers=headers,
    )
