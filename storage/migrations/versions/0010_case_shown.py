"""case shown: a digest of what each case message shows, so an edit to the same is skipped

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty to begin with: a message with no digest is edited, as every one was before.
    op.create_table(
        "case_shown",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_case_shown_case_id_cases"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "part", name=op.f("pk_case_shown")),
    )


def downgrade() -> None:
    op.drop_table("case_shown")
