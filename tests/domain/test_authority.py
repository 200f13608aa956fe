"""The authorization matrix, cell by cell: every kind of person against every action."""

from __future__ import annotations

import pytest

from bot.domain import authority
from bot.domain.compensation import CompensationPolicy
from bot.domain.errors import NotAuthorised
from bot.domain.lifecycle import Case, Customer, EventKind, Outcome, Reaction
from bot.domain.playbook import CompensationType
from bot.domain.playbook_library import PlaybookLibrary
from tests.conftest import T0

OPENER, OTHER_STAFF, MANAGER, REQUESTING_MANAGER, FOLLOW_UP_MANAGER, LEADER, STRANGER = (
    "U0OPENER1", "U0STAFF2", "U0MGR001", "U0MGR002", "U0MGR003", "U0LEADER1", "U0NOBODY")
POLICY = CompensationPolicy(staff_limit_minor=2000, currency="USD",
                            managers=frozenset({MANAGER, REQUESTING_MANAGER, FOLLOW_UP_MANAGER}))
PEOPLE = {"opener": OPENER, "other staff": OTHER_STAFF, "manager": MANAGER,
          "requesting manager": REQUESTING_MANAGER, "leadership": LEADER, "stranger": STRANGER}
WORK = [EventKind.APOLOGY_GIVEN, EventKind.STEP_DONE, EventKind.STEP_UNDONE,
        EventKind.COMPENSATION_PROPOSED, EventKind.RESOLVED, EventKind.CANCELLED]
DECIDE = [EventKind.COMPENSATION_APPROVED, EventKind.COMPENSATION_DENIED]
FOLLOW = [EventKind.FOLLOW_UP_SNOOZED, EventKind.FOLLOWED_UP]

# Who may: working the case, deciding compensation, recording the follow-up.
EXPECTED = {
    "opener": (True, False, False),
    "other staff": (False, False, False),
    "manager": (True, True, True),
    "requesting manager": (True, False, True),  # a manager, but the one who asked
    "leadership": (False, False, False),
    "stranger": (False, False, False),
}


@pytest.fixture
def case(library: PlaybookLibrary) -> Case:
    playbook = library.get("late-delivery")
    case = Case.open(playbook=playbook, severity="major", customer=Customer(name="Sam"),
                     summary="late", opened_by=OPENER, at=T0, currency="USD")
    case.id = 7
    case.propose_compensation(type=CompensationType.REFUND, label="Refund", amount_minor=3000,
                              option_key=None, actor=REQUESTING_MANAGER, at=T0, policy=POLICY,
                              playbook=playbook)
    return case


def allowed(case: Case, action: EventKind, person: str) -> bool:
    try:
        authority.check(case, action, person, POLICY)
        if action in DECIDE:  # the second rule of deciding: never your own request
            POLICY.check_decider(decider=person, requester=case.compensations[0].requested_by)
        return True
    except NotAuthorised:
        return False


@pytest.mark.parametrize("who", list(PEOPLE))
@pytest.mark.parametrize("action", WORK + DECIDE)
def test_working_and_deciding(case: Case, who: str, action: EventKind) -> None:
    may_work, may_decide, _ = EXPECTED[who]
    assert allowed(case, action, PEOPLE[who]) == (may_decide if action in DECIDE else may_work)


@pytest.mark.parametrize("who", [*PEOPLE, "follow-up manager"])
@pytest.mark.parametrize("action", FOLLOW)
def test_follow_up(case: Case, library: PlaybookLibrary, who: str, action: EventKind) -> None:
    case.decide_compensation(number=1, approve=True, actor=MANAGER, at=T0, policy=POLICY)
    case.resolve(outcome=Outcome(reaction=Reaction.SATISFIED, root_cause="Courier delay",
                                 action_taken="x"), playbook=library.get("late-delivery"),
                 actor=OPENER, at=T0, manager=FOLLOW_UP_MANAGER)
    person = FOLLOW_UP_MANAGER if who == "follow-up manager" else PEOPLE[who]
    expected = True if who == "follow-up manager" else EXPECTED[who][2]
    assert allowed(case, action, person) == expected


def test_the_refusal_says_who_may(case: Case) -> None:
    with pytest.raises(NotAuthorised, match="Only a manager or the staff member who opened "
                                            "the case can do that on C-0007"):
        authority.check(case, EventKind.CANCELLED, STRANGER, POLICY)


def test_every_action_has_a_rule() -> None:
    assert set(authority.MAY) >= set(WORK + DECIDE + FOLLOW)
