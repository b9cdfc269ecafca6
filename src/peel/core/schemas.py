"""Request and response models of the core API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from peel.core.enums import TLP, JobStatus, OrganisationType, Role

T = TypeVar("T")

CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{1,39}$"


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OrganisationCreate(BaseModel):
    code: str = Field(pattern=CODE_PATTERN, description="Short lower-case code, e.g. wessex-police")
    name: str = Field(min_length=2, max_length=200)
    type: OrganisationType
    client_of: str | None = Field(default=None, description="Code of the organisation served")

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 2:
            raise ValueError("Name must have at least 2 characters")
        return value


class OrganisationRead(ReadModel):
    id: str
    code: str
    name: str
    type: OrganisationType
    client_of_id: str | None
    created_at: datetime


class UserCreate(BaseModel):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(description="Organisation code")
    roles: list[Role] = Field(default_factory=list)
    password: str = Field(min_length=12, max_length=1024)
    is_platform_admin: bool = False


class UserRead(ReadModel):
    id: str
    email: str
    name: str
    organisation_id: str
    roles: list[Role]
    is_platform_admin: bool
    is_active: bool
    totp_enabled: bool
    created_at: datetime


class ApiClientCreate(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    roles: list[Role] = Field(default_factory=list)
    expires_in_days: int = Field(default=90, ge=1, le=730)
    organisation: str | None = Field(
        default=None, description="Organisation code; platform administrators only"
    )


class ApiClientRead(ReadModel):
    id: str
    name: str
    organisation_id: str
    roles: list[Role]
    token_prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiClientCreated(ApiClientRead):
    token: str = Field(description="Shown once; only its hash is stored")


class ShareCreate(BaseModel):
    organisation: str = Field(description="Organisation code to share with")
    expires_at: datetime | None = None


class BulletinCreate(BaseModel):
    title: str = Field(min_length=3, max_length=200)
    body: str = Field(min_length=1, max_length=20000)
    tlp: TLP = TLP.amber
    recipients: list[EmailStr] = Field(
        default_factory=list, description="Named recipients (required for TLP:RED)"
    )


class BulletinUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=3, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=20000)
    tlp: TLP | None = None


class BulletinRead(ReadModel):
    id: str
    owner_org_id: str
    owner_org_name: str
    tlp: TLP
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


class Problem(BaseModel):
    """An RFC 9457 problem document: the body of every API error."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, str]] | None = Field(
        default=None, description="The fields that are wrong: each a field and a message"
    )
    request_id: str | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class AuditEventRead(ReadModel):
    id: int
    at: datetime
    actor: str
    actor_user_id: str | None
    actor_client_id: str | None
    organisation_id: str | None
    action: str
    record_type: str | None
    record_id: str | None
    record_org_id: str | None
    changes: dict[str, Any] | None
    detail: str | None
    request_id: str | None


class JobRead(ReadModel):
    id: str
    kind: str
    title: str
    status: JobStatus
    progress: int
    message: str
    started_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None


class Me(BaseModel):
    user_id: str | None
    client_id: str | None
    name: str
    organisation_id: str | None
    organisation_name: str
    roles: list[Role]
    is_platform_admin: bool
