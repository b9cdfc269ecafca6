"""Turning what a reporter gives (a place, files) into stored, checked facts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from peel.core.blobstore import BlobStore, BlobTooLarge
from peel.core.errors import InvalidInput
from peel.core.geo import Location, parse_location
from peel.core.scan import Scanner
from peel.core.sniff import UploadRefused, check_declared, sniff
from peel.core.uploads import completed_upload
from peel.reporting.schemas import LocationIn, UploadRef
from peel.reporting.service import NewAttachment

REPORT_KINDS = ("image", "video")
SNIFF_BYTES = 64 * 1024


def locate(
    app: Any, data: LocationIn | None
) -> tuple[Location | None, tuple[str | None, str | None]]:
    """Parse the location and, when boundaries are configured, find its LSOA and force."""
    if data is None:
        return None, (None, None)
    location = parse_location(data.kind, data.model_dump(exclude_none=True), app.state.geocoder)
    if location is None:
        return None, (None, None)
    areas = app.state.areas
    area = areas.area_for(location.easting, location.northing) if areas else None
    if area is None:
        return location, (None, None)
    return location, (area.lsoa_code, area.force_name)


def check_for_viruses(
    store: BlobStore, scanner: Scanner, sha256: str, name: str, field: str
) -> None:
    """Refuse (and forget) a stored file the scanner flags; refuse too if it cannot answer."""
    try:
        result = scanner.scan(store.iter_chunks(sha256))
    except OSError:
        raise InvalidInput(
            {field: f"{name}: we could not check this file for viruses just now. Try again later."}
        ) from None
    if not result.clean:
        store.delete(sha256)
        raise InvalidInput({field: f"{name} was refused by the virus check"})


def attachments_from_uploads(
    session: Session, refs: list[UploadRef], store: BlobStore, scanner: Scanner
) -> list[NewAttachment]:
    items = []
    for index, ref in enumerate(refs):
        try:
            upload = completed_upload(session, ref.id, ref.token)
        except LookupError as exc:
            raise InvalidInput({f"uploads[{index}]": str(exc)}) from None
        if upload.kind not in REPORT_KINDS:
            raise InvalidInput({f"uploads[{index}]": "Only photos and videos can be attached"})
        check_for_viruses(
            store, scanner, upload.sha256 or "", upload.filename or "upload", f"uploads[{index}]"
        )
        items.append(
            NewAttachment(
                upload.sha256 or "",
                upload.length,
                upload.content_type or "",
                upload.kind or "",
                upload.filename or "upload",
            )
        )
    return items


async def store_form_file(
    store: BlobStore,
    scanner: Scanner,
    upload: UploadFile,
    max_bytes: int,
    field: str = "evidence",
) -> NewAttachment | None:
    """Stream one file from an ordinary form into the blob store after checking its bytes."""
    name = (upload.filename or "").strip()
    head = await upload.read(SNIFF_BYTES)
    if not name and not head:
        return None  # the file input was left empty
    if not head:
        raise InvalidInput({field: f"The file {name} is empty"})
    sniffed = sniff(head)
    try:
        check_declared(sniffed, upload.content_type, name, allowed_kinds=REPORT_KINDS)
    except UploadRefused as exc:
        raise InvalidInput({field: f"{name}: {exc}"}) from None
    writer = store.writer(max_bytes=max_bytes)
    try:
        writer.write(head)
        while chunk := await upload.read(1024 * 1024):
            writer.write(chunk)
        ref = writer.commit()
    except BlobTooLarge:
        raise InvalidInput(
            {
                field: f"{name} is larger than {max_bytes // (1024 * 1024)} MB; "
                "send large videos with the resumable uploader"
            }
        ) from None
    finally:
        writer.abort()
    check_for_viruses(store, scanner, ref.sha256, name, field)
    return NewAttachment(
        ref.sha256,
        ref.size,
        sniffed.content_type or "application/octet-stream",
        sniffed.kind or "",
        name[:255] or "upload",
    )
