"""Reports from the public, their status history, messages, attachments and form drafts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from peel.core.db import Base, new_id, utcnow
from peel.core.enums import TLP


class Report(Base):
    """One report from the public; owned by the force for its location, TLP:AMBER by default."""

    __tablename__ = "report"
    record_type = "report"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    tracking_secret_hash: Mapped[str] = mapped_column(String(64))
    submission_key: Mapped[str] = mapped_column(String(80), unique=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    tlp: Mapped[TLP] = mapped_column(String(16), default=TLP.amber)
    category: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(24), default="received", index=True)
    description: Mapped[str] = mapped_column(Text)
    occurred_from: Mapped[datetime | None] = mapped_column(default=None)
    occurred_to: Mapped[datetime | None] = mapped_column(default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    easting: Mapped[float | None] = mapped_column(Float, default=None)
    northing: Mapped[float | None] = mapped_column(Float, default=None)
    location_source: Mapped[str | None] = mapped_column(String(20), default=None)
    location_text: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str | None] = mapped_column(String(10), default=None, index=True)
    lsoa_code: Mapped[str | None] = mapped_column(String(12), default=None)
    force_area: Mapped[str | None] = mapped_column(String(100), default=None)
    people: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    property_text: Mapped[str] = mapped_column(Text, default="")
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    reporter_name: Mapped[str | None] = mapped_column(String(200), default=None)
    reporter_email: Mapped[str | None] = mapped_column(String(254), default=None, index=True)
    reporter_phone: Mapped[str | None] = mapped_column(String(40), default=None)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    thrive: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    response: Mapped[str | None] = mapped_column(String(40), default=None)
    assigned_to_id: Mapped[str | None] = mapped_column(ForeignKey("user_account.id"))
    assigned_team: Mapped[str | None] = mapped_column(String(120), default=None)
    crime_reference: Mapped[str | None] = mapped_column(String(40), default=None)
    counting_category: Mapped[str | None] = mapped_column(String(120), default=None)
    duplicate_of_id: Mapped[str | None] = mapped_column(ForeignKey("report.id"), default=None)
    outcome: Mapped[str | None] = mapped_column(String(300), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    owner_org: Mapped[Any] = relationship("Organisation", lazy="joined")
    attachments: Mapped[list[ReportAttachment]] = relationship(
        back_populates="report", order_by="ReportAttachment.added_at", lazy="selectin"
    )


class ReportEvent(Base):
    """One step in a report's life, with what the reporter is told about it."""

    __tablename__ = "report_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(24))
    public_message: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")  # for staff only, never the reporter
    actor: Mapped[str] = mapped_column(String(300))

    __table_args__ = (Index("ix_report_event_report", "report_id", "at"),)


class ReportMessage(Base):
    __tablename__ = "report_message"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    report_id: Mapped[str] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    direction: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(300))


class ReportAttachment(Base):
    __tablename__ = "report_attachment"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    report_id: Mapped[str] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    original_name: Mapped[str] = mapped_column(String(255))
    added_by: Mapped[str] = mapped_column(String(300))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[Report] = relationship(back_populates="attachments")


class ReportDraft(Base):
    """Answers so far of a report being written step by step, keyed by a cookie token."""

    __tablename__ = "report_draft"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
