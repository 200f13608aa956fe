"""outbox requested at: when the request behind a delivery arrived, for its lag

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for rows queued before it, and for rows no request caused (reminders, digests).
    op.add_column("outbox", sa.Column("requested_at", sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("requested_at")
