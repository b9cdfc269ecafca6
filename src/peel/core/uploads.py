"""Resumable uploads over tus 1.0.0, shared by online crime reporting and digital evidence.

The protocol (https://tus.io/protocols/resumable-upload) with its creation, termination,
checksum and expiration extensions, at ``/api/v1/uploads/``:

``OPTIONS /api/v1/uploads/``
    204 advertising ``Tus-Version``, ``Tus-Extension``, ``Tus-Max-Size`` and
    ``Tus-Checksum-Algorithm``.
``POST /api/v1/uploads/``
    ``Upload-Length`` (required) and ``Upload-Metadata`` (``filename``, ``filetype``, and
    ``purpose``: ``report``, the default, or ``evidence``, which needs a signed-in caller)
    create an upload: 201 with ``Location``, ``Upload-Expires`` and ``Upload-Token``.
``HEAD /api/v1/uploads/<id>``
    200 with ``Upload-Offset``, ``Upload-Length`` and ``Upload-Expires``.
``PATCH /api/v1/uploads/<id>``
    ``Content-Type: application/offset+octet-stream`` and ``Upload-Offset`` append the body;
    optional ``Upload-Checksum: <sha1|sha256|md5> <base64>`` covers this request's bytes.
``DELETE /api/v1/uploads/<id>``
    Terminates the upload.
``GET /api/v1/uploads/<id>``
    Peel's own JSON summary, ``{id, size, offset, sha256, content_type, ...}`` (not part of
    tus, so it does not need ``Tus-Resumable``).

**Deviation from plain tus: the upload token.** Anyone may create an upload (the public
report crimes without signing in), so knowing an upload's URL must not be enough to add to,
read or delete it. Creation answers with a random secret in the ``Upload-Token`` header
(only its SHA-256 is stored) and every later request on that upload must send it back in an
``Upload-Token`` header; a missing or wrong token gets the same 404 as an upload that does
not exist. Clients that cannot read response headers of the creation request (tuspy's
``create_url`` does not expose them) may instead choose the token themselves: send an
``Upload-Token`` of 32 to 128 letters, digits, ``-`` or ``_`` with the POST, e.g.
``TusClient(url, headers={"Upload-Token": secrets.token_urlsafe(32)})``, since tus clients
send their custom headers on every request. A signed-in person or API client of the
organisation that created an upload may also use it without the token.

Bytes stream from the request into ``<data_dir>/uploads/<id>.part`` through a fixed buffer,
SHA-256 hashed on the way; the first :data:`~peel.core.sniff.SNIFF_BYTES` are checked with
:mod:`peel.core.sniff` (a refused or contradicting type answers 415 and the upload is
deleted). When the last byte arrives the file moves into the blob store under its SHA-256.
Callers that take a finished upload (a crime report, an evidence item) use
:func:`completed_upload`; a job calls :func:`purge_expired_uploads`.

Settings read here (with defaults until ``Settings`` declares them): ``upload_max_bytes``
(10 GiB) and ``upload_expiry_hours`` (24).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from peel.core import sniff
from peel.core.blobstore import BlobStore, LocalBlobStore
from peel.core.config import Settings
from peel.core.db import new_id, utcnow
from peel.core.deps import DB, AppSettings, current_principal
from peel.core.errors import InvalidInput
from peel.core.http import PROBLEM_JSON, SESSION_COOKIE, problem_response
from peel.core.principal import ANONYMOUS, Principal
from peel.core.schemas import Problem
from peel.core.security import constant_time_equal, token_digest
from peel.core.upload_models import Upload

if TYPE_CHECKING:
    from hashlib import _Hash as Hasher
else:
    Hasher = Any

log = structlog.get_logger("peel.uploads")

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,checksum,expiration"
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Hasher]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
}
OFFSET_OCTET_STREAM = "application/offset+octet-stream"
TOKEN_HEADER = "Upload-Token"  # noqa: S105 (a header name, not a secret)
DEFAULT_MAX_BYTES = 10 * 1024**3
DEFAULT_EXPIRY_HOURS = 24.0
#: Bytes gathered from the request before one write to disk (the memory an upload uses).
FLUSH_BYTES = 4 << 20
MAX_METADATA_CHARS = 8192
MAX_METADATA_KEYS = 32

#: What each purpose accepts, and which purposes anonymous members of the public may use.
PURPOSES: dict[str, frozenset[sniff.Kind]] = {
    "report": sniff.REPORT_KINDS,
    "evidence": sniff.EVIDENCE_KINDS,
}
PUBLIC_PURPOSES = frozenset({"report"})

_ID = re.compile(r"[0-9a-f]{32}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,128}")
_METADATA_KEY = re.compile(r"[!-+\--~]+")  # printable ASCII without space or comma
_DIGITS = re.compile(r"[0-9]{1,19}")


# --- settings -----------------------------------------------------------------------------


def max_upload_bytes(settings: Settings) -> int:
    """The largest upload accepted (``upload_max_bytes``, default 10 GiB)."""
    return int(getattr(settings, "upload_max_bytes", DEFAULT_MAX_BYTES))


def upload_lifetime(settings: Settings) -> timedelta:
    """How long an upload may sit unfinished or unused (``upload_expiry_hours``, default 24)."""
    return timedelta(hours=float(getattr(settings, "upload_expiry_hours", DEFAULT_EXPIRY_HOURS)))


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def partial_path(settings: Settings, upload_id: str) -> Path:
    """Where the bytes of an unfinished upload are kept (the id is checked, so no traversal)."""
    if not _ID.fullmatch(upload_id):
        raise ValueError(f"not an upload id: {upload_id!r}")
    return uploads_dir(settings) / f"{upload_id}.part"


# --- errors and responses -----------------------------------------------------------------


class UploadUnavailable(InvalidInput, LookupError):
    """A caller named an upload that is unknown, not theirs, expired or not finished.

    An :class:`InvalidInput` (a 422 naming ``field`` if nobody catches it) and a
    ``LookupError``; ``str()`` is the sentence alone.
    """

    def __init__(self, message: str, field: str = "upload") -> None:
        super().__init__({field: message}, title="The upload cannot be used")
        self.message = message

    def __str__(self) -> str:
        return self.message


class _Refusal(Exception):
    """An HTTP answer other than success; :class:`TusRoute` turns it into problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.headers = headers or {}


def _not_found(upload_id: str) -> _Refusal:
    return _Refusal(
        404,
        f"No upload with id {upload_id!r} is known to this token. Send the Upload-Token "
        "header you were given when the upload was created.",
    )


def _http_date(moment: datetime) -> str:
    """RFC 7231 IMF-fixdate, e.g. ``Wed, 25 Jun 2025 12:00:00 GMT``."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _size_text(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            amount = size / factor
            return f"{amount:.0f} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{size} bytes"


class TusRoute(APIRoute):
    """Adds ``Tus-Resumable`` to every answer and refuses other protocol versions with 412."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            exempt = request.method in ("OPTIONS", "GET")
            if not exempt and request.headers.get("tus-resumable") != TUS_VERSION:
                given = request.headers.get("tus-resumable")
                response: Response = problem_response(
                    412,
                    detail=(
                        f"This server speaks tus {TUS_VERSION}; send the header "
                        f"'Tus-Resumable: {TUS_VERSION}'" + (f" (not {given!r})" if given else "")
                    ),
                    instance=request.url.path,
                    headers={"Tus-Version": TUS_VERSION},
                )
            else:
                try:
                    response = await handler(request)
                except _Refusal as refusal:
                    response = problem_response(
                        refusal.status,
                        refusal.title,
                        refusal.detail,
                        instance=request.url.path,
                        headers=refusal.headers,
                    )
                except StarletteHTTPException as exc:
                    response = problem_response(
                        exc.status_code,
                        detail=exc.detail if isinstance(exc.detail, str) else None,
                        instance=request.url.path,
                        headers=dict(exc.headers or {}),
                    )
            response.headers["Tus-Resumable"] = TUS_VERSION
            return response

        return tus_handler


# --- the OpenAPI description (the tus headers are read by hand, so they are listed here) ---


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    schema = Problem.model_json_schema()
    return {
        status: {
            "description": "Checksum Mismatch" if status == 460 else HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        for status in statuses
    }


def _header(name: str, description: str, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_TUS_RESUMABLE = _header(
    "Tus-Resumable", "The tus protocol version", required=True, type="string", enum=[TUS_VERSION]
)
_UPLOAD_TOKEN = _header(
    "Upload-Token",
    "The secret given (or chosen) when the upload was created; not needed by signed-in callers "
    "of the organisation that created it",
)

router = APIRouter(
    prefix="/api/v1/uploads",
    tags=["uploads"],
    route_class=TusRoute,
    responses=_problems(401, 403, 412),
)


# --- the running SHA-256 of each upload (process-local) ----------------------------------


class _HashCache:
    """The SHA-256 state of unfinished uploads, each tagged with the offset it has reached.

    One server process is the common case; a hash that is missing (after a restart) or was
    left at another offset (another process took a chunk) is rebuilt from the partial file.
    Requests *take* the state and *put* it back only after their bytes are committed, so a
    request that fails half-way leaves nothing stale behind.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._items: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity

    def take(self, upload_id: str, offset: int) -> Hasher | None:
        with self._lock:
            item = self._items.pop(upload_id, None)
        if item is None or item[0] != offset:
            return None
        return item[1]

    def put(self, upload_id: str, offset: int, hasher: Hasher) -> None:
        with self._lock:
            self._items[upload_id] = (offset, hasher)
            self._items.move_to_end(upload_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        with self._lock:
            self._items.pop(upload_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


HASHES = _HashCache()


def _hash_of_file(handle: BinaryIO, length: int) -> Hasher:
    """SHA-256 of the first ``length`` bytes of an open file, read through one buffer."""
    hasher = hashlib.sha256()
    if length <= 0:
        return hasher
    buffer = bytearray(min(length, FLUSH_BYTES))
    view = memoryview(buffer)
    handle.seek(0)
    remaining = length
    while remaining > 0:
        count = handle.readinto(view[: min(remaining, len(buffer))])  # type: ignore[attr-defined]
        if not count:
            break
        hasher.update(view[:count])
        remaining -= count
    return hasher


# --- parsing headers ----------------------------------------------------------------------


def _count(value: str | None, header: str, required: bool = True) -> int | None:
    if value is None:
        if required:
            raise _Refusal(400, f"The {header} header is required")
        return None
    value = value.strip()
    if not _DIGITS.fullmatch(value):
        raise _Refusal(400, f"{header} must be a whole number of bytes, not {value[:40]!r}")
    return int(value)


def parse_metadata(header: str | None) -> dict[str, str]:
    """Decode tus ``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    if header is None or not header.strip():
        return {}
    if len(header) > MAX_METADATA_CHARS:
        raise _Refusal(400, f"Upload-Metadata is longer than {MAX_METADATA_CHARS} characters")
    result: dict[str, str] = {}
    pairs = header.split(",")
    if len(pairs) > MAX_METADATA_KEYS:
        raise _Refusal(400, f"Upload-Metadata has more than {MAX_METADATA_KEYS} entries")
    for number, pair in enumerate(pairs, start=1):
        pair = pair.strip()
        if not pair:
            raise _Refusal(400, f"Upload-Metadata entry {number} is empty (two commas in a row?)")
        parts = pair.split(" ")
        key = parts[0]
        if len(parts) > 2:
            raise _Refusal(
                400,
                f"Upload-Metadata entry {key[:40]!r} has more than one space; send "
                "'key base64value' pairs separated by commas",
            )
        if not _METADATA_KEY.fullmatch(key) or len(key) > 100:
            raise _Refusal(400, f"Upload-Metadata key {key[:40]!r} is not a valid key")
        if key in result:
            raise _Refusal(400, f"Upload-Metadata key {key!r} appears more than once")
        value = ""
        if len(parts) == 2:
            try:
                value = base64.b64decode(parts[1], validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise _Refusal(
                    400, f"The Upload-Metadata value of {key!r} is not base64-encoded UTF-8 text"
                ) from None
            if "\x00" in value:
                raise _Refusal(400, f"The Upload-Metadata value of {key!r} contains a NUL byte")
        result[key] = value
    return result


def encode_metadata(metadata: dict[str, str]) -> str:
    """The ``Upload-Metadata`` header for stored metadata."""
    parts = []
    for key, value in metadata.items():
        if value:
            parts.append(f"{key} {base64.b64encode(value.encode()).decode('ascii')}")
        else:
            parts.append(key)
    return ",".join(parts)


def _clean_filename(name: str | None) -> str | None:
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    return base[:255] or None


def _parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise _Refusal(
            400,
            f"Upload-Checksum algorithm {algorithm[:20]!r} is not supported; use one of "
            + ", ".join(CHECKSUM_ALGORITHMS),
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _Refusal(400, "The Upload-Checksum value is not valid base64") from None
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise _Refusal(400, f"The Upload-Checksum value is not a {algorithm} digest")
    return algorithm, digest


# --- who may touch an upload --------------------------------------------------------------


def _principal(request: Request, db: Session, lenient: bool = True) -> Principal:
    """The signed-in caller, resolved only when the request carries credentials.

    A browser session cookie sent without the CSRF header does not count (and is not an
    error) when ``lenient``: the request then acts as anonymous, with only the upload token
    to vouch for it, so a signed-in officer's browser can still send a public report.
    """
    if "authorization" not in request.headers and SESSION_COOKIE not in request.cookies:
        return ANONYMOUS
    try:
        return current_principal(request, db)
    except StarletteHTTPException as exc:
        if lenient and exc.status_code == 403 and "authorization" not in request.headers:
            return ANONYMOUS
        raise


def _may_use(upload: Upload, token: str | None, principal: Principal | None) -> bool:
    if token and constant_time_equal(upload.owner_token_hash, token_digest(token)):
        return True
    return bool(
        principal is not None
        and principal.organisation_id is not None
        and upload.organisation_id == principal.organisation_id
    )


def _lookup(request: Request, db: Session, upload_id: str) -> Upload:
    """The upload the request may use, else 404 (the same whether it is missing or not theirs)."""
    upload = db.get(Upload, upload_id) if _ID.fullmatch(upload_id) else None
    token = request.headers.get("upload-token")
    if upload is not None and token and _may_use(upload, token, None):
        return upload
    principal = _principal(request, db)  # resolved either way, so answers leak nothing
    if upload is not None and _may_use(upload, None, principal):
        return upload
    raise _not_found(upload_id)


def _refuse_if_expired(upload: Upload, now: datetime | None = None) -> None:
    if upload.expires_at <= (now or utcnow()):
        raise _Refusal(
            410,
            f"This upload expired at {_http_date(upload.expires_at)}; start a new upload",
        )


def _expires_header(upload: Upload) -> dict[str, str]:
    return {"Upload-Expires": _http_date(upload.expires_at)}


# --- files --------------------------------------------------------------------------------


def _open_locked(path: Path, create: bool = True) -> BinaryIO | None:
    """Open a partial file with an exclusive lock, or refuse with 423 if another request has it.

    ``flock`` locks conflict between processes and between two opens in one process, so
    two PATCH requests can never append to the same upload at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _Refusal(
            423,
            "Another request is still sending bytes to this upload. Wait for it to finish, "
            "ask for the offset (HEAD) and resume from there.",
        ) from None
    return os.fdopen(fd, "r+b")


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _truncate(handle: BinaryIO, offset: int) -> None:
    handle.flush()
    handle.truncate(offset)
    handle.seek(offset)


def _write(handle: BinaryIO, data: memoryview, hashers: tuple[Hasher, ...]) -> None:
    handle.write(data)
    for hasher in hashers:
        hasher.update(data)


def _read_head(handle: BinaryIO, size: int) -> bytes:
    handle.seek(0)
    return handle.read(size)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _publish(handle: BinaryIO, path: Path, store: BlobStore, sha256: str) -> None:
    """Move a finished partial file into the blob store under its SHA-256."""
    handle.flush()
    os.fsync(handle.fileno())
    if isinstance(store, LocalBlobStore):
        final = store.path_for(sha256)
        if final.is_file():
            path.unlink()  # the same content is already stored
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, final)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        else:
            _fsync_dir(final.parent)
            return
    ref = store.put_file(path)
    if ref.sha256 != sha256:
        raise RuntimeError(
            f"upload {path.stem} hashed to {sha256} while streaming but to {ref.sha256} when "
            "stored; the partial file changed under us"
        )
    path.unlink()


def _remove_partial(path: Path) -> bool:
    """Delete a partial file unless a request is writing to it; True if it is gone."""
    try:
        handle = _open_locked(path, create=False)
    except _Refusal:
        return False
    if handle is None:
        return True
    with handle:
        path.unlink(missing_ok=True)
    return True


# --- routes -------------------------------------------------------------------------------


def _tus_options(settings: Settings) -> Response:
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(max_upload_bytes(settings)),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        },
    )


@router.options("/", include_in_schema=False)
def tus_options(settings: AppSettings) -> Response:
    """What this tus server supports."""
    return _tus_options(settings)


@router.options("", include_in_schema=False)
def tus_options_no_slash(settings: AppSettings) -> Response:
    return _tus_options(settings)


def _create(request: Request, db: Session, settings: Settings) -> Response:
    headers = request.headers
    if "upload-defer-length" in headers:
        raise _Refusal(400, "Deferred upload lengths are not supported; send Upload-Length")
    length = _count(headers.get("upload-length"), "Upload-Length")
    assert length is not None
    if length == 0:
        raise _Refusal(400, "The file is empty")
    limit = max_upload_bytes(settings)
    if length > limit:
        raise _Refusal(
            413,
            f"The file is {_size_text(length)}, larger than the limit of {_size_text(limit)} "
            f"({limit} bytes)",
            headers={"Tus-Max-Size": str(limit)},
        )
    metadata = parse_metadata(headers.get("upload-metadata"))
    filename = _clean_filename(metadata.get("filename") or metadata.get("name"))
    declared = (
        metadata.get("filetype") or metadata.get("content_type") or metadata.get("type") or ""
    ).strip()[:255] or None
    purpose = metadata.get("purpose") or "report"
    if purpose not in PURPOSES:
        raise _Refusal(
            400,
            f"Upload-Metadata purpose {purpose[:40]!r} is unknown; use one of "
            + ", ".join(sorted(PURPOSES)),
        )
    principal = _principal(request, db, lenient=purpose in PUBLIC_PURPOSES)
    if purpose not in PUBLIC_PURPOSES and not principal.is_authenticated:
        raise _Refusal(403, f"Sign in to upload files for {purpose}")
    limiter = getattr(request.app.state, "upload_limiter", None)
    client = request.client.host if request.client else "unknown"
    if limiter is not None and not principal.is_authenticated and not limiter.allow(client):
        raise _Refusal(
            429,
            "Too many uploads from this address; try again later",
            headers={"Retry-After": str(limiter.retry_after(client))},
        )
    try:
        sniff.check_claims(declared, filename, PURPOSES[purpose])
    except sniff.UploadRefused as refused:
        raise _Refusal(415, refused.reason, title="This file is not accepted") from None
    token = headers.get("upload-token")
    if token is None:
        token = secrets.token_urlsafe(32)
    elif not _TOKEN.fullmatch(token):
        raise _Refusal(
            400, "An Upload-Token you choose must be 32 to 128 letters, digits, '-' or '_'"
        )
    now = utcnow()
    upload = Upload(
        id=new_id(),
        length=length,
        offset=0,
        upload_metadata=metadata,
        filename=filename,
        declared_type=declared,
        created_at=now,
        expires_at=now + upload_lifetime(settings),
        owner_token_hash=token_digest(token),
        organisation_id=principal.organisation_id,
        created_by_user_id=principal.user_id,
        purpose=purpose,
    )
    db.add(upload)
    # Commit before answering: the client's first PATCH may arrive before the request's own
    # transaction would otherwise be committed.
    db.commit()
    log.info("upload created", upload_id=upload.id, length=length, purpose=purpose)
    return Response(
        status_code=201,
        headers={
            "Location": f"{router.prefix}/{upload.id}",
            TOKEN_HEADER: token,
            "Upload-Offset": "0",
            **_expires_header(upload),
        },
    )


@router.post(
    "/",
    status_code=201,
    response_class=Response,
    responses={
        201: {"description": "Created: see the Location, Upload-Token and Upload-Expires headers"},
        **_problems(400, 413, 415),
    },
    openapi_extra={
        "parameters": [
            _TUS_RESUMABLE,
            _header(
                "Upload-Length",
                "The size of the whole file in bytes",
                required=True,
                type="integer",
                minimum=1,
            ),
            _header(
                "Upload-Metadata",
                "Comma-separated 'key base64value' pairs: filename, filetype, purpose",
            ),
            _header(
                "Upload-Token",
                "A secret of 32 to 128 letters, digits, '-' or '_' to use instead of a random one",
            ),
        ]
    },
)
def create_upload(request: Request, db: DB, settings: AppSettings) -> Response:
    """Create an upload (tus creation): ``Upload-Length`` and optional ``Upload-Metadata``."""
    return _create(request, db, settings)


@router.post("", status_code=201, response_class=Response, include_in_schema=False)
def create_upload_no_slash(request: Request, db: DB, settings: AppSettings) -> Response:
    return _create(request, db, settings)


@router.head("/{upload_id}", include_in_schema=False)
def upload_offset(upload_id: str, request: Request, db: DB, settings: AppSettings) -> Response:
    """How many bytes of the upload have arrived (tus core)."""
    upload = _lookup(request, db, upload_id)
    _refuse_if_expired(upload)
    offset = upload.offset
    if not upload.is_complete:
        offset = min(offset, _file_size(partial_path(settings, upload.id)))
    headers = {
        "Upload-Offset": str(offset),
        "Upload-Length": str(upload.length),
        "Cache-Control": "no-store",
        **_expires_header(upload),
    }
    if upload.upload_metadata:
        headers["Upload-Metadata"] = encode_metadata(upload.upload_metadata)
    return Response(status_code=200, headers=headers)


@router.get(
    "/{upload_id}",
    responses=_problems(404, 410),
    openapi_extra={"parameters": [_UPLOAD_TOKEN]},
)
def upload_summary(upload_id: str, request: Request, db: DB) -> JSONResponse:
    """The upload's size, progress, and once complete its SHA-256 and detected type."""
    upload = _lookup(request, db, upload_id)
    _refuse_if_expired(upload)
    return JSONResponse(
        {
            "id": upload.id,
            "size": upload.length,
            "offset": upload.offset,
            "sha256": upload.sha256,
            "content_type": upload.content_type,
            "kind": upload.kind,
            "filename": upload.filename,
            "purpose": upload.purpose,
            "complete": upload.is_complete,
            "expires_at": upload.expires_at.isoformat(),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.delete(
    "/{upload_id}",
    status_code=204,
    response_class=Response,
    responses=_problems(404, 423),
    openapi_extra={"parameters": [_TUS_RESUMABLE, _UPLOAD_TOKEN]},
)
def terminate_upload(upload_id: str, request: Request, db: DB, settings: AppSettings) -> Response:
    """Stop an upload and throw its bytes away (tus termination); a stored blob is kept."""
    upload = _lookup(request, db, upload_id)
    if not upload.is_complete and not _remove_partial(partial_path(settings, upload.id)):
        raise _Refusal(423, "A request is still sending bytes to this upload; try again shortly")
    db.delete(upload)
    db.commit()
    HASHES.drop(upload.id)
    log.info("upload terminated", upload_id=upload.id)
    return Response(status_code=204)


@router.patch(
    "/{upload_id}",
    status_code=204,
    response_class=Response,
    responses=_problems(400, 404, 409, 410, 413, 415, 423, 460),
    openapi_extra={
        "parameters": [
            _TUS_RESUMABLE,
            _UPLOAD_TOKEN,
            _header(
                "Upload-Offset",
                "Where these bytes go: the offset the server last reported",
                required=True,
                type="integer",
                minimum=0,
            ),
            _header("Upload-Checksum", "'sha1|sha256|md5 base64digest' of this request's bytes"),
        ],
    },
)
async def append_to_upload(
    upload_id: str, request: Request, db: DB, settings: AppSettings
) -> Response:
    """Append the body at ``Upload-Offset`` (tus core, with the checksum extension).

    The body is the file's next bytes, sent as ``Content-Type: application/offset+octet-stream``.
    """
    content_type = sniff.base_type(request.headers.get("content-type"))
    if content_type != OFFSET_OCTET_STREAM:
        raise _Refusal(415, f"Send the bytes with Content-Type: {OFFSET_OCTET_STREAM}")
    client_offset = _count(request.headers.get("upload-offset"), "Upload-Offset")
    assert client_offset is not None
    checksum = _parse_checksum(request.headers.get("upload-checksum"))
    body_length = _count(request.headers.get("content-length"), "Content-Length", False)

    upload = await run_in_threadpool(_lookup, request, db, upload_id)
    _refuse_if_expired(upload)
    # End the read transaction before taking the lock, so the row is read afresh under it.
    await run_in_threadpool(db.commit)
    path = partial_path(settings, upload.id)
    handle = await run_in_threadpool(_open_locked, path)
    assert handle is not None
    try:
        appender = _Appender(request, db, settings, upload, handle, path)
        return await appender.run(client_offset, checksum, body_length)
    finally:
        await run_in_threadpool(handle.close)


class _Appender:
    """One PATCH request, run while holding the partial file's lock."""

    def __init__(
        self,
        request: Request,
        db: Session,
        settings: Settings,
        upload: Upload,
        handle: BinaryIO,
        path: Path,
    ) -> None:
        self.request = request
        self.db = db
        self.settings = settings
        self.upload = upload
        self.handle = handle
        self.path = path

    async def run(
        self, client_offset: int, checksum: tuple[str, bytes] | None, body_length: int | None
    ) -> Response:
        upload = self.upload
        offset = await run_in_threadpool(self._reconcile)
        if offset != client_offset:
            raise _Refusal(
                409,
                f"Upload-Offset is {client_offset} but the upload has {offset} bytes; ask for "
                "the offset (HEAD) and resume from there",
                headers={"Upload-Offset": str(offset)},
            )
        if body_length is not None and offset + body_length > upload.length:
            raise self._too_large(offset)
        if upload.is_complete:  # nothing more to take; an empty PATCH just learns the offset
            async for chunk in self.request.stream():
                if chunk:
                    raise self._too_large(offset)
            return Response(
                status_code=204,
                headers={"Upload-Offset": str(offset), **_expires_header(upload)},
            )
        hasher = HASHES.take(upload.id, offset)
        if hasher is None:
            hasher = await run_in_threadpool(_hash_of_file, self.handle, offset)
        before = hasher.copy()
        check = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
        hashers = (hasher, check) if check is not None else (hasher,)

        needed = min(sniff.SNIFF_BYTES, upload.length) if upload.content_type is None else 0
        head = bytearray()
        verdict: sniff.Sniffed | None = None
        if needed and offset:
            head += await run_in_threadpool(_read_head, self.handle, min(offset, needed))
            if len(head) >= needed:
                verdict = await self._judge(head)
        await run_in_threadpool(self.handle.seek, offset)

        received = 0  # bytes written to the file by this request
        size = min(FLUSH_BYTES, upload.length - offset) or 1
        # Two fixed buffers: one fills from the network while the other is written and hashed
        # in a worker thread, so receiving and writing overlap. Writes stay in order.
        buffers = (memoryview(bytearray(size)), memoryview(bytearray(size)))
        current = 0
        filled = 0
        pending: asyncio.Future[None] | None = None
        disconnected = False

        async def settle() -> None:
            nonlocal pending
            if pending is not None:
                await pending
                pending = None

        try:
            async for chunk in self.request.stream():
                if not chunk:
                    continue
                if offset + received + filled + len(chunk) > upload.length:
                    await settle()
                    await run_in_threadpool(_truncate, self.handle, offset)
                    HASHES.put(upload.id, offset, before)
                    raise self._too_large(offset)
                if needed and verdict is None:
                    head += chunk[: needed - len(head)]
                    if len(head) >= needed:
                        verdict = await self._judge(head)
                rest = memoryview(chunk)
                while rest:
                    view = buffers[current]
                    take = min(len(rest), size - filled)
                    view[filled : filled + take] = rest[:take]
                    filled += take
                    rest = rest[take:]
                    if filled == size:
                        await settle()
                        pending = asyncio.ensure_future(
                            run_in_threadpool(_write, self.handle, view, hashers)
                        )
                        received += filled
                        filled = 0
                        current = 1 - current
        except ClientDisconnect:
            disconnected = True
        except BaseException:
            await settle()
            raise
        await settle()
        if filled:
            await run_in_threadpool(_write, self.handle, buffers[current][:filled], hashers)
            received += filled
        await run_in_threadpool(self.handle.flush)

        if (
            checksum is not None
            and check is not None
            and (disconnected or not hmac.compare_digest(check.digest(), checksum[1]))
        ):
            await run_in_threadpool(_truncate, self.handle, offset)
            HASHES.put(upload.id, offset, before)
            if disconnected:
                log.info("upload chunk dropped: connection lost", upload_id=upload.id)
                return Response(status_code=400)  # nobody is listening
            raise _Refusal(
                460,
                f"The {checksum[0]} checksum of the bytes received does not match "
                "Upload-Checksum; the chunk was discarded, send it again",
                title="Checksum Mismatch",
                headers={"Upload-Offset": str(offset)},
            )
        return await run_in_threadpool(self._commit, offset + received, hasher, verdict)

    def _too_large(self, offset: int) -> _Refusal:
        return _Refusal(
            413,
            f"The upload is {self.upload.length} bytes long and {offset} have arrived; this "
            "request sends more than the rest, so it was discarded",
            headers={"Upload-Offset": str(offset)},
        )

    def _reconcile(self) -> int:
        """Re-read the row under the lock and make the file and the offset agree."""
        upload = self.upload
        try:
            self.db.refresh(upload)
        except InvalidRequestError:  # deleted while we waited
            self.path.unlink(missing_ok=True)
            raise _not_found(upload.id) from None
        _refuse_if_expired(upload)
        if upload.is_complete:
            if os.fstat(self.handle.fileno()).st_size == 0:
                self.path.unlink(missing_ok=True)
            return upload.offset
        size = os.fstat(self.handle.fileno()).st_size
        offset = min(upload.offset, size)
        if size != offset:  # bytes written but never committed (a crash): drop them
            _truncate(self.handle, offset)
        if upload.offset != offset:  # committed bytes lost from disk: resume from what is there
            log.warning(
                "upload offset ahead of its file; resuming from the file",
                upload_id=upload.id,
                offset=upload.offset,
                on_disk=size,
            )
            upload.offset = offset
            HASHES.drop(upload.id)
        # End the transaction before the body streams in: on SQLite an open write
        # transaction would hold the database's only write lock for the whole upload.
        self.db.commit()
        return offset

    async def _judge(self, head: bytearray) -> sniff.Sniffed:
        """Check the first bytes; a refused file answers 415 and the upload is deleted."""
        upload = self.upload
        allowed = PURPOSES.get(upload.purpose, sniff.REPORT_KINDS)
        try:
            return sniff.check_declared(
                sniff.sniff(bytes(head)), upload.declared_type, upload.filename, allowed
            )
        except sniff.UploadRefused as refused:
            await run_in_threadpool(self._discard)
            log.info("upload refused", upload_id=upload.id, reason=refused.reason)
            raise _Refusal(415, refused.reason, title="This file is not accepted") from None

    def _discard(self) -> None:
        _truncate(self.handle, 0)
        self.path.unlink(missing_ok=True)
        self.db.delete(self.upload)
        self.db.commit()
        HASHES.drop(self.upload.id)

    def _commit(self, new_offset: int, hasher: Hasher, verdict: sniff.Sniffed | None) -> Response:
        """Record the new offset (after the bytes are on disk) and finish a complete upload."""
        upload = self.upload
        now = utcnow()
        if verdict is not None:
            upload.content_type = verdict.content_type
            upload.kind = verdict.kind
        upload.offset = new_offset
        complete = new_offset == upload.length
        if complete:
            sha256 = hasher.hexdigest()
            store: BlobStore = self.request.app.state.blobs
            _publish(self.handle, self.path, store, sha256)
            upload.sha256 = sha256
            upload.completed_at = now
            upload.expires_at = now + upload_lifetime(self.settings)
        else:
            upload.expires_at = max(upload.expires_at, now + upload_lifetime(self.settings))
        self.db.commit()
        if complete:
            HASHES.drop(upload.id)
            log.info(
                "upload complete", upload_id=upload.id, length=upload.length, sha256=upload.sha256
            )
        else:
            HASHES.put(upload.id, new_offset, hasher)
        return Response(
            status_code=204,
            headers={"Upload-Offset": str(new_offset), **_expires_header(upload)},
        )


# --- for callers --------------------------------------------------------------------------


def completed_upload(
    session: Session,
    upload_id: str,
    token: str | None,
    *,
    principal: Principal | None = None,
    field: str = "upload",
) -> Upload:
    """The finished upload a form or API call names, or :class:`UploadUnavailable` saying why.

    ``token`` is the upload's secret (``Upload-Token``); a signed-in ``principal`` of the
    organisation that created the upload may pass ``token=None``. ``field`` names the form
    field in the error.
    """
    upload = (
        session.get(Upload, upload_id)
        if isinstance(upload_id, str) and _ID.fullmatch(upload_id)
        else None
    )
    if upload is None or not _may_use(upload, token, principal):
        raise UploadUnavailable(
            "No upload with this id and token was found; upload the file again", field
        )
    if upload.expires_at <= utcnow():
        raise UploadUnavailable("The upload has expired; upload the file again", field)
    if not upload.is_complete or upload.sha256 is None:
        raise UploadUnavailable(
            f"The upload is not finished: {upload.offset} of {upload.length} bytes have arrived",
            field,
        )
    return upload


def purge_expired_uploads(
    session: Session,
    settings: Settings,
    *,
    now: datetime | None = None,
    include_completed: bool = False,
) -> int:
    """Delete expired unfinished uploads and their partial files; returns how many.

    Uploads a request is writing to right now are skipped (the next run gets them). With
    ``include_completed`` the rows of expired finished uploads go too (never their blobs,
    which other records may hold). Partial files whose upload row no longer exists and that
    have not changed for an upload lifetime are removed as well. The caller commits.
    """
    now = now or utcnow()
    query = select(Upload).where(Upload.expires_at <= now)
    if not include_completed:
        query = query.where(Upload.completed_at.is_(None))
    purged = 0
    for upload in session.scalars(query).all():
        if not upload.is_complete and not _remove_partial(partial_path(settings, upload.id)):
            continue
        session.delete(upload)
        HASHES.drop(upload.id)
        purged += 1
    session.flush()
    folder = uploads_dir(settings)
    if folder.is_dir():
        stale_before = (now - upload_lifetime(settings)).timestamp()
        for entry in folder.glob("*.part"):
            if not _ID.fullmatch(entry.stem):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < stale_before and session.get(Upload, entry.stem) is None:
                    _remove_partial(entry)
    if purged:
        log.info("expired uploads purged", count=purged)
    return purged
