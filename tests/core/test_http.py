"""HTTP behaviour every route shares: probes, headers, problem details, limits, escaping."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from peel.app import create_app
from peel.core.config import Environment, Settings
from peel.core.db import build_engine
from peel.core.events import InMemoryEventBus
from peel.core.jobs import JobRunner
from tests.conftest import World, csrf_of, sign_in

HOSTILE = [
    "<script>alert('pwned')</script>",
    "Robert'); DROP TABLE bulletin;--",
    '" onmouseover="alert(1)',
    "1 OR 1=1; SELECT * FROM user_account",
]


def test_probes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migrations"] == "current"


def test_readyz_reports_a_database_behind_its_migrations(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    sessions = sessionmaker(bind=engine)
    app = create_app(
        Settings(env=Environment.test, data_dir=tmp_path / "var"),
        sessions=sessions,
        jobs=JobRunner(sessions, inline=True),
        events=InMemoryEventBus(),
    )
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migrations"] == "behind"
    engine.dispose()


def test_security_headers(client: TestClient) -> None:
    response = client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in response.headers
    assert len(response.headers["x-request-id"]) >= 8
    assert "<script>" not in response.text.replace('<script type="module"', "")


def test_tls_deployments_send_hsts_and_secure_cookies(settings: Settings, sessions) -> None:
    tls = settings.model_copy(update={"public_url": "https://peel.force.example"})
    app = create_app(
        tls, sessions=sessions, jobs=JobRunner(sessions, inline=True), events=InMemoryEventBus()
    )
    with TestClient(app, base_url="https://testserver") as client:
        response = client.get("/login")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "secure" in response.headers["set-cookie"].lower()


def test_request_id_is_echoed_when_well_formed(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"x-request-id": "abc-12345"}).headers["x-request-id"]
        == "abc-12345"
    )
    assert (
        client.get("/healthz", headers={"x-request-id": "bad id\n"}).headers["x-request-id"]
        != "bad id\n"
    )


def test_unknown_routes_are_problem_json(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and body["title"] == "Not Found" and body["type"]
    page = client.get("/nothing-here", headers={"accept": "text/html"})
    assert page.status_code == 404 and "Page not found" in page.text


def test_validation_errors_name_the_field(client: TestClient, world: World) -> None:
    sign_in(client, "root@platform.example")
    token = csrf_of(client.get("/").text)
    response = client.post(
        "/api/v1/organisations",
        headers={"x-csrf-token": token},
        json={"code": "BAD CODE", "name": "x", "type": "spaceship"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"code", "name", "type"}
    duplicate = client.post(
        "/api/v1/organisations",
        headers={"x-csrf-token": token},
        json={"code": "test-force", "name": "Again", "type": "other"},
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["errors"][0]["field"] == "code"


def test_unauthenticated_api_gets_401_problem(client: TestClient) -> None:
    response = client.get("/api/v1/bulletins")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_oversized_bodies_get_413(settings: Settings, sessions) -> None:
    small = settings.model_copy(update={"max_request_bytes": 2048})
    app = create_app(
        small, sessions=sessions, jobs=JobRunner(sessions, inline=True), events=InMemoryEventBus()
    )
    with TestClient(app) as client:
        declared = client.post(
            "/login",
            content=b"x" * 5000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"

        def chunks():
            for _ in range(10):
                yield b"y" * 1000

        streamed = client.post(
            "/api/v1/bulletins", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413


def test_pages_send_anonymous_people_to_sign_in(client: TestClient) -> None:
    response = client.get("/audit?actor=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faudit%3Factor%3Dx"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_stored_and_shown_literally(
    client: TestClient, world: World, hostile: str
) -> None:
    sign_in(client, "sup@force.example")
    page = client.get("/bulletins/new")
    created = client.post(
        "/bulletins/new",
        data={
            "csrf_token": csrf_of(page.text),
            "title": "Note " + hostile,
            "body": hostile,
            "tlp": "GREEN",
            "recipients": "",
        },
        follow_redirects=True,
    )
    assert created.status_code == 200
    escaped = (
        hostile.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )
    assert escaped in created.text
    assert hostile not in created.text or hostile == escaped
    listed = client.get("/api/v1/bulletins").json()["items"]
    assert any(item["body"] == hostile for item in listed)
    assert client.get("/readyz").status_code == 200  # the tables are all still there


def test_admin_forms_escape_and_keep_what_was_typed(client: TestClient, world: World) -> None:
    sign_in(client, "root@platform.example")
    page = client.get("/admin")
    hostile = HOSTILE[0]
    response = client.post(
        "/admin/organisations",
        data={
            "csrf_token": csrf_of(page.text),
            "name": hostile,
            "code": "Not Valid!",
            "type": "charity",
            "client_of": "",
        },
    )
    assert response.status_code == 400
    assert "There is a problem" in response.text
    assert "&lt;script&gt;" in response.text and hostile not in response.text
    ok = client.post(
        "/admin/organisations",
        data={
            "csrf_token": csrf_of(page.text),
            "name": hostile,
            "code": "odd-name",
            "type": "charity",
            "client_of": "test-council",
        },
    )
    assert ok.status_code == 200 and "&lt;script&gt;" in ok.text


def test_nul_characters_are_refused_not_stored(client: TestClient, world: World) -> None:
    assert client.get("/audit?actor=%00x").status_code == 422
    sign_in(client, "sup@force.example")
    page = client.get("/bulletins/new")
    response = client.post(
        "/bulletins/new",
        data={
            "csrf_token": csrf_of(page.text),
            "title": "Nul\x00title",
            "body": "x",
            "tlp": "GREEN",
        },
    )
    assert response.status_code == 422


def test_share_link_tokens_never_reach_the_logs():
    from peel.core.http import loggable_path

    assert loggable_path("/evidence/link/SECRETtoken/items/abc") == "/evidence/link/…/items/abc"
    assert loggable_path("/evidence/link/SECRETtoken") == "/evidence/link/…"
    assert loggable_path("/evidence/cases/x") == "/evidence/cases/x"


def test_reads_that_audit_take_the_write_lock_up_front():
    """A GET that writes an audit or custody entry must not upgrade a read transaction late
    (SQLite refuses that at once while a background job writes: a 503 for the reader)."""
    from peel.core.http import takes_write_lock

    assert takes_write_lock("GET", "/evidence/cases/abc")
    assert takes_write_lock("GET", "/api/v1/evidence/items/abc/content")
    assert takes_write_lock("GET", "/staff/reports/abc")
    assert not takes_write_lock("GET", "/healthz")
    assert not takes_write_lock("GET", "/")
    assert takes_write_lock("POST", "/login")
    assert takes_write_lock("GET", "/anpr/convoy")
    assert not takes_write_lock("GET", "/anpr/alerts/stream")
    assert not takes_write_lock("POST", "/api/v1/anpr/reads")
