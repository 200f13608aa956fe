"""The approval ladder, cell by cell: who may give, approve, deny and endorse how much, where.

Staff give up to $20 (a trusted one up to $200); shift managers approve up to $150,
operations up to $1,000, leadership anything. No Slack, no database.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.compensation import CompensationPolicy, Level
from bot.domain.errors import AlreadyDecided, CompensationRefused, NotAuthorised
from bot.domain.lifecycle import Case, CaseState, CompensationStatus, Customer, EventKind
from bot.domain.playbook import CompensationType, Playbook
from bot.domain.playbook_library import PlaybookLibrary

STAFF, TRUSTED, SHIFT, SHIFT2, OPS, LEAD, NOBODY = (
    "U0STAFF", "U0TRUST", "U0SHIFT", "U0SHIFT2", "U0OPS", "U0LEAD", "U0NOBODY")
LADDER = (Level(name="Shift managers", limit_minor=15_000, members=frozenset({SHIFT, SHIFT2})),
          Level(name="Operations", limit_minor=100_000, members=frozenset({OPS})),
          Level(name="Leadership", limit_minor=None, members=frozenset({LEAD})))
POLICY = CompensationPolicy(staff_limit_minor=2_000, managers=frozenset(), currency="USD",
                            ladder=LADDER, personal_limits={TRUSTED: 20_000})
AT = datetime(2026, 11, 16, 10, tzinfo=UTC)


def amount(dollars: float) -> int:
    return round(dollars * 100)


@pytest.mark.parametrize(("who", "dollars", "asks"), [
    (STAFF, 20, False), (STAFF, 20.01, True),  # the staff limit, to the cent
    (TRUSTED, 200, False), (TRUSTED, 200.01, True),  # a raised own limit
    (SHIFT, 20.01, True),  # a manager's own request is decided by someone else
])
def test_own_limits(who: str, dollars: float, asks: bool) -> None:
    assert POLICY.needs_approval(amount(dollars), who) is asks


@pytest.mark.parametrize(("dollars", "level"), [
    (20.01, 0), (150, 0), (150.01, 1), (1000, 1), (1000.01, 2), (1_000_000, 2)])
def test_a_request_needs_the_lowest_level_that_covers_it(dollars: float, level: int) -> None:
    assert POLICY.needed(amount(dollars)) == level


# (decider, dollars): None = may decide, else words from the refusal.
@pytest.mark.parametrize(("decider", "dollars", "refusal"), [
    (STAFF, 100, "Only a manager"), (NOBODY, 100, "Only a manager"),
    (SHIFT, 100, None), (OPS, 100, None), (LEAD, 100, None),  # higher levels may too
    (SHIFT, 500, "Endorse it"), (OPS, 500, None), (LEAD, 500, None),
    (SHIFT, 5000, "Endorse it"), (OPS, 5000, "Endorse it"), (LEAD, 5000, None),
    (SHIFT2, 100, None),
])
def test_who_may_decide(decider: str, dollars: float, refusal: str | None) -> None:
    check = lambda: POLICY.check_decider(  # noqa: E731
        decider=decider, requester=STAFF, amount_minor=amount(dollars), location=None)
    if refusal is None:
        check()
    else:
        with pytest.raises(NotAuthorised, match=refusal):
            check()


def test_never_the_requester_at_any_level() -> None:
    for person, dollars in ((SHIFT, 100), (OPS, 500), (LEAD, 5000)):
        with pytest.raises(NotAuthorised, match="another manager"):
            POLICY.check_decider(decider=person, requester=person,
                                 amount_minor=amount(dollars), location=None)


@pytest.mark.parametrize(("endorser", "dollars", "refusal"), [
    (SHIFT, 500, None), (SHIFT, 5000, None), (OPS, 5000, None),
    (OPS, 500, "approve this yourself"), (SHIFT, 100, "approve this yourself"),
    (STAFF, 500, "Only a manager"), (NOBODY, 500, "Only a manager"),
])
def test_who_may_endorse(endorser: str, dollars: float, refusal: str | None) -> None:
    check = lambda: POLICY.check_endorser(  # noqa: E731
        endorser=endorser, requester=STAFF, amount_minor=amount(dollars), location=None,
        endorsed_by=())
    if refusal is None:
        check()
    else:
        with pytest.raises(NotAuthorised, match=refusal):
            check()


def test_an_endorsement_is_once_per_person_and_never_ones_own() -> None:
    with pytest.raises(NotAuthorised, match="already endorsed"):
        POLICY.check_endorser(endorser=SHIFT, requester=STAFF, amount_minor=amount(500),
                              location=None, endorsed_by=(SHIFT,))
    with pytest.raises(NotAuthorised, match="You asked"):
        POLICY.check_endorser(endorser=SHIFT, requester=SHIFT, amount_minor=amount(500),
                              location=None, endorsed_by=())


def test_a_location_manager_acts_on_that_locations_cases_only() -> None:
    confined = CompensationPolicy(
        staff_limit_minor=2_000, managers=frozenset(), currency="USD", ladder=LADDER,
        approver_locations={SHIFT: frozenset({"high street"})})
    for where in ("High Street", "  high   STREET "):
        confined.check_decider(decider=SHIFT, requester=STAFF, amount_minor=amount(100),
                               location=where)
    for where in ("Station", None):
        with pytest.raises(NotAuthorised, match="high street only"):
            confined.check_decider(decider=SHIFT, requester=STAFF, amount_minor=amount(100),
                                   location=where)
        with pytest.raises(NotAuthorised, match="high street only"):
            confined.check_endorser(endorser=SHIFT, requester=STAFF, amount_minor=amount(500),
                                    location=where, endorsed_by=())
    # Unconfined people decide everywhere; the request goes to whoever may act there.
    confined.check_decider(decider=SHIFT2, requester=STAFF, amount_minor=amount(100),
                           location="Station")
    assert confined.asked(amount(100), STAFF, "Station") == (0, frozenset({SHIFT2}))
    assert confined.asked(amount(100), STAFF, "High Street") == (0, frozenset({SHIFT,
                                                                               SHIFT2}))


def test_a_request_goes_up_past_a_level_with_nobody_else_on_it() -> None:
    assert POLICY.asked(amount(500), STAFF, None) == (1, frozenset({OPS}))
    assert POLICY.asked(amount(500), OPS, None) == (2, frozenset({LEAD}))  # OPS asked
    assert POLICY.above(2, LEAD, None) is None  # nobody above leadership but leadership
    assert POLICY.above(1, STAFF, None) == (1, frozenset({OPS}))
    assert POLICY.above(0 + 1, STAFF, None) == (1, frozenset({OPS}))  # escalation from shift


def test_above_every_limit_is_refused_before_anything_is_recorded() -> None:
    capped = CompensationPolicy(staff_limit_minor=2_000, managers=frozenset(), currency="USD",
                                ladder=LADDER[:2])
    with pytest.raises(CompensationRefused, match=r"the most is \$1,000.00, by Operations"):
        capped.check_request(amount(1000.01), STAFF)
    capped.check_request(amount(1000), STAFF)
    capped.check_request(amount(15), STAFF)


def test_without_a_ladder_any_manager_approves_any_amount() -> None:
    plain = CompensationPolicy(staff_limit_minor=2_000, managers=frozenset({SHIFT, OPS}),
                               currency="USD")
    assert plain.needed(amount(1_000_000)) == 0
    plain.check_decider(decider=SHIFT, requester=STAFF, amount_minor=amount(1_000_000),
                        location="Anywhere")
    with pytest.raises(NotAuthorised, match="Only a manager"):
        plain.check_decider(decider=STAFF, requester=OPS, amount_minor=amount(30),
                            location=None)


def _case_with_request(late: Playbook, dollars: float) -> Case:
    case = Case.open(playbook=late, severity="major", customer=Customer(name="Sam"),
                     summary="late", opened_by=STAFF, at=AT, currency="USD",
                     purchase_minor=None, location="High Street")
    case.propose_compensation(type=CompensationType.REFUND, label="Refund",
                              amount_minor=amount(dollars), option_key=None, actor=STAFF, at=AT,
                              policy=POLICY, playbook=late)
    return case


@pytest.fixture
def late(library: PlaybookLibrary) -> Playbook:
    playbook = library.get("late-delivery")
    assert playbook is not None
    return playbook


def test_endorsing_keeps_the_request_waiting_and_records_the_chain(late: Playbook) -> None:
    case = _case_with_request(late, 5000)
    assert case.state is CaseState.AWAITING_APPROVAL
    case.endorse_compensation(number=1, actor=SHIFT, at=AT, policy=POLICY)
    case.endorse_compensation(number=1, actor=OPS, at=AT, policy=POLICY)
    comp = case.compensation(1)
    assert [(e.by, e.level) for e in comp.endorsements] == [
        (SHIFT, "Shift managers"), (OPS, "Operations")]
    assert case.state is CaseState.AWAITING_APPROVAL and comp.status is CompensationStatus.PENDING
    assert [e.kind for e in case.new_events][-2:] == [EventKind.COMPENSATION_ENDORSED] * 2
    with pytest.raises(NotAuthorised, match="Endorse it"):
        case.decide_compensation(number=1, approve=True, actor=OPS, at=AT, policy=POLICY)
    case.decide_compensation(number=1, approve=True, actor=LEAD, at=AT, policy=POLICY)
    assert comp.status is CompensationStatus.APPROVED and case.state is CaseState.FIXING
    with pytest.raises(AlreadyDecided):
        case.endorse_compensation(number=1, actor=SHIFT2, at=AT, policy=POLICY)
