"""The outbox under load: who goes first, what waits for what, what a failure holds up.

Claims put what someone waits on (a new case's card, an approval request) ahead of routine
edits; a case's deliveries keep their order within a lane (the thread, the card's edits,
DMs, webhooks) but lanes don't wait for each other; edits queued back to back go as one; a
refresh that got partway retries only the rest; a 429 holds its method in its channel only,
without spending attempts; the worker claims as its threads free up and, stopping, hands
back what it never began. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import effects as fx
from bot.delivery.outbox import LEASE, OutboxWorker
from bot.ids import Action
from bot.recovery import RecoveryService
from storage import outbox
from storage.models import OutboxRow
from tests.bot.conftest import MANAGER, RECOVERY, SHOP_FLOOR, STAFF, Harness
from tests.bot.test_approval_ladder import ask_for
from tests.bot.test_journey import open_case, thread
from tests.bot.test_outbox import hold, rows
from tests.conftest import T0


def _queue(session: Session, effect: fx.Effect) -> None:
    with session.begin():
        fx.queue(session, effect, now=T0)


def _claim(session: Session, limit: int = 20, at: datetime = T0) -> list[outbox.Job]:
    with session.begin():
        return outbox.claim(session, at, limit=limit, first=fx.FIRST, fold=fx.FOLDS,
                            lanes=fx.LANES, barriers=fx.BARRIERS)


def test_a_new_cases_card_goes_ahead_of_a_backlog_of_edits(session: Session) -> None:
    for case_id in range(1, 6):
        _queue(session, fx.Refresh(case_id, ("fix",)))
    _queue(session, fx.StartThread(9, SHOP_FLOOR, STAFF))
    first = _claim(session, limit=1)
    assert [(job.kind, job.case_id) for job in first] == [("start_thread", 9)]
    assert [job.case_id for job in _claim(session)] == [1, 2, 3, 4, 5]  # then oldest first


def test_lanes_keep_order_within_and_do_not_wait_for_each_other(session: Session) -> None:
    _queue(session, fx.Refresh(1, ("apology",)))
    _queue(session, fx.ResolvedNote(1, by=STAFF, manager=STAFF, seconds=60.0))
    # behind the note, in the thread's lane:
    _queue(session, fx.CancelledNote(1, by=STAFF, reason="duplicate"))
    _queue(session, fx.FollowUpDM(1, number=1))
    _queue(session, fx.FollowUpDMUpdate(1, number=1))  # behind the DM, in its lane
    claimed = _claim(session)
    assert sorted(job.kind for job in claimed) == ["follow_up_dm", "refresh", "resolved_note"]


def test_a_case_card_not_yet_posted_holds_everything_of_its_case(session: Session) -> None:
    _queue(session, fx.StartThread(1, SHOP_FLOOR, STAFF))
    _queue(session, fx.Refresh(1, ("apology",)))  # nothing to edit before the card exists
    _queue(session, fx.FollowUpDM(1, number=1))
    _queue(session, fx.Refresh(2, ("fix",)))  # another case goes on
    claimed = _claim(session)
    assert [(job.kind, job.case_id) for job in claimed] == [("start_thread", 1),
                                                            ("refresh", 2)]


def test_a_case_cards_edits_queued_behind_it_go_with_it(session: Session) -> None:
    _queue(session, fx.StartThread(1, SHOP_FLOOR, STAFF))
    _queue(session, fx.Refresh(1, ("apology",)))
    _queue(session, fx.FollowUpDM(1, number=1))  # another lane: not an edit, waits its turn
    _queue(session, fx.Refresh(1, ("fix",), card=False))
    (job,) = _claim(session)
    assert job.kind == "start_thread" and len(job.folded) == 2
    merged = fx.fold(fx.decode(job.kind, job.payload, job.case_id),
                     [fx.decode(fx.FOLDS[job.kind], p, job.case_id) for _, p in job.folded])
    assert merged == fx.StartThread(1, SHOP_FLOOR, STAFF,
                                    then=fx.Refresh(1, ("apology", "fix")))
    assert "then" not in merged.to_payload()  # what it carries is the rows', not its own

    # Failed: the edits stay queued behind it and go with its next attempt.
    with session.begin():
        outbox.failed(session, job, T0, "rate limited (429)", permanent=False, retry_after=1)
    (again,) = _claim(session, at=T0 + timedelta(seconds=1))
    assert (again.id, [row for row, _ in again.folded]) == (job.id,
                                                           [row for row, _ in job.folded])
    with session.begin():
        outbox.sent(session, again, T0)
    with session.begin():
        statuses = session.scalars(select(OutboxRow.status).order_by(OutboxRow.id)).all()
    assert statuses == ["sent", "sent", "pending", "sent"]
    assert [j.kind for j in _claim(session, at=T0 + timedelta(seconds=1))] == ["follow_up_dm"]


def test_a_case_card_that_posted_part_of_itself_leaves_the_edits_to_go_later(
        session: Session) -> None:
    _queue(session, fx.StartThread(1, SHOP_FLOOR, STAFF))
    (job,) = _claim(session)
    with session.begin():  # the card went out, the walkthrough didn't
        outbox.failed(session, job, T0, "internal_error", permanent=False, retry_after=None,
                      sent_labels=["card"])
    _queue(session, fx.Refresh(1, ("apology",)))
    (again,) = _claim(session, at=T0 + timedelta(seconds=5))
    assert (again.kind, again.folded) == ("start_thread", ())
    with session.begin():
        outbox.sent(session, again, T0)
    assert [j.kind for j in _claim(session, at=T0 + timedelta(seconds=5))] == ["refresh"]


def test_edits_queued_back_to_back_go_as_one(session: Session) -> None:
    _queue(session, fx.Refresh(1, ("apology",)))
    # another lane: doesn't end the run of edits
    _queue(session, fx.ResolvedNote(1, by=STAFF, manager=STAFF, seconds=60.0))
    _queue(session, fx.Refresh(1, ("fix",)))
    _queue(session, fx.Refresh(1, ("apology", "compensation")))
    (job, note) = sorted(_claim(session), key=lambda j: j.id)
    assert (job.kind, note.kind) == ("refresh", "resolved_note")
    merged = fx.fold(fx.decode(job.kind, job.payload, job.case_id),
                     [fx.decode(job.kind, p, job.case_id) for _, p in job.folded])
    assert merged == fx.Refresh(1, ("apology", "fix", "compensation"))
    with session.begin():
        outbox.sent(session, job, T0)
    statuses = session.scalars(select(OutboxRow.status).order_by(OutboxRow.id)).all()
    assert statuses == ["sent", "pending", "sent", "sent"]  # the note is still its own


def test_a_folded_edit_that_goes_partway_shrinks_each_time_and_is_never_dead_lettered(
        session: Session) -> None:
    """Each attempt gets partway and fails: the rest is smaller every time and ends. (The
    rows folded in were once left pending and folded in again, so the rest never shrank and
    a soak dead-lettered the edit after twelve attempts of progress.)"""
    _queue(session, fx.Refresh(1, ("apology",)))
    _queue(session, fx.Refresh(1, ("fix",)))
    _queue(session, fx.Refresh(1, ("compensation",)))
    for attempt in range(outbox.MAX_ATTEMPTS + 2):
        now = T0 + timedelta(seconds=attempt)  # each back-off (a quarter second) is over
        (job,) = _claim(session, at=now)
        assert len(job.folded) == (2 if attempt == 0 else 0)
        effect = fx.decode(job.kind, job.payload, job.case_id)
        if job.folded:
            effect = fx.fold(effect, [fx.decode(job.kind, p, job.case_id) for _, p in job.folded])
        assert isinstance(effect, fx.Refresh)
        todo = (["card"] if effect.card else []) + list(effect.parts)
        if len(todo) == 1:
            break
        rest = todo[1:]  # the first went through, the next failed
        with session.begin():
            outcome = outbox.failed(session, job, now, "slack: internal_error", permanent=False,
                                    retry_after=None, payload=fx.Refresh(
                                        1, tuple(p for p in rest if p != "card"),
                                        card="card" in rest).to_payload())
        assert outcome != "dead"
    assert attempt == 3  # card, apology, fix went one by one; compensation is left
    statuses = session.scalars(select(OutboxRow.status).order_by(OutboxRow.id)).all()
    assert statuses == ["pending", "sent", "sent"]  # the folded rows live on in the rest
    head = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).first()
    assert head is not None and head.attempts == 2  # the rest's first try, and this claim


def test_back_off_starts_short_doubles_and_is_spread_by_row() -> None:
    waits = [outbox.backoff(n, 7) for n in range(1, outbox.MAX_ATTEMPTS)]
    assert 0.18 <= waits[0] <= 0.32
    assert all(later == min(2 * earlier, outbox.LONGEST_WAIT)
               for earlier, later in itertools.pairwise(waits)
               if later < outbox.LONGEST_WAIT)
    assert max(waits) <= outbox.LONGEST_WAIT
    assert len({outbox.backoff(1, row) for row in range(50)}) > 40  # not all at once
    assert sum(waits) > 5 * 60  # an outage of several minutes is ridden out


def test_a_refresh_that_got_partway_retries_only_the_rest(harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    apology, fix, _ = thread(harness, card)
    # The card's edit goes through; the apology's fails with a passing error (twice: an
    # edit is sent again once at once).
    harness.fake.fail_next["chat.update"] = [(200, {"ok": True, "channel": card.channel,
                                                    "ts": card.ts}),
                                             *[(500, {"ok": False,
                                                      "error": "internal_error"})] * 2]
    harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
    now = harness.clock.now
    assert worker.run_once(now) == 1
    row = rows(harness)[-1]
    assert row.status == "pending" and row.attempts == 1
    assert row.payload == fx.Refresh(row.case_id or 0, ("apology",), card=False).to_payload()
    # It made progress, so its back-off starts again at the shortest.
    assert row.next_attempt_at == now + timedelta(seconds=outbox.backoff(1, row.id))
    before = len(harness.fake.called("chat.update"))
    assert worker.run_once(row.next_attempt_at) == 1
    retried = [c.args["ts"] for c in harness.fake.called("chat.update")[before:]]
    assert retried == [apology.ts]  # not the card again
    assert rows(harness)[-1].status == "sent"
    assert "Apology recorded" in str(harness.fake.messages[apology.ts].blocks)
    assert fix.ts not in retried


def test_a_decision_whose_edit_went_through_retries_only_the_note(harness: Harness) -> None:
    card, request = ask_for(harness, "45")
    worker = hold(harness)
    # The request's edit goes through; the note to the requester meets a 429.
    harness.fake.fail_next["chat.postMessage"] = [
        (429, {"ok": False, "error": "ratelimited", "retry_after": "5"})]
    harness.click(request, Action.APPROVE, user=MANAGER)
    now = harness.clock.now
    worker.run_once(now)
    decision = next(r for r in rows(harness) if r.kind == "decision")
    assert decision.status == "pending" and decision.attempts == 0
    assert decision.payload == fx.Decision(decision.case_id or 0, 1, edited=True).to_payload()
    assert decision.next_attempt_at == now + timedelta(seconds=5)
    assert "Approved" in str(harness.fake.messages[request.ts].blocks)
    edits = len(harness.fake.called("chat.update"))
    harness.clock.advance(seconds=5)
    worker.run_once()
    assert [r.status for r in rows(harness) if r.kind == "decision"] == ["sent"]
    assert len(harness.fake.called("chat.update")) == edits  # the request not edited again
    told = harness.fake.called("chat.postMessage")[-1].args
    assert told["thread_ts"] == card.ts and "approved" in told["text"].lower()


def test_a_decision_queued_before_it_could_record_its_edit_still_decodes() -> None:
    assert fx.decode("decision", {"case_id": 3, "number": 1}, 3) == fx.Decision(3, 1)
    assert fx.decode("endorsed", {"case_id": 3, "number": 1, "by": "U1"}, 3) == \
        fx.Endorsed(3, 1, "U1")


def test_a_429_holds_its_method_in_its_channel_only_and_spends_no_attempt(
        harness: Harness) -> None:
    worker, now = hold(harness), harness.clock.now
    harness.fake.fail_next["chat.postMessage"] = [
        (429, {"ok": False, "error": "ratelimited", "retry_after": "20"})]

    def alert(channel: str) -> None:
        with harness.sessions.begin() as session:
            fx.queue(session, fx.HotspotAlert(location="Mall", count=3, day="Mon",
                                              to=fx.Place.thread(channel)), now=now)

    alert(RECOVERY)
    assert worker.run_once(now) == 1
    limited = rows(harness)[-1]
    assert limited.attempts == 0 and limited.next_attempt_at == now + timedelta(seconds=20)
    assert limited.rate_limited == 1  # a wait Slack asked for, counted apart from attempts
    alert(RECOVERY)  # the same channel: held here, Slack isn't asked
    alert(SHOP_FLOOR)  # another channel: goes at once
    posts = len(harness.fake.called("chat.postMessage"))
    assert worker.run_once(now) == 2
    held, other = rows(harness)[-2:]
    assert other.status == "sent"
    assert held.status == "pending" and held.attempts == 0  # no attempt spent
    assert held.next_attempt_at == now + timedelta(seconds=20)
    assert (held.rate_limited, other.rate_limited) == (1, 0)  # the hold's wait counts too
    assert [c.args["channel"] for c in harness.fake.called("chat.postMessage")[posts:]] == [
        SHOP_FLOOR]
    harness.clock.advance(seconds=20)
    assert worker.run_once() == 2  # the hold is over: both go
    assert {r.status for r in rows(harness)} == {"sent"}
    assert [r.rate_limited for r in rows(harness)] == [1, 1, 0]  # kept once sent


def test_the_running_worker_claims_as_threads_free_up_and_stops_cleanly(
        harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    apology, fix, _ = thread(harness, card)
    harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
    harness.click(fix, Action.FIX_STEP, user=STAFF)
    done = threading.Event()
    running = OutboxWorker(harness.sessions, worker.deliver, clock=harness.clock,
                           concurrency=2, wake=threading.Event())
    running.start()
    running.kick()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not done.is_set():
        if all(r.status == "sent" for r in rows(harness)):
            done.set()
        else:
            done.wait(0.01)
    running.stop()
    assert done.is_set(), [(r.kind, r.status, r.last_error) for r in rows(harness)]
    assert not any(t.is_alive() for t in running._threads)
    assert "Apology recorded" in str(harness.fake.messages[apology.ts].blocks)


def test_a_stopping_worker_hands_back_what_it_never_began(harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    with harness.sessions.begin() as session:
        (job,) = outbox.claim(session, harness.clock.now)
    stopping = OutboxWorker(harness.sessions, worker.deliver, clock=harness.clock)
    stopping._hand_back([job])
    row = rows(harness)[-1]
    assert (row.status, row.attempts, row.locked_until) == ("pending", 0, None)
    assert stopping.run_once(harness.clock.now) == 1  # no lease to wait out


def _until(condition: Any, what: str) -> None:
    """Wait (bounded) for the running worker's threads to get somewhere."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        threading.Event().wait(0.01)


def _delivering(harness: Harness) -> tuple[OutboxWorker, threading.Event]:
    """A running worker in the middle of delivering a click's edit, which waits (as a slow
    Slack would) until the returned event is set."""
    card = open_case(harness)
    worker = hold(harness)
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    started, finish = threading.Event(), threading.Event()

    def slow(effect: fx.Effect, attempt: Any, session: Session) -> None:
        started.set()
        assert finish.wait(20)
        worker.deliver(effect, attempt, session)

    running = OutboxWorker(harness.sessions, slow, clock=harness.clock, concurrency=1,
                           wake=threading.Event())
    running.start()
    running.kick()
    assert started.wait(20)
    return running, finish


def test_the_running_worker_keeps_a_short_lease_alive_while_it_delivers(
        harness: Harness) -> None:
    # A worker that dies holds what it claimed for the lease: 15 s, not a minute, because a
    # live worker renews it for as long as the delivery takes.
    running, finish = _delivering(harness)
    try:
        claimed = harness.clock.now
        assert rows(harness)[-1].locked_until == claimed + LEASE
        # Slack is slow to answer; the lease would have run out by now.
        harness.clock.advance(seconds=LEASE.total_seconds() + 5)
        running.kick()
        _until(lambda: rows(harness)[-1].locked_until == harness.clock.now + LEASE,
               "the lease was not renewed")
        with harness.sessions.begin() as session:  # another process finds it taken
            assert outbox.claim(session, harness.clock.now) == []
        finish.set()
        _until(lambda: rows(harness)[-1].status == "sent", "the delivery did not settle")
    finally:
        finish.set()
        running.stop()
    row = rows(harness)[-1]
    # One attempt: the worker never took back what it was still delivering.
    assert (row.attempts, row.locked_until) == (1, None)


def test_a_renewal_leaves_settled_rows_alone(harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    now = harness.clock.now
    with harness.sessions.begin() as session:
        (job,) = outbox.claim(session, now)
        outbox.failed(session, job, now, "HTTP 500", permanent=False, retry_after=None)
    sent = [r.id for r in rows(harness) if r.status == "sent"]
    with harness.sessions.begin() as session:
        # Waiting for its retry (no lease) or sent: a late renewal must not lease it again.
        assert outbox.renew(session, [job.id, *sent], now + LEASE) == 0
    assert rows(harness)[-1].locked_until is None
    assert worker.run_once(now + timedelta(seconds=1)) == 1


def test_a_stopping_worker_keeps_the_lease_of_what_it_is_still_finishing(
        harness: Harness) -> None:
    running, finish = _delivering(harness)
    stopping = threading.Thread(target=running.stop)
    stopping.start()  # the dispatcher ends; the delivery in hand goes on
    try:
        _until(lambda: not running._threads[-1].is_alive(), "the dispatcher did not stop")
        harness.clock.advance(seconds=LEASE.total_seconds() + 5)
        _until(lambda: rows(harness)[-1].locked_until == harness.clock.now + LEASE,
               "the lease lapsed while the worker was stopping")
    finally:
        finish.set()
        stopping.join(30)
    assert rows(harness)[-1].status == "sent"


def test_a_delivery_remembers_when_the_request_behind_it_arrived(
        harness: Harness, monkeypatch: Any) -> None:
    """A click's work runs after its ack, maybe seconds later under load: the wait a person
    sees is measured from the click (requested_at), not from the change's transaction."""
    card = open_case(harness)
    apology = thread(harness, card)[0]
    real = RecoveryService.change

    def late(self: RecoveryService, *args: Any, **kwargs: Any) -> Any:
        harness.clock.advance(seconds=3)  # the work pool was busy
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RecoveryService, "change", late)
    clicked = harness.clock.now
    harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
    with harness.sessions() as session:
        made = session.execute(select(OutboxRow.requested_at, OutboxRow.created_at)
                               .where(OutboxRow.created_at > clicked)).all()
        assert made and set(made) == {(clicked, clicked + timedelta(seconds=3))}
        # The case's own form was saved before its ack: asked for and made at once.
        opened = session.execute(select(OutboxRow.requested_at, OutboxRow.created_at)
                                 .where(OutboxRow.created_at <= clicked)).all()
        assert opened and all(asked == made for asked, made in opened)
