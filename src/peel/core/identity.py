"""Sign-in: passwords with throttling, optional TOTP, browser sessions and bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from peel.core.audit import record_audit
from peel.core.config import Settings
from peel.core.db import utcnow
from peel.core.enums import Role
from peel.core.errors import TooManyAttempts
from peel.core.models import ApiClient, LoginFailure, User, WebSession
from peel.core.principal import Principal
from peel.core.security import (
    api_token_prefix,
    constant_time_equal,
    new_session_token,
    token_digest,
    verify_password,
    verify_totp,
)
from peel.core.service import user_by_email

WRONG_CREDENTIALS = "Enter a correct email address and password"
IP_FAILURE_MULTIPLIER = 4


def principal_for_user(user: User) -> Principal:
    org = user.organisation
    return Principal(
        user_id=user.id,
        organisation_id=org.id,
        organisation_name=org.name,
        organisation_type=org.type,
        client_of_id=org.client_of_id,
        roles=user.roles,
        is_platform_admin=user.is_platform_admin,
        display_name=user.name,
        email=user.email,
    )


def principal_for_client(client: ApiClient) -> Principal:
    org = client.organisation
    return Principal(
        client_id=client.id,
        organisation_id=org.id,
        organisation_name=org.name,
        organisation_type=org.type,
        client_of_id=org.client_of_id,
        roles=frozenset(Role(r) for r in client.roles),
        display_name=client.name,
    )


def check_throttle(session: Session, settings: Settings, email: str, ip: str | None) -> None:
    """Refuse another attempt while too many recent ones failed for this account or address."""
    window_start = utcnow() - timedelta(minutes=settings.login_window_minutes)
    limits = [(LoginFailure.email == email.lower(), settings.login_max_failures)]
    if ip:
        limits.append((LoginFailure.ip == ip, settings.login_max_failures * IP_FAILURE_MULTIPLIER))
    for condition, limit in limits:
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(
                condition, LoginFailure.at >= window_start
            )
        ).one()
        if count >= limit and oldest is not None:
            retry = oldest + timedelta(minutes=settings.login_window_minutes) - utcnow()
            raise TooManyAttempts(max(1, int(retry.total_seconds())))


@dataclass
class SignInResult:
    user: User | None
    error: str | None = None


def authenticate(
    session: Session, settings: Settings, email: str, password: str, ip: str | None
) -> SignInResult:
    """Check a password; failures are recorded (and audited) so the caller must commit them."""
    email = email.strip().lower()
    check_throttle(session, settings, email, ip)
    user = user_by_email(session, email)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        session.add(LoginFailure(email=email, ip=ip))
        record_audit(
            session,
            Principal(display_name=email[:254]),
            "auth.login_failed",
            "user",
            user.id if user else None,
            detail="wrong email or password",
            record_org_id=user.organisation_id if user else None,
        )
        return SignInResult(None, WRONG_CREDENTIALS)
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    return SignInResult(user)


def start_session(
    session: Session, settings: Settings, user: User, ip: str | None
) -> tuple[str, WebSession]:
    """A new browser session; a pending second factor blocks everything but the code page."""
    token = new_session_token()
    web_session = WebSession(
        token_hash=token_digest(token),
        user_id=user.id,
        expires_at=utcnow() + timedelta(hours=settings.session_hours),
        second_factor_pending=user.totp_secret is not None,
        ip=ip,
    )
    session.add(web_session)
    if not web_session.second_factor_pending:
        record_audit(
            session,
            principal_for_user(user),
            "auth.login",
            "user",
            user.id,
            record_org_id=user.organisation_id,
        )
    session.flush()
    return token, web_session


def complete_second_factor(session: Session, web_session: WebSession, code: str) -> bool:
    user = web_session.user
    if not user.totp_secret or not verify_totp(user.totp_secret, code):
        session.add(LoginFailure(email=user.email, ip=web_session.ip))
        record_audit(
            session,
            principal_for_user(user),
            "auth.totp_failed",
            "user",
            user.id,
            record_org_id=user.organisation_id,
        )
        return False
    web_session.second_factor_pending = False
    record_audit(
        session,
        principal_for_user(user),
        "auth.login",
        "user",
        user.id,
        detail="with second factor",
        record_org_id=user.organisation_id,
    )
    session.flush()
    return True


def session_for_token(session: Session, token: str | None) -> WebSession | None:
    if not token or len(token) > 200:
        return None
    web_session = session.get(WebSession, token_digest(token))
    if web_session is None:
        return None
    if web_session.expires_at <= utcnow() or not web_session.user.is_active:
        session.delete(web_session)
        return None
    return web_session


def end_session(session: Session, web_session: WebSession) -> None:
    user = web_session.user
    record_audit(
        session,
        principal_for_user(user),
        "auth.logout",
        "user",
        user.id,
        record_org_id=user.organisation_id,
    )
    session.delete(web_session)
    session.flush()


def client_for_bearer(session: Session, token: str) -> ApiClient | None:
    """The live API client a bearer token belongs to, or None."""
    prefix = api_token_prefix(token)
    if prefix is None:
        return None
    client = session.scalar(select(ApiClient).where(ApiClient.token_prefix == prefix))
    if client is None or not constant_time_equal(client.token_hash, token_digest(token)):
        return None
    now = utcnow()
    if client.revoked_at is not None or client.expires_at <= now:
        return None
    if client.last_used_at is None or now - client.last_used_at > timedelta(minutes=1):
        client.last_used_at = now
    return client
