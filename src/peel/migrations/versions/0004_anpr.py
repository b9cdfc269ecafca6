"""ANPR cameras, hotlists, alerts and ingest batches

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 14:46:12.432418
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "anpr_camera",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("easting", sa.Float(), nullable=False),
        sa.Column("northing", sa.Float(), nullable=False),
        sa.Column("direction", sa.String(length=32), nullable=False),
        sa.Column("owner_org_id", sa.String(length=32), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisation.id"],
            name=op.f("fk_anpr_camera_owner_org_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anpr_camera")),
    )
    with op.batch_alter_table("anpr_camera", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_anpr_camera_owner_org_id"), ["owner_org_id"], unique=False
        )

    op.create_table(
        "anpr_ingest_batch",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("source_name", sa.String(length=300), nullable=False),
        sa.Column("owner_org_id", sa.String(length=32), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_landed", sa.Integer(), nullable=False),
        sa.Column("rows_duplicate", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("quarantine_path", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisation.id"],
            name=op.f("fk_anpr_ingest_batch_owner_org_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anpr_ingest_batch")),
    )
    op.create_table(
        "anpr_hotlist_entry",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("list_name", sa.String(length=100), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("fuzzy_key", sa.String(length=16), nullable=False),
        sa.Column("match_fuzzy", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_org_id", sa.String(length=32), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_anpr_hotlist_entry_created_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisation.id"],
            name=op.f("fk_anpr_hotlist_entry_owner_org_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anpr_hotlist_entry")),
    )
    with op.batch_alter_table("anpr_hotlist_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_anpr_hotlist_entry_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_anpr_hotlist_entry_fuzzy_key"), ["fuzzy_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_anpr_hotlist_entry_owner_org_id"), ["owner_org_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_anpr_hotlist_entry_plate"), ["plate"], unique=False)

    op.create_table(
        "anpr_alert",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("hotlist_entry_id", sa.String(length=32), nullable=False),
        sa.Column("read_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("plate_read", sa.String(length=32), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("match", sa.String(length=8), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.String(length=32), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by_id", sa.String(length=32), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["user_account.id"],
            name=op.f("fk_anpr_alert_acknowledged_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["hotlist_entry_id"],
            ["anpr_hotlist_entry.id"],
            name=op.f("fk_anpr_alert_hotlist_entry_id_anpr_hotlist_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisation.id"],
            name=op.f("fk_anpr_alert_owner_org_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anpr_alert")),
    )
    with op.batch_alter_table("anpr_alert", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_anpr_alert_hotlist_entry_id"), ["hotlist_entry_id"], unique=False
        )
        batch_op.create_index(
            "ix_anpr_alert_org_time", ["owner_org_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_anpr_alert_read_id"), ["read_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("anpr_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anpr_alert_read_id"))
        batch_op.drop_index("ix_anpr_alert_org_time")
        batch_op.drop_index(batch_op.f("ix_anpr_alert_hotlist_entry_id"))

    op.drop_table("anpr_alert")
    with op.batch_alter_table("anpr_hotlist_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anpr_hotlist_entry_plate"))
        batch_op.drop_index(batch_op.f("ix_anpr_hotlist_entry_owner_org_id"))
        batch_op.drop_index(batch_op.f("ix_anpr_hotlist_entry_fuzzy_key"))
        batch_op.drop_index(batch_op.f("ix_anpr_hotlist_entry_expires_at"))

    op.drop_table("anpr_hotlist_entry")
    op.drop_table("anpr_ingest_batch")
    with op.batch_alter_table("anpr_camera", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anpr_camera_owner_org_id"))

    op.drop_table("anpr_camera")
