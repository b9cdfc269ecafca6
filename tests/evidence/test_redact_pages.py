"""The redaction page: suggested faces a person confirms, typed and drawn boxes, the job."""

from __future__ import annotations

import hashlib
import re
import subprocess
from html import unescape
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peel.core.blobstore import blob_store_from_settings
from peel.core.db import transaction
from peel.core.identity import principal_for_user
from peel.core.models import Job, User
from peel.evidence import custody, demo_media, media, processing, service
from peel.evidence.models import EvidenceItem
from tests.conftest import LiveServer, World, csrf_of, sign_in
from tests.web import conftest as web
from tests.web.conftest import BLOCKING_IMPACTS, axe_violations, new_context

OFFICER = "officer@force.example"


def add_file(
    app: FastAPI,
    world: World,
    path: Path,
    content_type: str,
    kind: str,
    sessions: sessionmaker[Session] | None = None,
) -> EvidenceItem:
    """A new item in a new case; with ``sessions``, described as the upload job would do."""
    officer = world.principal("officer")
    case = service.open_case(world.db, officer, "Assault outside the Crown")
    ref = app.state.blobs.put_file(path)
    item = service.add_item(
        world.db,
        officer,
        service.NewItem(
            sha256=ref.sha256,
            size=ref.size,
            content_type=content_type,
            kind=kind,
            name=path.name,
            source="upload",
        ),
        case=case,
    )
    world.db.flush()
    if sessions is not None:
        processing.process_item(sessions, app.state.blobs, item.id, officer)
        world.db.expire_all()
    return item


@pytest.fixture(scope="module")
def street_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "street.jpg"
    demo_media.make_face_photo(path)
    return path


@pytest.fixture
def photo(
    app: FastAPI, world: World, street_photo: Path, sessions: sessionmaker[Session]
) -> EvidenceItem:
    return add_file(app, world, street_photo, "image/jpeg", "image", sessions)


def suggestions(page: str) -> list[str]:
    return re.findall(r'name="face" type="checkbox" value="([^"]+)" checked', page)


def error_summary(page: str) -> list[str]:
    summary = page.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0]
    return [unescape(m).strip() for m in re.findall(r'<a href="#[^"]+">([^<]+)</a>', summary)]


def post_boxes(
    client: TestClient, item: EvidenceItem, page: str, **fields: str | list[str]
) -> httpx.Response:
    data: dict[str, str | list[str]] = {"csrf_token": csrf_of(page), "mode": "blur"}
    data["suggested"] = re.findall(r'name="suggested" value="([^"]+)"', page)
    data.update(fields)
    return client.post(f"/evidence/items/{item.id}/redact", data=data, follow_redirects=False)


def copy_of(world: World, item: EvidenceItem) -> EvidenceItem:
    world.db.expire_all()
    copies = world.db.scalars(
        select(EvidenceItem).where(EvidenceItem.derived_from_id == item.id)
    ).all()
    assert len(copies) == 1
    return copies[0]


def copy_count(world: World, item: EvidenceItem) -> int:
    world.db.expire_all()
    return len(
        world.db.scalars(select(EvidenceItem).where(EvidenceItem.derived_from_id == item.id)).all()
    )


def test_the_page_suggests_faces_for_a_person_to_confirm(
    client: TestClient, world: World, photo: EvidenceItem
) -> None:
    sign_in(client, OFFICER)
    page = client.get(f"/evidence/items/{photo.id}/redact")
    assert page.status_code == 200
    assert "Suggested face 1: " in page.text
    label = re.search(r"Suggested face 1: (\d+), (\d+), (\d+) × (\d+) pixels", page.text)
    assert label is not None
    found = suggestions(page.text)
    assert len(found) >= 1
    assert found[0] == ",".join(label.groups())
    assert "The original is never changed" in page.text
    assert "new item linked to the original" in page.text and "custody log" in page.text
    assert 'name="box-1-x"' in page.text and 'name="box-3-height"' in page.text
    assert 'name="box-1-start"' not in page.text  # times are for video only
    assert 'value="blur"' in page.text and 'value="black"' in page.text
    assert 'src="/static/evidence/redact.js"' in page.text
    assert 'data-width="1024" data-height="768"' in page.text
    assert "<script>" not in page.text
    assert f'<img id="redact-picture" src="/evidence/items/{photo.id}/preview"' in page.text
    assert client.get(f"/evidence/items/{photo.id}/preview").status_code == 200


def test_a_photo_not_yet_prepared_can_still_be_redacted_by_numbers(
    client: TestClient, world: World, app: FastAPI, street_photo: Path
) -> None:
    item = add_file(app, world, street_photo, "image/jpeg", "image")
    sign_in(client, OFFICER)
    page = client.get(f"/evidence/items/{item.id}/redact")
    assert page.status_code == 200
    assert "still being prepared" in page.text
    assert 'id="redact-picture"' not in page.text
    assert "Suggested face 1: " in page.text
    assert 'name="box-1-x"' in page.text


def test_redacting_a_suggested_face_makes_a_linked_copy_and_keeps_the_original(
    client: TestClient, world: World, photo: EvidenceItem, app: FastAPI
) -> None:
    sign_in(client, OFFICER)
    page = client.get(f"/evidence/items/{photo.id}/redact").text
    face = suggestions(page)[0]
    answer = post_boxes(client, photo, page, face=[face], mode="black")
    assert answer.status_code == 303
    job_id = answer.headers["location"].removeprefix("/jobs/")
    assert answer.headers["location"] == f"/jobs/{job_id}"
    job = world.db.get(Job, job_id)
    assert job is not None and job.status == "done", job and job.message
    assert client.get(answer.headers["location"]).status_code == 200

    copy = copy_of(world, photo)
    assert job.result and job.result["item"] == copy.id
    assert copy.source == "redaction" and copy.case_id == photo.case_id
    assert copy.derivation and copy.derivation["mode"] == "black"
    x, y, width, height = (int(n) for n in face.split(","))
    assert copy.derivation["boxes"][0]["x"] == x

    with app.state.blobs.open(photo.sha256) as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == photo.sha256
    with app.state.blobs.open(photo.sha256) as stored, Image.open(stored) as before:
        original = np.asarray(before.convert("RGB"), dtype=np.int16)
    with app.state.blobs.open(copy.sha256) as stored, Image.open(stored) as after:
        redacted = np.asarray(after.convert("RGB"), dtype=np.int16)
    assert redacted.shape == original.shape
    inside = (slice(y + 2, y + height - 2), slice(x + 2, x + width - 2))
    assert redacted[inside].max() <= 8  # blacked out
    assert np.abs(original[inside] - redacted[inside]).mean() > 30
    assert np.abs(original[:40, :40] - redacted[:40, :40]).mean() < 3  # outside is kept

    events = custody.events_for(world.db, item_ids=[photo.id, copy.id])
    assert [e.kind for e in events if e.item_id == photo.id][-1] == "redacted"
    assert copy.id in [e for e in events if e.kind == "redacted"][-1].entry
    assert "received" in [e.kind for e in events if e.item_id == copy.id]


def test_typed_boxes_are_redacted_and_unticked_suggestions_are_not(
    client: TestClient, world: World, photo: EvidenceItem, app: FastAPI
) -> None:
    sign_in(client, OFFICER)
    page = client.get(f"/evidence/items/{photo.id}/redact").text
    answer = post_boxes(
        client,
        photo,
        page,
        **{"box-1-x": "10", "box-1-y": "20", "box-1-width": "30", "box-1-height": "40"},
        drawn=["100,100,50,60"],
    )
    assert answer.status_code == 303
    copy = copy_of(world, photo)
    assert copy.derivation is not None
    assert [(b["x"], b["y"], b["width"], b["height"]) for b in copy.derivation["boxes"]] == [
        (10, 20, 30, 40),
        (100, 100, 50, 60),
    ]
    assert copy.derivation["mode"] == "blur"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"box-1-x": "-5", "box-1-y": "0", "box-1-width": "10", "box-1-height": "10"},
            "Box 1: x must not be negative, but is -5",
        ),
        (
            {"box-2-x": "5000", "box-2-y": "0", "box-2-width": "10", "box-2-height": "10"},
            "Box 2: x is 5000, outside the picture, which is 1024 pixels wide",
        ),
        (
            {"box-3-x": "5", "box-3-y": "900", "box-3-width": "10", "box-3-height": "10"},
            "Box 3: y is 900, outside the picture, which is 768 pixels high",
        ),
        (
            {"box-1-x": "5", "box-1-y": "5", "box-1-width": "0", "box-1-height": "10"},
            "Box 1: width must be at least 1 pixel, but is 0",
        ),
        (
            {"box-1-x": "1.5", "box-1-y": "5", "box-1-width": "10", "box-1-height": "10"},
            "Box 1: x must be a whole number of pixels",
        ),
        ({"box-2-x": "5", "box-2-y": "5"}, "Box 2: enter the width in pixels"),
        ({"drawn": "2000,5,10,10"}, "Drawn box 1: x is 2000, outside the picture"),
        ({}, "Tick a suggested face, draw a box or enter one to redact"),
        (
            {"mode": "pixelate", "drawn": "5,5,10,10"},
            "Choose how to hide the boxes: blur or black out",
        ),
    ],
)
def test_bad_boxes_are_named_in_the_error_summary(
    client: TestClient,
    world: World,
    photo: EvidenceItem,
    fields: dict[str, str],
    message: str,
) -> None:
    sign_in(client, OFFICER)
    page = client.get(f"/evidence/items/{photo.id}/redact").text
    answer = post_boxes(client, photo, page, **fields)
    assert answer.status_code == 400
    assert "govuk-error-summary" in answer.text
    assert answer.text.count("<title>Error: ") == 1
    assert any(line.startswith(message) for line in error_summary(answer.text)), error_summary(
        answer.text
    )
    # The form comes back as it was sent, suggestions (unticked: none was sent) included.
    assert "Suggested face 1: " in answer.text
    assert suggestions(answer.text) == []
    for name, value in fields.items():
        if name.startswith("box-"):
            assert f'name="{name}" type="text"' in answer.text
            assert f'value="{value}"' in answer.text
    anchors = re.findall(r'<a href="#([^"]+)">', answer.text.split("govuk-error-summary__list")[1])
    for anchor in anchors[:1]:
        assert f'id="{anchor}"' in answer.text
    assert copy_count(world, photo) == 0


def test_the_form_is_refused_without_its_csrf_token(
    client: TestClient, world: World, photo: EvidenceItem
) -> None:
    sign_in(client, OFFICER)
    page = client.get(f"/evidence/items/{photo.id}/redact").text
    answer = client.post(
        f"/evidence/items/{photo.id}/redact",
        data={"face": suggestions(page)[0], "mode": "blur"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert copy_count(world, photo) == 0
    assert world.db.scalar(select(Job).where(Job.kind == "evidence.redact")) is None


def test_a_prosecutor_with_the_case_shared_can_view_but_not_redact(
    client: TestClient, world: World, photo: EvidenceItem
) -> None:
    assert photo.case_id is not None
    service.share(world.db, world.principal("supervisor"), "test-cps", case_id=photo.case_id)
    world.db.flush()
    lawyer = world.principal("lawyer")
    assert service.access_item(world.db, lawyer, photo.id)[0].id == photo.id
    sign_in(client, "lawyer@cps.example")
    page = client.get(f"/evidence/items/{photo.id}/redact", headers={"accept": "text/html"})
    assert page.status_code == 403
    assert "not edit it" in page.text
    token = csrf_of(client.get("/").text)
    answer = client.post(
        f"/evidence/items/{photo.id}/redact",
        data={"csrf_token": token, "drawn": "5,5,10,10", "mode": "blur"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert copy_count(world, photo) == 0


def test_others_and_anonymous_visitors_cannot_reach_the_page(
    client: TestClient, world: World, photo: EvidenceItem
) -> None:
    answer = client.get(f"/evidence/items/{photo.id}/redact", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    sign_in(client, "teacher@school.example")
    assert client.get(f"/evidence/items/{photo.id}/redact").status_code == 404


def test_only_photos_and_videos_can_be_redacted(
    client: TestClient, world: World, app: FastAPI, tmp_path: Path
) -> None:
    path = tmp_path / "statement.pdf"
    path.write_bytes(b"%PDF-1.4\n%%EOF\n")
    item = add_file(app, world, path, "application/pdf", "document")
    sign_in(client, OFFICER)
    page = client.get(f"/evidence/items/{item.id}/redact")
    assert page.status_code == 409
    assert "Only photos and videos can be redacted" in page.text
    assert 'name="box-1-x"' not in page.text


def test_a_picture_that_cannot_be_read_says_faces_were_not_looked_for(
    client: TestClient, world: World, app: FastAPI, tmp_path: Path
) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    item = add_file(app, world, path, "image/jpeg", "image")
    sign_in(client, OFFICER)
    page = client.get(f"/evidence/items/{item.id}/redact")
    assert page.status_code == 200
    assert "Faces could not be looked for automatically" in page.text
    assert "Draw or enter the boxes yourself" in page.text
    assert 'name="box-1-x"' in page.text


def make_clip(photo_path: Path, out: Path) -> None:
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-loop", "1", "-i", str(photo_path), "-t", "2", "-r", "10",
            "-vf", "scale=640:480", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(out),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip


@pytest.mark.skipif(not media.ffmpeg_available(), reason="ffmpeg is not installed")
def test_a_video_gets_timed_suggestions_and_a_redacted_copy(
    client: TestClient,
    world: World,
    app: FastAPI,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    still = tmp_path / "still.jpg"
    demo_media.make_face_photo(still, seed=3)
    clip = tmp_path / "doorbell.mp4"
    make_clip(still, clip)
    item = add_file(app, world, clip, "video/mp4", "video", sessions)
    sign_in(client, OFFICER)
    page = client.get(f"/evidence/items/{item.id}/redact")
    assert page.status_code == 200
    assert 'name="box-1-start"' in page.text and 'name="box-1-end"' in page.text
    assert '<video id="redact-picture"' in page.text
    assert f'poster="/evidence/items/{item.id}/thumb"' in page.text
    assert 'data-width="640" data-height="480" data-duration="2.0"' in page.text
    assert re.search(
        r"Suggested face 1: \d+, \d+, \d+ × \d+ pixels, from [\d.]+ s to [\d.]+ s", page.text
    )
    late = post_boxes(
        client,
        item,
        page.text,
        **{"box-1-x": "0", "box-1-y": "0", "box-1-width": "8", "box-1-height": "8",
           "box-1-start": "30"},
    )  # fmt: skip
    assert late.status_code == 400
    assert "Box 1: start is 30 s, after the clip ends at 2 s" in unescape(late.text)
    answer = post_boxes(
        client,
        item,
        page.text,
        face=suggestions(page.text)[:1],
        **{"box-1-x": "0", "box-1-y": "0", "box-1-width": "64", "box-1-height": "48",
           "box-1-start": "0.5", "box-1-end": "1.5"},
    )  # fmt: skip
    assert answer.status_code == 303
    copy = copy_of(world, item)
    assert copy.kind == "video" and copy.content_type == "video/mp4"
    assert copy.derivation is not None
    timed = [b for b in copy.derivation["boxes"] if b["x"] == 0 and b["y"] == 0]
    assert timed == [{"x": 0, "y": 0, "width": 64, "height": 48, "start": 0.5, "end": 1.5}]
    with app.state.blobs.open(item.sha256) as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == item.sha256
    kinds = [e.kind for e in custody.events_for(world.db, item_ids=[item.id])]
    assert kinds[-1] == "redacted"


# --- in a real browser: drawing with the mouse and the keyboard ---------------------------------

DEMO_OFFICER = ("officer@wessex.police.example", "demo-officer-password")
browser = web.browser  # the system Chromium fixture of the browser suites, used here too


def live_item(server: LiveServer, path: Path, content_type: str, kind: str) -> str:
    """An item in a new case of the demo force on the live server, described and previewable."""
    sessions = sessionmaker(bind=server.engine, expire_on_commit=False)
    store = blob_store_from_settings(server.settings)
    with transaction(sessions) as session:
        user = session.scalar(select(User).where(User.email == DEMO_OFFICER[0]))
        assert user is not None
        officer = principal_for_user(user)
        case = service.open_case(session, officer, "Criminal damage on Market Street")
        ref = store.put_file(path)
        item = service.add_item(
            session,
            officer,
            service.NewItem(ref.sha256, ref.size, content_type, kind, path.name, "upload"),
            case=case,
        )
        item_id = item.id
    processing.process_item(sessions, store, item_id, "test setup")
    return item_id


def browser_sign_in(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email address").fill(DEMO_OFFICER[0])
    page.get_by_label("Password").fill(DEMO_OFFICER[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")


@pytest.mark.browser
def test_boxes_drawn_with_mouse_and_keyboard_are_redacted(
    browser: Browser, live_server: LiveServer, street_photo: Path
) -> None:
    item_id = live_item(live_server, street_photo, "image/jpeg", "image")
    context = new_context(browser, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    try:
        browser_sign_in(page, live_server)
        page.goto(f"{live_server.url}/evidence/items/{item_id}/redact")
        canvas = page.get_by_role("application", name="The photo with the boxes to redact")
        expect(canvas).to_be_visible()
        expect(page.locator("#redact-picture")).to_be_hidden()
        page.get_by_label(re.compile(r"^Suggested face 1: ")).uncheck()

        canvas.scroll_into_view_if_needed()
        area = canvas.bounding_box()
        assert area is not None and area["width"] == 960  # 1024 pixels shown 960 wide
        page.mouse.move(area["x"] + 30, area["y"] + 60)
        page.mouse.down()
        page.mouse.move(area["x"] + 150, area["y"] + 135, steps=4)
        page.mouse.up()
        expect(page.locator("#drawn-1")).to_contain_text("Drawn box 1: 32, 64, 128 × 80 pixels")

        canvas.focus()
        page.keyboard.press("n")  # a box in the middle, a fifth of the shorter side
        expect(page.locator("#drawn-2")).to_contain_text("Drawn box 2: 435, 307, 154 × 154")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("Shift+ArrowUp")
        expect(page.locator("#drawn-2")).to_contain_text("Drawn box 2: 425, 307, 154 × 144")
        page.keyboard.press("n")
        page.keyboard.press("Delete")
        expect(page.locator("#drawn-3")).to_have_count(0)
        expect(page.locator('input[name="drawn"]')).to_have_count(2)

        page.get_by_label("Black out").check()
        page.get_by_role("button", name="Make a redacted copy").click()
        expect(page.get_by_text("Redacted copy saved")).to_be_visible()
    finally:
        context.close()

    sessions = sessionmaker(bind=live_server.engine, expire_on_commit=False)
    with transaction(sessions) as session:
        copy = session.scalar(select(EvidenceItem).where(EvidenceItem.derived_from_id == item_id))
        assert copy is not None and copy.derivation is not None
        assert copy.derivation["mode"] == "black"
        boxes = [(b["x"], b["y"], b["width"], b["height"]) for b in copy.derivation["boxes"]]
    assert boxes == [(32, 64, 128, 80), (425, 307, 154, 144)]


@pytest.mark.browser
def test_without_javascript_the_typed_rows_do_the_job(
    browser: Browser, live_server: LiveServer, street_photo: Path
) -> None:
    item_id = live_item(live_server, street_photo, "image/jpeg", "image")
    context = new_context(browser, java_script_enabled=False)
    page = context.new_page()
    try:
        browser_sign_in(page, live_server)
        page.goto(f"{live_server.url}/evidence/items/{item_id}/redact")
        expect(page.locator("#redact-picture")).to_be_visible()
        expect(page.locator("canvas")).to_have_count(0)
        expect(page.get_by_label(re.compile(r"^Suggested face 1: "))).to_be_checked()
        page.locator("#box-1-x").fill("-3")
        page.locator("#box-1-y").fill("5")
        page.locator("#box-1-width").fill("40")
        page.locator("#box-1-height").fill("20")
        page.get_by_role("button", name="Make a redacted copy").click()
        summary = page.locator(".govuk-error-summary")
        expect(summary).to_contain_text("Box 1: x must not be negative, but is -3")
        summary.get_by_role("link").first.click()
        expect(page.locator("#box-1-x")).to_be_focused()
        page.locator("#box-1-x").fill("3")
        page.get_by_role("button", name="Make a redacted copy").click()
        expect(page.get_by_text("Redacted copy saved")).to_be_visible()
    finally:
        context.close()


@pytest.mark.browser
def test_the_redaction_page_has_no_serious_accessibility_violations(
    browser: Browser, live_server: LiveServer, street_photo: Path
) -> None:
    item_id = live_item(live_server, street_photo, "image/jpeg", "image")

    def visit(page: Page) -> None:
        browser_sign_in(page, live_server)
        page.goto(f"{live_server.url}/evidence/items/{item_id}/redact")
        page.get_by_role("application").focus()
        page.keyboard.press("n")

    _, violations = axe_violations(browser, visit)
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, blocking
