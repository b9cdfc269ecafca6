"""Fusion in a real browser: a reviewer opens the queue, a red child's page, and decides.

The system Chromium drives a uvicorn server holding the planted multi-agency picture
(tests/fusion/web_fixtures.py) in its own database. Never downloads a browser; without one
the tests skip, except in CI, where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy.orm import sessionmaker

from peel.app import create_app
from peel.core import migrate
from peel.core.config import Environment, Settings
from peel.core.db import build_engine, transaction
from peel.core.enums import OrganisationType, Role
from tests.conftest import (
    PASSWORD,
    _worker,
    database_url_for,
    drop_postgres_database,
    make_org,
    make_user,
    served,
)
from tests.fusion.web_fixtures import plant
from tests.web.conftest import BLOCKING_IMPACTS, axe_violations, new_context
from tests.web.conftest import browser as browser  # the shared system-Chromium fixture

pytestmark = pytest.mark.browser

REVIEWER = "reviewer@council-browser.example"


@dataclass
class FusionServer:
    url: str
    amy: str
    knife_record: str


@pytest.fixture(scope="module")
def fusion_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FusionServer]:
    folder = tmp_path_factory.mktemp("fusion-browser")
    url = database_url_for(backend, folder, "fusionweb")
    settings = Settings(
        env=Environment.test, data_dir=folder / "var", database_url=url, log_level="WARNING"
    )
    engine = build_engine(url)
    migrate.upgrade(engine)
    with transaction(sessionmaker(bind=engine, expire_on_commit=False)) as session:
        orgs = {
            "force": make_org(session, "browser-force"),
            "council": make_org(session, "browser-council", OrganisationType.local_authority),
        }
        make_user(session, REVIEWER, "browser-council", [Role.officer])
        session.flush()
        pic = plant(session, orgs)
        planted = FusionServer("", pic.amy["council"], pic.records["knife"].id)
    with served(create_app(settings)) as base:
        yield FusionServer(base, planted.amy, planted.knife_record)
    engine.dispose()
    if backend == "postgresql":
        drop_postgres_database(f"peel_fusionweb_{_worker()}")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


def sign_in(page: Page, server: FusionServer) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email address").fill(REVIEWER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")


def test_a_reviewer_opens_a_red_child_and_records_a_decision(
    context: BrowserContext, fusion_server: FusionServer
) -> None:
    page = context.new_page()
    sign_in(page, fusion_server)
    page.goto(f"{fusion_server.url}/fusion")
    page.get_by_role("link", name="Open the review queue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    expect(page.locator("#fusion-people-decide")).to_contain_text(
        "Indicators inform, people decide"
    )
    red = page.locator('#fusion-queue tbody tr[data-rag="red"]')
    expect(red).to_have_count(1)
    red.get_by_role("link", name="Amy Smith").click()
    expect(page).to_have_url(f"{fusion_server.url}/fusion/entities/{fusion_server.amy}")
    expect(page.locator("#fusion-entity-name")).to_contain_text("Amy Smith")
    expect(page.locator("#fusion-entity-name .govuk-tag")).to_have_text("Red")
    # The timeline runs across agencies, the A&E attendance among the police's episodes.
    timeline = page.locator("#fusion-timeline tbody tr")
    expect(timeline).to_have_count(4)
    knife_row = timeline.nth(2)
    expect(knife_row).to_have_attribute("data-record-id", fusion_server.knife_record)
    expect(knife_row).to_contain_text("Test Health")
    knife = page.locator('[data-indicator="knife-ae"]')
    expect(knife).to_contain_text("A&E attendance with a knife injury")
    expect(knife.locator("tbody tr")).to_have_count(2)
    chart = page.locator("#entity-network svg.peel-fusion-network")
    expect(chart).to_be_visible()
    expect(chart.locator("g.peel-fusion-node")).to_have_count(8)
    expect(chart.locator("g.peel-fusion-node--key")).to_have_count(1)
    # The decision, recorded through the plain form.
    page.get_by_label("Strategy discussion").check()
    page.get_by_label("Reason for your decision").fill("Knife injury and three missing episodes")
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("Decision recorded")
    history = page.locator("#fusion-decisions tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("Strategy discussion")
    expect(history.first).to_contain_text("Knife injury and three missing episodes")


def test_a_network_node_opens_its_own_page(
    context: BrowserContext, fusion_server: FusionServer
) -> None:
    page = context.new_page()
    sign_in(page, fusion_server)
    page.goto(f"{fusion_server.url}/fusion/entities/{fusion_server.amy}")
    page.locator('#entity-network g.peel-fusion-node[data-schema="Address"] rect').click()
    expect(page.locator("#fusion-entity-name")).to_contain_text("4 Canal Row")


@pytest.mark.parametrize("path", ["/fusion/queue", "entity", "/fusion/groups/g-webfixture"])
def test_fusion_pages_have_no_serious_accessibility_violations(
    browser: Browser, fusion_server: FusionServer, path: str
) -> None:
    target = f"/fusion/entities/{fusion_server.amy}" if path == "entity" else path

    def visit(page: Page) -> None:
        sign_in(page, fusion_server)
        page.goto(f"{fusion_server.url}{target}")
        expect(page.get_by_role("heading", level=1)).to_be_visible()

    url, violations = axe_violations(browser, visit)
    serious = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not serious, f"{url}: {serious}"
