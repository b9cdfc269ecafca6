"""The committed migrations build exactly the tables the models declare, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

import peel.models_registry  # noqa: F401
from peel.core.db import Base
from peel.core.migrate import current_revision, head_revision


def test_database_is_at_head(connection: Connection) -> None:
    assert current_revision(connection) == head_revision()


def test_models_and_migrations_agree(connection: Connection) -> None:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences = [
        d
        for d in compare_metadata(context, Base.metadata)
        # SQLite reports no server defaults or comments; nothing else may differ.
        if not (isinstance(d, tuple) and d[0] in ("modify_default", "modify_comment"))
    ]
    assert differences == [], differences
