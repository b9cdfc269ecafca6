"""Database engine, sessions and the declarative base shared by every capability."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class DatabaseConfigError(RuntimeError):
    """The database URL cannot be used; the message says why in one line."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that
    # savepoints and transactional DDL behave as on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


#: Whether the current unit of work means to write. Web requests set it from their method;
#: everything else (commands, jobs) is assumed to write.
write_intent: ContextVar[bool] = ContextVar("peel_write_intent", default=True)


def _sqlite_begin(connection: Any) -> None:
    # SQLite has one writer at a time. A deferred BEGIN that reads and later writes fails at
    # once (SQLITE_BUSY_SNAPSHOT) if another writer committed in between, so work that means
    # to write takes the write lock up front and waits its turn (busy_timeout). Reads begin
    # deferred and never wait for writers (WAL).
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


def build_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine, turning a malformed URL or missing driver into one clear error."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseConfigError(f"PEEL_DATABASE_URL is not a valid database URL: {exc}") from exc
    options: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"check_same_thread": False, "timeout": 10}
    else:
        options["pool_pre_ping"] = True
    options.update(kwargs)
    try:
        engine = create_engine(parsed, **options)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseConfigError(
            f"PEEL_DATABASE_URL cannot be used ({parsed.render_as_string(hide_password=True)}): "
            f"{exc}"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def make_sessionmaker(bind: Any) -> sessionmaker[Session]:
    return sessionmaker(bind=bind, expire_on_commit=False, future=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
