"""Cases, evidence items, holds, retention categories, share links and the custody log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from peel.core.db import Base, new_id, utcnow
from peel.core.enums import TLP


class EvidenceCase(Base):
    """An investigation's evidence folder: a protected record (owner organisation + TLP)."""

    __tablename__ = "evidence_case"
    record_type = "evidence_case"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    tlp: Mapped[TLP] = mapped_column(String(16), default=TLP.amber)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    officer_in_charge: Mapped[str] = mapped_column(String(300), default="")
    report_id: Mapped[str | None] = mapped_column(ForeignKey("report.id"), default=None)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    owner_org: Mapped[Any] = relationship("Organisation", lazy="joined")


class EvidenceItem(Base):
    """One file held as evidence: its hash, where it came from and what has been done to it.

    The bytes live in the blob store under ``sha256``; ``status`` says whether they are still
    held. A deleted item keeps its row as a tombstone (hash, size, why and when it went).
    """

    __tablename__ = "evidence_item"
    record_type = "evidence_item"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str | None] = mapped_column(
        ForeignKey("evidence_case.id"), default=None, index=True
    )
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    tlp: Mapped[TLP] = mapped_column(String(16), default=TLP.amber)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    #: upload, report, bwv, redaction or api
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(String(200), default="")
    derived_from_id: Mapped[str | None] = mapped_column(
        ForeignKey("evidence_item.id"), default=None
    )
    derivation: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    captured_at: Mapped[datetime | None] = mapped_column(default=None)
    captured_until: Mapped[datetime | None] = mapped_column(default=None)
    device_id: Mapped[str | None] = mapped_column(String(80), default=None, index=True)
    captured_by: Mapped[str | None] = mapped_column(String(200), default=None)
    capture: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    thumb_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    preview_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    #: none, pending, ready, original (plays as it is) or failed
    preview_status: Mapped[str] = mapped_column(String(16), default="none")
    preview_message: Mapped[str] = mapped_column(Text, default="")
    #: present or deleted
    status: Mapped[str] = mapped_column(String(16), default="present", index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deletion_reason: Mapped[str | None] = mapped_column(Text, default=None)
    review_at: Mapped[datetime | None] = mapped_column(default=None)
    added_by_id: Mapped[str | None] = mapped_column(ForeignKey("user_account.id"))
    added_by: Mapped[str] = mapped_column(String(300))
    added_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    case: Mapped[EvidenceCase | None] = relationship(lazy="joined")


class EvidenceHold(Base):
    """A legal, complaint or investigation hold: nothing it covers may be deleted."""

    __tablename__ = "evidence_hold"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("evidence_case.id"), default=None)
    item_id: Mapped[str | None] = mapped_column(ForeignKey("evidence_item.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(300))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    released_by: Mapped[str | None] = mapped_column(String(300), default=None)
    release_reason: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        Index("ix_evidence_hold_case", "case_id"),
        Index("ix_evidence_hold_item", "item_id"),
    )


class RetentionCategory(Base):
    """A force's retention rule: ``fixed`` days after capture, ``case`` days after the case
    closes (kept while it is open), or ``review`` (kept until a person reviews it)."""

    __tablename__ = "evidence_retention_category"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    rule: Mapped[str] = mapped_column(String(16))
    days: Mapped[int | None] = mapped_column(Integer, default=None)
    review_days: Mapped[int | None] = mapped_column(Integer, default=None)
    description: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("organisation_id", "code"),)


class ShareLink(Base):
    """An expiring, revocable link (and one-time code) for someone without an account."""

    __tablename__ = "evidence_share_link"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("evidence_case.id"), index=True)
    item_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_email: Mapped[str] = mapped_column(String(254))
    purpose: Mapped[str] = mapped_column(String(300), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    code_used_at: Mapped[datetime | None] = mapped_column(default=None)
    failed_codes: Mapped[int] = mapped_column(Integer, default=0)
    watermark: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(300), default=None)
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustodyEvent(Base):
    """One leaf of the custody log: ``entry`` holds the exact bytes that were hashed."""

    __tablename__ = "custody_event"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(24))
    case_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    item_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    owner_org_id: Mapped[str | None] = mapped_column(String(32), default=None)
    actor: Mapped[str] = mapped_column(String(300))
    entry: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CustodyNode(Base):
    """A hash of a complete subtree above the leaves, keyed by ``level * 2**40 + index``."""

    __tablename__ = "custody_node"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CustodyHead(Base):
    """The log's current size and right edge; its single row serialises appends."""

    __tablename__ = "custody_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The roots of the complete subtrees along the right edge, largest first (32 bytes each).
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class CustodyTreeHead(Base):
    """A signed tree head that was published; any two can be proved consistent."""

    __tablename__ = "custody_tree_head"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
