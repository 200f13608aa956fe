"""The approval ladder through signed Slack requests, on SQLite and PostgreSQL: a request goes
to the lowest level that covers it, lower levels endorse and pass it up, the thread shows
the chain, reminders and escalations climb the ladder, and a location's managers act on
their location's cases only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.ids import Action, Field
from bot.jobs import approvals
from storage.models import CompensationRow, EventRow
from tests.bot.conftest import (
    MANAGER,
    MANAGER2,
    STAFF,
    Harness,
    reassembled,
)
from tests.bot.test_followthrough import jobs_for
from tests.bot.test_home_and_managers import _home
from tests.bot.test_journey import block_text, ephemerals, open_case, thread

OPS_GROUP, OPS3, LEAD = "S0OPS", "U0OPS003", "U0LEAD001"
# Staff give up to $20; shift managers (Morgan) approve up to $30, operations (Sam and the
# S0OPS group) up to $50, leadership anything.
LADDER = (f"Shift managers=30:{MANAGER}; Operations=50:{MANAGER2},{OPS_GROUP}; "
          f"Leadership=any:{LEAD}")


@pytest.fixture
def laddered(harness: Harness, library: Any, request: pytest.FixtureRequest
             ) -> Iterator[Harness]:
    extra: dict[str, str] = getattr(request, "param", {})
    harness.fake.group_members[OPS_GROUP] = [OPS3]
    laddered, _parts = reassembled(harness, library,
                                   **{"AMENDS_APPROVAL_LADDER": LADDER, **extra})
    yield laddered
    laddered.executor.shutdown(wait=True)


def ask_for(h: Harness, dollars: str, *, user: str = STAFF) -> tuple[Any, Any]:
    """Open a case and ask for `dollars` with "Other amount…": (card, the request)."""
    card = open_case(h, user=user)
    compensation = thread(h, card)[2]
    h.click(compensation, Action.COMPENSATION_CUSTOM, user=user)
    h.submit(h.opened_view(), {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund",
                               Field.AMOUNT: dollars}, user=user)
    return card, thread(h, card)[-1]


def status(h: Harness) -> tuple[str, Any]:
    with h.sessions() as session:
        row = session.scalars(select(CompensationRow)).one()
        return row.status, row.endorsements


def test_a_request_climbs_with_endorsements_and_the_right_level_decides(
        laddered: Harness) -> None:
    h = laddered
    card, request = ask_for(h, "45")
    asked = request.blocks[0]["text"]["text"]
    assert "*Approval needed from Operations (up to $50.00)*" in asked
    assert f"<@{MANAGER2}>" in asked and f"<@{OPS3}>" in asked
    assert f"<!subteam^{OPS_GROUP}>" in asked
    assert f"<@{MANAGER}>" not in asked and f"<@{STAFF}> asks" in asked  # not shift, not staff
    assert "Endorse and pass up" in block_text(request)

    # A shift manager can't approve $45; the requester can't endorse their own.
    h.click(request, Action.APPROVE, user=MANAGER)
    assert "above what Shift managers may approve (up to $30.00)" in ephemerals(h, MANAGER)[-1]
    h.click(request, Action.DENY, user=MANAGER)
    assert "Endorse it to pass it up" in ephemerals(h, MANAGER)[-1]
    h.click(request, Action.ENDORSE, user=STAFF)
    assert "Only a manager" in ephemerals(h, STAFF)[-1]
    assert status(h) == ("pending", None)

    # The shift manager endorses: the request shows the chain, and operations are asked.
    h.click(request, Action.ENDORSE, user=MANAGER)
    assert f"Endorsed by <@{MANAGER}> (Shift managers)" in block_text(request)
    note = thread(h, card)[-1]
    assert "passed it up to Operations (up to $50.00)" in block_text(note)
    assert f"<@{MANAGER2}>" in block_text(note)
    h.click(request, Action.ENDORSE, user=MANAGER)  # a second time: once is enough
    assert "already endorsed" in ephemerals(h, MANAGER)[-1]
    h.click(request, Action.ENDORSE, user=MANAGER2)  # operations decide instead
    assert "approve this yourself" in ephemerals(h, MANAGER2)[-1]

    h.click(request, Action.APPROVE, user=OPS3)  # a member of the operations group
    assert f"*Approved* by <@{OPS3}>" in block_text(request)
    assert f"Endorsed by <@{MANAGER}> (Shift managers)" in block_text(request)
    current, endorsements = status(h)
    assert current == "approved"
    assert [(e["by"], e["level"]) for e in endorsements] == [(MANAGER, "Shift managers")]
    with h.sessions() as session:
        kinds = session.scalars(select(EventRow.kind).order_by(EventRow.id)).all()
    assert kinds[-3:] == ["compensation_proposed", "compensation_endorsed",
                          "compensation_approved"]


def test_within_a_level_any_higher_level_may_decide(laddered: Harness) -> None:
    _card, request = ask_for(laddered, "25")  # shift managers' level
    asked = request.blocks[0]["text"]["text"]
    assert "Shift managers (up to $30.00)" in asked and f"<@{MANAGER}>" in asked
    assert "Endorse and pass up" not in block_text(request)  # nobody below shift managers
    laddered.click(request, Action.APPROVE, user=LEAD)
    assert status(laddered)[0] == "approved"


@pytest.mark.parametrize("laddered", [{
    "AMENDS_APPROVAL_LADDER": f"Shift managers=30:{MANAGER}; Operations=50:{MANAGER2}"}],
    indirect=True)
def test_above_every_limit_a_request_is_refused_inline(laddered: Harness) -> None:
    card = open_case(laddered)
    laddered.click(thread(laddered, card)[2], Action.COMPENSATION_CUSTOM, user=STAFF)
    response = laddered.submit(laddered.opened_view(), {
        Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund", Field.AMOUNT: "55"}, user=STAFF)
    errors = json.loads(response.body)["errors"]
    assert "more than anyone here may approve (the most is $50.00, by Operations)" in \
        errors[Field.AMOUNT]
    with laddered.sessions() as session:
        assert session.scalars(select(CompensationRow)).all() == []


@pytest.mark.parametrize("laddered", [{}, {"AMENDS_LEADERSHIP_CHANNEL": ""}], indirect=True,
                         ids=["with a leadership channel", "without one"])
def test_reminders_ask_the_level_and_escalation_climbs_one_step(laddered: Harness,
                                                                library: Any) -> None:
    h = laddered
    card, request = ask_for(h, "25")
    jobs = jobs_for(h, library, h.settings)
    s = h.settings
    reminded = h.clock.now + timedelta(minutes=s.approval_remind_minutes, seconds=1)
    assert approvals.remind(jobs, reminded, reminded) == (1, 0)
    h.deliver()
    reminder = thread(h, card)[-1]
    assert "⏰" in block_text(reminder) and f"<@{MANAGER}>" in block_text(reminder)
    escalated = h.clock.now + timedelta(minutes=s.approval_escalate_minutes, seconds=1)
    assert approvals.remind(jobs, escalated, escalated) == (0, 1)
    h.deliver()
    up = thread(h, card)[-1]
    said = block_text(up)
    assert "goes up to *Operations (up to $50.00)*" in said
    assert f"<@{MANAGER2}>" in said and f"<@{MANAGER}>" not in said
    assert h.fake.posts_in("C0LEADERS") == []  # a level above exists: not leadership's channel
    h.click(request, Action.APPROVE, user=MANAGER2)
    assert status(h)[0] == "approved"


@pytest.mark.parametrize("laddered", [{"AMENDS_PERSONAL_LIMITS": f"{STAFF}=45"}],
                         indirect=True)
def test_a_trusted_persons_own_limit_gives_at_once(laddered: Harness) -> None:
    card, _last = ask_for(laddered, "45")
    assert status(laddered) == ("approved", None)
    assert "Approval needed" not in block_text(thread(laddered, card)[-1])


@pytest.mark.parametrize("laddered", [{"AMENDS_APPROVALS_BY_LOCATION": "on",
                                       "AMENDS_LOCATION_MANAGERS": f"Station={MANAGER}"}],
                         indirect=True)
def test_a_location_manager_decides_their_locations_cases_only(laddered: Harness) -> None:
    # Morgan manages the Station; this case is at High Street, so shift managers have
    # nobody who may decide it, and it goes up to operations.
    _card, request = ask_for(laddered, "25")
    asked = request.blocks[0]["text"]["text"]
    assert "Operations (up to $50.00)" in asked and f"<@{MANAGER}>" not in asked
    assert f"<!subteam^{OPS_GROUP}>" in asked
    laddered.click(request, Action.APPROVE, user=MANAGER)
    assert "You approve for station only; this case is at High Street" in \
        ephemerals(laddered, MANAGER)[-1]
    laddered.click(request, Action.APPROVE, user=MANAGER2)
    assert status(laddered)[0] == "approved"


def test_home_lists_a_request_for_those_who_may_decide_it(laddered: Harness) -> None:
    # $45 needs operations: shift managers (Morgan, up to $30) may not decide it, so it is
    # not "waiting for" them; operations and leadership see it.
    ask_for(laddered, "45")
    assert "Approvals waiting for you* (0)" in _home(laddered, MANAGER)
    for decider in (MANAGER2, LEAD):
        home = _home(laddered, decider)
        assert "Approvals waiting for you* (1)" in home and "$45.00 refund" in home


@pytest.mark.parametrize("laddered", [{"AMENDS_APPROVALS_BY_LOCATION": "on",
                                       "AMENDS_LOCATION_MANAGERS": f"Station={MANAGER}"}],
                         indirect=True)
def test_home_lists_a_location_managers_own_locations_requests(laddered: Harness) -> None:
    ask_for(laddered, "25")  # at High Street: Morgan manages the Station only
    assert "Approvals waiting for you* (0)" in _home(laddered, MANAGER)
    assert "Approvals waiting for you* (1)" in _home(laddered, MANAGER2)


@pytest.mark.parametrize("laddered", [{"AMENDS_PERSONAL_LIMITS": f"{STAFF}=25"}],
                         indirect=True)
def test_above_a_raised_own_limit_the_request_names_that_limit(laddered: Harness) -> None:
    _card, request = ask_for(laddered, "45")
    assert "over their own limit of $25.00" in request.blocks[0]["text"]["text"]
