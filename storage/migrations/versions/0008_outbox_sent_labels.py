"""outbox sent labels: the posts a failed delivery attempt sent, for its retry

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: nothing posted yet. A row already tried may have posted: "not known" (["*"],
    # storage.outbox.UNKNOWN), so its retry looks for every post, as every retry did before.
    op.add_column("outbox", sa.Column("sent_labels", sa.JSON(), nullable=True))
    outbox = sa.table("outbox", sa.column("sent_labels", sa.JSON()),
                      sa.column("attempts", sa.Integer()), sa.column("status", sa.String()))
    op.execute(outbox.update().where(outbox.c.attempts > 0, outbox.c.status != "sent")
               .values(sent_labels=["*"]))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sent_labels")
