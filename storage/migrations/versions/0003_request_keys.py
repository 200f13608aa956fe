"""request keys: one effect per form submission or click, however often it arrives

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_keys",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_request_keys")),
    )
    op.create_index("ix_request_keys_created_at", "request_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_request_keys_created_at", table_name="request_keys")
    op.drop_table("request_keys")
