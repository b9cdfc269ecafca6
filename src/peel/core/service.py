"""Organisations, people and API clients: every change audited in the caller's transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peel.core.audit import changes_between, created, record_audit
from peel.core.db import utcnow
from peel.core.enums import Role
from peel.core.errors import Conflict, InvalidInput
from peel.core.models import ApiClient, Organisation, User, UserRole
from peel.core.policy import Forbidden, NotFound
from peel.core.principal import Principal
from peel.core.schemas import ApiClientCreate, OrganisationCreate, UserCreate
from peel.core.security import hash_password, new_api_token, password_problem, token_digest


def require_platform_admin(actor: Principal) -> None:
    if not actor.is_platform_admin:
        raise Forbidden("Only platform administrators may do this")


def require_org_admin(actor: Principal, organisation_id: str) -> None:
    """Platform admins manage every organisation; an org admin manages only their own."""
    if actor.is_platform_admin:
        return
    if actor.organisation_id == organisation_id and Role.admin in actor.roles:
        return
    raise Forbidden("Only an administrator of this organisation may do this")


def organisation_by_code(session: Session, code: str, field: str = "organisation") -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.code == code.strip().lower()))
    if org is None:
        raise InvalidInput({field: f"No organisation has the code {code!r}"})
    return org


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.name)))


def create_organisation(
    session: Session, actor: Principal, data: OrganisationCreate
) -> Organisation:
    require_platform_admin(actor)
    if session.scalar(select(Organisation.id).where(Organisation.code == data.code)):
        raise Conflict({"code": f"An organisation with the code {data.code!r} already exists"})
    client_of = (
        organisation_by_code(session, data.client_of, "client_of") if data.client_of else None
    )
    org = Organisation(
        code=data.code,
        name=data.name,
        type=data.type,
        client_of_id=client_of.id if client_of else None,
    )
    session.add(org)
    session.flush()
    record_audit(
        session,
        actor,
        "organisation.create",
        "organisation",
        org.id,
        created(
            {"code": org.code, "name": org.name, "type": org.type, "client_of": data.client_of}
        ),
        record_org_id=org.id,
    )
    return org


def list_users(session: Session, actor: Principal, organisation_id: str | None) -> list[User]:
    stmt = select(User).order_by(User.email)
    if not actor.is_platform_admin:
        require_org_admin(actor, actor.organisation_id or "")
        organisation_id = actor.organisation_id
    if organisation_id:
        stmt = stmt.where(User.organisation_id == organisation_id)
    return list(session.scalars(stmt))


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(session: Session, actor: Principal, data: UserCreate) -> User:
    org = organisation_by_code(session, data.organisation)
    require_org_admin(actor, org.id)
    if data.is_platform_admin:
        require_platform_admin(actor)
    problem = password_problem(data.password)
    if problem:
        raise InvalidInput({"password": problem})
    email = str(data.email).strip().lower()
    if user_by_email(session, email):
        raise Conflict({"email": f"A user with the email {email} already exists"})
    user = User(
        email=email,
        name=data.name.strip(),
        organisation_id=org.id,
        password_hash=hash_password(data.password),
        is_platform_admin=data.is_platform_admin,
        role_rows=[UserRole(role=r) for r in sorted(set(data.roles))],
    )
    session.add(user)
    session.flush()
    record_audit(
        session,
        actor,
        "user.create",
        "user",
        user.id,
        created(
            {
                "email": email,
                "name": user.name,
                "organisation": org.code,
                "roles": sorted(r.value for r in data.roles),
                "is_platform_admin": data.is_platform_admin,
            }
        ),
        record_org_id=org.id,
    )
    return user


def get_user(session: Session, actor: Principal, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    try:
        require_org_admin(actor, user.organisation_id)
    except Forbidden:
        raise NotFound("user", user_id) from None
    return user


def set_roles(session: Session, actor: Principal, user: User, roles: set[Role]) -> User:
    require_org_admin(actor, user.organisation_id)
    before = sorted(r.value for r in user.roles)
    user.role_rows = [UserRole(role=r) for r in sorted(roles)]
    session.flush()
    record_audit(
        session,
        actor,
        "user.roles",
        "user",
        user.id,
        changes_between({"roles": before}, {"roles": sorted(r.value for r in roles)}),
        record_org_id=user.organisation_id,
    )
    return user


def set_password(session: Session, actor: Principal, user: User, password: str) -> None:
    if actor.user_id != user.id:
        require_org_admin(actor, user.organisation_id)
    problem = password_problem(password)
    if problem:
        raise InvalidInput({"password": problem})
    user.password_hash = hash_password(password)
    session.flush()
    record_audit(
        session,
        actor,
        "user.password",
        "user",
        user.id,
        detail="password changed",
        record_org_id=user.organisation_id,
    )


def set_active(session: Session, actor: Principal, user: User, active: bool) -> None:
    require_org_admin(actor, user.organisation_id)
    if user.is_active != active:
        record_audit(
            session,
            actor,
            "user.active",
            "user",
            user.id,
            changes_between({"is_active": user.is_active}, {"is_active": active}),
            record_org_id=user.organisation_id,
        )
        user.is_active = active
        session.flush()


def set_totp(session: Session, actor: Principal, user: User, secret: str | None) -> None:
    """Turn the second factor on (with a secret already confirmed) or off."""
    if actor.user_id != user.id:
        require_org_admin(actor, user.organisation_id)
    before = user.totp_secret is not None
    user.totp_secret = secret
    session.flush()
    record_audit(
        session,
        actor,
        "user.totp",
        "user",
        user.id,
        changes_between({"totp_enabled": before}, {"totp_enabled": secret is not None}),
        record_org_id=user.organisation_id,
    )


def create_api_client(
    session: Session, actor: Principal, data: ApiClientCreate
) -> tuple[ApiClient, str]:
    """Create a client and return it with its token, which is never shown again."""
    org_id = actor.organisation_id or ""
    if data.organisation:
        org_id = organisation_by_code(session, data.organisation).id
    require_org_admin(actor, org_id)
    token, prefix = new_api_token()
    client = ApiClient(
        name=data.name.strip(),
        organisation_id=org_id,
        roles=sorted({r.value for r in data.roles}),
        token_prefix=prefix,
        token_hash=token_digest(token),
        created_by_id=actor.user_id,
        expires_at=utcnow() + timedelta(days=data.expires_in_days),
    )
    session.add(client)
    session.flush()
    record_audit(
        session,
        actor,
        "api_client.create",
        "api_client",
        client.id,
        created(
            {
                "name": client.name,
                "roles": client.roles,
                "prefix": prefix,
                "expires_at": client.expires_at,
            }
        ),
        record_org_id=org_id,
    )
    return client, token


def list_api_clients(session: Session, actor: Principal) -> list[ApiClient]:
    stmt = select(ApiClient).order_by(ApiClient.created_at.desc())
    if not actor.is_platform_admin:
        require_org_admin(actor, actor.organisation_id or "")
        stmt = stmt.where(ApiClient.organisation_id == actor.organisation_id)
    return list(session.scalars(stmt))


def revoke_api_client(session: Session, actor: Principal, client_id: str) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        client = session.scalar(select(ApiClient).where(ApiClient.token_prefix == client_id))
    if client is None:
        raise NotFound("api_client", client_id)
    try:
        require_org_admin(actor, client.organisation_id)
    except Forbidden:
        raise NotFound("api_client", client_id) from None
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        session.flush()
        record_audit(
            session,
            actor,
            "api_client.revoke",
            "api_client",
            client.id,
            changes_between({"revoked_at": None}, {"revoked_at": client.revoked_at}),
            record_org_id=client.organisation_id,
        )
    return client
