"""FastAPI dependencies: the request's transaction, who is asking, CSRF-checked forms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from peel.core.config import Settings
from peel.core.identity import (
    client_for_bearer,
    principal_for_client,
    principal_for_user,
    session_for_token,
)
from peel.core.principal import ANONYMOUS, Principal
from peel.core.security import csrf_token_for, csrf_valid

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """A page needs a signed-in person; browsers are sent to the sign-in page."""


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """The request's one transaction: committed when the handler succeeds, else rolled back.

    Used with ``scope="function"`` so the commit happens before the response is sent: a
    browser that follows a redirect at once must find what the previous request wrote.
    """
    session: Session = request.app.state.sessions()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        if "locked" in str(exc.orig):
            raise HTTPException(
                503, "The database is busy; try again in a moment", headers={"Retry-After": "1"}
            ) from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DB = Annotated[Session, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]


def csrf_token(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return csrf_token_for(settings.secret_key, request.state.csrf_nonce)


def current_principal(request: Request, db: DB) -> Principal:
    """Bearer token first, then the session cookie; otherwise anonymous."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = _resolve(request, db)
    request.state.principal = principal
    return principal


def _resolve(request: Request, db: Session) -> Principal:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        client = client_for_bearer(db, token.strip()) if scheme.lower() == "bearer" else None
        if client is None:
            raise HTTPException(
                401,
                "The bearer token is unknown, expired or revoked",
                headers={"WWW-Authenticate": 'Bearer realm="peel"'},
            )
        return principal_for_client(client)
    web_session = session_for_token(db, request.cookies.get("peel_session"))
    if web_session is None or web_session.second_factor_pending:
        return ANONYMOUS
    if request.url.path.startswith("/api/") and request.method not in SAFE_METHODS:
        settings: Settings = request.app.state.settings
        if not csrf_valid(
            settings.secret_key, request.state.csrf_nonce, request.headers.get(CSRF_HEADER)
        ):
            raise HTTPException(403, "Cookie-authenticated API calls need the X-CSRF-Token header")
    return principal_for_user(web_session.user)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_principal(principal: CurrentPrincipal) -> Principal:
    """For API routes: 401 without credentials."""
    if not principal.is_authenticated:
        raise HTTPException(
            401,
            "Sign in or send a bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="peel"'},
        )
    return principal


def require_person(principal: CurrentPrincipal) -> Principal:
    """For web pages: send anonymous visitors to the sign-in page."""
    if not principal.is_person:
        raise LoginRequired
    return principal


Authenticated = Annotated[Principal, Depends(require_principal)]
Person = Annotated[Principal, Depends(require_person)]


async def csrf_form(request: Request) -> FormData:
    """Parse a submitted form, refusing it unless it carries this browser's CSRF token."""
    form = await request.form()
    settings: Settings = request.app.state.settings
    submitted = form.get("csrf_token")
    if not isinstance(submitted, str) or not csrf_valid(
        settings.secret_key, request.state.csrf_nonce, submitted
    ):
        raise HTTPException(
            403,
            "This form has expired or did not come from Peel. Go back, reload the page "
            "and try again.",
        )
    bad = sorted(
        {key for key, value in form.multi_items() if isinstance(value, str) and "\x00" in value}
    )
    if bad:
        raise HTTPException(
            422, "These fields contain a NUL character, which text cannot hold: " + ", ".join(bad)
        )
    return form


CsrfForm = Annotated[FormData, Depends(csrf_form)]
