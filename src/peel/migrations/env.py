"""Alembic environment: the engine comes from the caller or from Peel's settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import peel.models_registry  # noqa: F401  (imports every capability's tables)
from peel.core.config import get_settings
from peel.core.db import Base, build_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
    engine = build_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
