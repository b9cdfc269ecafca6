"""Reporting a crime in a real browser, as a member of the public, with and without JavaScript.

The system Chromium is driven by Playwright against a live server holding the demo data, as in
tests/web/test_browser.py: never downloads a browser; without one the tests skip, except in CI
(CI=true), where a missing browser (or axe-core) is a failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.conftest import LiveServer, png_bytes
from tests.web.conftest import (
    BLOCKING_IMPACTS,
    axe_violations,
    new_context,
)

pytestmark = pytest.mark.browser


OFFICER = ("officer@wessex.police.example", "demo-officer-password")
REPORTER_EMAIL = "val.victim@example.com"
DESCRIPTION = "Someone forced the shed door overnight and took two bikes."
GRID_REFERENCE = "SZ 08 91"
WHEN = date.today() - timedelta(days=3)
RECEIVED = "We have received your report."


@pytest.fixture
def js_page(browser: Browser) -> Iterator[Page]:
    ctx = new_context(browser)
    yield ctx.new_page()
    ctx.close()


@pytest.fixture
def nojs_page(browser: Browser) -> Iterator[Page]:
    ctx = new_context(browser, java_script_enabled=False)
    yield ctx.new_page()
    ctx.close()


def png_file(name: str) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/png", "buffer": png_bytes(8, 8)}


# --- steps of the form, as a person would answer them --------------------------------------


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def continue_(page: Page) -> None:
    page.get_by_role("button", name="Continue", exact=True).click()


def start_report(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/report")
    expect(heading(page)).to_have_text("Report a crime or incident")
    page.get_by_role("button", name="Start now").click()
    expect(page).to_have_url(f"{server.url}/report/safety")
    page.get_by_label("No", exact=True).check()
    continue_(page)
    expect(page).to_have_url(f"{server.url}/report/what")


def answer_what(page: Page) -> None:
    expect(heading(page)).to_have_text("What happened?")
    page.get_by_label("Burglary", exact=True).check()
    continue_(page)


def answer_where_by_grid_reference(page: Page) -> None:
    expect(heading(page)).to_have_text("Where did it happen?")
    page.get_by_label("An Ordnance Survey grid reference").check()
    page.get_by_label("Grid reference", exact=True).fill(GRID_REFERENCE)
    page.get_by_label("Describe the place (optional)").fill("The back garden")
    continue_(page)


def answer_when(page: Page) -> None:
    expect(heading(page)).to_have_text("When did it happen?")
    page.get_by_label("Day", exact=True).fill(str(WHEN.day))
    page.get_by_label("Month", exact=True).fill(str(WHEN.month))
    page.get_by_label("Year", exact=True).fill(str(WHEN.year))
    page.get_by_label("Time (optional)").fill("21:30")
    continue_(page)


def answer_details(page: Page) -> None:
    expect(heading(page)).to_have_text("Tell us what happened")
    page.get_by_label("What happened?").fill(DESCRIPTION)
    continue_(page)


def answer_contact(page: Page) -> None:
    expect(heading(page)).to_have_text("How can we contact you?")
    page.get_by_label("Give my contact details").check()
    page.get_by_label("Full name").fill("Val Victim")
    page.get_by_label("Email address").fill(REPORTER_EMAIL)
    continue_(page)


def summary_value(page: Page, key: str) -> Locator:
    row = page.locator(".govuk-summary-list__row").filter(
        has=page.locator(".govuk-summary-list__key", has_text=re.compile(f"^{re.escape(key)}$"))
    )
    return row.locator(".govuk-summary-list__value")


def send_report(page: Page) -> tuple[str, str]:
    """Send from the check page; returns the reference and the tracking code as shown."""
    page.get_by_role("button", name="Send report").click()
    expect(page).to_have_title(re.compile("^Report sent"))
    expect(heading(page)).to_have_text("Report sent")
    reference = page.locator(".peel-reference")
    expect(reference).to_have_text(re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$"))
    code = page.locator(".peel-secret")
    expect(code).to_have_text(re.compile(r"^[0-9A-Z]{4} [0-9A-Z]{4} [0-9A-Z]{4}$"))
    expect(page.get_by_role("main")).to_contain_text(
        f"We have sent your reference to {REPORTER_EMAIL}"
    )
    return reference.inner_text(), code.inner_text()


def open_tracking(page: Page, server: LiveServer, reference: str, code: str) -> None:
    page.goto(f"{server.url}/track")
    expect(heading(page)).to_have_text("Track your report")
    page.get_by_label("Reference", exact=True).fill(reference)
    page.get_by_label("Tracking code", exact=True).fill(code)
    continue_(page)
    expect(page).to_have_url(f"{server.url}/track/{reference}")
    expect(heading(page)).to_have_text(f"Your report {reference}")


def sign_in(page: Page, server: LiveServer, email: str, password: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")


# --- 1. without JavaScript -----------------------------------------------------------------


def test_report_burglary_with_photo_then_track_without_javascript(
    nojs_page: Page, live_server: LiveServer
) -> None:
    page = nojs_page
    start_report(page, live_server)
    answer_what(page)
    # Without JavaScript every way of giving the place is shown, and the map says it needs JS.
    expect(page.get_by_text("The map needs JavaScript.")).to_be_visible()
    answer_where_by_grid_reference(page)
    answer_when(page)
    answer_details(page)

    expect(heading(page)).to_have_text("Add photos or videos (optional)")
    page.get_by_label("Choose files").set_input_files(png_file("shed.png"))
    page.get_by_role("button", name="Add these files").click()
    expect(page).to_have_url(f"{live_server.url}/report/evidence")
    expect(page.locator("#added-files")).to_contain_text("shed.png")
    continue_(page)

    answer_contact(page)
    expect(page).to_have_url(f"{live_server.url}/report/check")
    expect(heading(page)).to_have_text("Check your answers before sending your report")
    expect(summary_value(page, "What happened")).to_have_text("Burglary")
    expect(summary_value(page, "Where")).to_have_text(
        f"An Ordnance Survey grid reference: {GRID_REFERENCE} – The back garden"
    )
    expect(summary_value(page, "When")).to_have_text(f"{WHEN.day}/{WHEN.month}/{WHEN.year} 21:30")
    expect(summary_value(page, "Details")).to_have_text(DESCRIPTION)
    expect(summary_value(page, "Photos and videos")).to_have_text("1 file")
    expect(summary_value(page, "Contact")).to_contain_text(REPORTER_EMAIL)

    reference, code = send_report(page)

    page.get_by_role("link", name="Track your report").click()
    open_tracking(page, live_server, reference, code)
    expect(page.locator(".peel-timeline")).to_contain_text(RECEIVED)
    expect(page.get_by_role("main")).to_contain_text("shed.png")
    page.get_by_label("Send a message to the officer").fill("The neighbour has CCTV too.")
    page.get_by_role("button", name="Send message").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text(
        "Message sent to the officer"
    )
    expect(page.locator(".peel-messages")).to_contain_text("The neighbour has CCTV too.")


# --- 2. with JavaScript: the map picker and resumable uploads ------------------------------


def answer_where_on_the_map(page: Page) -> None:
    expect(heading(page)).to_have_text("Where did it happen?")
    # GOV.UK Frontend hides the conditional parts until their option is chosen.
    pick_map = page.locator("#pick-map")
    expect(pick_map).to_be_hidden()
    page.get_by_label("A point on a map").check()
    expect(pick_map).to_be_visible()
    expect(page.get_by_text("The map needs JavaScript.")).to_be_hidden()
    expect(page.get_by_text("No background map is configured on this server.")).to_be_visible()
    expect(pick_map.locator(".leaflet-control-zoom-in")).to_be_visible()
    # The map opens on Great Britain at zoom 6; a click in its middle lands in the Midlands.
    pick_map.click()
    expect(page.locator("#map_lat")).to_have_value(re.compile(r"^\d+\.\d{6}$"))
    expect(page.locator("#map_lon")).to_have_value(re.compile(r"^-?\d+\.\d{6}$"))
    lat = float(page.locator("#map_lat").input_value())
    lon = float(page.locator("#map_lon").input_value())
    assert 51.0 < lat < 54.0 and -3.5 < lon < 0.5, (lat, lon)
    expect(pick_map.locator(".leaflet-marker-icon")).to_have_count(1)
    continue_(page)


def test_report_with_map_and_resumable_upload_reaches_the_officer(
    browser: Browser, js_page: Page, live_server: LiveServer
) -> None:
    page = js_page
    start_report(page, live_server)
    answer_what(page)
    answer_where_on_the_map(page)
    answer_when(page)
    answer_details(page)

    expect(heading(page)).to_have_text("Add photos or videos (optional)")
    # The uploader is a module script: wait until it has taken over the file input.
    expect(page.get_by_label("Choose files")).to_have_attribute("data-enhanced", "true")
    page.get_by_label("Choose files").set_input_files(png_file("doorbell.png"))
    progress = page.locator("#resumable-progress")
    expect(progress).to_contain_text("doorbell.png: uploaded")
    expect(progress.get_by_role("progressbar")).to_have_js_property("value", 100)
    expect(page.locator('input[type="hidden"][name="upload_id"]')).to_have_count(1)
    continue_(page)

    answer_contact(page)
    expect(page).to_have_url(f"{live_server.url}/report/check")
    expect(summary_value(page, "What happened")).to_have_text("Burglary")
    expect(summary_value(page, "Where")).to_have_text(
        re.compile(r"^A point on a map: \d+\.\d+, -?\d+\.\d+$")
    )
    expect(summary_value(page, "Photos and videos")).to_have_text("1 file")
    reference, _ = send_report(page)

    staff = new_context(browser)
    try:
        officer = staff.new_page()
        sign_in(officer, live_server, *OFFICER)
        officer.goto(f"{live_server.url}/staff/reports")
        expect(heading(officer)).to_have_text("Reports from the public")
        officer.get_by_role("link", name=reference, exact=True).click()
        expect(officer.get_by_role("main")).to_contain_text(DESCRIPTION)
        image = officer.get_by_role("img", name="Image sent with the report: doorbell.png")
        image.scroll_into_view_if_needed()
        expect(image).to_be_visible()
        # The bytes the browser uploaded come back as a real 8x8 image.
        expect(image).to_have_js_property("complete", True)
        expect(image).to_have_js_property("naturalWidth", 8)
    finally:
        staff.close()


# --- 3. accessibility: axe-core, WCAG 2.0/2.1/2.2 A and AA --------------------------------


def answer_until(page: Page, server: LiveServer, step: str) -> None:
    """Start a report and answer every question before `step`."""
    start_report(page, server)
    answers: list[tuple[str, Callable[[Page], None]]] = [
        ("what", answer_what),
        ("where", answer_where_by_grid_reference),
        ("when", answer_when),
        ("details", answer_details),
        ("evidence", continue_),
        ("contact", answer_contact),
    ]
    for name, answer in answers:
        expect(page).to_have_url(f"{server.url}/report/{name}")
        if name == step:
            return
        answer(page)
    expect(page).to_have_url(f"{server.url}/report/check")


def _sent(page: Page, server: LiveServer) -> tuple[str, str]:
    answer_until(page, server, "check")
    return send_report(page)


def _start(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/report")


def _safety(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/report/safety")
    expect(heading(page)).to_contain_text("Is anyone in immediate danger")


def _safety_error(page: Page, server: LiveServer) -> None:
    _safety(page, server)
    continue_(page)
    expect(page.locator(".govuk-error-summary")).to_contain_text(
        "Select yes if anyone is in immediate danger"
    )


def _call_999(page: Page, server: LiveServer) -> None:
    _safety(page, server)
    page.get_by_label("Yes", exact=True).check()
    continue_(page)
    expect(heading(page)).to_have_text("Call 999 now")


def _step(step: str) -> Callable[[Page, LiveServer], None]:
    def visit(page: Page, server: LiveServer) -> None:
        answer_until(page, server, step)

    return visit


def _where_map(page: Page, server: LiveServer) -> None:
    answer_until(page, server, "where")
    page.get_by_label("A point on a map").check()
    page.locator("#pick-map").click()
    expect(page.locator("#pick-map .leaflet-marker-icon")).to_have_count(1)


def _where_error(page: Page, server: LiveServer) -> None:
    answer_until(page, server, "where")
    continue_(page)
    expect(page).to_have_title(re.compile("^Error: "))
    expect(page.locator(".govuk-error-summary")).to_contain_text(
        "Select how you will tell us where it happened"
    )


def _evidence_uploaded(page: Page, server: LiveServer) -> None:
    answer_until(page, server, "evidence")
    expect(page.get_by_label("Choose files")).to_have_attribute("data-enhanced", "true")
    page.get_by_label("Choose files").set_input_files(png_file("cctv.png"))
    expect(page.locator("#resumable-progress")).to_contain_text("cctv.png: uploaded")


def _check(page: Page, server: LiveServer) -> None:
    answer_until(page, server, "check")
    expect(heading(page)).to_have_text("Check your answers before sending your report")


def _done(page: Page, server: LiveServer) -> None:
    _sent(page, server)


def _track(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/track")


def _track_error(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/track")
    page.get_by_label("Reference", exact=True).fill("AAAA-AAAA")
    page.get_by_label("Tracking code", exact=True).fill("AAAA AAAA AAAA")
    continue_(page)
    expect(page.locator(".govuk-error-summary")).to_contain_text(
        "The reference or tracking code is not right"
    )


def _status(page: Page, server: LiveServer) -> None:
    reference, code = _sent(page, server)
    open_tracking(page, server, reference, code)
    expect(page.locator(".peel-timeline")).to_contain_text(RECEIVED)


AXE_PAGES = [
    pytest.param(_start, id="start"),
    pytest.param(_safety, id="safety"),
    pytest.param(_safety_error, id="safety-error"),
    pytest.param(_call_999, id="call-999"),
    *(pytest.param(_step(s), id=s) for s in ("what", "where", "when", "details", "evidence")),
    pytest.param(_where_map, id="where-map"),
    pytest.param(_where_error, id="where-error"),
    pytest.param(_evidence_uploaded, id="evidence-uploaded"),
    pytest.param(_step("contact"), id="contact"),
    pytest.param(_check, id="check"),
    pytest.param(_done, id="confirmation"),
    pytest.param(_track, id="track"),
    pytest.param(_track_error, id="track-error"),
    pytest.param(_status, id="tracking-status"),
]


# GOV.UK Frontend marks radios that reveal a conditional question with aria-expanded, which
# ARIA does not allow on a radio. The Design System keeps it on purpose, because screen
# readers announce it (alphagov/govuk-frontend#979 and #2823), so exactly that is let through.
KNOWN_GOVUK_ARIA_EXPANDED = re.compile(
    r'^<input class="govuk-(radios|checkboxes)__input[^>]*\baria-controls="conditional-'
    r'[^>]*\baria-expanded="(true|false)"'
)


def _known_exception(violation: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether this node fails only because of GOV.UK Frontend's aria-expanded on a radio."""
    problems = [line.strip() for line in str(node["failure"]).splitlines()[1:] if line.strip()]
    return (
        violation["id"] == "aria-allowed-attr"
        and bool(KNOWN_GOVUK_ARIA_EXPANDED.match(str(node["html"])))
        and len(problems) == 1
        and bool(
            re.fullmatch(
                r'ARIA attribute is not allowed: aria-expanded="(true|false)"', problems[0]
            )
        )
    )


def _describe(violation: dict[str, Any], nodes: list[dict[str, Any]] | None = None) -> str:
    nodes = violation["nodes"] if nodes is None else nodes
    lines = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} "
        f"- {len(nodes)} node(s), {violation['helpUrl']}"
    ]
    for node in nodes[:5]:
        failure = str(node["failure"]).replace("\n", "\n        ")
        lines.append(f"    {node['target']} {node['html']}\n        {failure}")
    return "\n".join(lines)


@pytest.mark.parametrize("visit", AXE_PAGES)
def test_reporting_pages_have_no_serious_accessibility_violations(
    browser: Browser, live_server: LiveServer, visit: Callable[[Page, LiveServer], None]
) -> None:
    url, violations = axe_violations(browser, lambda page: visit(page, live_server))
    blocking: list[str] = []
    for violation in violations:
        print(f"{url}: {_describe(violation)}")
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        nodes = [n for n in violation["nodes"] if not _known_exception(violation, n)]
        if nodes:
            blocking.append(_describe(violation, nodes))
    assert not blocking, f"serious or critical accessibility violations on {url}:\n" + "\n".join(
        blocking
    )
