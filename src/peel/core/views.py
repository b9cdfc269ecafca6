"""The core HTTP API under /api/v1: who am I, organisations, users, clients, audit, bulletins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from peel.core import bulletins as bulletin_service
from peel.core import service
from peel.core.audit import AuditQuery, search_audit
from peel.core.deps import DB, Authenticated
from peel.core.enums import Role
from peel.core.errors import InvalidInput
from peel.core.http import PROBLEM_JSON
from peel.core.jobs import get_job, visible_jobs
from peel.core.models import Bulletin, User
from peel.core.policy import Forbidden
from peel.core.principal import Principal
from peel.core.schemas import (
    ApiClientCreate,
    ApiClientCreated,
    ApiClientRead,
    AuditEventRead,
    BulletinCreate,
    BulletinRead,
    BulletinUpdate,
    JobRead,
    Me,
    OrganisationCreate,
    OrganisationRead,
    Page,
    Problem,
    ShareCreate,
    UserCreate,
    UserRead,
)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, each answered with an RFC 9457 problem document."""
    schema = Problem.model_json_schema()
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        for status in statuses
    }


def _nul_fields(value: Any, field: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield field
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nul_fields(str(key), field)
            yield from _nul_fields(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_fields(item, f"{field}[{index}]")


async def refuse_nul_characters(request: Request) -> None:
    """PostgreSQL cannot store the NUL character, so no text sent to the API may hold one."""
    # NUL in the address is refused for every route by PeelMiddleware; here only the body.
    fields: list[str] = []
    body = await request.body()
    if b"\\u0000" in body:  # JSON can only carry NUL escaped
        with suppress(ValueError):  # not JSON: the route's own parsing refuses it
            fields += [field or "body" for field in _nul_fields(json.loads(body), "")]
    if fields:
        raise InvalidInput(dict.fromkeys(fields, "Must not contain the NUL character"))


#: Any API call may be malformed, lack credentials, be refused, send too much or send invalid
#: fields.
router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(refuse_nul_characters)],
    responses=problem_responses(400, 401, 403, 413, 422),
)
#: Records named in the path that do not exist, or that the caller may not know exist.
NOT_FOUND = problem_responses(404)
#: Creating something that already exists.
CONFLICT = problem_responses(409)
#: Larger offsets are meaningless and overflow the databases' integers.
MAX_OFFSET = 2**31 - 1


def user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        email=user.email,
        name=user.name,
        organisation_id=user.organisation_id,
        roles=sorted(user.roles),
        is_platform_admin=user.is_platform_admin,
        is_active=user.is_active,
        totp_enabled=user.totp_secret is not None,
        created_at=user.created_at,
    )


def bulletin_read(bulletin: Bulletin) -> BulletinRead:
    return BulletinRead(
        id=bulletin.id,
        owner_org_id=bulletin.owner_org_id,
        owner_org_name=bulletin.owner_org.name,
        tlp=bulletin.tlp,
        title=bulletin.title,
        body=bulletin.body,
        created_at=bulletin.created_at,
        updated_at=bulletin.updated_at,
    )


@router.get("/me", tags=["identity"])
def me(principal: Authenticated) -> Me:
    return Me(
        user_id=principal.user_id,
        client_id=principal.client_id,
        name=principal.display_name,
        organisation_id=principal.organisation_id,
        organisation_name=principal.organisation_name,
        roles=sorted(principal.roles),
        is_platform_admin=principal.is_platform_admin,
    )


@router.get("/organisations", tags=["organisations"])
def list_organisations(db: DB, principal: Authenticated) -> list[OrganisationRead]:
    return [OrganisationRead.model_validate(o) for o in service.list_organisations(db)]


@router.post("/organisations", status_code=201, tags=["organisations"], responses=CONFLICT)
def create_organisation(
    data: OrganisationCreate, db: DB, principal: Authenticated
) -> OrganisationRead:
    return OrganisationRead.model_validate(service.create_organisation(db, principal, data))


@router.get("/users", tags=["users"])
def list_users(
    db: DB, principal: Authenticated, organisation_id: str | None = None
) -> list[UserRead]:
    return [user_read(u) for u in service.list_users(db, principal, organisation_id)]


@router.post("/users", status_code=201, tags=["users"], responses=CONFLICT)
def create_user(data: UserCreate, db: DB, principal: Authenticated) -> UserRead:
    return user_read(service.create_user(db, principal, data))


@router.get("/users/{user_id}", tags=["users"], responses=NOT_FOUND)
def get_user(user_id: str, db: DB, principal: Authenticated) -> UserRead:
    return user_read(service.get_user(db, principal, user_id))


class UserPatch(BaseModel):
    roles: list[Role] | None = None
    is_active: bool | None = None


@router.patch("/users/{user_id}", tags=["users"], responses=NOT_FOUND)
def patch_user(user_id: str, data: UserPatch, db: DB, principal: Authenticated) -> UserRead:
    user = service.get_user(db, principal, user_id)
    if data.roles is not None:
        service.set_roles(db, principal, user, set(data.roles))
    if data.is_active is not None:
        service.set_active(db, principal, user, data.is_active)
    return user_read(user)


@router.get("/api-clients", tags=["api clients"])
def list_api_clients(db: DB, principal: Authenticated) -> list[ApiClientRead]:
    return [ApiClientRead.model_validate(c) for c in service.list_api_clients(db, principal)]


@router.post("/api-clients", status_code=201, tags=["api clients"])
def create_api_client(data: ApiClientCreate, db: DB, principal: Authenticated) -> ApiClientCreated:
    client, token = service.create_api_client(db, principal, data)
    return ApiClientCreated(**ApiClientRead.model_validate(client).model_dump(), token=token)


@router.post("/api-clients/{client_id}/revoke", tags=["api clients"], responses=NOT_FOUND)
def revoke_api_client(client_id: str, db: DB, principal: Authenticated) -> ApiClientRead:
    return ApiClientRead.model_validate(service.revoke_api_client(db, principal, client_id))


def audit_scope(principal: Principal) -> str | None:
    """Platform admins search everything; auditors their own organisation's trail."""
    if principal.is_platform_admin:
        return None
    if Role.auditor in principal.roles:
        return principal.organisation_id
    raise Forbidden("Only auditors may search the audit log")


@router.get("/audit", tags=["audit"])
def audit_search(
    db: DB,
    principal: Authenticated,
    actor: str | None = None,
    action: str | None = None,
    record_type: str | None = None,
    record_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[AuditEventRead]:
    query = AuditQuery(
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=record_id,
        organisation_id=audit_scope(principal),
        since=since,
        until=until,
        text=text,
        limit=limit,
        offset=offset,
    )
    rows, total = search_audit(db, query)
    return Page[AuditEventRead](
        items=[AuditEventRead.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/bulletins", tags=["bulletins"])
def list_bulletins(
    db: DB,
    principal: Authenticated,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[BulletinRead]:
    rows, total = bulletin_service.list_bulletins(db, principal, limit, offset)
    return Page[BulletinRead](
        items=[bulletin_read(b) for b in rows], total=total, limit=limit, offset=offset
    )


@router.post("/bulletins", status_code=201, tags=["bulletins"])
def create_bulletin(data: BulletinCreate, db: DB, principal: Authenticated) -> BulletinRead:
    return bulletin_read(bulletin_service.create_bulletin(db, principal, data))


@router.get("/bulletins/{bulletin_id}", tags=["bulletins"], responses=NOT_FOUND)
def get_bulletin(bulletin_id: str, db: DB, principal: Authenticated) -> BulletinRead:
    bulletin, _ = bulletin_service.get_bulletin(db, principal, bulletin_id)
    return bulletin_read(bulletin)


@router.patch("/bulletins/{bulletin_id}", tags=["bulletins"], responses=NOT_FOUND)
def update_bulletin(
    bulletin_id: str, data: BulletinUpdate, db: DB, principal: Authenticated
) -> BulletinRead:
    return bulletin_read(bulletin_service.update_bulletin(db, principal, bulletin_id, data))


@router.post(
    "/bulletins/{bulletin_id}/shares", status_code=204, tags=["bulletins"], responses=NOT_FOUND
)
def share_bulletin(
    bulletin_id: str, data: ShareCreate, db: DB, principal: Authenticated
) -> Response:
    bulletin_service.share_bulletin(db, principal, bulletin_id, data)
    return Response(status_code=204)


@router.delete(
    "/bulletins/{bulletin_id}/shares/{organisation}",
    status_code=204,
    tags=["bulletins"],
    responses=NOT_FOUND,
)
def unshare_bulletin(
    bulletin_id: str, organisation: str, db: DB, principal: Authenticated
) -> Response:
    bulletin_service.unshare_bulletin(db, principal, bulletin_id, organisation)
    return Response(status_code=204)


@router.get("/jobs", tags=["jobs"])
def list_jobs(db: DB, principal: Authenticated) -> list[JobRead]:
    return [JobRead.model_validate(j) for j in visible_jobs(db, principal)]


@router.get("/jobs/{job_id}", tags=["jobs"], responses=NOT_FOUND)
def job_status(job_id: str, db: DB, principal: Authenticated) -> JobRead:
    return JobRead.model_validate(get_job(db, principal, job_id))
