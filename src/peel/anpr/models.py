"""Cameras, hotlist entries, alerts and ingest batches (reads themselves live in Parquet)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from peel.core.db import Base, new_id, utcnow
from peel.core.enums import TLP


class AnprCamera(Base):
    """A fixed or mobile ANPR camera: where it is, which way it looks, which force owns it."""

    __tablename__ = "anpr_camera"
    record_type = "anpr_camera"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    easting: Mapped[float] = mapped_column(Float)
    northing: Mapped[float] = mapped_column(Float)
    #: Compass direction of travel it reads (N, NE, …, or free text such as "Northbound").
    direction: Mapped[str] = mapped_column(String(32), default="")
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    tlp: Mapped[TLP] = mapped_column(String(16), default=TLP.green)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AnprHotlistEntry(Base):
    """A plate to watch for: why, how urgent (0–100), until when, and who may see it."""

    __tablename__ = "anpr_hotlist_entry"
    record_type = "anpr_hotlist_entry"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    list_name: Mapped[str] = mapped_column(String(100), default="Force hotlist")
    #: Normalised plate (see :func:`peel.anpr.plates.normalise`).
    plate: Mapped[str] = mapped_column(String(16), index=True)
    fuzzy_key: Mapped[str] = mapped_column(String(16), index=True)
    #: Also alert on reads that differ only by look-alike characters.
    match_fuzzy: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    expires_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    tlp: Mapped[TLP] = mapped_column(String(16), default=TLP.amber)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn_reason: Mapped[str] = mapped_column(Text, default="")

    owner_org: Mapped[Any] = relationship("Organisation", lazy="joined")


class AnprAlert(Base):
    """A read that matched a hotlist entry; labelled like the entry it matched."""

    __tablename__ = "anpr_alert"
    __table_args__ = (Index("ix_anpr_alert_org_time", "owner_org_id", "created_at"),)
    record_type = "anpr_alert"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    hotlist_entry_id: Mapped[str] = mapped_column(ForeignKey("anpr_hotlist_entry.id"), index=True)
    read_id: Mapped[str] = mapped_column(String(64), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    plate_read: Mapped[str] = mapped_column(String(32))
    plate: Mapped[str] = mapped_column(String(16))
    read_at: Mapped[datetime] = mapped_column()
    #: exact or fuzzy
    match: Mapped[str] = mapped_column(String(8))
    priority: Mapped[int] = mapped_column(Integer)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    tlp: Mapped[TLP] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by_id: Mapped[str | None] = mapped_column(
        ForeignKey("user_account.id"), default=None
    )
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str] = mapped_column(Text, default="")

    entry: Mapped[AnprHotlistEntry] = relationship(lazy="joined")


class AnprIngestBatch(Base):
    """One file, HTTP batch or live flush of reads: what landed, what was refused and why."""

    __tablename__ = "anpr_ingest_batch"
    record_type = "anpr_ingest_batch"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: file, http or live
    channel: Mapped[str] = mapped_column(String(8))
    source_name: Mapped[str] = mapped_column(String(300), default="")
    owner_org_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"), default=None)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_landed: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    #: Up to 100 of the rejected rows as {"line": n, "field": ..., "problem": ...}.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    quarantine_path: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
