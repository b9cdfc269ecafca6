"""Request and response models for reports (API and the step-by-step form)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from peel.core.db import utcnow
from peel.core.enums import TLP
from peel.reporting.enums import CATEGORY_BY_SLUG, THRIVE, Rating, Response

LOCATION_KINDS = ("map", "latlon", "postcode", "plus_code", "grid_reference", "bng")


class LocationIn(BaseModel):
    kind: str = Field(description="map, latlon, postcode, plus_code, grid_reference or bng")
    lat: str | None = None
    lon: str | None = None
    postcode: str | None = None
    plus_code: str | None = None
    grid_reference: str | None = None
    easting: str | None = None
    northing: str | None = None
    description: str = Field(default="", max_length=300)

    @field_validator("kind")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in LOCATION_KINDS:
            raise ValueError("Choose one of: " + ", ".join(LOCATION_KINDS))
        return value


class UploadRef(BaseModel):
    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    token: str = Field(min_length=16, max_length=200, description="The Upload-Token header value")


class ReportCreate(BaseModel):
    """A report as a partner system or the public form sends it."""

    category: str
    description: str = Field(min_length=10, max_length=10000)
    occurred_at: datetime | None = None
    occurred_until: datetime | None = None
    location: LocationIn | None = None
    victim: str = Field(default="", max_length=2000)
    witness: str = Field(default="", max_length=2000)
    suspect: str = Field(default="", max_length=2000)
    property_text: str = Field(default="", max_length=4000)
    anonymous: bool = False
    reporter_name: str | None = Field(default=None, max_length=200)
    reporter_email: EmailStr | None = None
    reporter_phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9 +()-]{6,40}$")
    uploads: list[UploadRef] = Field(
        default_factory=list, max_length=20, description="Completed resumable uploads to attach"
    )

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        if value not in CATEGORY_BY_SLUG:
            raise ValueError("Choose what happened from the list of categories")
        return value

    @field_validator("occurred_at", "occurred_until")
    @classmethod
    def _not_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Give the time with its time zone, for example 2026-11-01T21:30Z")
        if value > utcnow() + timedelta(minutes=5):
            raise ValueError("The date must be today or in the past")
        if value < utcnow() - timedelta(days=365 * 20):
            raise ValueError("The date must be within the last 20 years")
        return value

    @model_validator(mode="after")
    def _contact_or_anonymous(self) -> ReportCreate:
        if self.occurred_at and self.occurred_until and self.occurred_until < self.occurred_at:
            raise ValueError("occurred_until must be after occurred_at")
        if self.anonymous:
            self.reporter_name = self.reporter_email = self.reporter_phone = None
        return self


class ReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    reference: str
    owner_org_id: str
    tlp: TLP
    category: str
    status: str
    description: str
    occurred_from: datetime | None
    occurred_to: datetime | None
    lat: float | None
    lon: float | None
    easting: float | None
    northing: float | None
    location_text: str
    postcode: str | None
    lsoa_code: str | None
    force_area: str | None
    flags: list[str]
    thrive: dict[str, str]
    response: str | None
    assigned_to_id: str | None
    assigned_team: str | None
    crime_reference: str | None
    counting_category: str | None
    duplicate_of_id: str | None
    outcome: str | None
    anonymous: bool
    created_at: datetime
    updated_at: datetime


class ReportCreated(BaseModel):
    id: str
    reference: str
    tracking_secret: str = Field(description="Shown once; the reporter tracks progress with it")


class TriageIn(BaseModel):
    thrive: dict[str, Rating]
    response: Response
    note: str = Field(default="", max_length=2000)

    @field_validator("thrive")
    @classmethod
    def _all_six(cls, value: dict[str, Rating]) -> dict[str, Rating]:
        missing = [k for k in THRIVE if k not in value]
        unknown = [k for k in value if k not in THRIVE]
        if missing or unknown:
            raise ValueError("Rate each of " + ", ".join(THRIVE) + " as low, medium or high")
        return value


class AssignIn(BaseModel):
    user_email: EmailStr | None = None
    team: str | None = Field(default=None, max_length=120)

    @model_validator(mode="after")
    def _one(self) -> AssignIn:
        if not self.user_email and not self.team:
            raise ValueError("Give an officer's email or a team name")
        return self


class CrimeIn(BaseModel):
    counting_category: str = Field(min_length=3, max_length=120)


class DuplicateIn(BaseModel):
    reference: str = Field(min_length=4, max_length=16)


class CloseIn(BaseModel):
    outcome: str = Field(min_length=3, max_length=300)


class MessageIn(BaseModel):
    body: str = Field(min_length=1, max_length=5000)


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    at: datetime
    direction: str
    body: str
    author: str
