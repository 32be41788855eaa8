"""web window: who made a correction, a feed's last success, indexes for the analyst's pages

Revision ID: 0002_web
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_web"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("corrections") as batch_op:
        batch_op.add_column(sa.Column("operator", sa.String(length=128), nullable=True))
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.add_column(sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_incidents_date_id", "incidents", ["date", "id"])
    op.create_index("ix_incidents_type_date", "incidents", ["event_type", "date"])
    op.create_index("ix_incidents_updated", "incidents", ["updated_at"])
    op.create_index("ix_entries_feed_published", "entries", ["feed_id", "published_at"])
    op.create_index("ix_failures_feed_id", "failures", ["feed_id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).first():
        # The web window's free-text filter (ILIKE '%...%') through trigram indexes. pg_trgm is
        # a trusted extension: the database owner may create it. Without it, the filter scans.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_incidents_text_trgm ON incidents USING gin (("
            "coalesce(location_name, '') || ' ' || coalesce(admin1, '') || ' ' "
            "|| coalesce(perpetrator, '') || ' ' || coalesce(victims, '')) gin_trgm_ops)"
        )
        op.execute("CREATE INDEX ix_articles_title_trgm ON articles USING gin (title gin_trgm_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_articles_title_trgm")
    op.execute("DROP INDEX IF EXISTS ix_incidents_text_trgm")
    op.drop_index("ix_failures_feed_id", table_name="failures")
    op.drop_index("ix_entries_feed_published", table_name="entries")
    op.drop_index("ix_incidents_updated", table_name="incidents")
    op.drop_index("ix_incidents_type_date", table_name="incidents")
    op.drop_index("ix_incidents_date_id", table_name="incidents")
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.drop_column("last_success_at")
    with op.batch_alter_table("corrections") as batch_op:
        batch_op.drop_column("operator")
