"""digest indexes: a week's figures read from covering indexes; done and open follow-ups
indexed apart

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DONE = sa.text("done_at IS NOT NULL")
OPEN = sa.text("done_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_cases_opened_at", table_name="cases")
    op.create_index("ix_cases_opened_at_figures", "cases",
                    ["opened_at", "playbook_id", "customer_key"])
    op.drop_index("ix_cases_resolved_at", table_name="cases")
    op.create_index("ix_cases_resolved_at_figures", "cases",
                    ["resolved_at", "recovery_seconds", "reaction", "root_cause",
                     "apology_given_at"])
    op.drop_index("ix_compensations_decided_at", table_name="compensations")
    op.create_index("ix_compensations_decided_at_figures", "compensations",
                    ["decided_at", "status", "type", "amount_minor", "auto_approved"])
    op.drop_index("ix_follow_ups_done_at_due_at", table_name="follow_ups")
    op.drop_index("ix_follow_ups_due_at", table_name="follow_ups")
    op.create_index("ix_follow_ups_done_at_figures", "follow_ups",
                    ["done_at", "due_at", "reaction", "case_id", "number"],
                    sqlite_where=DONE, postgresql_where=DONE)
    op.create_index("ix_follow_ups_open_manager_due_at", "follow_ups", ["manager", "due_at"],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_follow_ups_due_at_done_at", "follow_ups", ["due_at", "done_at"])


def downgrade() -> None:
    op.drop_index("ix_follow_ups_due_at_done_at", table_name="follow_ups")
    op.drop_index("ix_follow_ups_open_manager_due_at", table_name="follow_ups")
    op.drop_index("ix_follow_ups_done_at_figures", table_name="follow_ups")
    op.create_index("ix_follow_ups_due_at", "follow_ups", ["due_at"])
    op.create_index("ix_follow_ups_done_at_due_at", "follow_ups", ["done_at", "due_at"])
    op.drop_index("ix_compensations_decided_at_figures", table_name="compensations")
    op.create_index("ix_compensations_decided_at", "compensations", ["decided_at"])
    op.drop_index("ix_cases_resolved_at_figures", table_name="cases")
    op.create_index("ix_cases_resolved_at", "cases", ["resolved_at"])
    op.drop_index("ix_cases_opened_at_figures", table_name="cases")
    op.create_index("ix_cases_opened_at", "cases", ["opened_at"])
