"""The table behind resumable (tus) uploads: one row per file being sent, until it is used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from peel.core.db import Base, new_id, utcnow


class Upload(Base):
    """A file arriving in pieces; once complete its bytes live in the blob store by SHA-256.

    Anyone may start one (the public reports crimes without signing in), so each upload has
    a random secret token, of which only the SHA-256 is stored; an upload started by a
    signed-in person or API client also records their organisation.
    """

    __tablename__ = "upload"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: Total size in bytes, declared when the upload is created (tus ``Upload-Length``).
    length: Mapped[int] = mapped_column(BigInteger)
    #: Bytes received and kept so far (tus ``Upload-Offset``); never more than on disk.
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The decoded tus ``Upload-Metadata`` (text values; keys sent without a value map to "").
    upload_metadata: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    filename: Mapped[str | None] = mapped_column(String(255), default=None)
    #: The MIME type the sender claimed (``filetype`` or ``content_type`` metadata).
    declared_type: Mapped[str | None] = mapped_column(String(255), default=None)
    #: The MIME type the first bytes show (None until they have arrived).
    content_type: Mapped[str | None] = mapped_column(String(100), default=None)
    #: image, video, audio, document or text (see ``peel.core.sniff``).
    kind: Mapped[str | None] = mapped_column(String(16), default=None)
    #: Hex SHA-256 of the whole file, set when the last byte arrives: the blob store key.
    sha256: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    #: SHA-256 hex of the secret ``Upload-Token`` given to (or chosen by) the sender.
    owner_token_hash: Mapped[str] = mapped_column(String(64))
    organisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="SET NULL"), default=None, index=True
    )
    created_by_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    #: What the file is for: "report" (photos and videos from the public) or "evidence".
    purpose: Mapped[str] = mapped_column(String(32), default="report")

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None
