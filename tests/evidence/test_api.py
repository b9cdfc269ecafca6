"""/api/v1/evidence end to end with a bearer token: upload, case, download, proofs, sharing."""

from __future__ import annotations

import base64
import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from peel.core import service as core_service
from peel.core.enums import Role
from peel.core.identity import principal_for_user
from peel.core.models import AuditEvent
from peel.core.schemas import ApiClientCreate
from peel.evidence import merkle
from peel.evidence.signing import SignedTreeHead, verify_tree_head
from tests.conftest import World, make_user, png_bytes

TUS = {"Tus-Resumable": "1.0.0"}


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _token(world: World, admin: str, roles: list[Role]) -> dict[str, str]:
    _, token = core_service.create_api_client(
        world.db, world.principal(admin), ApiClientCreate(name=f"{admin} system", roles=roles)
    )
    world.db.commit()
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def force(world: World) -> dict[str, str]:
    return _token(world, "force_admin", [Role.officer, Role.supervisor])


def _upload(client: TestClient, headers: dict[str, str], data: bytes, name: str) -> str:
    meta = f"filename {_b64(name)},filetype {_b64('image/png')},purpose {_b64('evidence')}"
    made = client.post(
        "/api/v1/uploads/",
        headers={**TUS, **headers, "Upload-Length": str(len(data)), "Upload-Metadata": meta},
    )
    assert made.status_code == 201, made.text
    url = made.headers["location"]
    sent = client.patch(
        url,
        content=data,
        headers={
            **TUS,
            **headers,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert sent.status_code == 204, sent.text
    return url.rsplit("/", 1)[1]


def test_case_upload_download_and_proofs(client: TestClient, world: World, force):
    case = client.post("/api/v1/evidence/cases", json={"title": "Theft from a van"}, headers=force)
    assert case.status_code == 201, case.text
    reference = case.json()["reference"]
    data = png_bytes(6, 6)
    upload_id = _upload(client, force, data, "van.png")
    item = client.post(
        f"/api/v1/evidence/cases/{reference}/items", json={"upload_id": upload_id}, headers=force
    )
    assert item.status_code == 201, item.text
    body = item.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["kind"] == "image" and body["name"] == "van.png"
    again = client.post(
        f"/api/v1/evidence/cases/{reference}/items", json={"upload_id": upload_id}, headers=force
    )
    assert again.json()["id"] == body["id"]  # a retried request adds nothing

    described = client.get(f"/api/v1/evidence/items/{body['id']}", headers=force).json()
    assert described["capture"]["width"] == 6
    assert described["preview_status"] == "original"

    got = client.get(f"/api/v1/evidence/items/{body['id']}/content", headers=force)
    assert got.status_code == 200 and got.content == data
    audited = world.db.scalars(
        select(AuditEvent.action).where(AuditEvent.record_id == body["id"])
    ).all()
    assert "evidence_item.downloaded" in audited

    events = client.get(f"/api/v1/evidence/items/{body['id']}/custody", headers=force).json()
    kinds = [e["kind"] for e in events]
    assert kinds[:1] == ["received"] and "downloaded" in kinds and "preview" in kinds

    published = client.post("/api/v1/evidence/log/heads", headers=force)
    assert published.status_code == 201
    head = published.json()
    key = client.get("/api/v1/evidence/log/key")
    assert key.status_code == 200 and key.headers["x-peel-key-id"] == head["key_id"]
    sth = SignedTreeHead.from_json(head)
    assert verify_tree_head(sth, key.text.encode())
    for event in events:
        proof = client.get(
            "/api/v1/evidence/log/proof/inclusion",
            params={"index": event["index"], "tree_size": head["tree_size"]},
            headers=force,
        ).json()
        assert proof["root_hash"] == head["root_hash"]
        assert merkle.leaf_hash(event["entry"].encode()).hex() == proof["leaf_hash"]
        assert merkle.verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            event["index"],
            head["tree_size"],
            [bytes.fromhex(p) for p in proof["proof"]],
            bytes.fromhex(head["root_hash"]),
        )
    too_big = client.get(
        "/api/v1/evidence/log/proof/inclusion",
        params={"index": 0, "tree_size": head["tree_size"] + 100},
        headers=force,
    )
    assert too_big.status_code == 422
    consistency = client.get(
        "/api/v1/evidence/log/proof/consistency",
        params={"first": 1, "second": head["tree_size"]},
        headers=force,
    ).json()
    assert merkle.verify_consistency(
        1,
        head["tree_size"],
        bytes.fromhex(consistency["first_root"]),
        bytes.fromhex(head["root_hash"]),
        [bytes.fromhex(p) for p in consistency["proof"]],
    )


def test_another_organisation_gets_404_until_shared(client: TestClient, world: World, force):
    colleague = _token(world, "force_admin", [Role.officer])  # another system of the force
    case = client.post("/api/v1/evidence/cases", json={"title": "Robbery case"}, headers=force)
    reference = case.json()["reference"]
    upload_id = _upload(client, force, png_bytes(3, 3), "a.png")
    item_id = client.post(
        f"/api/v1/evidence/cases/{reference}/items", json={"upload_id": upload_id}, headers=force
    ).json()["id"]
    assert client.get(f"/api/v1/evidence/items/{item_id}", headers=colleague).status_code == 200
    admin_user = make_user(world.db, "cpsadmin@cps.example", "test-cps", [Role.admin])
    world.db.flush()
    _, token = core_service.create_api_client(
        world.db,
        principal_for_user(admin_user),
        ApiClientCreate(name="CPS case system", roles=[Role.officer]),
    )
    world.db.commit()
    prosecutor = {"authorization": f"Bearer {token}"}
    for url in (
        f"/api/v1/evidence/items/{item_id}",
        f"/api/v1/evidence/items/{item_id}/content",
        f"/api/v1/evidence/cases/{reference}",
    ):
        assert client.get(url, headers=prosecutor).status_code == 404, url
    assert client.get("/api/v1/evidence/cases", headers=prosecutor).json() == []
    shared = client.post(
        f"/api/v1/evidence/cases/{reference}/shares",
        json={"organisation": "test-cps"},
        headers=force,
    )
    assert shared.status_code == 201, shared.text
    assert (
        client.get(f"/api/v1/evidence/items/{item_id}/content", headers=prosecutor).status_code
        == 200
    )
    assert [
        c["reference"] for c in client.get("/api/v1/evidence/cases", headers=prosecutor).json()
    ] == [reference]
    # Seeing is not changing.
    refused = client.post(
        f"/api/v1/evidence/cases/{reference}/holds",
        json={"kind": "legal", "reason": "prosecutor wants it"},
        headers=prosecutor,
    )
    assert refused.status_code == 403


def test_bad_input_names_the_field(client: TestClient, force):
    bad = client.post("/api/v1/evidence/cases", json={"title": "x"}, headers=force)
    assert bad.status_code == 422
    case = client.post("/api/v1/evidence/cases", json={"title": "Good title"}, headers=force)
    reference = case.json()["reference"]
    missing = client.post(
        f"/api/v1/evidence/cases/{reference}/items",
        json={"upload_id": "0" * 32},
        headers=force,
    )
    assert missing.status_code == 422
    assert "upload_id" in missing.text
    assert client.get("/api/v1/evidence/cases").status_code == 401


def test_body_worn_video_arrives_unfiled_and_non_evidential(client: TestClient, force):
    upload_id = _upload(client, force, png_bytes(2, 2), "frame.png")
    made = client.post(
        "/api/v1/evidence/bwv",
        json={
            "upload_id": upload_id,
            "device_id": "BWV-0007",
            "officer": "PC 1 Test",
            "started_at": "2026-11-20T21:00:00Z",
        },
        headers=force,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["case_id"] is None and body["categories"] == ["bwv-non-evidential"]
    assert body["device_id"] == "BWV-0007"
    plan = client.get("/api/v1/evidence/retention", headers=force).json()
    assert any(d["item_id"] == body["id"] for d in plan)


def test_a_range_that_starts_at_zero_or_cannot_be_parsed_is_recorded(client: TestClient, force):
    case = client.post("/api/v1/evidence/cases", json={"title": "Range case"}, headers=force)
    reference = case.json()["reference"]
    upload_id = _upload(client, force, png_bytes(8, 8), "r.png")
    item_id = client.post(
        f"/api/v1/evidence/cases/{reference}/items", json={"upload_id": upload_id}, headers=force
    ).json()["id"]

    def downloads() -> int:
        events = client.get(f"/api/v1/evidence/items/{item_id}/custody", headers=force).json()
        return sum(e["kind"] == "downloaded" for e in events)

    url = f"/api/v1/evidence/items/{item_id}/content"
    assert client.get(url, headers={**force, "Range": "bytes=x"}).status_code == 200
    assert downloads() == 1
    assert client.get(url, headers={**force, "Range": "bytes=0-9"}).status_code == 206
    assert downloads() == 2
    assert client.get(url, headers={**force, "Range": "bytes=10-"}).status_code == 206
    assert downloads() == 2  # a continuation of a read already recorded
