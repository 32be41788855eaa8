"""feed administration: removed feeds kept as tombstones, failures marked when retried

Revision ID: 0005_feed_admin
Revises: 0004_item_identity
Create Date: 2026-12-04 21:00:00

``feeds.removed_at``: `wirewatch feeds remove` keeps the row (its entries and articles still
point at it, and a feed removed from the database but still listed in config.toml is not
added back on the next start). ``failures.retried_at``: `wirewatch failures retry` marks what
it queued again; ``failures.at`` is indexed for ``--since`` and ``wirewatch status``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_feed_admin"
down_revision = "0004_item_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retried_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_failures_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_failures_at"))
        batch_op.drop_column("retried_at")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("removed_at")
