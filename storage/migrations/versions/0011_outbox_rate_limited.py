"""outbox rate_limited: how many times Slack's Retry-After put a delivery off

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows queued before this knew no such count: none is recorded for them.
    op.add_column("outbox", sa.Column("rate_limited", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("rate_limited")
