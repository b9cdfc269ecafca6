"""HTTP plumbing shared by every route: request ids, security headers, size limits, problems."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from peel.core.audit import client_ip_var, request_id_var
from peel.core.config import Settings
from peel.core.db import write_intent
from peel.core.errors import Conflict, InvalidInput, TooManyAttempts
from peel.core.policy import Forbidden, NotFound

log = structlog.get_logger("peel.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CSRF_COOKIE = "peel_csrf"
SQLITE_WRITERS = 4
SESSION_COOKIE = "peel_session"
PROBLEM_JSON = "application/problem+json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def problem_response(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    errors: list[dict[str, str]] | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem details document."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


#: Reads that write too (an audit entry for a sensitive read, a custody event for a view):
#: on SQLite they take the write lock up front like any write, rather than failing when
#: they upgrade a read transaction while a background job writes.
AUDITED_READS = (
    "/evidence/",
    "/api/v1/evidence/",
    "/staff/reports/",
    "/api/v1/reports/",
    "/bulletins/",
    "/api/v1/bulletins/",
    "/api/v1/anpr/search/",
    "/anpr/history",
    "/anpr/convoy",
    "/anpr/clones",
    "/anpr/visitors",
    "/anpr/stakeout",
    "/anpr/county-lines",
    "/fusion/queue",
    "/fusion/entities/",
    "/fusion/groups",
    "/fusion/sources/",
    "/api/v1/fusion/queue",
    "/api/v1/fusion/entities/",
    "/api/v1/fusion/groups",
    "/api/v1/fusion/sources/",
)

#: Writes that happen in the handler's own sessions, not the request's transaction (live ANPR
#: reads are handed to the intake, which writes alerts itself); taking the request's write
#: lock there would make SQLite wait on itself.
OWN_TRANSACTION_WRITES = ("/api/v1/anpr/reads",)


def takes_write_lock(method: str, path: str) -> bool:
    """Whether a request's transaction should start as a writer (SQLite: BEGIN IMMEDIATE)."""
    if path.startswith(OWN_TRANSACTION_WRITES):
        return False
    return method not in ("GET", "HEAD", "OPTIONS") or path.startswith(AUDITED_READS)


#: Paths whose next segment is a bearer secret (evidence share links): never logged.
SECRET_PATH_PREFIXES = ("/evidence/link/",)


def loggable_path(path: str) -> str:
    """The path with any secret segment replaced, so tokens never reach the logs."""
    for prefix in SECRET_PATH_PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix) :].split("/", 1)
            return prefix + "…" + ("/" + rest[1] if len(rest) > 1 else "")
    return path


class PeelMiddleware:
    """One pure-ASGI layer: request id, client address, CSRF cookie, headers, body limit, log."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        body_limits: tuple[tuple[str, int | None], ...] = (),
    ):
        """``body_limits`` gives path prefixes their own limit (None: the route enforces one)."""
        self.app = app
        self.settings = settings
        self.body_limits = body_limits
        self.csp = CSP
        sqlite = settings.resolved_database_url.startswith("sqlite")
        self.write_gate = asyncio.Semaphore(SQLITE_WRITERS) if sqlite else None
        if settings.map_tile_url:
            origin = "/".join(settings.map_tile_url.split("/")[:3])
            self.csp = CSP.replace(
                "img-src 'self' data: blob:", f"img-src 'self' data: blob: {origin}"
            )
        self.secure = settings.served_over_tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        given_id = headers.get("x-request-id", "")
        request_id = given_id if _REQUEST_ID.match(given_id) else uuid.uuid4().hex
        client = scope.get("client")
        ip = client[0] if client else None
        request_id_var.set(request_id)
        client_ip_var.set(ip)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        state = scope.setdefault("state", {})
        nonce = _cookie(headers.get("cookie", ""), CSRF_COOKIE)
        new_nonce = None if nonce and len(nonce) >= 32 else secrets.token_urlsafe(32)
        state["csrf_nonce"] = nonce if new_nonce is None else new_nonce
        state["request_id"] = request_id
        path: str = scope["path"]
        limit: int | None = self.settings.max_request_bytes
        for prefix, prefix_limit in self.body_limits:
            if path.startswith(prefix):
                limit = prefix_limit
                break
        writes = takes_write_lock(scope["method"], path)
        write_intent.set(writes)
        started = time.perf_counter()
        status_holder = {"status": 500, "sent": False, "refused": False}

        async def send_wrapper(message: Message) -> None:
            if status_holder["refused"]:
                return  # the 413 has gone; whatever the app says after it is dropped
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["sent"] = True
                message["headers"] = self._headers(
                    message.get("headers", []), request_id, new_nonce, path
                )
            await send(message)

        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not status_holder["sent"]:
                    await self._too_large(scope, send_wrapper, limit)
                    status_holder["refused"] = True
                    return {"type": "http.disconnect"}
            return message

        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            response = problem_response(
                422,
                "The request has invalid fields",
                "The address contains a NUL character, which Peel cannot store",
                instance=path,
            )
            await response(scope, _empty_receive, send_wrapper)
            return
        declared = headers.get("content-length")
        if limit is not None and declared and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, send_wrapper, limit)
        elif writes and self.write_gate is not None and not path.startswith("/api/v1/uploads"):
            # SQLite writers queue for one lock; waiting in worker threads could use them all
            # and starve the holder, so only a few writing requests are let in at a time.
            async with self.write_gate:
                await self.app(scope, limited_receive, send_wrapper)
        else:
            await self.app(scope, limited_receive, send_wrapper)
        log.info(
            "request",
            method=scope["method"],
            path=loggable_path(path),
            status=status_holder["status"],
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        structlog.contextvars.unbind_contextvars("request_id")

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        response = problem_response(
            413,
            detail=f"The request body is larger than the limit of {limit} bytes",
            instance=scope["path"],
        )
        await response(scope, _empty_receive, send)

    def _headers(
        self, raw: list[tuple[bytes, bytes]], request_id: str, new_nonce: str | None, path: str
    ) -> list[tuple[bytes, bytes]]:
        existing = {k.lower() for k, _ in raw}
        extra: list[tuple[str, str]] = [
            ("x-request-id", request_id),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
            ("x-frame-options", "DENY"),
            ("cross-origin-opener-policy", "same-origin"),
            ("permissions-policy", "camera=(), microphone=(), geolocation=(self)"),
        ]
        if b"content-security-policy" not in existing:
            extra.append(("content-security-policy", self.csp))
        if b"cache-control" not in existing and not path.startswith("/static/"):
            extra.append(("cache-control", "no-store"))
        if self.secure:
            extra.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
        if new_nonce is not None:
            cookie = f"{CSRF_COOKIE}={new_nonce}; Path=/; HttpOnly; SameSite=Lax"
            extra.append(("set-cookie", cookie + ("; Secure" if self.secure else "")))
        return list(raw) + [(k.encode(), v.encode("latin-1")) for k, v in extra]


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value or None
    return None


def wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def field_errors_from_validation(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        errors.append({"field": ".".join(loc) or "body", "message": error.get("msg", "invalid")})
    return errors


def install_problem_handlers(app: Any, html_error: Callable[..., Response]) -> None:
    """Turn every error into a problem+json document (or an HTML page for browsers)."""

    def respond(
        request: Request,
        status: int,
        title: str | None = None,
        detail: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        if wants_html(request):
            return html_error(request, status, title or HTTPStatus(status).phrase, detail)
        extra = dict(headers) if headers else None
        return problem_response(status, title, detail, errors, request.url.path, extra)

    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"Nothing is found at {request.url.path}"
        return respond(request, exc.status_code, None, detail, headers=exc.headers)

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = field_errors_from_validation(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return respond(request, 422, "The request has invalid fields", detail, errors)

    async def on_invalid(request: Request, exc: InvalidInput) -> Response:
        errors = [{"field": k, "message": v} for k, v in exc.errors.items()]
        status = 409 if isinstance(exc, Conflict) else 422
        return respond(request, status, exc.title, str(exc), errors)

    async def on_not_found(request: Request, exc: NotFound) -> Response:
        return respond(request, 404, None, str(exc))

    async def on_forbidden(request: Request, exc: Forbidden) -> Response:
        return respond(request, 403, None, str(exc) or "You may not do this")

    async def on_throttled(request: Request, exc: TooManyAttempts) -> Response:
        return respond(
            request, 429, None, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)}
        )

    async def on_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", path=loggable_path(request.url.path))
        return respond(
            request,
            500,
            None,
            "Something went wrong on our side. Quote the request id if you report it.",
        )

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(InvalidInput, on_invalid)
    app.add_exception_handler(NotFound, on_not_found)
    app.add_exception_handler(Forbidden, on_forbidden)
    app.add_exception_handler(TooManyAttempts, on_throttled)
    app.add_exception_handler(Exception, on_error)
