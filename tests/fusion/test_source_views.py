"""The sources API end to end: register, see, map, import (good and bad files), share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.app import ROUTERS
from peel.core import service as core_service
from peel.core.enums import Role
from peel.core.schemas import ApiClientCreate
from peel.fusion import source_views
from peel.fusion.models import FusionImport, FusionRecord
from tests.conftest import BOOTSTRAP, World, csrf_of, make_user, sign_in

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fusion"
CHILDREN = (FIXTURES / "children.csv").read_bytes()
MAPPING = (FIXTURES / "children.yaml").read_text()
URL = "/api/v1/fusion/sources"


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    """A client of the app with the sources API in it (whether or not the app lists it yet)."""
    if source_views.router not in ROUTERS:
        app.include_router(source_views.router)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def bearer(world: World, organisation: str, roles: list[Role]) -> dict[str, str]:
    _, token = core_service.create_api_client(
        world.db,
        BOOTSTRAP,
        ApiClientCreate(name=f"{organisation} client", organisation=organisation, roles=roles),
    )
    world.db.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def council(world: World) -> dict[str, str]:
    return bearer(world, "test-council", [Role.analyst, Role.supervisor])


@pytest.fixture
def police(world: World) -> dict[str, str]:
    return bearer(world, "test-force", [Role.analyst])


def create(api: TestClient, headers: dict[str, str], **changes: object) -> dict[str, object]:
    body = {
        "code": "kids",
        "name": "Children's social care",
        "legal_basis_kind": "safeguarding",
        "legal_basis": "Children Act 2004 s.11",
        "mapping": MAPPING,
        **changes,
    }
    response = api.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def upload(api: TestClient, headers: dict[str, str], data: bytes, name: str = "children.csv",
           mapping: str | None = None) -> object:  # fmt: skip
    form = {"mapping": mapping} if mapping else None
    return api.post(f"{URL}/kids/imports", files={"file": (name, data)}, data=form,
                    headers=headers)  # fmt: skip


def test_register_list_and_read_a_source(
    api: TestClient, council: dict[str, str], police: dict[str, str]
) -> None:
    assert api.get(URL).status_code == 401
    made = create(api, council, share_with=["test-cps"])
    assert made["tlp"] == "AMBER" and made["shared_with"] == ["test-cps"]
    assert made["owner"] == "Test Council" and made["can_manage"] is True
    listed = api.get(URL, headers=council).json()
    assert [s["code"] for s in listed] == ["kids"]
    assert api.get(f"{URL}/{made['id']}", headers=council).json()["code"] == "kids"
    assert api.get(URL, headers=police).json() == []
    missing = api.get(f"{URL}/kids", headers=police)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert api.get(f"{URL}/nothing", headers=police).json()["detail"] == (
        missing.json()["detail"].replace("'kids'", "'nothing'")
    )


def test_red_and_bad_input_are_refused_with_problems(
    api: TestClient, council: dict[str, str]
) -> None:
    red = api.post(URL, headers=council, json={
        "code": "red", "name": "N", "legal_basis_kind": "consent", "legal_basis": "x", "tlp": "RED",
    })  # fmt: skip
    assert red.status_code == 422
    assert red.json()["errors"][0]["field"] == "tlp"
    assert "named people only" in red.json()["errors"][0]["message"]
    bad = api.post(URL, headers=council, json={
        "code": "Bad Code", "name": "N", "legal_basis_kind": "other", "legal_basis": "x",
    })  # fmt: skip
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "code"
    create(api, council)
    assert api.post(URL, headers=council, json={
        "code": "kids", "name": "N", "legal_basis_kind": "other", "legal_basis": "x",
    }).status_code == 409  # fmt: skip


def test_the_mapping_is_replaced_or_its_problems_named(
    api: TestClient, council: dict[str, str], police: dict[str, str]
) -> None:
    create(api, council, mapping="")
    bad = api.put(f"{URL}/kids/mapping", headers=council, json={"mapping": "entities: 3"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "mapping.entities"
    good = api.put(f"{URL}/kids/mapping", headers=council, json={"mapping": MAPPING})
    assert good.status_code == 200 and good.json()["mapping"] == MAPPING
    assert (
        api.put(f"{URL}/kids/mapping", headers=police, json={"mapping": MAPPING}).status_code == 404
    )


def test_a_good_import_lands_and_is_listed(
    api: TestClient, council: dict[str, str], db: Session
) -> None:
    create(api, council)
    response = upload(api, council, CHILDREN)
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert (body["status"], body["rows"], body["records"], body["relations"]) == ("done", 5, 10, 7)
    source = api.get(f"{URL}/kids", headers=council).json()
    assert (source["record_count"], source["last_imported_at"] is not None) == (10, True)
    imports = api.get(f"{URL}/kids/imports", headers=council).json()
    assert [(i["status"], i["filename"], i["file_format"]) for i in imports] == [
        ("done", "children.csv", "csv")
    ]


def test_a_bad_file_answers_422_changes_nothing_and_is_kept(
    api: TestClient, council: dict[str, str], db: Session
) -> None:
    create(api, council)
    assert upload(api, council, CHILDREN).status_code == 201  # type: ignore[attr-defined]
    broken = CHILDREN.replace(b",F,", b",Q,", 1)
    response = upload(api, council, broken)
    assert response.status_code == 422  # type: ignore[attr-defined]
    problem = response.json()  # type: ignore[attr-defined]
    assert problem["title"] == "The file has problems; nothing was imported"
    assert problem["errors"] == [{
        "field": "row 1, column gender", "row": "1", "column": "gender",
        "message": "child.sex: expected female, male, other or unknown (or F/M/X/U), got 'Q'",
    }]  # fmt: skip
    kept = db.get(FusionImport, problem["import_id"])
    assert kept is not None and kept.status == "failed" and kept.errors[0]["column"] == "gender"
    assert db.scalar(select(FusionRecord.caption).where(FusionRecord.source_key == "C001")) == (
        "Amy Smith"
    )
    listed = api.get(f"{URL}/kids/imports", headers=council).json()
    assert [i["status"] for i in listed] == ["failed", "done"]
    assert listed[0]["errors"][0]["row"] == 1


def test_a_mislabelled_or_oversized_file_is_refused(
    api: TestClient, app: FastAPI, council: dict[str, str]
) -> None:
    create(api, council)
    wrong = upload(api, council, CHILDREN, "children.xlsx")
    assert wrong.status_code == 422  # type: ignore[attr-defined]
    assert (
        "named as Excel workbook but its content is CSV"
        in (
            wrong.json()["errors"][0]["message"]  # type: ignore[attr-defined]
        )
    )
    app.state.settings = app.state.settings.model_copy(update={"fusion_max_upload_mb": 1})
    big = upload(api, council, CHILDREN + b"C9,A,B,02/03/2011,F,,N,,,,,\n" * 40_000)
    assert big.status_code == 413  # type: ignore[attr-defined]
    assert "1 MB" in big.json()["detail"]  # type: ignore[attr-defined]


def test_only_the_owners_managers_import_and_share(
    api: TestClient, world: World, council: dict[str, str], police: dict[str, str]
) -> None:
    create(api, council)
    officer = bearer(world, "test-council", [Role.officer])
    assert upload(api, officer, CHILDREN).status_code == 403  # type: ignore[attr-defined]
    assert upload(api, police, CHILDREN).status_code == 404  # type: ignore[attr-defined]
    shared = api.post(f"{URL}/kids/shares", headers=council, json={"add": ["test-force"]})
    assert shared.status_code == 200 and shared.json()["shared_with"] == ["test-force"]
    seen = api.get(f"{URL}/kids", headers=police).json()
    assert seen["can_manage"] is False
    assert upload(api, police, CHILDREN).status_code == 403  # type: ignore[attr-defined]


def test_a_signed_in_person_imports_with_the_csrf_header(
    api: TestClient, world: World, council: dict[str, str]
) -> None:
    create(api, council)
    make_user(world.db, "lead@council.example", "test-council", [Role.supervisor])
    world.db.commit()
    sign_in(api, "lead@council.example")
    assert upload(api, {}, CHILDREN).status_code == 403  # type: ignore[attr-defined]
    token = csrf_of(api.get("/login").text)
    response = upload(api, {"X-CSRF-Token": token}, CHILDREN)
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
