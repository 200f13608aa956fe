"""A customer's earlier cases, as the person putting the latest failure right should see them.

A second failure for the same customer usually deserves more care than the first: the card,
the compensation message and the manager's follow-up say so. The same customer means the same
normalised contact (else name), as the digest's repeat count has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.lifecycle import CaseState, Reaction, case_reference

LOOKBACK = timedelta(days=365)  # earlier cases counted on the card
REPEAT_WINDOW = timedelta(days=90)  # an earlier case this recent makes a repeat customer
SHOWN = 3  # the latest few, shown in full


@dataclass(frozen=True, kw_only=True)
class PastCase:
    id: int
    playbook_id: str
    opened_at: datetime
    state: CaseState
    given_minor: int  # compensation approved, in `currency`
    currency: str
    # How the customer left: the latest follow-up's reaction, else the one at resolving.
    reaction: Reaction | None

    @property
    def reference(self) -> str:
        return case_reference(self.id)

    @property
    def left(self) -> str:
        """How the customer left, in words."""
        if self.state is CaseState.CANCELLED:
            return "cancelled"
        if self.state.is_open:
            return "reopened, still open" if self.reaction is Reaction.STILL_UNHAPPY \
                else "still open"
        if self.reaction is not None:
            return self.reaction.label.lower()
        return self.state.label


@dataclass(frozen=True, kw_only=True)
class CustomerHistory:
    """Earlier cases of the customer, as of when the case opened (never the case itself)."""

    opened_at: datetime  # of the case this history belongs to
    count: int = 0  # earlier cases opened in the LOOKBACK before it
    recent: tuple[PastCase, ...] = field(default=())  # the latest, newest first

    @property
    def repeat(self) -> bool:
        """An earlier case within REPEAT_WINDOW: a repeat customer."""
        return bool(self.recent) and \
            self.opened_at - self.recent[0].opened_at <= REPEAT_WINDOW

    @property
    def empty(self) -> bool:
        return self.count == 0
