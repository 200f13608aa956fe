"""What people's lists show (the Home tab, `/recover list`): small read models, not rows.

Storage fills these in one query each; the Slack side only formats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.lifecycle import CaseState, case_reference


@dataclass(frozen=True)
class CaseLine:
    id: int
    customer: str
    playbook_id: str
    state: CaseState
    opened_at: datetime
    channel_id: str | None  # where its card is, for a link (None: not posted yet)
    message_ts: str | None

    @property
    def reference(self) -> str:
        return case_reference(self.id)


@dataclass(frozen=True)
class WaitingApproval:
    case: CaseLine
    amount_minor: int
    type: str
    requested_by: str
    requested_at: datetime


@dataclass(frozen=True)
class DueFollowUp:
    case: CaseLine
    due_at: datetime
    snoozed_until: datetime | None
