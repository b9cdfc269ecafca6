"""Web pages of the core: home, sign in and out, account, jobs and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import segno
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from peel.capabilities import available_to
from peel.core import service
from peel.core.audit import AuditQuery, search_audit
from peel.core.deps import DB, AppSettings, CsrfForm, CurrentPrincipal, Person
from peel.core.errors import InvalidInput, TooManyAttempts
from peel.core.http import SESSION_COOKIE
from peel.core.identity import (
    authenticate,
    check_throttle,
    complete_second_factor,
    end_session,
    session_for_token,
    start_session,
)
from peel.core.jobs import get_job, visible_jobs
from peel.core.models import User
from peel.core.security import new_totp_secret, totp_uri, verify_password, verify_totp
from peel.core.views import audit_scope
from peel.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the sign-in page cannot be used to redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _set_session_cookie(response: Response, token: str, settings: AppSettings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=settings.served_over_tls,
        path="/",
    )


@router.get("/")
def home(request: Request, principal: CurrentPrincipal) -> Response:
    return render(request, "core/home.html", {"capabilities": available_to(principal)})


@router.get("/login")
def login_form(request: Request, principal: CurrentPrincipal, next: str | None = None) -> Response:
    if principal.is_person:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "core/login.html", {"next": _safe_next(next), "errors": {}})


@router.post("/login")
def login(request: Request, form: CsrfForm, db: DB, settings: AppSettings) -> Response:
    email = str(form.get("email", "")).strip()[:254]
    password = str(form.get("password", ""))[:1024]
    target = _safe_next(str(form.get("next", "/")))
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = "Enter your email address"
    if not password:
        errors["password"] = "Enter your password"
    context = {"next": target, "email": email, "errors": errors}
    if errors:
        return render(request, "core/login.html", context, status=400)
    ip = request.client.host if request.client else None
    try:
        result = authenticate(db, settings, email, password, ip)
    except TooManyAttempts as exc:
        context["errors"] = {"email": str(exc)}
        return render(request, "core/login.html", context, status=429)
    if result.user is None:
        context["errors"] = {"email": result.error or "Sign-in failed"}
        return render(request, "core/login.html", context, status=400)
    token, web_session = start_session(db, settings, result.user, ip)
    destination = target
    if web_session.second_factor_pending:
        destination = f"/login/code?next={target}"
    response = RedirectResponse(destination, status_code=303)
    _set_session_cookie(response, token, settings)
    return response


@router.get("/login/code")
def code_form(request: Request, db: DB, next: str | None = None) -> Response:
    web_session = session_for_token(db, request.cookies.get(SESSION_COOKIE))
    if web_session is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "core/login_code.html", {"next": _safe_next(next), "errors": {}})


@router.post("/login/code")
def code_submit(request: Request, form: CsrfForm, db: DB, settings: AppSettings) -> Response:
    web_session = session_for_token(db, request.cookies.get(SESSION_COOKIE))
    target = _safe_next(str(form.get("next", "/")))
    if web_session is None:
        return RedirectResponse("/login", status_code=303)
    ip = request.client.host if request.client else None
    try:
        check_throttle(db, settings, web_session.user.email, ip)
    except TooManyAttempts as exc:
        return render(
            request,
            "core/login_code.html",
            {"next": target, "errors": {"code": str(exc)}},
            status=429,
        )
    if not complete_second_factor(db, web_session, str(form.get("code", ""))[:20]):
        return render(
            request,
            "core/login_code.html",
            {
                "next": target,
                "errors": {"code": "Enter the 6-digit code from your authenticator app"},
            },
            status=400,
        )
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, form: CsrfForm, db: DB) -> Response:
    web_session = session_for_token(db, request.cookies.get(SESSION_COOKIE))
    if web_session is not None:
        end_session(db, web_session)
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _me(db: DB, principal: Person) -> User:
    user = db.get(User, principal.user_id)
    assert user is not None
    return user


@router.get("/account")
def account(request: Request, db: DB, principal: Person) -> Response:
    return render(request, "core/account.html", {"user": _me(db, principal), "errors": {}})


@router.post("/account/password")
def change_password(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    user = _me(db, principal)
    errors: dict[str, str] = {}
    if not verify_password(user.password_hash, str(form.get("current_password", ""))):
        errors["current_password"] = "Your current password is not correct"
    new = str(form.get("new_password", ""))
    if new != str(form.get("confirm_password", "")):
        errors["confirm_password"] = "The two new passwords do not match"
    if not errors:
        try:
            service.set_password(db, principal, user, new)
        except InvalidInput as exc:
            errors["new_password"] = exc.errors["password"]
    if errors:
        return render(request, "core/account.html", {"user": user, "errors": errors}, 400)
    return render(
        request,
        "core/account.html",
        {"user": user, "errors": {}, "notice": "Your password has been changed"},
    )


def _totp_page(request: Request, user: User, secret: str, errors: dict[str, str]) -> Response:
    uri = totp_uri(secret, user.email)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5)
    return render(
        request,
        "core/totp_setup.html",
        {"secret": secret, "qr": qr, "uri": uri, "errors": errors},
        status=400 if errors else 200,
    )


@router.post("/account/totp/start")
def totp_start(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    return _totp_page(request, _me(db, principal), new_totp_secret(), {})


@router.post("/account/totp/confirm")
def totp_confirm(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    user = _me(db, principal)
    secret = str(form.get("secret", ""))[:64]
    if not secret or not verify_totp(secret, str(form.get("code", ""))):
        return _totp_page(
            request,
            user,
            secret or new_totp_secret(),
            {"code": "Enter the 6-digit code your app shows for Peel"},
        )
    service.set_totp(db, principal, user, secret)
    return render(
        request,
        "core/account.html",
        {"user": user, "errors": {}, "notice": "Two-step sign-in is on"},
    )


@router.post("/account/totp/disable")
def totp_disable(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    user = _me(db, principal)
    if not user.totp_secret or not verify_totp(user.totp_secret, str(form.get("code", ""))):
        return render(
            request,
            "core/account.html",
            {"user": user, "errors": {"code": "Enter the current 6-digit code"}},
            400,
        )
    service.set_totp(db, principal, user, None)
    return render(
        request,
        "core/account.html",
        {"user": user, "errors": {}, "notice": "Two-step sign-in is off"},
    )


@router.get("/jobs")
def jobs(request: Request, db: DB, principal: Person) -> Response:
    return render(request, "core/jobs.html", {"jobs": visible_jobs(db, principal)})


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str, db: DB, principal: Person) -> Response:
    job = get_job(db, principal, job_id)
    return render(request, "core/job.html", {"job": job})


def _parse_day(value: str | None, field: str, errors: dict[str, str]) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        errors[field] = "Enter a date as YYYY-MM-DD, for example 2026-11-01"
        return None


@router.get("/audit")
def audit_page(
    request: Request,
    db: DB,
    principal: Person,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    record_id: Annotated[str | None, Query(max_length=64)] = None,
    since: str | None = None,
    until: str | None = None,
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
) -> Response:
    scope = audit_scope(principal)
    errors: dict[str, str] = {}
    since_at = _parse_day(since, "since", errors)
    until_at = _parse_day(until, "until", errors)
    query = AuditQuery(
        actor=actor or None,
        action=action or None,
        record_id=record_id or None,
        organisation_id=scope,
        since=since_at,
        until=until_at + timedelta(days=1) if until_at else None,
        limit=50,
        offset=(page - 1) * 50,
    )
    rows, total = search_audit(db, query) if not errors else ([], 0)
    filters = {
        "actor": actor or "",
        "action": action or "",
        "record_id": record_id or "",
        "since": since or "",
        "until": until or "",
    }
    return render(
        request,
        "core/audit.html",
        {
            "events": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // 50)),
            "filters": filters,
            "errors": errors,
        },
        status=400 if errors else 200,
    )
