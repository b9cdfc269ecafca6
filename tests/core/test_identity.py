"""Sign-in, sessions, CSRF, throttling, two-step codes and API bearer tokens."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from peel.app import ROUTERS
from peel.core import service
from peel.core.db import utcnow
from peel.core.enums import Role
from peel.core.models import ApiClient, AuditEvent, User, WebSession
from peel.core.schemas import ApiClientCreate
from peel.core.security import token_digest
from tests.conftest import PASSWORD, World, csrf_of, sign_in


def test_sign_in_shows_home_and_sign_out_ends_the_session(client: TestClient, world: World):
    response = sign_in(client, "officer@force.example")
    assert response.status_code == 303
    cookie = response.cookies.get("peel_session")
    assert cookie and "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=lax" in response.headers["set-cookie"].lower()
    home = client.get("/")
    assert "Officer" in home.text and "Test Force" in home.text and "/bulletins" in home.text
    assert world.db.get(WebSession, token_digest(cookie)) is not None
    out = client.post("/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert world.db.get(WebSession, token_digest(cookie)) is None
    client.cookies.set("peel_session", cookie)  # a stolen cookie is dead after sign-out
    assert "Sign in" in client.get("/").text
    assert client.get("/api/v1/me").status_code == 401


def test_wrong_password_gives_a_clear_message_and_is_audited(client: TestClient, world: World):
    response = sign_in(client, "officer@force.example", "not the password")
    assert response.status_code == 400
    assert "Enter a correct email address and password" in response.text
    unknown = sign_in(client, "nobody@force.example", "whatever password")
    assert "Enter a correct email address and password" in unknown.text
    failures = world.db.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
    ).all()
    assert len(failures) == 2


def test_repeated_failures_are_throttled(client: TestClient, world: World):
    for _ in range(5):
        assert sign_in(client, "officer@force.example", "wrong guess").status_code == 400
    blocked = sign_in(client, "officer@force.example", PASSWORD)
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text
    assert "peel_session" not in blocked.cookies


def test_disabled_user_cannot_sign_in(client: TestClient, world: World):
    service.set_active(world.db, world.principal("platform"), world.users["officer"], False)
    assert sign_in(client, "officer@force.example").status_code == 400


def test_every_form_post_needs_the_csrf_token(app, client: TestClient, world: World):
    sign_in(client, "root@platform.example")
    posts = [
        r.path
        for router in ROUTERS
        for r in router.routes
        if "POST" in getattr(r, "methods", set()) and not r.path.startswith("/api/")
    ]
    assert "/login" in posts and "/logout" in posts and "/admin/users" in posts
    for path in posts:
        concrete = (
            path.replace("{user_id}", world.users["officer"].id)
            .replace("{bulletin_id}", "0" * 32)
            .replace("{client_id}", "x")
            .replace("{organisation}", "test-cps")
        )
        response = client.post(concrete, data={"csrf_token": "forged"})
        assert response.status_code == 403, path


def test_cookie_api_writes_need_the_csrf_header(client: TestClient, world: World):
    sign_in(client, "sup@force.example")
    body = {"title": "From the browser", "body": "x", "tlp": "GREEN"}
    assert client.post("/api/v1/bulletins", json=body).status_code == 403
    token = csrf_of(client.get("/").text)
    created = client.post("/api/v1/bulletins", json=body, headers={"x-csrf-token": token})
    assert created.status_code == 201


def test_two_step_sign_in(client: TestClient, world: World):
    sign_in(client, "officer@force.example")
    page = client.post("/account/totp/start", data={"csrf_token": csrf_of(client.get("/").text)})
    secret = page.text.split('name="secret" value="', 1)[1].split('"', 1)[0]
    wrong = client.post(
        "/account/totp/confirm",
        data={"csrf_token": csrf_of(page.text), "secret": secret, "code": "000000"},
    )
    assert wrong.status_code == 400
    ok = client.post(
        "/account/totp/confirm",
        data={"csrf_token": csrf_of(page.text), "secret": secret, "code": pyotp.TOTP(secret).now()},
    )
    assert "Two-step sign-in is on" in ok.text
    client.post("/logout", data={"csrf_token": csrf_of(ok.text)})

    first = sign_in(client, "officer@force.example")
    assert first.headers["location"].startswith("/login/code")
    assert "Sign in" in client.get("/").text  # password alone is not enough
    assert client.get("/api/v1/me").status_code == 401
    form = client.get(first.headers["location"])
    bad = client.post(
        "/login/code", data={"csrf_token": csrf_of(form.text), "code": "123456", "next": "/"}
    )
    assert bad.status_code == 400
    good = client.post(
        "/login/code",
        data={"csrf_token": csrf_of(form.text), "next": "/", "code": pyotp.TOTP(secret).now()},
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert client.get("/api/v1/me").json()["name"] == world.users["officer"].name


def test_open_redirects_are_refused(client: TestClient, world: World):
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": "officer@force.example",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/steal",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_api_token_is_shown_once_stored_hashed_expires_and_revokes(
    client: TestClient, world: World
):
    admin = world.principal("force_admin")
    api_client, token = service.create_api_client(
        world.db, admin, ApiClientCreate(name="records system", roles=[Role.officer])
    )
    stored = world.db.get(ApiClient, api_client.id)
    assert token not in (stored.token_hash, stored.token_prefix)
    assert stored.token_hash == token_digest(token)
    headers = {"authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["client_id"] == api_client.id and me["organisation_id"] == world.orgs["force"].id
    listed = client.get("/api/v1/api-clients", headers={"authorization": f"Bearer {token}"})
    assert listed.status_code == 403  # an officer's client is no administrator
    assert "token" not in str(client.get("/api/v1/me", headers=headers).json())

    stored.expires_at = utcnow() - timedelta(seconds=1)
    world.db.flush()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    stored.expires_at = utcnow() + timedelta(days=1)
    world.db.flush()
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    service.revoke_api_client(world.db, admin, api_client.id)
    rejected = client.get("/api/v1/me", headers=headers)
    assert rejected.status_code == 401
    assert rejected.headers["www-authenticate"].startswith("Bearer")
    assert (
        client.get("/api/v1/me", headers={"authorization": "Bearer peel_nonsense"}).status_code
        == 401
    )


def test_org_admin_manages_only_their_own_organisation(client: TestClient, world: World):
    from peel.core.policy import Forbidden
    from peel.core.schemas import UserCreate

    admin = world.principal("force_admin")
    made = service.create_user(
        world.db,
        admin,
        UserCreate(
            email="new@force.example",
            name="New Officer",
            organisation="test-force",
            roles=[Role.officer],
            password=PASSWORD,
        ),
    )
    assert made.organisation_id == world.orgs["force"].id
    with pytest.raises(Forbidden):
        service.create_user(
            world.db,
            admin,
            UserCreate(
                email="spy@cps.example", name="Spy", organisation="test-cps", password=PASSWORD
            ),
        )
    with pytest.raises(Forbidden):
        service.create_user(
            world.db,
            admin,
            UserCreate(
                email="boss@force.example",
                name="Boss",
                organisation="test-force",
                password=PASSWORD,
                is_platform_admin=True,
            ),
        )
    lawyer = world.users["lawyer"]
    from peel.core.policy import NotFound

    with pytest.raises(NotFound):
        service.get_user(world.db, admin, lawyer.id)


def test_passwords_are_argon2_hashed(world: World):
    user = world.db.scalar(select(User).where(User.email == "officer@force.example"))
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
