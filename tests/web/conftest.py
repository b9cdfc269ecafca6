"""The system Chromium, driven by Playwright, shared by every browser test module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
IN_CI = os.environ.get("CI") == "true"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Keep a failing run quick: Peel's pages answer in milliseconds on this machine.
TIMEOUT_MS = 10_000
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING_IMPACTS = {"serious", "critical"}


def unavailable(reason: str) -> None:
    """Skip locally; in CI a missing browser or tool must fail the run, not hide it."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true, so this is a failure rather than a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("PEEL_TEST_CHROMIUM") or shutil.which("chromium")
    if not executable:
        unavailable(
            "no system Chromium: install Debian's `chromium` package "
            "or set PEEL_TEST_CHROMIUM to a Chromium binary"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


AXE_RUN = """async (tags) => {
    const results = await axe.run(document, {
        runOnly: {type: 'tag', values: tags},
        resultTypes: ['violations'],
    });
    const violations = results.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({
            target: n.target,
            html: n.html,
            failure: n.failureSummary || '',
        })),
    }));
    return {violations, rulesPassed: results.passes.length};
}"""


def axe_violations(browser: Browser, visit: Callable[[Page], None]) -> tuple[str, list[Any]]:
    """Open a page with ``visit`` and return its URL and axe-core's WCAG A/AA violations."""
    if not AXE_JS.is_file():
        unavailable(f"axe-core is not installed ({AXE_JS} missing): run `npm ci`")
    # Peel's CSP forbids inline script; axe is injected as one, so this context bypasses it.
    ctx = new_context(browser, bypass_csp=True)
    try:
        page = ctx.new_page()
        visit(page)
        url = page.url
        page.add_script_tag(path=str(AXE_JS))
        results: dict[str, Any] = page.evaluate(AXE_RUN, WCAG_TAGS)
    finally:
        ctx.close()
    assert results["rulesPassed"] > 0, "axe-core checked nothing: was it injected?"
    return url, results["violations"]


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    ctx = browser.new_context(**options)
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx
