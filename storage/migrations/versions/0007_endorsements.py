"""endorsements: who passed a compensation request up the approval ladder

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows from before the ladder have no endorsements, read as none.
    op.add_column("compensations", sa.Column("endorsements", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compensations") as batch:
        batch.drop_column("endorsements")
