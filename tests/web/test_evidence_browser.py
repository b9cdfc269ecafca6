"""Digital evidence in a real browser: an officer opens a case and uploads a photo with tus.

The system Chromium is driven by Playwright against a live server holding the demo data, as in
tests/web/test_browser.py: never downloads a browser; without one the tests skip, except in CI
(CI=true), where a missing browser (or axe-core) is a failure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer, png_bytes
from tests.web.conftest import BLOCKING_IMPACTS, axe_violations, new_context

pytestmark = pytest.mark.browser

OFFICER = ("officer@wessex.police.example", "demo-officer-password")
SUPERVISOR = ("supervisor@wessex.police.example", "demo-supervisor-password")
PHOTO = png_bytes(24, 16)
TITLE = "Criminal damage to a bus shelter, Station Road"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = new_context(browser)
    yield ctx.new_page()
    ctx.close()


def sign_in(page: Page, server: LiveServer, who: tuple[str, str] = OFFICER) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email address").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")


def blocking(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in violations
        if v["impact"] in BLOCKING_IMPACTS
    ]


def test_officer_uploads_a_photo_with_the_resumable_uploader(
    browser: Browser, page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/evidence")
    page.get_by_role("link", name="Open a case").click()
    page.get_by_label("Title").fill(TITLE)
    page.get_by_role("button", name="Open case").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    case_url = page.url.split("?", 1)[0]
    assert re.fullmatch(rf"{re.escape(live_server.url)}/evidence/cases/[0-9a-f]{{32}}", case_url)

    chooser = page.get_by_label("Choose files")
    expect(chooser).to_have_attribute("data-enhanced", "true")
    expect(page.get_by_role("button", name="Add files")).to_be_hidden()
    chooser.set_input_files({"name": "shelter.png", "mimeType": "image/png", "buffer": PHOTO})

    # When every file is in, the page reloads with the new file in the table.
    expect(page).to_have_url(f"{case_url}?done=uploaded#items")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Files added")
    files = page.locator("#items + table")
    expect(files).to_contain_text("shelter.png")

    files.get_by_role("link", name="shelter.png").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("shelter.png")
    expect(page.get_by_role("main")).to_contain_text(hashlib.sha256(PHOTO).hexdigest())
    expect(page.locator("table").last).to_contain_text("Received")
    item_url = page.url

    # The officer's view, and the supervisor's with the sharing, link and delete forms.
    for who, url in ((OFFICER, case_url), (OFFICER, item_url), (SUPERVISOR, case_url)):
        assert_accessible(browser, live_server, url, who)
    assert_accessible(browser, live_server, item_url, SUPERVISOR)


def assert_accessible(browser: Browser, server: LiveServer, url: str, who: tuple[str, str]) -> None:
    def visit(p: Page) -> None:
        sign_in(p, server, who)
        p.goto(url)
        expect(p.get_by_role("heading", level=1)).to_be_visible()

    checked, violations = axe_violations(browser, visit)
    for v in violations:
        print(f"{checked} as {who[0]}: {v['id']} ({v['impact']}): {v['help']}")
    problems = blocking(violations)
    assert not problems, f"serious or critical accessibility violations on {checked}:\n" + (
        "\n".join(problems)
    )


@pytest.mark.parametrize(
    "path",
    [
        "/evidence",
        "/evidence/cases/new",
        "/evidence/unfiled",
        "/evidence/shared",
        "/evidence/holds",
        "/evidence/retention",
        "/evidence/log",
    ],
)
def test_evidence_pages_have_no_serious_accessibility_violations(
    browser: Browser, live_server: LiveServer, path: str
) -> None:
    assert_accessible(browser, live_server, f"{live_server.url}{path}", SUPERVISOR)
