"""Share-link pages: the one-time code, viewing and downloading, watermarks, withdrawal."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from peel.core.blobstore import blob_store_from_settings
from peel.core.db import transaction, utcnow
from peel.core.identity import principal_for_user
from peel.core.models import AuditEvent, User
from peel.evidence import custody, links, media, service
from peel.evidence.models import EvidenceItem, ShareLink
from tests.conftest import LiveServer, World, csrf_of, png_bytes
from tests.web import conftest as web
from tests.web.conftest import BLOCKING_IMPACTS, axe_violations

SOLICITOR = "Ms Ada Brief"
SOLICITOR_EMAIL = "ada@defence.example"


@dataclass
class Shared:
    token: str
    code: str
    link: ShareLink
    item: EvidenceItem
    not_shared: EvidenceItem
    original: bytes

    @property
    def home(self) -> str:
        return f"/evidence/link/{self.token}"

    @property
    def item_url(self) -> str:
        return f"{self.home}/items/{self.item.id}"


def _add(app: FastAPI, world: World, case_id: str, name: str, data: bytes) -> EvidenceItem:
    officer = world.principal("supervisor")
    ref = app.state.blobs.put_stream([data])
    case = world.db.get(service.EvidenceCase, case_id)
    return service.add_item(
        world.db,
        officer,
        service.NewItem(
            sha256=ref.sha256,
            size=ref.size,
            content_type="video/mp4" if name.endswith(".mp4") else "image/png",
            kind="video" if name.endswith(".mp4") else "image",
            name=name,
            source="upload",
        ),
        case=case,
    )


def share(
    app: FastAPI,
    world: World,
    *,
    watermark: bool = True,
    recipient: str = SOLICITOR,
    data: bytes | None = None,
    name: str = "front-door.png",
) -> Shared:
    """A case with two items, one of them shared through a link."""
    supervisor = world.principal("supervisor")
    case = service.open_case(world.db, supervisor, "Burglary at 3 High Street")
    original = data if data is not None else png_bytes(120, 80)
    item = _add(app, world, case.id, name, original)
    not_shared = _add(app, world, case.id, "witness.png", png_bytes(5, 5))
    link, token, code = links.create_link(
        world.db,
        supervisor,
        case.id,
        recipient_name=recipient,
        recipient_email=SOLICITOR_EMAIL,
        purpose="Disclosure before the first hearing",
        item_ids=[item.id],
        watermark=watermark,
    )
    world.db.flush()
    return Shared(token, code, link, item, not_shared, original)


def enter_code(client: TestClient, shared: Shared, code: str) -> httpx.Response:
    page = client.get(shared.home)
    return client.post(
        shared.home, data={"code": code, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )


def wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 10**8:08d}"


def fresh_link(world: World, shared: Shared) -> ShareLink:
    world.db.expire_all()
    link = world.db.get(ShareLink, shared.link.id)
    assert link is not None
    return link


def test_the_code_form_says_who_shared_what_and_that_use_is_recorded(
    app: FastAPI, client: TestClient, world: World
) -> None:
    shared = share(app, world)
    page = client.get(shared.home)
    assert page.status_code == 200
    assert "Enter your code" in page.text
    assert SOLICITOR in page.text and SOLICITOR_EMAIL in page.text
    assert "sup@force.example" in page.text and "Test Force" in page.text
    assert "Available until" in page.text
    assert shared.link.expires_at.strftime("%d %b %Y") in page.text
    assert "Every view and download through this link is recorded" in page.text
    assert 'name="csrf_token"' in page.text
    assert "front-door.png" not in page.text  # nothing about the items before the code


def test_wrong_codes_count_down_and_lock_the_link_after_five(
    app: FastAPI, client: TestClient, world: World
) -> None:
    shared = share(app, world)
    bad = wrong_code(shared.code)
    for left in (4, 3, 2, 1):
        answer = enter_code(client, shared, bad)
        assert answer.status_code == 400
        tries = "1 more try" if left == 1 else f"{left} more tries"
        assert f"The code is not right. You have {tries} before the link locks." in answer.text
        assert "govuk-error-summary" in answer.text
    locked = enter_code(client, shared, bad)
    assert locked.status_code == 410
    assert "locked after too many wrong codes" in locked.text
    assert fresh_link(world, shared).failed_codes == links.MAX_CODE_TRIES
    # Even the right code is refused now, and so is every page of the link.
    page = client.get(shared.home)
    assert page.status_code == 410 and "locked" in page.text
    token = csrf_of(client.get("/login").text)
    right = client.post(shared.home, data={"code": shared.code, "csrf_token": token})
    assert right.status_code == 410 and "locked" in right.text
    assert fresh_link(world, shared).code_used_at is None
    wrong = (
        world.db.query(AuditEvent)
        .filter(
            AuditEvent.action == "evidence_link.bad_code", AuditEvent.record_id == shared.link.id
        )
        .count()
    )
    assert wrong == links.MAX_CODE_TRIES


def test_badly_typed_codes_do_not_use_up_tries(
    app: FastAPI, client: TestClient, world: World
) -> None:
    shared = share(app, world)
    for typed, message in (("", "Enter the 8-digit code"), ("12ab5678", "as 8 digits")):
        answer = enter_code(client, shared, typed)
        assert answer.status_code == 400
        assert message in answer.text
    assert fresh_link(world, shared).failed_codes == 0


def test_the_right_code_opens_the_link_once_in_one_browser(
    app: FastAPI, client: TestClient, world: World
) -> None:
    shared = share(app, world)
    spaced = f"{shared.code[:4]} {shared.code[4:]}"
    answer = enter_code(client, shared, spaced)
    assert answer.status_code == 303
    assert answer.headers["location"] == shared.home
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{links.COOKIE_PREFIX}{shared.link.id}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert f"Path={shared.home}" in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert 13 * 86400 < max_age <= 14 * 86400

    listing = client.get(shared.home)
    assert listing.status_code == 200
    assert "front-door.png" in listing.text
    assert f'href="{shared.item_url}"' in listing.text
    assert "witness.png" not in listing.text
    assert "Disclosure before the first hearing" in listing.text

    with TestClient(app, base_url="http://testserver") as other_browser:
        refused = other_browser.get(shared.home)
        assert refused.status_code == 403
        assert "already been used" in refused.text
        again = other_browser.post(
            shared.home,
            data={"code": shared.code, "csrf_token": csrf_of(other_browser.get("/login").text)},
            follow_redirects=False,
        )
        assert again.status_code == 403
        assert "already been used" in again.text
        assert other_browser.get(shared.item_url, follow_redirects=False).status_code == 303


def test_the_code_form_needs_its_csrf_token(app: FastAPI, client: TestClient, world: World) -> None:
    shared = share(app, world)
    client.get(shared.home)
    answer = client.post(shared.home, data={"code": shared.code}, follow_redirects=False)
    assert answer.status_code == 403
    assert fresh_link(world, shared).code_used_at is None


def test_items_need_the_code_first(app: FastAPI, client: TestClient, world: World) -> None:
    shared = share(app, world)
    for url in (shared.item_url, shared.item_url + "/media", shared.item_url + "/download"):
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == shared.home
    kinds = [e.kind for e in custody.events_for(world.db, item_ids=[shared.item.id])]
    assert "viewed" not in kinds and "downloaded" not in kinds


def test_views_and_downloads_are_audited_and_in_the_custody_log(
    app: FastAPI, client: TestClient, world: World
) -> None:
    shared = share(app, world, watermark=False)
    assert enter_code(client, shared, shared.code).status_code == 303
    page = client.get(shared.item_url)
    assert page.status_code == 200
    assert f'src="{shared.item_url}/media"' in page.text
    assert "Every view and download through this link is recorded" in page.text
    assert shared.item.sha256 in page.text
    shown = client.get(shared.item_url + "/media")
    assert shown.status_code == 200 and shown.content == shared.original
    saved = client.get(shared.item_url + "/download")
    assert saved.status_code == 200
    assert saved.headers["content-disposition"].startswith("attachment")
    assert saved.content == shared.original

    events = custody.events_for(world.db, item_ids=[shared.item.id])
    kinds = [e.kind for e in events]
    # The item page and the original's bytes shown on it are each a recorded view.
    assert kinds.count("viewed") == 2 and kinds.count("downloaded") == 1
    for event in events:
        if event.kind in ("viewed", "downloaded"):
            assert SOLICITOR_EMAIL in event.actor and "share link" in event.actor
            assert shared.link.id in event.entry
    actions = set(
        world.db.scalars(
            select(AuditEvent.action).where(AuditEvent.record_id == shared.item.id)
        ).all()
    )
    assert {"evidence_item.viewed", "evidence_item.downloaded"} <= actions


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.convert("RGB").tobytes()


def test_a_watermark_marks_the_copy_and_never_the_original(
    app: FastAPI, client: TestClient, world: World
) -> None:
    shared = share(app, world, watermark=True)
    assert enter_code(client, shared, shared.code).status_code == 303
    page = client.get(shared.item_url)
    assert "marked with your name" in page.text
    saved = client.get(shared.item_url + "/download")
    assert saved.status_code == 200
    assert saved.headers["content-type"] == "image/png"
    assert "watermarked" in saved.headers["content-disposition"]
    with Image.open(io.BytesIO(saved.content)) as marked:
        assert marked.size == (120, 80)
    assert _pixels(saved.content) != _pixels(shared.original)
    shown = client.get(shared.item_url + "/media")
    assert shown.status_code == 200
    assert shown.headers["content-disposition"].startswith("inline")
    assert _pixels(shown.content) != _pixels(shared.original)
    with app.state.blobs.open(shared.item.sha256) as stored:
        kept = stored.read()
    assert kept == shared.original
    assert hashlib.sha256(kept).hexdigest() == shared.item.sha256
    kinds = [e.kind for e in custody.events_for(world.db, item_ids=[shared.item.id])]
    assert "downloaded" in kinds


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_withdrawn_or_expired_link_stops_every_page_at_once(
    app: FastAPI, client: TestClient, world: World, how: str
) -> None:
    shared = share(app, world)
    assert enter_code(client, shared, shared.code).status_code == 303
    assert client.get(shared.item_url).status_code == 200
    if how == "revoked":
        links.revoke_link(world.db, world.principal("supervisor"), shared.link.id)
        message = "withdrawn by the force that shared it"
    else:
        fresh_link(world, shared).expires_at = utcnow() - timedelta(minutes=1)
        message = "This link expired on"
    world.db.flush()
    before = len(custody.events_for(world.db, item_ids=[shared.item.id]))
    for url in (
        shared.home,
        shared.item_url,
        shared.item_url + "/media",
        shared.item_url + "/download",
    ):
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code == 410, url
        assert message in answer.text
        assert "This link cannot be used" in answer.text
    token = csrf_of(client.get("/login").text)
    answer = client.post(shared.home, data={"code": shared.code, "csrf_token": token})
    assert answer.status_code == 410 and message in answer.text
    assert len(custody.events_for(world.db, item_ids=[shared.item.id])) == before


def test_unknown_links_and_items_outside_the_link_are_not_found(
    app: FastAPI, client: TestClient, world: World
) -> None:
    shared = share(app, world)
    unknown = client.get("/evidence/link/not-a-real-token")
    assert unknown.status_code == 404
    assert "This link is not valid" in unknown.text
    assert client.get("/evidence/link/" + "x" * 500).status_code == 404
    assert enter_code(client, shared, shared.code).status_code == 303
    elsewhere = f"{shared.home}/items/{shared.not_shared.id}"
    for url in (elsewhere, elsewhere + "/media", elsewhere + "/download", shared.home + "/items/x"):
        assert client.get(url).status_code == 404, url
    kinds = [e.kind for e in custody.events_for(world.db, item_ids=[shared.not_shared.id])]
    assert "viewed" not in kinds and "downloaded" not in kinds


def test_the_recipient_name_is_escaped(app: FastAPI, client: TestClient, world: World) -> None:
    hostile = '<script>alert("boo")</script> & Co'
    shared = share(app, world, recipient=hostile)
    page = client.get(shared.home)
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;boo&#34;)&lt;/script&gt; &amp; Co" in page.text
    assert enter_code(client, shared, shared.code).status_code == 303
    for url in (shared.home, shared.item_url):
        assert "<script>alert" not in client.get(url).text


@pytest.mark.skipif(not media.ffmpeg_available(), reason="ffmpeg is not installed")
def test_a_watermarked_video_plays_and_downloads_as_a_marked_copy(
    app: FastAPI, client: TestClient, world: World, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
            "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(clip),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    shared = share(app, world, data=clip.read_bytes(), name="doorbell.mp4")
    assert enter_code(client, shared, shared.code).status_code == 303
    page = client.get(shared.item_url)
    assert f'<video controls preload="metadata" width="640" src="{shared.item_url}/media"' in (
        page.text
    )
    saved = client.get(shared.item_url + "/download")
    assert saved.status_code == 200
    assert saved.headers["content-type"] == "video/mp4"
    assert saved.content != shared.original
    with app.state.blobs.open(shared.item.sha256) as stored:
        assert stored.read() == shared.original


# --- in a real browser, as the recipient ---------------------------------------------------------

browser = web.browser  # the system Chromium fixture of the browser suites, used here too


def live_link(server: LiveServer) -> tuple[str, str]:
    """A link to one photo of a new demo case on the live server: (token, code)."""
    sessions = sessionmaker(bind=server.engine, expire_on_commit=False)
    store = blob_store_from_settings(server.settings)
    with transaction(sessions) as session:
        user = session.scalar(select(User).where(User.email == "supervisor@wessex.police.example"))
        assert user is not None
        supervisor = principal_for_user(user)
        case = service.open_case(session, supervisor, "Theft from a car on Station Road")
        ref = store.put_stream([png_bytes(320, 200)])
        service.add_item(
            session,
            supervisor,
            service.NewItem(ref.sha256, ref.size, "image/png", "image", "dashcam.png", "upload"),
            case=case,
        )
        _, token, code = links.create_link(
            session,
            supervisor,
            case.id,
            recipient_name=SOLICITOR,
            recipient_email=SOLICITOR_EMAIL,
        )
        return token, code


@pytest.mark.browser
@pytest.mark.parametrize("step", ["code", "wrong code", "items", "item"])
def test_the_link_pages_have_no_serious_accessibility_violations(
    browser: Browser, live_server: LiveServer, step: str
) -> None:
    token, code = live_link(live_server)
    home = f"{live_server.url}/evidence/link/{token}"

    def visit(page: Page) -> None:
        page.goto(home)
        expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
        if step == "code":
            return
        page.get_by_label("Code").fill(code if step != "wrong code" else wrong_code(code))
        page.get_by_role("button", name="Open the evidence").click()
        if step == "wrong code":
            expect(page.locator(".govuk-error-summary")).to_contain_text("4 more tries")
            return
        expect(page.get_by_role("heading", level=1)).to_contain_text(SOLICITOR)
        if step == "item":
            page.get_by_role("link", name="dashcam.png", exact=True).click()
            expect(page.get_by_role("img", name="dashcam.png")).to_be_visible()

    _, violations = axe_violations(browser, visit)
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, blocking
