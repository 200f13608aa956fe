"""case source: the chat message a case was opened from, and a link back to it

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_channel", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("source_ts", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("source_link", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("source_link")
        batch_op.drop_column("source_ts")
        batch_op.drop_column("source_channel")
