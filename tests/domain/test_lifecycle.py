"""The case lifecycle, its transition table and compensation authority: no database, no Slack."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.compensation import CompensationPolicy
from bot.domain.errors import (
    AlreadyDecided,
    CompensationRefused,
    InvalidTransition,
    NotAuthorised,
)
from bot.domain.lifecycle import (
    TRANSITIONS,
    Case,
    CaseState,
    CompensationStatus,
    Customer,
    EventKind,
    Outcome,
    Reaction,
)
from bot.domain.playbook import CompensationType, Playbook
from bot.domain.playbook_library import PlaybookLibrary
from bot.domain.survey import Answer
from tests.conftest import T0

STAFF, MANAGER, OTHER_MANAGER, STRANGER = "U0STAFF1", "U0MGR001", "U0MGR002", "U0NOBODY"
POLICY = CompensationPolicy(staff_limit_minor=2000, managers=frozenset({MANAGER, OTHER_MANAGER}),
                            currency="USD")


@pytest.fixture
def late(library: PlaybookLibrary) -> Playbook:
    playbook = library.get("late-delivery")
    assert playbook is not None
    return playbook


def new_case(playbook: Playbook, *, purchase: int | None = 4000, by: str = STAFF) -> Case:
    return Case.open(playbook=playbook, severity="major", customer=Customer(name="Sam"),
                     summary="50 minutes late", opened_by=by, at=T0, currency="USD",
                     purchase_minor=purchase)


def outcome(reaction: Reaction = Reaction.SATISFIED) -> Outcome:
    return Outcome(reaction=reaction, root_cause="Courier delay", action_taken="Sent a new order")


def test_the_whole_happy_path_leaves_a_timeline(late: Playbook) -> None:
    case = new_case(late)
    case.give_apology(actor=STAFF, at=T0 + timedelta(minutes=1))
    assert case.state is CaseState.APOLOGISED
    case.mark_step(step=0, done=True, playbook=late, actor=STAFF, at=T0 + timedelta(minutes=2))
    assert case.state is CaseState.FIXING
    small = case.propose_compensation(type=CompensationType.VOUCHER, label="Voucher",
                                      amount_minor=1500, option_key="major-2", actor=STAFF,
                                      at=T0 + timedelta(minutes=3), policy=POLICY, playbook=late)
    assert small.status is CompensationStatus.APPROVED and small.auto_approved
    follow_up = case.resolve(outcome=outcome(), playbook=late, actor=STAFF,
                             at=T0 + timedelta(minutes=30), manager=MANAGER)
    assert case.state is CaseState.FOLLOW_UP_DUE
    assert case.time_to_recover == timedelta(minutes=30)
    assert follow_up.due_at == T0 + timedelta(minutes=30, hours=48)
    case.record_follow_up(reaction=Reaction.DELIGHTED, note="Loved the new order", actor=MANAGER,
                          at=T0 + timedelta(hours=20), policy=POLICY)
    assert case.state is CaseState.CLOSED
    assert case.closed_at == T0 + timedelta(hours=20)
    kinds = [e.kind for e in case.new_events]
    assert kinds == [EventKind.OPENED, EventKind.APOLOGY_GIVEN, EventKind.STEP_DONE,
                     EventKind.COMPENSATION_APPROVED, EventKind.RESOLVED, EventKind.FOLLOWED_UP]
    assert case.new_events[-1].data["on_time"] is True
    assert case.new_events[0].data["hash"] == late.content_hash


def test_above_the_staff_limit_a_manager_must_approve_never_the_requester(late: Playbook) -> None:
    case = new_case(late, by=MANAGER)
    comp = case.propose_compensation(type=CompensationType.REFUND, label="Refund",
                                     amount_minor=4000, option_key=None, actor=MANAGER, at=T0,
                                     policy=POLICY, playbook=late)
    assert comp.status is CompensationStatus.PENDING
    assert case.state is CaseState.AWAITING_APPROVAL
    with pytest.raises(NotAuthorised, match="another manager"):
        case.decide_compensation(number=1, approve=True, actor=MANAGER, at=T0, policy=POLICY)
    with pytest.raises(NotAuthorised, match="Only a manager"):
        case.decide_compensation(number=1, approve=True, actor=STRANGER, at=T0, policy=POLICY)
    with pytest.raises(InvalidTransition, match=r"resolved now.*decide on the compensation"):
        case.resolve(outcome=outcome(), playbook=late, actor=MANAGER, at=T0, manager=MANAGER)
    case.decide_compensation(number=1, approve=True, actor=OTHER_MANAGER, at=T0, policy=POLICY)
    assert comp.status is CompensationStatus.APPROVED and comp.decided_by == OTHER_MANAGER
    assert case.state is CaseState.FIXING
    with pytest.raises(AlreadyDecided) as info:
        case.decide_compensation(number=1, approve=False, actor=MANAGER, at=T0, policy=POLICY,
                                 reason="no")
    assert info.value.compensation is comp


def test_denial_needs_a_reason_and_returns_the_case_to_fixing(late: Playbook) -> None:
    case = new_case(late)
    case.propose_compensation(type=CompensationType.REFUND, label="Refund", amount_minor=3000,
                              option_key=None, actor=STAFF, at=T0, policy=POLICY, playbook=late)
    with pytest.raises(InvalidTransition, match="Say why"):
        case.decide_compensation(number=1, approve=False, actor=MANAGER, at=T0, policy=POLICY)
    comp = case.decide_compensation(number=1, approve=False, actor=MANAGER, at=T0, policy=POLICY,
                                    reason="Too much for a late delivery")
    assert comp.status is CompensationStatus.DENIED and comp.reason.startswith("Too much")
    assert case.state is CaseState.FIXING
    assert case.approved_minor == 0


def test_only_one_request_waits_at_a_time(late: Playbook) -> None:
    case = new_case(late)
    case.propose_compensation(type=CompensationType.REFUND, label="R", amount_minor=3000,
                              option_key=None, actor=STAFF, at=T0, policy=POLICY, playbook=late)
    with pytest.raises(InvalidTransition, match="already has compensation waiting"):
        case.propose_compensation(type=CompensationType.VOUCHER, label="V", amount_minor=500,
                                  option_key=None, actor=STAFF, at=T0, policy=POLICY,
                                  playbook=late)


def test_ceiling_refuses_compensation_beyond_150_percent_of_the_purchase(late: Playbook) -> None:
    case = new_case(late, purchase=4000)  # ceiling $60
    case.propose_compensation(type=CompensationType.VOUCHER, label="V", amount_minor=2000,
                              option_key=None, actor=STAFF, at=T0, policy=POLICY, playbook=late)
    with pytest.raises(CompensationRefused, match=r"\$61.00, above the ceiling of \$60.00"):
        case.propose_compensation(type=CompensationType.REFUND, label="R", amount_minor=4100,
                                  option_key=None, actor=STAFF, at=T0, policy=POLICY,
                                  playbook=late)
    # Exactly at the ceiling is fine; with no purchase value there is no ceiling to apply.
    case.propose_compensation(type=CompensationType.REFUND, label="R", amount_minor=4000,
                              option_key=None, actor=STAFF, at=T0, policy=POLICY, playbook=late)
    unknown = new_case(late, purchase=None)
    unknown.propose_compensation(type=CompensationType.REFUND, label="R", amount_minor=99999,
                                 option_key=None, actor=STAFF, at=T0, policy=POLICY,
                                 playbook=late)


def test_still_unhappy_at_the_follow_up_reopens_the_case(late: Playbook) -> None:
    case = new_case(late)
    case.resolve(outcome=outcome(Reaction.NEUTRAL), playbook=late, actor=STAFF,
                 at=T0 + timedelta(hours=1), manager=MANAGER)
    with pytest.raises(NotAuthorised):
        case.record_follow_up(reaction=Reaction.SATISFIED, note="", actor=STRANGER, at=T0,
                              policy=POLICY)
    case.record_follow_up(reaction=Reaction.STILL_UNHAPPY, note="Wants a refund",
                          actor=MANAGER, at=T0 + timedelta(hours=60), policy=POLICY)
    assert case.state is CaseState.FIXING
    assert case.new_events[-1].kind is EventKind.REOPENED
    assert case.new_events[-1].data["on_time"] is False
    assert case.resolved_at is None and case.open_follow_up is None
    second = case.resolve(outcome=outcome(), playbook=late, actor=STAFF,
                          at=T0 + timedelta(hours=70), manager=MANAGER)
    assert second.number == 2
    assert case.time_to_recover == timedelta(hours=70)


def test_snooze_moves_the_follow_up_and_must_end_in_the_future(late: Playbook) -> None:
    case = new_case(late)
    case.resolve(outcome=outcome(), playbook=late, actor=STAFF, at=T0, manager=MANAGER)
    with pytest.raises(InvalidTransition, match="future"):
        case.snooze_follow_up(until=T0, actor=MANAGER, at=T0, policy=POLICY)
    follow_up = case.snooze_follow_up(until=T0 + timedelta(days=1), actor=MANAGER, at=T0,
                                      policy=POLICY)
    assert follow_up.snoozed_until == T0 + timedelta(days=1)


def test_cancel_from_open_states_only_and_it_withdraws_pending_requests(late: Playbook) -> None:
    case = new_case(late)
    case.propose_compensation(type=CompensationType.REFUND, label="R", amount_minor=3000,
                              option_key=None, actor=STAFF, at=T0, policy=POLICY, playbook=late)
    with pytest.raises(InvalidTransition, match="why"):
        case.cancel(reason=" ", actor=STAFF, at=T0)
    case.cancel(reason="Opened twice by mistake", actor=STAFF, at=T0)
    assert case.state is CaseState.CANCELLED
    assert case.compensations[0].status is CompensationStatus.DENIED
    with pytest.raises(InvalidTransition, match="is cancelled, so you can't record the apology"):
        case.give_apology(actor=STAFF, at=T0)


def test_invalid_moves_raise_plain_errors(late: Playbook) -> None:
    case = new_case(late)
    with pytest.raises(InvalidTransition, match="no follow-up due"):
        case.record_follow_up(reaction=Reaction.SATISFIED, note="", actor=MANAGER, at=T0,
                              policy=POLICY)
    case.give_apology(actor=STAFF, at=T0)
    with pytest.raises(InvalidTransition, match="already recorded"):
        case.give_apology(actor=STAFF, at=T0)
    with pytest.raises(InvalidTransition, match="no fix step 99"):
        case.mark_step(step=98, done=True, playbook=late, actor=STAFF, at=T0)
    with pytest.raises(InvalidTransition, match="already not done"):
        case.mark_step(step=0, done=False, playbook=late, actor=STAFF, at=T0)
    with pytest.raises(InvalidTransition, match="not a root cause"):
        case.resolve(outcome=Outcome(reaction=Reaction.SATISFIED, root_cause="Aliens",
                                     action_taken="x"), playbook=late, actor=STAFF, at=T0,
                     manager=MANAGER)
    with pytest.raises(InvalidTransition, match="not a severity"):
        Case.open(playbook=late, severity="apocalyptic", customer=Customer(name="x"),
                  summary="x", opened_by=STAFF, at=T0, currency="USD")


def test_closed_and_cancelled_are_final_but_for_the_customers_answer() -> None:
    final = (CaseState.CLOSED, CaseState.CANCELLED)
    # Nothing a person does moves a finished case; the customer's answer is recorded on
    # any case, and only a low one moves a closed case (back to fixing).
    for (state, kind), target in TRANSITIONS.items():
        if state in final:
            assert (kind, target) in {(EventKind.SURVEY_ANSWERED, state),
                                      (EventKind.REOPENED, CaseState.FIXING)}
            assert kind is EventKind.SURVEY_ANSWERED or state is CaseState.CLOSED
    assert {s for (s, k), t in TRANSITIONS.items() if t != s} == set(CaseState) - {
        CaseState.CANCELLED}


def _closed(late: Playbook) -> Case:
    case = Case.open(playbook=late, severity="minor", customer=Customer(name="Sam"),
                     summary="late", opened_by=STAFF, at=T0, currency="USD")
    policy = CompensationPolicy(staff_limit_minor=2000, managers=frozenset({MANAGER}),
                                currency="USD")
    case.resolve(outcome=Outcome(reaction=Reaction.SATISFIED, root_cause=late.causes[0],
                                 action_taken="re-sent"), playbook=late, actor=STAFF, at=T0,
                 manager=MANAGER)
    case.record_follow_up(reaction=Reaction.SATISFIED, note="", actor=MANAGER, at=T0,
                          policy=policy)
    return case


def test_a_low_survey_answer_reopens_a_closed_case_and_a_good_one_leaves_it(
        late: Playbook) -> None:
    case = _closed(late)
    assert case.record_survey(survey=1, answer=Answer(5, "lovely"), at=T0) is False
    assert case.state is CaseState.CLOSED
    case = _closed(late)
    assert case.record_survey(survey=2, answer=Answer(2, "still cold"), at=T0) is True
    assert (case.state, case.closed_at, case.resolved_at, case.outcome) == (
        CaseState.FIXING, None, None, None)
    assert [(e.kind, e.actor) for e in case.new_events[-2:]] == [
        (EventKind.SURVEY_ANSWERED, "customer"), (EventKind.REOPENED, "customer")]
    assert case.new_events[-2].data == {"survey": 2, "score": 2, "comment": "still cold"}


def test_a_low_answer_while_the_follow_up_is_due_keeps_it_due(late: Playbook) -> None:
    case = Case.open(playbook=late, severity="minor", customer=Customer(name="Sam"),
                     summary="late", opened_by=STAFF, at=T0, currency="USD")
    case.resolve(outcome=Outcome(reaction=Reaction.SATISFIED, root_cause=late.causes[0],
                                 action_taken="re-sent"), playbook=late, actor=STAFF, at=T0,
                 manager=MANAGER)
    assert case.record_survey(survey=1, answer=Answer(1, ""), at=T0) is False
    assert case.state is CaseState.FOLLOW_UP_DUE and case.open_follow_up is not None
