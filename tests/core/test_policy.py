"""The access-policy matrix: every TLP label against every relationship to the record."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from peel.core import bulletins
from peel.core.enums import TLP, Role
from peel.core.policy import Labelled, NotFound, can_edit, can_relabel, can_view
from peel.core.principal import ANONYMOUS, Principal
from peel.core.schemas import BulletinCreate, ShareCreate
from tests.conftest import World, sign_in

OWNER, SHARED, OTHER, CLIENT_OF_SHARED, CLIENT_OF_OWNER = "owner", "shared", "other", "c1", "c2"

RELATIONSHIPS = {
    "same organisation": Principal(
        user_id="u-same", organisation_id=OWNER, roles=frozenset({Role.officer})
    ),
    "other organisation": Principal(user_id="u-other", organisation_id=OTHER),
    "shared organisation": Principal(user_id="u-shared", organisation_id=SHARED),
    "client of shared organisation": Principal(
        user_id="u-c1", organisation_id=CLIENT_OF_SHARED, client_of_id=SHARED
    ),
    "client of owner": Principal(
        user_id="u-c2", organisation_id=CLIENT_OF_OWNER, client_of_id=OWNER
    ),
    "named recipient in other organisation": Principal(user_id="u-named", organisation_id=OTHER),
    "api client of owner": Principal(client_id="k1", organisation_id=OWNER),
    "anonymous": ANONYMOUS,
}

# Rows: relationship; columns: CLEAR, GREEN, AMBER, AMBER+STRICT, RED.
EXPECTED = {
    "same organisation": (1, 1, 1, 1, 0),
    "other organisation": (1, 1, 0, 0, 0),
    "shared organisation": (1, 1, 1, 1, 0),
    "client of shared organisation": (1, 1, 1, 0, 0),
    "client of owner": (1, 1, 1, 0, 0),
    "named recipient in other organisation": (1, 1, 0, 0, 1),
    "api client of owner": (1, 1, 1, 1, 0),
    "anonymous": (1, 0, 0, 0, 0),
}


def record(tlp: TLP) -> Labelled:
    return Labelled(OWNER, tlp, frozenset({SHARED}), frozenset({"u-named"}))


@pytest.mark.parametrize("relationship", list(EXPECTED))
@pytest.mark.parametrize("tlp", list(TLP))
def test_visibility_matrix(relationship: str, tlp: TLP) -> None:
    expected = bool(EXPECTED[relationship][list(TLP).index(tlp)])
    assert can_view(RELATIONSHIPS[relationship], record(tlp)) is expected


def test_red_recipient_in_owner_org_sees_it_and_colleagues_do_not() -> None:
    red = Labelled(OWNER, TLP.red, frozenset(), frozenset({"u-same"}))
    assert can_view(RELATIONSHIPS["same organisation"], red)
    colleague = Principal(
        user_id="u-colleague",
        organisation_id=OWNER,
        roles=frozenset({Role.admin}),
        is_platform_admin=True,
    )
    assert not can_view(colleague, red)


def test_roles_govern_actions_not_visibility() -> None:
    amber = record(TLP.amber)
    officer = RELATIONSHIPS["same organisation"]
    supervisor = Principal(user_id="s", organisation_id=OWNER, roles=frozenset({Role.supervisor}))
    viewer = Principal(user_id="v", organisation_id=OWNER, roles=frozenset({Role.partner_viewer}))
    assert can_edit(officer, amber) and not can_relabel(officer, amber)
    assert can_relabel(supervisor, amber)
    assert can_view(viewer, amber) and not can_edit(viewer, amber)
    shared_editor = Principal(
        user_id="x", organisation_id=SHARED, roles=frozenset({Role.supervisor})
    )
    assert can_view(shared_editor, amber) and not can_edit(shared_editor, amber)


@pytest.fixture
def labelled_bulletins(world: World) -> dict[TLP, str]:
    """One bulletin per label, owned by the force, shared with the council, RED to the lawyer."""
    author = world.principal("supervisor")
    ids = {}
    for tlp in TLP:
        recipients = ["lawyer@cps.example"] if tlp == TLP.red else []
        b = bulletins.create_bulletin(
            world.db,
            author,
            BulletinCreate(
                title=f"{tlp.value} notice", body="text", tlp=tlp, recipients=recipients
            ),
        )
        bulletins.share_bulletin(world.db, author, b.id, ShareCreate(organisation="test-council"))
        ids[tlp] = b.id
    world.db.flush()
    return ids


# Who sees which label in the database-backed world fixture (RED also reaches its author).
DB_EXPECTED = {
    "officer": {TLP.clear, TLP.green, TLP.amber, TLP.amber_strict},
    "supervisor": set(TLP),
    "lawyer": {TLP.clear, TLP.green, TLP.red},
    "social": {TLP.clear, TLP.green, TLP.amber, TLP.amber_strict},
    "youth": {TLP.clear, TLP.green, TLP.amber},
    "teacher": {TLP.clear, TLP.green},
    "platform": {TLP.clear, TLP.green, TLP.amber, TLP.amber_strict},
}


@pytest.mark.parametrize("who", list(DB_EXPECTED))
def test_sql_listing_agrees_with_the_policy(
    world: World, labelled_bulletins: dict[TLP, str], who: str
) -> None:
    principal = world.principal(who)
    rows, total = bulletins.list_bulletins(world.db, principal)
    seen = {TLP(b.tlp) for b in rows}
    assert seen == DB_EXPECTED[who]
    assert total == len(DB_EXPECTED[who])
    for tlp, bulletin_id in labelled_bulletins.items():
        if tlp in DB_EXPECTED[who]:
            assert bulletins.get_bulletin(world.db, principal, bulletin_id)[0].id == bulletin_id
        else:
            with pytest.raises(NotFound):
                bulletins.get_bulletin(world.db, principal, bulletin_id)


def test_anonymous_listing_shows_only_clear(world: World, labelled_bulletins: dict[TLP, str]):
    rows, _ = bulletins.list_bulletins(world.db, ANONYMOUS)
    assert {TLP(b.tlp) for b in rows} == {TLP.clear}


def test_expired_share_grants_nothing(world: World) -> None:
    from datetime import timedelta

    from peel.core.db import utcnow
    from peel.core.models import RecordShare

    author = world.principal("supervisor")
    b = bulletins.create_bulletin(
        world.db, author, BulletinCreate(title="Expiring", body="x", tlp=TLP.amber)
    )
    share = bulletins.share_bulletin(
        world.db,
        author,
        b.id,
        ShareCreate(organisation="test-cps", expires_at=utcnow() + timedelta(days=1)),
    )
    lawyer = world.principal("lawyer")
    assert bulletins.get_bulletin(world.db, lawyer, b.id)
    world.db.get(RecordShare, share.id).expires_at = utcnow() - timedelta(seconds=1)
    world.db.flush()
    with pytest.raises(NotFound):
        bulletins.get_bulletin(world.db, lawyer, b.id)
    assert b.id not in {r.id for r in bulletins.list_bulletins(world.db, lawyer)[0]}


def test_missing_and_forbidden_look_the_same_over_http(
    client: TestClient, world: World, labelled_bulletins: dict[TLP, str]
) -> None:
    sign_in(client, "teacher@school.example")
    forbidden = client.get(f"/api/v1/bulletins/{labelled_bulletins[TLP.amber]}")
    missing = client.get("/api/v1/bulletins/" + "0" * 32)
    assert forbidden.status_code == missing.status_code == 404
    assert (
        forbidden.headers["content-type"]
        == missing.headers["content-type"]
        == ("application/problem+json")
    )
    strip = {"detail", "instance", "request_id"}
    assert {k: v for k, v in forbidden.json().items() if k not in strip} == {
        k: v for k, v in missing.json().items() if k not in strip
    }
    page_forbidden = client.get(
        f"/bulletins/{labelled_bulletins[TLP.red]}", headers={"accept": "text/html"}
    )
    page_missing = client.get("/bulletins/" + "0" * 32, headers={"accept": "text/html"})
    assert page_forbidden.status_code == page_missing.status_code == 404


def test_partner_cannot_edit_or_share_what_it_can_see(
    client: TestClient, world: World, labelled_bulletins: dict[TLP, str]
) -> None:
    from peel.core.schemas import ApiClientCreate
    from peel.core.service import create_api_client

    _, token = create_api_client(
        world.db,
        world.principal("platform"),
        ApiClientCreate(
            name="council system", roles=[Role.supervisor], organisation="test-council"
        ),
    )
    headers = {"authorization": f"Bearer {token}"}
    amber = labelled_bulletins[TLP.amber]
    assert client.get(f"/api/v1/bulletins/{amber}", headers=headers).status_code == 200
    assert (
        client.patch(
            f"/api/v1/bulletins/{amber}", json={"title": "changed by partner"}, headers=headers
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/bulletins/{amber}/shares",
            json={"organisation": "test-school"},
            headers=headers,
        ).status_code
        == 403
    )
