"""The tus 1.0.0 upload server: protocol, limits, content checks, tokens, expiry, tuspy."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import random
import secrets
import struct
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from peel.app import ROUTERS, create_app
from peel.core import migrate, service, uploads
from peel.core.blobstore import LocalBlobStore
from peel.core.config import Environment, Settings
from peel.core.db import build_engine, utcnow
from peel.core.events import InMemoryEventBus
from peel.core.jobs import JobRunner
from peel.core.schemas import ApiClientCreate
from peel.core.upload_models import Upload
from peel.core.uploads import (
    HASHES,
    UploadUnavailable,
    completed_upload,
    partial_path,
    purge_expired_uploads,
)
from tests.conftest import (
    BOOTSTRAP,
    World,
    _worker,
    csrf_of,
    database_url_for,
    drop_postgres_database,
    free_port,
    sign_in,
)

KiB = 1 << 10
MiB = 1 << 20
LIMIT = 48 * MiB
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


class UploadSettings(Settings):
    """Settings with a small upload limit (declared here too, so the tests never depend on
    whether ``Settings`` itself has these fields yet)."""

    upload_max_bytes: int = LIMIT
    upload_expiry_hours: float = 24


def mp4_file(size: int, seed: int = 1) -> bytes:
    """An MP4-headed file (ftyp box, then an mdat box of random bytes)."""
    box = b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    mdat = struct.pack(">I", size - len(box)) + b"mdat"
    return box + mdat + random.Random(seed).randbytes(size - len(box) - len(mdat))


def zip_file() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bomb.txt", b"0" * 100_000)
    return buffer.getvalue()


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 2, 0x3E, 1) + b"\x00" * 200


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def metadata(**values: str) -> str:
    return ",".join(f"{key} {b64(value)}" for key, value in values.items())


# --- fixtures -----------------------------------------------------------------------------


def with_uploads(app: FastAPI) -> FastAPI:
    """Serve the upload routes even if ``create_app`` does not include them (yet)."""
    if uploads.router not in ROUTERS:
        app.include_router(uploads.router)
    return app


@pytest.fixture(autouse=True)
def _fresh_hashes() -> Iterator[None]:
    HASHES.clear()
    yield
    HASHES.clear()


@pytest.fixture
def upload_settings(tmp_path: Path) -> UploadSettings:
    return UploadSettings(env=Environment.test, data_dir=tmp_path / "var", log_level="WARNING")


@pytest.fixture
def tus_app(
    upload_settings: UploadSettings, sessions: sessionmaker[Session], connection: Connection
) -> FastAPI:
    Upload.__table__.create(connection, checkfirst=True)  # type: ignore[attr-defined]
    app = create_app(
        upload_settings,
        sessions=sessions,
        jobs=JobRunner(sessions, inline=True),
        events=InMemoryEventBus(),
    )
    return with_uploads(app)


@pytest.fixture
def tus(tus_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(tus_app, base_url="http://testserver") as test_client:
        yield test_client


class Created:
    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 201, response.text
        self.url: str = response.headers["location"]
        self.token: str = response.headers["upload-token"]
        self.id = self.url.rsplit("/", 1)[1]
        self.response = response

    @property
    def auth(self) -> dict[str, str]:
        return {**TUS, "Upload-Token": self.token}


def create(
    client: TestClient, length: int, meta: str | None = None, **headers: str
) -> httpx.Response:
    sent = {**TUS, "Upload-Length": str(length), **headers}
    if meta is not None:
        sent["Upload-Metadata"] = meta
    return client.post("/api/v1/uploads/", headers=sent)


def start(client: TestClient, data: bytes, **meta: str) -> Created:
    return Created(create(client, len(data), metadata(**(meta or {"filename": "clip.mp4"}))))


def patch(
    client: TestClient, upload: Created, offset: int, body: Any, **headers: str
) -> httpx.Response:
    return client.patch(
        upload.url,
        content=body,
        headers={
            **upload.auth,
            "Upload-Offset": str(offset),
            "Content-Type": OCTETS,
            **headers,
        },
    )


def head(client: TestClient, upload: Created) -> httpx.Response:
    return client.head(upload.url, headers=upload.auth)


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


# --- the protocol -------------------------------------------------------------------------


def test_options_advertises_the_protocol(tus: TestClient) -> None:
    response = tus.options("/api/v1/uploads/")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["tus-extension"] == "creation,termination,checksum,expiration"
    assert response.headers["tus-max-size"] == str(LIMIT)
    assert set(response.headers["tus-checksum-algorithm"].split(",")) == {"sha1", "sha256", "md5"}


def test_other_protocol_versions_get_412(tus: TestClient) -> None:
    missing = tus.post("/api/v1/uploads/", headers={"Upload-Length": "10"})
    assert missing.status_code == 412
    assert missing.headers["tus-version"] == "1.0.0"
    assert missing.headers["tus-resumable"] == "1.0.0"
    assert missing.headers["content-type"] == "application/problem+json"
    assert "Tus-Resumable: 1.0.0" in missing.json()["detail"]
    other = tus.head("/api/v1/uploads/" + "a" * 32, headers={"Tus-Resumable": "0.2.2"})
    assert other.status_code == 412


def test_create_then_send_three_chunks_then_read_the_summary(
    tus: TestClient, tus_app: FastAPI, upload_settings: Settings
) -> None:
    data = mp4_file(3 * 100_000 + 17)
    response = create(tus, len(data), metadata(filename="clip.mp4", filetype="video/mp4", note=""))
    upload = Created(response)
    assert upload.url == f"/api/v1/uploads/{upload.id}" and len(upload.id) == 32
    assert response.headers["tus-resumable"] == "1.0.0"
    assert len(upload.token) >= 32
    expires = parsedate_to_datetime(response.headers["upload-expires"])
    assert timedelta(hours=23) < expires - utcnow() <= timedelta(hours=24)

    status = head(tus, upload)
    assert status.status_code == 200
    assert status.headers["upload-offset"] == "0"
    assert status.headers["upload-length"] == str(len(data))
    assert status.headers["cache-control"] == "no-store"
    assert "upload-expires" in status.headers
    assert "filename " + b64("clip.mp4") in status.headers["upload-metadata"]

    offset = 0
    for piece in (data[:100_000], data[100_000:200_000], data[200_000:]):
        sent = patch(tus, upload, offset, piece)
        assert sent.status_code == 204, sent.text
        offset += len(piece)
        assert sent.headers["upload-offset"] == str(offset)
        assert sent.headers["tus-resumable"] == "1.0.0"
        assert "upload-expires" in sent.headers

    summary = tus.get(upload.url, headers={"Accept": "application/json", **upload.auth}).json()
    sha256 = hashlib.sha256(data).hexdigest()
    assert summary["id"] == upload.id
    assert summary["size"] == summary["offset"] == len(data)
    assert summary["sha256"] == sha256
    assert summary["content_type"] == "video/mp4" and summary["kind"] == "video"
    assert summary["complete"] is True
    store = tus_app.state.blobs
    assert isinstance(store, LocalBlobStore)
    assert store.path_for(sha256).read_bytes() == data
    assert not partial_path(upload_settings, upload.id).exists()
    assert head(tus, upload).headers["upload-offset"] == str(len(data))
    # An empty PATCH at the end just confirms the offset; more bytes are refused.
    assert patch(tus, upload, len(data), b"").status_code == 204
    assert patch(tus, upload, len(data), b"x").status_code == 413


def test_the_summary_has_no_sha256_until_complete(tus: TestClient) -> None:
    data = mp4_file(10_000)
    upload = start(tus, data)
    assert patch(tus, upload, 0, data[:5000]).status_code == 204
    summary = tus.get(upload.url, headers=upload.auth).json()
    assert summary["sha256"] is None and summary["offset"] == 5000
    assert summary["content_type"] == "video/mp4"


def test_a_wrong_offset_is_a_conflict(tus: TestClient) -> None:
    data = mp4_file(10_000)
    upload = start(tus, data)
    assert patch(tus, upload, 0, data[:5000]).status_code == 204
    conflict = patch(tus, upload, 4000, data[4000:])
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert head(tus, upload).headers["upload-offset"] == "5000"
    assert patch(tus, upload, 5000, data[5000:]).status_code == 204


def test_a_checksum_mismatch_discards_the_chunk(tus: TestClient, upload_settings: Settings) -> None:
    data = mp4_file(20_000)
    upload = start(tus, data)
    first = patch(tus, upload, 0, data[:8000], **{"Upload-Checksum": checksum("sha1", data[:8000])})
    assert first.status_code == 204
    wrong = patch(
        tus, upload, 8000, data[8000:], **{"Upload-Checksum": checksum("sha256", b"other")}
    )
    assert wrong.status_code == 460
    assert wrong.json()["title"] == "Checksum Mismatch"
    assert head(tus, upload).headers["upload-offset"] == "8000"
    assert partial_path(upload_settings, upload.id).stat().st_size == 8000
    unsupported = patch(tus, upload, 8000, data[8000:], **{"Upload-Checksum": "crc32 AAAA"})
    assert unsupported.status_code == 400
    right = patch(
        tus, upload, 8000, data[8000:], **{"Upload-Checksum": checksum("md5", data[8000:])}
    )
    assert right.status_code == 204
    summary = tus.get(upload.url, headers=upload.auth).json()
    assert summary["sha256"] == hashlib.sha256(data).hexdigest()


def test_size_limits(tus: TestClient, upload_settings: Settings) -> None:
    too_big = create(tus, LIMIT + 1)
    assert too_big.status_code == 413
    assert "8 MiB" in too_big.json()["detail"] and str(LIMIT) in too_big.json()["detail"]
    data = mp4_file(10_000)
    upload = start(tus, data)
    assert patch(tus, upload, 0, data[:6000]).status_code == 204
    # Declared too long by Content-Length: refused before reading.
    assert patch(tus, upload, 6000, data[6000:] + b"extra").status_code == 413
    # Streamed without a length: refused when the excess arrives, and the chunk discarded.

    def chunks() -> Iterator[bytes]:
        yield data[6000:9000]
        yield data[9000:] + b"extra"

    streamed = patch(tus, upload, 6000, chunks())
    assert streamed.status_code == 413
    assert head(tus, upload).headers["upload-offset"] == "6000"
    assert partial_path(upload_settings, upload.id).stat().st_size == 6000
    assert patch(tus, upload, 6000, data[6000:]).status_code == 204
    assert tus.get(upload.url, headers=upload.auth).json()["sha256"] == (
        hashlib.sha256(data).hexdigest()
    )


def test_bad_creation_requests(tus: TestClient) -> None:
    empty = create(tus, 0)
    assert empty.status_code == 400 and empty.json()["detail"] == "The file is empty"
    assert create(tus, 10, **{"Upload-Length": "ten"}).status_code == 400
    no_length = tus.post("/api/v1/uploads/", headers=TUS)
    assert no_length.status_code == 400 and "Upload-Length" in no_length.json()["detail"]
    bad_base64 = create(tus, 10, "filename !!notbase64!!")
    assert bad_base64.status_code == 400 and "'filename'" in bad_base64.json()["detail"]
    assert create(tus, 10, "a " + b64("x") + ",a " + b64("y")).status_code == 400
    assert create(tus, 10, "a b c").status_code == 400
    assert create(tus, 10, "filename " + b64("x") + ",,").status_code == 400
    assert create(tus, 10, metadata(purpose="gossip")).status_code == 400
    weak = create(tus, 10, **{"Upload-Token": "short"})
    assert weak.status_code == 400 and "Upload-Token" in weak.json()["detail"]
    ok = create(tus, 10, "flag")  # a key without a value is allowed
    assert ok.status_code == 201


def test_wrong_content_type_on_patch_is_415(tus: TestClient) -> None:
    data = mp4_file(5000)
    upload = start(tus, data)
    response = tus.patch(
        upload.url,
        content=data,
        headers={**upload.auth, "Upload-Offset": "0", "Content-Type": "video/mp4"},
    )
    assert response.status_code == 415


# --- content checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "meta", "reason"),
    [
        (ELF, {"filename": "photo.jpg"}, "program"),
        (zip_file(), {"filename": "photos"}, "ZIP archive"),
        (mp4_file(50_000), {"filename": "photo.jpg", "filetype": "image/jpeg"}, "video"),
        (b"\x00\x01\x02\x03" * 2000, {"filename": "clip.mp4"}, "could not recognise"),
    ],
)
def test_refused_content_is_415_and_the_upload_is_deleted(
    tus: TestClient,
    upload_settings: Settings,
    data: bytes,
    meta: dict[str, str],
    reason: str,
) -> None:
    upload = Created(create(tus, len(data), metadata(**meta)))
    refused = patch(tus, upload, 0, data)
    assert refused.status_code == 415, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert reason in refused.json()["detail"]
    assert head(tus, upload).status_code == 404
    assert not partial_path(upload_settings, upload.id).exists()


def test_the_first_bytes_are_checked_once_enough_have_arrived(tus: TestClient) -> None:
    data = zip_file()
    upload = Created(create(tus, len(data), metadata(filename="holiday.mp4")))
    assert patch(tus, upload, 0, data[:100]).status_code == 204  # too few bytes to judge
    refused = patch(tus, upload, 100, data[100:])
    assert refused.status_code == 415 and "ZIP" in refused.json()["detail"]


def test_names_and_types_already_refused_at_creation(tus: TestClient) -> None:
    exe = create(tus, 1000, metadata(filename="invoice.pdf.exe"))
    assert exe.status_code == 415 and ".exe" in exe.json()["detail"]
    html = create(tus, 1000, metadata(filename="x", filetype="text/html"))
    assert html.status_code == 415
    pdf = create(tus, 1000, metadata(filename="statement.pdf"))
    assert pdf.status_code == 415 and "photo or video" in pdf.json()["detail"]


# --- who may touch an upload --------------------------------------------------------------


def test_a_missing_or_wrong_token_looks_like_a_missing_upload(tus: TestClient) -> None:
    data = mp4_file(5000)
    upload = start(tus, data)
    other = start(tus, data)
    nowhere = tus.head("/api/v1/uploads/" + "0" * 32, headers=upload.auth)
    assert nowhere.status_code == 404
    for headers in (TUS, {**TUS, "Upload-Token": "x" * 43}, other.auth):
        assert tus.head(upload.url, headers=headers).status_code == 404
        assert tus.get(upload.url, headers=headers).status_code == 404
        assert tus.delete(upload.url, headers=headers).status_code == 404
        sent = tus.patch(
            upload.url,
            content=data,
            headers={**headers, "Upload-Offset": "0", "Content-Type": OCTETS},
        )
        assert sent.status_code == 404
    assert tus.get("/api/v1/uploads/../../etc", headers=upload.auth).status_code == 404
    assert head(tus, upload).headers["upload-offset"] == "0"


def test_a_client_may_choose_its_own_token(tus: TestClient) -> None:
    token = secrets.token_urlsafe(32)
    data = mp4_file(5000)
    upload = Created(create(tus, len(data), metadata(filename="a.mp4"), **{"Upload-Token": token}))
    assert upload.token == token
    assert patch(tus, upload, 0, data).status_code == 204


def test_signed_in_callers_of_the_same_organisation_need_no_token(
    tus: TestClient, world: World
) -> None:
    _, force_token = service.create_api_client(
        world.db, BOOTSTRAP, ApiClientCreate(name="evidence app", organisation="test-force")
    )
    _, council_token = service.create_api_client(
        world.db, BOOTSTRAP, ApiClientCreate(name="council app", organisation="test-council")
    )
    world.db.commit()
    force = {**TUS, "Authorization": f"Bearer {force_token}"}
    council = {**TUS, "Authorization": f"Bearer {council_token}"}
    pdf = b"%PDF-1.7\n" + b"0" * 5000
    meta = metadata(filename="statement.pdf", filetype="application/pdf", purpose="evidence")
    anonymous = create(tus, len(pdf), meta)
    assert anonymous.status_code == 403
    upload = Created(
        tus.post(
            "/api/v1/uploads/",
            headers={**force, "Upload-Length": str(len(pdf)), "Upload-Metadata": meta},
        )
    )
    sent = tus.patch(
        upload.url, content=pdf, headers={**force, "Upload-Offset": "0", "Content-Type": OCTETS}
    )
    assert sent.status_code == 204
    assert tus.get(upload.url, headers=force).json()["content_type"] == "application/pdf"
    assert tus.get(upload.url, headers=council).status_code == 404
    stored = world.db.get(Upload, upload.id)
    assert stored is not None and stored.organisation_id == world.orgs["force"].id
    assert completed_upload(world.db, upload.id, None, principal=world.principal("officer"))
    with pytest.raises(UploadUnavailable):
        completed_upload(world.db, upload.id, None, principal=world.principal("social"))
    bad = tus.head(upload.url, headers={**TUS, "Authorization": "Bearer nonsense"})
    assert bad.status_code == 401 and bad.headers["tus-resumable"] == "1.0.0"


def test_a_signed_in_browser_without_the_csrf_header_acts_as_the_public(
    tus: TestClient, world: World
) -> None:
    assert sign_in(tus, "officer@force.example").status_code == 303
    report = Created(create(tus, 5000, metadata(filename="a.mp4")))
    row = world.db.get(Upload, report.id)
    assert row is not None and row.organisation_id is None
    evidence = metadata(filename="a.mp4", purpose="evidence")
    refused = create(tus, 5000, evidence)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    token = csrf_of(tus.get("/login").text)
    allowed = Created(create(tus, 5000, evidence, **{"X-CSRF-Token": token}))
    row = world.db.get(Upload, allowed.id)
    assert row is not None and row.organisation_id == world.orgs["force"].id
    assert row.created_by_user_id == world.users["officer"].id


# --- termination and expiry ---------------------------------------------------------------


def test_termination(tus: TestClient, tus_app: FastAPI, upload_settings: Settings) -> None:
    data = mp4_file(20_000)
    upload = start(tus, data)
    assert patch(tus, upload, 0, data[:10_000]).status_code == 204
    assert partial_path(upload_settings, upload.id).exists()
    gone = tus.delete(upload.url, headers=upload.auth)
    assert gone.status_code == 204 and gone.headers["tus-resumable"] == "1.0.0"
    assert not partial_path(upload_settings, upload.id).exists()
    assert head(tus, upload).status_code == 404
    # Terminating a finished upload forgets it but keeps the stored blob.
    done = start(tus, data)
    assert patch(tus, done, 0, data).status_code == 204
    assert tus.delete(done.url, headers=done.auth).status_code == 204
    assert tus_app.state.blobs.exists(hashlib.sha256(data).hexdigest())
    assert head(tus, done).status_code == 404


def test_expired_uploads_answer_410_and_are_purged(
    tus: TestClient, db: Session, upload_settings: Settings
) -> None:
    data = mp4_file(20_000)
    stale = start(tus, data)
    fresh = start(tus, data)
    finished = start(tus, data)
    assert patch(tus, stale, 0, data[:10_000]).status_code == 204
    assert patch(tus, finished, 0, data).status_code == 204
    for upload in (stale, finished):
        row = db.get(Upload, upload.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(minutes=1)
    db.commit()
    assert head(tus, stale).status_code == 410
    assert patch(tus, stale, 10_000, data[10_000:]).status_code == 410
    assert tus.get(stale.url, headers=stale.auth).status_code == 410
    with pytest.raises(UploadUnavailable, match="expired"):
        completed_upload(db, finished.id, finished.token)
    orphan = partial_path(upload_settings, "f" * 32)
    orphan.write_bytes(b"left behind")
    old = time.time() - 2 * 86400
    os.utime(orphan, (old, old))

    assert purge_expired_uploads(db, upload_settings) == 1
    db.commit()
    assert db.get(Upload, stale.id) is None
    assert not partial_path(upload_settings, stale.id).exists()
    assert not orphan.exists()
    assert db.get(Upload, finished.id) is not None  # finished rows stay unless asked
    assert head(tus, fresh).status_code == 200
    assert purge_expired_uploads(db, upload_settings, include_completed=True) == 1


def test_completed_upload_explains_what_is_wrong(tus: TestClient, db: Session) -> None:
    data = mp4_file(20_000)
    upload = start(tus, data, filename="clip.mp4", filetype="video/mp4")
    with pytest.raises(UploadUnavailable, match="not finished: 0 of 20000"):
        completed_upload(db, upload.id, upload.token)
    assert patch(tus, upload, 0, data).status_code == 204
    db.expire_all()
    done = completed_upload(db, upload.id, upload.token)
    assert done.sha256 == hashlib.sha256(data).hexdigest()
    assert (done.filename, done.declared_type, done.kind) == ("clip.mp4", "video/mp4", "video")
    for upload_id, token in ((upload.id, "wrong" * 10), (upload.id, None), ("nope", upload.token)):
        with pytest.raises(UploadUnavailable, match="No upload") as refused:
            completed_upload(db, upload_id, token, field="uploads[0]")
        assert refused.value.errors == {"uploads[0]": str(refused.value)}
        assert isinstance(refused.value, LookupError)


# --- resuming -----------------------------------------------------------------------------


def test_the_hash_is_rebuilt_when_the_process_forgot_it(tus: TestClient) -> None:
    data = mp4_file(50_000)
    upload = start(tus, data)
    assert patch(tus, upload, 0, data[:20_000]).status_code == 204
    HASHES.clear()  # as after a restart
    assert patch(tus, upload, 20_000, data[20_000:]).status_code == 204
    assert tus.get(upload.url, headers=upload.auth).json()["sha256"] == (
        hashlib.sha256(data).hexdigest()
    )


def asgi_patch(
    app: FastAPI,
    upload: Created,
    body: Iterator[bytes],
    declared: int,
    offset: int = 0,
    drop: bool = False,
    extra: dict[str, str] | None = None,
) -> int:
    """PATCH straight through the ASGI app, body pieces made on demand; returns the status.

    With ``drop`` the connection is lost after the last piece, as when a phone loses signal.
    """
    headers = {
        "host": "testserver",
        "tus-resumable": "1.0.0",
        "upload-token": upload.token,
        "upload-offset": str(offset),
        "content-type": OCTETS,
        "content-length": str(declared),
        **(extra or {}),
    }
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": upload.url,
        "raw_path": upload.url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    pieces = iter(body)
    pending = next(pieces, None)
    status = {"code": 0}

    async def receive() -> dict[str, Any]:
        nonlocal pending
        if pending is None:
            return {"type": "http.disconnect"}
        piece, pending = pending, next(pieces, None)
        return {"type": "http.request", "body": piece, "more_body": drop or pending is not None}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return status["code"]


def test_a_dropped_connection_keeps_what_arrived(tus: TestClient, tus_app: FastAPI) -> None:
    data = mp4_file(600_000)
    upload = start(tus, data)
    asgi_patch(tus_app, upload, iter([data[:3000], data[3000:250_000]]), len(data), drop=True)
    status = head(tus, upload)
    assert status.headers["upload-offset"] == "250000"
    assert patch(tus, upload, 250_000, data[250_000:]).status_code == 204
    assert tus.get(upload.url, headers=upload.auth).json()["sha256"] == (
        hashlib.sha256(data).hexdigest()
    )


def test_a_dropped_connection_with_a_checksum_keeps_nothing(
    tus: TestClient, tus_app: FastAPI
) -> None:
    data = mp4_file(600_000)
    upload = start(tus, data)
    whole = {"upload-checksum": checksum("sha1", data)}
    asgi_patch(tus_app, upload, iter([data[:200_000]]), len(data), drop=True, extra=whole)
    assert head(tus, upload).headers["upload-offset"] == "0"


def test_a_large_chunk_streams_to_disk_in_constant_memory(
    tus: TestClient, tus_app: FastAPI
) -> None:
    bound = 2 * uploads.FLUSH_BYTES + MiB  # two fixed buffers and small change
    size = 4 * bound
    head_bytes = mp4_file(64 * KiB)
    piece = random.Random(3).randbytes(64 * KiB)
    upload = Created(create(tus, size, metadata(filename="long.mp4")))

    def body() -> Iterator[bytes]:
        yield head_bytes
        for _ in range(size // len(piece) - 1):
            yield piece

    expected = hashlib.sha256(head_bytes)
    for _ in range(size // len(piece) - 1):
        expected.update(piece)
    tracemalloc.start()
    try:
        status = asgi_patch(tus_app, upload, body(), size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 204
    assert peak < bound, f"a {size} byte PATCH peaked at {peak} bytes of Python memory"
    summary = tus.get(upload.url, headers=upload.auth).json()
    assert summary["sha256"] == expected.hexdigest()


def test_a_second_writer_is_told_to_wait(tus: TestClient, upload_settings: Settings) -> None:
    data = mp4_file(20_000)
    upload = start(tus, data)
    holder = uploads._open_locked(partial_path(upload_settings, upload.id))
    assert holder is not None
    try:
        assert patch(tus, upload, 0, data).status_code == 423
        assert tus.delete(upload.url, headers=upload.auth).status_code == 423
    finally:
        holder.close()
    assert patch(tus, upload, 0, data).status_code == 204


# --- the real tuspy client against a real server ------------------------------------------


@pytest.fixture
def tus_server(backend: str, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    url = database_url_for(backend, tmp_path, "tus")
    settings = UploadSettings(
        env=Environment.test, data_dir=tmp_path / "var", database_url=url, log_level="WARNING"
    )
    engine = build_engine(url)
    migrate.upgrade(engine)
    Upload.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]
    app = with_uploads(create_app(settings))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the upload test server did not start"
    yield f"http://127.0.0.1:{port}", settings
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
    if backend == "postgresql":
        drop_postgres_database(f"peel_tus_{_worker()}")


def test_tuspy_resumes_an_interrupted_upload(
    tus_server: tuple[str, Settings], tmp_path: Path
) -> None:
    from tusclient.client import TusClient

    base, settings = tus_server
    data = mp4_file(3 * MiB + 12_345, seed=7)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    token = secrets.token_urlsafe(32)
    client = TusClient(base + "/api/v1/uploads/", headers={"Upload-Token": token})
    chunk = 256 * KiB
    meta = {"filename": "clip.mp4", "filetype": "video/mp4"}

    first = client.uploader(
        file_path=str(path), chunk_size=chunk, metadata=meta, upload_checksum=True
    )
    first.upload_chunk()
    first.upload_chunk()  # ...and then the phone loses signal
    assert first.offset == 2 * chunk
    stored_url = str(first.url)
    assert stored_url.startswith(base + "/api/v1/uploads/")

    second = client.uploader(
        file_path=str(path), url=stored_url, chunk_size=chunk, upload_checksum=True
    )
    assert second.offset == 2 * chunk  # learnt from the server (HEAD)
    second.upload()
    assert second.offset == len(data)

    summary = httpx.get(stored_url, headers={"Upload-Token": token}).json()
    sha256 = hashlib.sha256(data).hexdigest()
    assert summary["sha256"] == sha256 and summary["offset"] == len(data)
    assert summary["content_type"] == "video/mp4"
    assert LocalBlobStore(settings.blob_dir).path_for(sha256).read_bytes() == data
