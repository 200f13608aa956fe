"""Who may do what to a case: one table, checked before every change.

Working a case (apology, fix, compensation, resolving, cancelling) is for the staff member
who opened it and for managers. Deciding on compensation is for managers, never the one
who asked. A follow-up is recorded or snoozed by its manager, or another manager.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain.compensation import CompensationPolicy
from bot.domain.errors import NotAuthorised
from bot.domain.lifecycle import Case, EventKind


class Role(StrEnum):
    OPENER = "the staff member who opened the case"
    MANAGER = "a manager"
    FOLLOW_UP_MANAGER = "the manager responsible for the follow-up"


_WORKERS = frozenset({Role.OPENER, Role.MANAGER})
_FOLLOW_UP = frozenset({Role.FOLLOW_UP_MANAGER, Role.MANAGER})
MAY: dict[EventKind, frozenset[Role]] = {
    EventKind.APOLOGY_GIVEN: _WORKERS,
    EventKind.STEP_DONE: _WORKERS,
    EventKind.STEP_UNDONE: _WORKERS,
    EventKind.COMPENSATION_PROPOSED: _WORKERS,
    EventKind.RESOLVED: _WORKERS,
    EventKind.CANCELLED: _WORKERS,
    # Deciding is for the ladder's managers; the level an amount needs, the case's location
    # and never the requester are CompensationPolicy.check_decider's.
    EventKind.COMPENSATION_APPROVED: frozenset({Role.MANAGER}),
    EventKind.COMPENSATION_DENIED: frozenset({Role.MANAGER}),
    # Endorsing (passing up a request above one's authority) is for those on the ladder.
    EventKind.COMPENSATION_ENDORSED: frozenset({Role.MANAGER}),
    EventKind.FOLLOW_UP_SNOOZED: _FOLLOW_UP,
    EventKind.FOLLOWED_UP: _FOLLOW_UP,
}


def roles(case: Case, actor: str, policy: CompensationPolicy) -> set[Role]:
    found = set()
    if actor == case.opened_by:
        found.add(Role.OPENER)
    if policy.is_manager(actor):
        found.add(Role.MANAGER)
    follow_up = case.open_follow_up
    if follow_up is not None and follow_up.manager == actor:
        found.add(Role.FOLLOW_UP_MANAGER)
    return found


def check(case: Case, action: EventKind, actor: str, policy: CompensationPolicy) -> None:
    allowed = MAY[action]
    if not roles(case, actor, policy) & allowed:
        who = " or ".join(sorted(r.value for r in allowed))
        raise NotAuthorised(f"Only {who} can do that on {case.reference}.")
