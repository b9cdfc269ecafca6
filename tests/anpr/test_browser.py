"""ANPR in a real browser: a planted convoy found from the UI, the history time slider, and an
alert sent through the live path appearing in the alert list without a reload.

The system Chromium drives a uvicorn server holding a small region (tests/anpr/web_fixtures.py)
in its own database and data folder. Never downloads a browser; without one the tests skip,
except in CI, where that is a failure.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy.orm import sessionmaker

from peel.anpr import hotlists, pages, search_views
from peel.app import create_app
from peel.core import migrate
from peel.core import service as core_service
from peel.core.config import Environment, Settings
from peel.core.db import build_engine, transaction
from peel.core.enums import Role
from peel.core.identity import principal_for_user
from peel.core.schemas import ApiClientCreate
from tests.anpr.web_fixtures import CITY, FOLLOWER, TARGET, Region, add_cameras_to_db, write_region
from tests.conftest import (
    BOOTSTRAP,
    PASSWORD,
    database_url_for,
    drop_postgres_database,
    make_org,
    make_user,
    served,
)
from tests.web.conftest import BLOCKING_IMPACTS, axe_violations, new_context
from tests.web.conftest import browser as browser  # the shared system-Chromium fixture

pytestmark = pytest.mark.browser

OFFICER = "officer@anpr-browser.example"
WANTED = "WA51NTD"
LIVE_PATH = importlib.util.find_spec("peel.anpr.ingest") is not None


@dataclass
class AnprServer:
    url: str
    region: Region
    token: str


def anpr_app(settings: Settings) -> FastAPI:
    """The app with every ANPR router and the live path, whether or not app.py wires them yet."""
    app = create_app(settings)
    paths = {getattr(r, "path", "") for r in app.routes}
    if "/anpr" not in paths:
        app.include_router(pages.router)
    if "/api/v1/anpr/search/clones" not in paths:
        app.include_router(search_views.router)
    if LIVE_PATH:
        from peel.anpr import views as live_views
        from peel.anpr.live import LiveIngest
        from peel.anpr.store import ReadStore

        if "/anpr/alerts/stream" not in paths:
            app.include_router(live_views.router)
        if not hasattr(app.state, "anpr_live"):
            app.state.anpr_live = LiveIngest(
                settings, app.state.sessions, app.state.events, ReadStore(settings.anpr_dir)
            )
    return app


@pytest.fixture(scope="module")
def anpr_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnprServer]:
    folder = tmp_path_factory.mktemp("anpr-browser")
    url = database_url_for(backend, folder, "anprweb")
    settings = Settings(
        env=Environment.test, data_dir=folder / "var", database_url=url, log_level="WARNING"
    )
    engine = build_engine(url)
    migrate.upgrade(engine)
    with transaction(sessionmaker(bind=engine, expire_on_commit=False)) as session:
        force = make_org(session, "anpr-browser-force")
        officer = make_user(session, OFFICER, "anpr-browser-force", [Role.officer])
        session.flush()
        add_cameras_to_db(session, force.id)
        hotlists.create_entry(
            session, principal_for_user(officer), WANTED, "Stolen in an armed robbery", 95
        )
        _, token = core_service.create_api_client(
            session,
            BOOTSTRAP,
            ApiClientCreate(
                name="Camera back office", organisation="anpr-browser-force", roles=[Role.officer]
            ),
        )
        force_id = force.id
    region = write_region(settings.anpr_dir, force_id)
    with served(anpr_app(settings)) as base:
        yield AnprServer(base, region, token)
    engine.dispose()
    if backend == "postgresql":
        from tests.conftest import _worker

        drop_postgres_database(f"peel_anprweb_{_worker()}")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, anpr_server: AnprServer) -> Page:
    page = context.new_page()
    sign_in(page, anpr_server)
    return page


def sign_in(page: Page, server: AnprServer) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email address").fill(OFFICER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")


def test_a_planted_convoy_is_found_from_the_ui(page: Page, anpr_server: AnprServer) -> None:
    page.goto(f"{anpr_server.url}/anpr")
    page.get_by_role("link", name="Convoy", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Convoy analysis")
    page.get_by_label("Target number plate").fill("ab12 cde")
    page.get_by_label("Reason for this search").fill("Op Shadow: robbery series")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#anpr-convoy > tbody > tr")
    expect(rows.first).to_contain_text("FL61 RWR")
    first = rows.first
    first.locator("summary").click()
    expect(first.locator(".peel-anpr-occasions")).to_have_text("5")
    # Five mornings past eight cameras, 20 seconds behind each time.
    evidence = first.locator(".govuk-details__text tbody tr")
    expect(evidence).to_have_count(5 * len(CITY))
    expect(evidence.first).to_contain_text("+20")
    first.get_by_role("link", name="FL61 RWR").click()
    expect(page.get_by_role("heading", name="FL61 RWR")).to_be_visible()
    sightings = len(anpr_server.region.of(FOLLOWER))
    expect(page.locator("#anpr-sightings tbody tr")).to_have_count(sightings)


def test_the_history_slider_reveals_sightings_up_to_a_time(
    page: Page, anpr_server: AnprServer
) -> None:
    trail = anpr_server.region.of(TARGET)
    page.goto(f"{anpr_server.url}/anpr/history")
    page.get_by_label("Number plate").fill(TARGET)
    page.get_by_label("Reason for this search").fill("Op Trail")
    page.get_by_role("button", name="Search").click()
    markers = page.locator("#anpr-history-map path.peel-anpr-sighting")
    expect(markers).to_have_count(len(trail))
    expect(page.locator("#anpr-history-map path.peel-anpr-path")).to_have_count(1)
    slider = page.get_by_label("Show sightings up to")
    expect(slider).to_be_visible()
    chosen = trail[11]["read_at"]
    set_range(slider, int(chosen.timestamp() * 1000))
    expect(markers).to_have_count(12)
    expect(page.locator("#anpr-time-shown")).to_contain_text("12 of 40 sightings")
    set_range(slider, 0)  # clamped to the first sighting
    expect(markers).to_have_count(1)
    expect(page.locator("#anpr-time-shown")).to_contain_text("1 of 40 sightings")
    set_range(slider, int(trail[-1]["read_at"].timestamp() * 1000))
    expect(markers).to_have_count(len(trail))


def set_range(slider: Any, value: int) -> None:
    slider.evaluate(
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }", value
    )


def test_a_live_alert_appears_without_a_reload(page: Page, anpr_server: AnprServer) -> None:
    if not LIVE_PATH:
        pytest.skip("the live path (peel.anpr.ingest, used by peel.anpr.live) is not there yet")
    page.goto(f"{anpr_server.url}/anpr")
    expect(page.locator("#anpr-alerts-empty")).to_be_visible()
    expect(page.locator("#anpr-live")).to_have_attribute("data-live", "open")
    marker = page.evaluate("() => { window.peelNoReload = true; return true; }")
    assert marker
    read_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    sent = httpx.post(
        f"{anpr_server.url}/api/v1/anpr/reads",
        headers={"authorization": f"Bearer {anpr_server.token}"},
        json={"reads": [{"camera_id": "CITY03", "plate": "wa51 ntd", "read_at": read_at}]},
        timeout=15,
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["alerts"] == 1
    alert = page.locator("#anpr-alerts li").first
    expect(alert).to_contain_text("WA51 NTD")
    expect(alert).to_contain_text("Priority 95")
    expect(alert).to_contain_text("Stolen in an armed robbery")
    expect(alert).to_contain_text("Station Road 2")
    expect(page.locator("#anpr-alerts-empty")).to_be_hidden()
    expect(page.locator(".peel-anpr-alert-pin")).to_have_count(1)
    assert page.evaluate("() => window.peelNoReload === true"), "the page was reloaded"
    # Listed by the server on the next visit: the empty-list text stays hidden.
    page.reload()
    expect(page.locator("#anpr-alerts li").first).to_contain_text("WA51 NTD")
    expect(page.locator("#anpr-alerts-empty")).to_be_hidden()


def _signed_in(server: AnprServer, path: str) -> Any:
    def visit(page: Page) -> None:
        sign_in(page, server)
        page.goto(f"{server.url}{path}")
        expect(page.get_by_role("heading", level=1)).to_be_visible()

    return visit


@pytest.mark.parametrize(
    "path",
    [
        "/anpr",
        f"/anpr/convoy?plate={TARGET}&reason=Op+Axe",
        f"/anpr/history?plate={TARGET}&reason=Op+Axe",
        "/anpr/hotlists",
        "/anpr/stakeout",
    ],
)
def test_anpr_pages_have_no_serious_accessibility_violations(
    browser: Browser, anpr_server: AnprServer, path: str
) -> None:
    url, violations = axe_violations(browser, _signed_in(anpr_server, path))
    serious = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not serious, f"{url}: {serious}"
