"""feed item identity (guid + link), item fingerprints and revisions, entry reasons

Revision ID: 0004_item_identity
Revises: 0003_linking
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004_item_identity"
down_revision = "0003_linking"
branch_labels = None
depends_on = None

_STR64 = sqlmodel.sql.sqltypes.AutoString(length=64)


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_key", _STR64, nullable=True))
        batch_op.add_column(sa.Column("fingerprint", _STR64, nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    conn = op.get_bind()
    entries = sa.table("entries", sa.column("id", sa.Integer), sa.column("guid"), sa.column("url"), sa.column("item_key"))
    rows = conn.execute(sa.select(entries.c.id, entries.c.guid, entries.c.url)).all()
    for start in range(0, len(rows), 1000):
        conn.execute(
            entries.update().where(entries.c.id == sa.bindparam("eid")).values(item_key=sa.bindparam("key")),
            [
                {"eid": r.id, "key": hashlib.sha256(f"{r.guid}\n{r.url}".encode()).hexdigest()}
                for r in rows[start : start + 1000]
            ],
        )
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.alter_column("item_key", existing_type=_STR64, nullable=False)
        batch_op.drop_constraint("uq_entries_feed_guid", type_="unique")
        batch_op.create_unique_constraint("uq_entries_feed_item", ["feed_id", "item_key"])


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_entries_feed_item", type_="unique")
        batch_op.create_unique_constraint("uq_entries_feed_guid", ["feed_id", "guid"])
        batch_op.drop_column("reason")
        batch_op.drop_column("revision")
        batch_op.drop_column("fingerprint")
        batch_op.drop_column("item_key")
