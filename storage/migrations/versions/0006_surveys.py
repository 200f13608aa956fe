"""surveys: the customer's own verdict, one signed single-use link per survey

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_surveys_case_id_cases"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    op.create_index("ix_surveys_case_id", "surveys", ["case_id", "id"])
    op.create_index("ix_surveys_created_at", "surveys", ["created_at", "answered_at"])
    op.create_index("ix_surveys_answered_at", "surveys", ["answered_at", "score"])

def downgrade() -> None:
    op.drop_index("ix_surveys_answered_at", table_name="surveys")
    op.drop_index("ix_surveys_created_at", table_name="surveys")
    op.drop_index("ix_surveys_case_id", table_name="surveys")
    op.drop_table("surveys")
