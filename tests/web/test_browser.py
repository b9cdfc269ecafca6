"""Peel in a real browser: the system Chromium, driven by Playwright against a live server.

Never downloads a browser: Chromium comes from $PEEL_TEST_CHROMIUM or the PATH. Without one
the tests skip, except in CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import LiveServer
from tests.web.conftest import (
    BLOCKING_IMPACTS,
    axe_violations,
    new_context,
)

pytestmark = pytest.mark.browser


OFFICER = ("officer@wessex.police.example", "demo-officer-password")
ANALYST = ("analyst@wessex.police.example", "demo-analyst-password")
AUDITOR = ("auditor@wessex.police.example", "demo-auditor-password")

AMBER_TITLE = "Child exploitation concerns around Station Road"
AMBER_TEXT = "Several young people seen with unexplained new phones and cash"
RED_TITLE = "Informant-sensitive: planned warrant"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, server: LiveServer, email: str, password: str) -> None:
    """Sign in through the real form and land on the home page."""
    page.goto(f"{server.url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(
        page.get_by_role("banner").get_by_role("button", name="Sign out"),
        f"the page after signing in as {email} should be signed in",
    ).to_be_visible()


def sign_out(page: Page, server: LiveServer) -> None:
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/login?signed_out=1")


def summary_value(page: Page, key: str) -> Any:
    """The value cell of the home page's summary-list row whose key is `key`."""
    row = page.locator(".govuk-summary-list__row").filter(
        has=page.locator(".govuk-summary-list__key", has_text=re.compile(f"^{re.escape(key)}$"))
    )
    return row.locator(".govuk-summary-list__value")


def check_sign_in_and_out(page: Page, server: LiveServer) -> None:
    sign_in(page, server, *OFFICER)
    main = page.get_by_role("main")
    expect(page).to_have_title("Home – Peel")
    expect(summary_value(page, "Signed in as")).to_contain_text("PC Sam Patel")
    expect(summary_value(page, "Organisation")).to_have_text("Wessex Police (demo)")
    expect(summary_value(page, "Role")).to_have_text("Officer")
    expect(main.get_by_role("link", name="Bulletins", exact=True)).to_have_attribute(
        "href", "/bulletins"
    )
    header = page.get_by_role("banner")
    expect(header).to_contain_text("PC Sam Patel")
    expect(header).to_contain_text("Wessex Police (demo)")

    sign_out(page, server)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Peel")
    expect(page.get_by_role("alert")).to_contain_text("You have signed out")
    expect(page.get_by_role("banner").get_by_role("button", name="Sign out")).to_have_count(0)

    page.goto(f"{server.url}/")
    expect(page).to_have_title("Welcome – Peel")
    start = page.get_by_role("main").get_by_role("button", name="Sign in")
    expect(start).to_have_attribute("href", "/login")
    expect(page.get_by_text("PC Sam Patel")).to_have_count(0)


def test_sign_in_and_out(page: Page, live_server: LiveServer) -> None:
    check_sign_in_and_out(page, live_server)
    # GOV.UK Frontend's JavaScript ran (loaded as a module, as the CSP requires).
    expect(page.locator("body")).to_have_class(re.compile(r"\bjs-enabled\b"))


def test_sign_in_and_out_without_javascript(browser: Browser, live_server: LiveServer) -> None:
    ctx = new_context(browser, java_script_enabled=False)
    try:
        page = ctx.new_page()
        check_sign_in_and_out(page, live_server)
        expect(page.locator("body")).not_to_have_class(re.compile(r"\bjs-enabled\b"))
    finally:
        ctx.close()


def test_wrong_password_shows_error_summary(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email address").fill(OFFICER[0])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_title("Error: Sign in – Peel")
    summary = page.locator(".govuk-error-summary")
    expect(summary.get_by_role("heading", level=2)).to_have_text("There is a problem")
    link = summary.get_by_role("link", name="Enter a correct email address and password")
    expect(link).to_have_attribute("href", "#email")
    # GOV.UK Frontend moves focus to the summary, so screen readers announce it first.
    expect(summary).to_be_focused()
    email = page.get_by_label("Email address")
    expect(email).to_have_id("email")
    expect(email).to_have_value(OFFICER[0])
    expect(email).to_have_attribute("aria-describedby", "email-error")
    expect(page.locator("#email-error")).to_contain_text(
        "Enter a correct email address and password"
    )
    link.click()
    expect(email).to_be_focused()


def test_bulletins_follow_tlp(browser: Browser, live_server: LiveServer) -> None:
    officer_ctx = new_context(browser)
    analyst_ctx = new_context(browser)
    try:
        page = officer_ctx.new_page()
        sign_in(page, live_server, *OFFICER)
        page.get_by_role("main").get_by_role("link", name="Bulletins", exact=True).click()
        expect(page).to_have_url(f"{live_server.url}/bulletins")
        expect(page.get_by_role("heading", level=1)).to_have_text("Bulletins")
        red_link = page.get_by_role("link", name=RED_TITLE)
        expect(red_link).to_be_visible()
        red_href = red_link.get_attribute("href")
        assert red_href and red_href.startswith("/bulletins/")

        page.get_by_role("link", name=AMBER_TITLE).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(AMBER_TITLE)
        expect(page.get_by_role("main")).to_contain_text("TLP:AMBER")
        expect(page.get_by_role("main")).to_contain_text(AMBER_TEXT)

        page = analyst_ctx.new_page()
        sign_in(page, live_server, *ANALYST)
        page.goto(f"{live_server.url}/bulletins")
        expect(page.get_by_role("link", name=AMBER_TITLE)).to_be_visible()
        expect(page.get_by_role("link", name=RED_TITLE)).to_have_count(0)
        expect(page.get_by_text(RED_TITLE)).to_have_count(0)
        # Nor can the analyst open it by address.
        response = page.goto(f"{live_server.url}{red_href}")
        assert response is not None and response.status in (403, 404), response
        expect(page.get_by_text("Do not discuss outside the named group")).to_have_count(0)
    finally:
        officer_ctx.close()
        analyst_ctx.close()


# --- accessibility: axe-core, WCAG 2.0/2.1/2.2 A and AA --------------------------------------


def _anonymous_home(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/")


def _login(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")


def _login_error(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email address").fill("nobody@wessex.police.example")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()


def _home(page: Page, server: LiveServer) -> None:
    sign_in(page, server, *OFFICER)


def _bulletins(page: Page, server: LiveServer) -> None:
    sign_in(page, server, *OFFICER)
    page.goto(f"{server.url}/bulletins")
    expect(page.get_by_role("link", name=AMBER_TITLE)).to_be_visible()


def _account(page: Page, server: LiveServer) -> None:
    sign_in(page, server, *OFFICER)
    page.goto(f"{server.url}/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")


def _audit(page: Page, server: LiveServer) -> None:
    sign_in(page, server, *AUDITOR)
    page.goto(f"{server.url}/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")


AXE_PAGES = [
    pytest.param(_anonymous_home, id="anonymous-home"),
    pytest.param(_login, id="login"),
    pytest.param(_login_error, id="login-error"),
    pytest.param(_home, id="home"),
    pytest.param(_bulletins, id="bulletins"),
    pytest.param(_account, id="account"),
    pytest.param(_audit, id="audit-as-auditor"),
]


def _describe(violation: dict[str, Any]) -> str:
    first = (
        violation["nodes"][0] if violation["nodes"] else {"target": [], "html": "", "failure": ""}
    )
    failure = str(first["failure"]).replace("\n", "\n    ")
    return (
        f"{violation['id']} ({violation['impact']}): {violation['help']}\n"
        f"    first of {len(violation['nodes'])} node(s): {first['target']} {first['html']}\n"
        f"    {failure}\n"
        f"    {violation['helpUrl']}"
    )


@pytest.mark.parametrize("visit", AXE_PAGES)
def test_pages_have_no_serious_accessibility_violations(
    browser: Browser, live_server: LiveServer, visit: Any
) -> None:
    _, violations = axe_violations(browser, lambda page: visit(page, live_server))
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    for violation in violations:
        print(_describe(violation))
    assert not blocking, "serious or critical accessibility violations:\n" + "\n".join(
        _describe(v) for v in blocking
    )


def test_screenshot_of_home_page(page: Page, live_server: LiveServer, tmp_path: Path) -> None:
    sign_in(page, live_server, *OFFICER)
    expect(page.get_by_role("heading", level=1)).to_have_text("Peel")
    shot = tmp_path / "home.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert shot.stat().st_size > 1000
