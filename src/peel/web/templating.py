"""Jinja2 rendering with the layout's shared context (who is signed in, navigation, CSRF)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from peel.capabilities import available_to
from peel.core.deps import csrf_token
from peel.core.enums import TLP
from peel.core.principal import ANONYMOUS, Principal

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.autoescape = True


def _datetime(value: Any) -> str:
    if value is None:
        return ""
    return str(value.strftime("%d %b %Y %H:%M UTC"))


def _org_options(orgs: Any) -> list[tuple[str, str]]:
    return [(o.code, o.name) for o in orgs]


templates.env.filters["datetime"] = _datetime
templates.env.filters["org_options"] = _org_options
templates.env.filters["tlp"] = TLP


def nav_for(principal: Principal, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"href": "/", "label": "Home"}]
    items += [{"href": c.href, "label": c.name} for c in available_to(principal) if c.in_nav]
    for item in items:
        href = item["href"]
        item["active"] = (
            path == href
            or (href != "/" and path.startswith(href + "/"))
            or (href != "/" and path == href)
        )
    return items


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    principal = getattr(request.state, "principal", None) or ANONYMOUS
    ctx: dict[str, Any] = {
        "principal": principal,
        "nav": nav_for(principal, request.url.path),
        "csrf_token": csrf_token(request),
        "map_tiles": request.app.state.settings.map_tile_url,
        "map_attribution": request.app.state.settings.map_attribution,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, template, ctx, status_code=status)
