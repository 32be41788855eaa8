"""linking: event names per report (and their index), merged-field reasons, who corrected what, undone merges

Revision ID: 0003_linking
Revises: 0002_web
Create Date: 2026-12-04 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003_linking"
down_revision = "0002_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_keys",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("key", "report_id"),
    )
    op.create_index("ix_report_keys_key_day", "report_keys", ["key", "day"], unique=False)
    op.create_index(op.f("ix_report_keys_report_id"), "report_keys", ["report_id"], unique=False)
    with op.batch_alter_table("reports") as b:
        b.add_column(sa.Column("names", sa.JSON(), nullable=True))
    with op.batch_alter_table("incidents") as b:
        b.add_column(sa.Column("field_reasons", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("incident_history") as b:
        b.add_column(sa.Column("other_incident_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        b.add_column(sa.Column("operator", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        b.add_column(sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table("corrections") as b:
        b.add_column(sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("corrections") as b:
        b.drop_column("undone_at")
    with op.batch_alter_table("incident_history") as b:
        b.drop_column("note")
        b.drop_column("operator")
        b.drop_column("other_incident_id")
    with op.batch_alter_table("incidents") as b:
        b.drop_column("field_reasons")
    with op.batch_alter_table("reports") as b:
        b.drop_column("names")
    op.drop_index(op.f("ix_report_keys_report_id"), table_name="report_keys")
    op.drop_index("ix_report_keys_key_day", table_name="report_keys")
    op.drop_table("report_keys")
