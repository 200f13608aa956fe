"""Hostile and careless input through signed requests: bounded, told plainly, one effect each.

Every test runs on SQLite and PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from slack_bolt import BoltRequest, BoltResponse
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from bot.app import Assembly, assemble
from bot.domain.lifecycle import Customer
from bot.ids import Action, Field
from bot.messaging import make_client
from bot.recovery import RecoveryService, StorageRefused
from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import Posted
from storage.models import CaseRow, CompensationRow, EventRow, InboxRow, OutboxRow, RequestKeyRow
from tests.bot.conftest import FAR_FUTURE, MANAGER, MANAGER2, STAFF, Harness, find_element
from tests.bot.test_concurrency import second_process
from tests.bot.test_journey import case_row, ephemerals, open_case, thread


def _events(harness: Harness, kind: str) -> int:
    with harness.sessions() as session:
        return session.scalar(select(func.count()).select_from(EventRow).where(
            EventRow.kind == kind)) or 0


def _errors(response: BoltResponse) -> dict[str, str]:
    assert response.status == 200, response.body
    body = json.loads(response.body) if response.body else {}
    return body.get("errors", {})


def _other_amount_view(harness: Harness, card: Posted) -> dict[str, Any]:
    harness.click(thread(harness, card)[2], Action.COMPENSATION_CUSTOM, user=STAFF)
    return harness.opened_view()


# -- amounts ---------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "message"), [
    ("1e999997", "not an amount"), ("1e18", "not an amount"), ("1e309", "not an amount"),
    ("NaN", "not an amount"), ("Infinity", "not an amount"), ("€25", "another currency"),
    ("0", "above zero"), ("99999999999", "below"),
])
def test_hostile_amounts_get_the_forms_inline_error(harness: Harness, typed: str,
                                                     message: str) -> None:
    card = open_case(harness)
    view = _other_amount_view(harness, card)
    response = harness.submit(view, {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund",
                                     Field.AMOUNT: typed}, user=STAFF)
    assert message in _errors(response)[Field.AMOUNT]
    assert _events(harness, "compensation_approved") == 0


def test_a_decimal_comma_is_read_as_decimals_never_as_thousands(harness: Harness) -> None:
    card = open_case(harness)
    view = _other_amount_view(harness, card)
    response = harness.submit(view, {Field.COMP_TYPE: "voucher", Field.COMP_LABEL: "Voucher",
                                     Field.AMOUNT: "12,50"}, user=STAFF)
    assert _errors(response) == {}
    with harness.sessions() as session:
        assert session.scalars(select(CompensationRow.amount_minor)).one() == 1250


@pytest.mark.parametrize(("typed", "message"), [
    ("1e999997", "not an amount"), ("0", "no purchase"), ("£40", "another currency")])
def test_a_hostile_purchase_value_is_an_inline_error(harness: Harness, typed: str,
                                                      message: str) -> None:
    harness.command("order late")
    response = harness.submit(harness.opened_view(), {
        Field.CUSTOMER: "Jo", Field.WHAT_HAPPENED: "late", "severity:late-delivery": "major",
        Field.PURCHASE: typed}, user=STAFF)
    assert message in _errors(response)[Field.PURCHASE]
    assert case_row(harness) is None


# -- lengths ---------------------------------------------------------------------------

def test_values_longer_than_their_column_are_inline_errors_not_500s(harness: Harness) -> None:
    harness.command("order late")
    response = harness.submit(harness.opened_view(), {
        Field.CUSTOMER: "J" * 5000, Field.WHAT_HAPPENED: "w" * 20000,
        "severity:late-delivery": "major", Field.LOCATION: "L" * 101,
        Field.ORDER_REF: "A" * 101, Field.CONTACT: "c" * 201}, user=STAFF)
    errors = _errors(response)
    assert set(errors) == {Field.CUSTOMER, Field.WHAT_HAPPENED, Field.LOCATION,
                           Field.ORDER_REF, Field.CONTACT}
    assert errors[Field.CUSTOMER] == "At most 200 characters, please (this is 5,000)."
    assert case_row(harness) is None


def test_a_root_cause_the_form_never_offered_is_refused(harness: Harness) -> None:
    card = open_case(harness)
    harness.click(card, Action.RESOLVE, user=STAFF)
    view = sr.fill(harness.opened_view(), {Field.REACTION: "satisfied",
                                           Field.ROOT_CAUSE: "Courier delay",
                                           Field.ACTION_TAKEN: "Refunded"})
    view["state"]["values"][Field.ROOT_CAUSE]["value"]["selected_option"]["value"] = "x" * 400
    response = harness.interact(sr.view_submission(user=STAFF, view=view))
    assert "root causes listed" in _errors(response)[Field.ROOT_CAUSE]
    assert case_row(harness).state != "follow_up_due"


def test_the_database_refusing_a_value_is_a_plain_error(harness: Harness, engine: Engine,
                                                         library: Any) -> None:
    # Past every check (called directly): PostgreSQL's DataError becomes StorageRefused.
    # SQLite stores any length, so there the case is simply saved.
    from bot.domain.compensation import CompensationPolicy
    from bot.recovery import RecoveryService

    recovery = RecoveryService(library=library, policy=lambda: CompensationPolicy(
        staff_limit_minor=2000, managers=frozenset(), currency="USD"))
    unit = sessionmaker(engine, expire_on_commit=False)()
    opening = dict(origin_key=None, playbook_id="late-delivery", severity="major",
                   customer=Customer(name="Jo"), summary="late", opened_by=STAFF,
                   currency="USD", location="L" * 300)
    if engine.dialect.name == "postgresql":
        with pytest.raises(StorageRefused, match="too long"):
            recovery.open_case(unit, **opening)
        assert case_row(harness) is None
    else:
        recovery.open_case(unit, **opening)
        assert case_row(harness) is not None


# -- one effect each -------------------------------------------------------------------

def test_other_amount_submitted_50_times_on_two_processes_gives_one(
        engine: Engine, harness: Harness, library: Any) -> None:
    card = open_case(harness)
    view = _other_amount_view(harness, card)
    filled = sr.fill(view, {Field.COMP_TYPE: "voucher", Field.COMP_LABEL: "Voucher",
                            Field.AMOUNT: "12.00"})
    other = second_process(engine, harness, library)
    start = threading.Barrier(10)
    statuses: list[int] = []

    def submit(process: Harness) -> None:
        start.wait()
        for _ in range(5):
            statuses.append(process.interact(sr.view_submission(user=STAFF, view=filled))
                            .status)

    threads = [threading.Thread(target=submit, args=(p,)) for p in [harness, other] * 5]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    other.executor.shutdown(wait=True)
    harness.deliver()
    assert statuses == [200] * 50
    with harness.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CompensationRow)) == 1
        assert session.scalar(select(func.count()).select_from(RequestKeyRow)) == 1
    assert _events(harness, "compensation_approved") == 1


def _replay(harness: Harness, view: dict[str, Any], answers: dict[str, str | None],
            user: str) -> list[BoltResponse]:
    body = sr.interaction_body(sr.view_submission(user=user, view=sr.fill(view, answers)))
    return [harness.send(body, sr.form_headers(body)) for _ in range(3)]


def _pending_request(harness: Harness) -> Posted:
    card = open_case(harness)
    view = _other_amount_view(harness, card)
    harness.submit(view, {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund",
                          Field.AMOUNT: "30"}, user=STAFF)
    return thread(harness, card)[-1]


def test_a_replayed_deny_form_denies_once(harness: Harness) -> None:
    request = _pending_request(harness)
    harness.click(request, Action.DENY, user=MANAGER)
    responses = _replay(harness, harness.opened_view(), {Field.REASON: "Too much"}, MANAGER)
    assert [_errors(r) for r in responses] == [{}, {}, {}]
    assert _events(harness, "compensation_denied") == 1


def test_a_replayed_approve_click_approves_once_and_says_nothing_more(harness: Harness
                                                                      ) -> None:
    request = _pending_request(harness)
    element = next(e for b in request.blocks if b["type"] == "actions"
                   for e in b["elements"] if e["action_id"].startswith(Action.APPROVE))
    body = sr.interaction_body(sr.block_action(
        user=MANAGER, action={"action_id": element["action_id"], "block_id": "b",
                              "type": "button", "value": element["value"]},
        message={"type": "message", "ts": request.ts, "thread_ts": request.thread_ts,
                 "blocks": request.blocks}, channel=request.channel))
    for _ in range(3):
        assert harness.send(body, sr.form_headers(body)).status == 200
    assert _events(harness, "compensation_approved") == 1
    assert ephemerals(harness, MANAGER) == []  # no "already approved (by you)"


def test_replayed_resolve_follow_up_and_cancel_forms_act_once(harness: Harness) -> None:
    card = open_case(harness)
    harness.click(card, Action.RESOLVE, user=STAFF)
    responses = _replay(harness, harness.opened_view(), {
        Field.REACTION: "satisfied", Field.ROOT_CAUSE: "Courier delay",
        Field.ACTION_TAKEN: "Refunded"}, STAFF)
    assert [_errors(r) for r in responses] == [{}, {}, {}]
    assert _events(harness, "resolved") == 1

    (dm,) = harness.fake.posts_in("D0MGR001")
    harness.click(dm, Action.FOLLOWED_UP, user=MANAGER)
    responses = _replay(harness, harness.opened_view(), {Field.REACTION: "still_unhappy"},
                        MANAGER)
    assert [_errors(r) for r in responses] == [{}, {}, {}]
    assert _events(harness, "reopened") == 1

    harness.click(card, Action.CANCEL, user=STAFF)
    responses = _replay(harness, harness.opened_view(), {Field.REASON: "Opened twice"}, STAFF)
    assert [_errors(r) for r in responses] == [{}, {}, {}]
    assert _events(harness, "cancelled") == 1
    notes = [p for p in thread(harness, card) if "Cancelled by" in json.dumps(p.blocks)]
    assert len(notes) == 1


# -- payloads we never made ------------------------------------------------------------

@pytest.mark.parametrize("value", ["abc", "", "1:", "99999999999999999999:1", "-1:1"])
def test_a_malformed_button_value_is_told_not_crashed(harness: Harness, value: str) -> None:
    request = _pending_request(harness)
    element = next(e for b in request.blocks if b["type"] == "actions"
                   for e in b["elements"] if e["action_id"].startswith(Action.APPROVE))
    harness.interact(sr.block_action(
        user=MANAGER2, action={"action_id": element["action_id"], "block_id": "b",
                               "type": "button", "value": value},
        message={"type": "message", "ts": request.ts, "thread_ts": request.thread_ts,
                 "blocks": request.blocks}, channel=request.channel))
    assert "doesn't fit this case" in ephemerals(harness, MANAGER2)[-1]
    assert _events(harness, "compensation_approved") == 0


def test_an_option_from_another_severity_doesnt_fit(harness: Harness) -> None:
    card = open_case(harness)  # severity "major"
    compensation = thread(harness, card)[2]
    element, _block = find_element(compensation.blocks, Action.COMPENSATION_OPTION, 0)
    case_id = element["value"].split(":")[0]
    harness.interact(sr.block_action(
        user=STAFF, action={**{k: element[k] for k in ("action_id", "type", "text")},
                            "block_id": "b", "value": f"{case_id}:minor-1"},
        message={"type": "message", "ts": compensation.ts,
                 "thread_ts": compensation.thread_ts, "blocks": compensation.blocks},
        channel=compensation.channel))
    assert "doesn't fit this case" in ephemerals(harness, STAFF)[-1]
    with harness.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CompensationRow)) == 0


def test_a_form_with_forged_metadata_gets_an_inline_error(harness: Harness) -> None:
    card = open_case(harness)
    view = _other_amount_view(harness, card)
    view = {**view, "private_metadata": json.dumps({"case": {"$ne": 1}})}
    response = harness.submit(view, {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund",
                                     Field.AMOUNT: "5"}, user=STAFF)
    assert "doesn't fit this case" in _errors(response)[Field.AMOUNT]
    with harness.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == 1
        assert session.scalar(select(func.count()).select_from(CompensationRow)) == 0



# -- acknowledged work survives a crash -----------------------------------------------

class _Dies(ThreadPoolExecutor):
    """A work pool in a process killed right after acknowledging: queued work never runs."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        return future


def _process(engine: Engine, harness: Harness, library: Any, *, dies: bool) -> Assembly:
    sessions = sessionmaker(engine, expire_on_commit=False)
    executor = harness.executor
    return assemble(harness.settings, client=make_client(token="xoxb-test-token-0000",
                                                         base_url=harness.fake.url),
                    sessions=sessions, library=library, executor=executor,
                    work_executor=_Dies() if dies else executor, clock=harness.clock)


def _approve_body(request: Posted) -> str:
    """The manager's Approve click on an approval request, as Slack sends it."""
    element, block_id = find_element(request.blocks, Action.APPROVE, 0)
    return sr.interaction_body(sr.block_action(
        user=MANAGER, action={"action_id": element["action_id"], "block_id": block_id,
                              "type": "button", "value": element["value"]},
        message={"type": "message", "ts": request.ts, "thread_ts": request.thread_ts,
                 "blocks": request.blocks}, channel=request.channel))


def test_an_approve_acknowledged_just_before_a_crash_is_not_lost(
        engine: Engine, harness: Harness, library: Any) -> None:
    request = _pending_request(harness)
    dying = _process(engine, harness, library, dies=True)
    body = _approve_body(request)
    response = dying.app.dispatch(BoltRequest(body=body, headers=sr.form_headers(body)))
    harness.executor.drain()
    assert response.status == 200  # Slack was told "done"...
    with harness.sessions() as session:  # ...and then the process died before the work ran
        assert session.scalars(select(CompensationRow.status)).one() == "pending"

    # Another process, once the dead one's lease has run out, does the work: once.
    clicked = harness.clock.now
    harness.clock.advance(minutes=2)
    survivor = _process(engine, harness, library, dies=False)
    assert survivor.inbox.recover() == 1
    harness.executor.drain()
    with harness.sessions() as session:  # what Slack is told waited since the click
        assert set(session.scalars(select(OutboxRow.requested_at).where(
            OutboxRow.created_at == harness.clock.now))) == {clicked}
    survivor.outbox.drain(now=FAR_FUTURE)
    with harness.sessions() as session:
        assert session.scalars(select(CompensationRow.status)).one() == "approved"
    with survivor.inbox.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxRow)) == 0
    assert _events(harness, "compensation_approved") == 1
    told = json.dumps([p.blocks for p in harness.fake.posts_in(request.channel,
                                                               request.thread_ts)])
    assert "was *approved* by" in told  # the requester was told, through the outbox
    # A second recovery pass finds nothing to do.
    assert survivor.inbox.recover(now=harness.clock.now + timedelta(minutes=5)) == 0


def test_recovery_of_work_that_did_finish_changes_nothing(
        engine: Engine, harness: Harness, library: Any) -> None:
    # The process died after the change committed but before it cleared its inbox entry.
    request = _pending_request(harness)
    live = _process(engine, harness, library, dies=False)
    body = _approve_body(request)
    live.inbox.done = lambda entry_id: None  # type: ignore[method-assign]
    live.app.dispatch(BoltRequest(body=body, headers=sr.form_headers(body)))
    harness.executor.drain()
    assert _events(harness, "compensation_approved") == 1
    survivor = _process(engine, harness, library, dies=False)
    assert survivor.inbox.recover(now=harness.clock.now + timedelta(minutes=2)) == 1
    harness.executor.drain()
    assert _events(harness, "compensation_approved") == 1
    assert ephemerals(harness, MANAGER) == []  # no "already approved" for a replay


def test_a_click_whose_work_fails_unexpectedly_is_left_for_the_recovery_pass(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live process renews the leases of the clicks it holds; one whose work raised is
    let go, so the recovery pass runs it again once its lease ends, not never."""
    assert harness.inbox is not None
    apology = thread(harness, open_case(harness))[0]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(RecoveryService, "change", broken)
    harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
    with harness.inbox.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxRow)) == 1
    assert harness.inbox.renew() == 0  # not held: its lease runs out
    monkeypatch.undo()
    harness.clock.advance(minutes=1)
    assert harness.inbox.recover() == 1
    harness.deliver()
    assert "Apology recorded" in json.dumps(apology.blocks)
