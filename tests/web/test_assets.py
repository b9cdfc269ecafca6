"""The built front-end assets and the base layout."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import Environment, FileSystemLoader

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "peel" / "web"
PEEL_CSS = WEB / "static" / "vendor" / "peel.css"
TEMPLATES = WEB / "templates"

needs_built_assets = pytest.mark.skipif(
    not PEEL_CSS.is_file(),
    reason=(
        "front-end assets not built: run `npm ci && python scripts/build_assets.py` "
        "to create src/peel/web/static/vendor/peel.css"
    ),
)


@needs_built_assets
def test_peel_css_is_built_from_govuk_frontend_without_gds_transport() -> None:
    assert PEEL_CSS.is_file()
    css = PEEL_CSS.read_text(encoding="utf-8")
    assert ".govuk-header" in css
    assert "GDS Transport" not in css
    assert ".tlp-amber-strict" in css


def test_base_layout_escapes_user_data_and_has_no_inline_script() -> None:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    principal = SimpleNamespace(
        is_authenticated=True,
        display_name="<script>alert(1)</script>",
        organisation_name="Example Constabulary",
        role_labels=["Officer"],
    )
    html = env.get_template("base.html").render(
        principal=principal,
        nav=[{"href": "/", "label": "Home", "active": True}],
        csrf_token="token-123",
    )

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    script_tags = re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE)
    assert script_tags, "the layout should load /static/peel.js"
    assert all(re.search(r"\bsrc=", tag) for tag in script_tags), script_tags
    assert not re.search(r"\sstyle=", html, flags=re.IGNORECASE)
    assert 'action="/logout"' in html
    assert 'name="csrf_token" value="token-123"' in html
