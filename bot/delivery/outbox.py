"""The outbox worker: delivers what changes wrote to the outbox, with retries.

Timeouts, connection errors and 5xx are retried with a short, growing back-off; a 429 waits
for Slack's Retry-After (and holds that method in that channel, bot.slack_pacing); errors
that can't succeed (a deleted channel, a revoked token, a webhook's 4xx) and deliveries that
keep failing are dead-lettered with their reason, for `amends outbox status` and `amends
outbox retry`. Rows live in the database, so a restart loses nothing: the next worker takes
them up.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot import effects, logs, redact, slack_errors
from bot.delivery.webhooks import WebhookRejected
from bot.messaging import Attempt
from bot.slack_pacing import Held, retry_after
from bot.work import RequestGate
from storage import db, outbox
from storage.outbox import Job

log = logging.getLogger("amends.outbox")
# Delivery threads per worker: each waits on Slack most of its time, so a few keep a core busy.
DELIVERY_THREADS = 8
# The running worker's lease on what it claimed, renewed while the rows are in its hands:
# a worker that dies (SIGKILL, a lost machine) holds them this long at most, not the 60 s
# a claim without renewal takes (storage.outbox.LEASE; `amends outbox run`).
LEASE = timedelta(seconds=15)
RENEW_EVERY = LEASE / 3


def classify(exc: Exception) -> tuple[bool, float | None, str]:
    """(permanent, retry_after, description) for a failed delivery, from the one table of
    Slack's errors (bot.slack_errors). By the time a delivery fails, any other place to post
    was already tried, so "not here" is as final as "never"."""
    code = slack_errors.error_of(exc)
    if isinstance(exc, SlackApiError) and code is not None:
        if exc.response.status_code == 429:
            return False, retry_after(exc.response), "rate limited (429)"
        rule = slack_errors.rule(code)
        return (rule.kind is not slack_errors.Kind.RETRY, None,
                f"slack: {code} (HTTP {exc.response.status_code}): {rule.means}")
    if isinstance(exc, WebhookRejected | effects.Undecodable):
        return True, None, str(exc)
    # Exception texts can carry URLs with credentials or tokens in their query string.
    return False, None, redact.text(f"{type(exc).__name__}: {exc}")


class OutboxWorker:
    """Delivers due rows on `concurrency` threads of its own, claiming as threads free up.

    One dispatcher keeps every delivery thread with one delivery in hand and one more
    waiting, claiming when a thread frees up or something new is queued (kick): no thread
    waits for a batch to finish, and nothing waits for a poll. A failed delivery's back-off
    is its row's next attempt time (the Slack client never sleeps), so it holds up nothing
    but the later rows of its case's lane (storage.outbox).
    """

    def __init__(self, sessions: sessionmaker[Session],
                 deliver: Callable[[effects.Effect, Attempt, Session], None], *,
                 clock: Callable[[], datetime],
                 gate: RequestGate | None = None, interval: float = 1.0,
                 concurrency: int = DELIVERY_THREADS, wake: threading.Event | None = None,
                 gave_up: Callable[[effects.Effect, str], effects.Effect | None] | None = None,
                 patience: float = 0.1,
                 deliveries: sessionmaker[Session] | None = None) -> None:
        self.sessions, self.deliver, self.clock = sessions, deliver, clock
        # What each delivery reads and writes on, and its row's settling: `sessions`, or
        # connections whose commits don't wait for the disk (db.delivery_engine). Claims,
        # and the settling of a failure, stay on `sessions`.
        self.deliveries = deliveries or sessions
        # What to queue when a delivery is dead-lettered (telling whoever waited on it).
        self.gave_up = gave_up
        # Acknowledgements go first: before each delivery, wait up to `patience` for a
        # quiet moment between requests. Short: under steady load there is rarely one.
        self.gate, self.interval, self.patience = gate, interval, patience
        self.concurrency = concurrency
        # Set by whoever commits a delivery (the case service, the jobs) and by each
        # finished delivery: claim now, not at the next poll.
        self._wake = wake or threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_hand = 0  # claimed and not yet settled
        self._held: set[int] = set()  # their ids, whose leases the dispatcher renews
        self._renew_at: datetime | None = None
        self._next_retry: datetime | None = None  # the earliest retry this worker set
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None  # run_once's, made when first needed

    def kick(self) -> None:
        """Something was just written to the outbox: deliver it now, not at the next poll."""
        self._wake.set()

    def claim(self, now: datetime, limit: int, lease: timedelta = outbox.LEASE) -> list[Job]:
        with self.sessions.begin() as session:
            return outbox.claim(session, now, limit=limit, lease=lease, first=effects.FIRST,
                                fold=effects.FOLDS, lanes=effects.LANES,
                                barriers=effects.BARRIERS)

    def run_once(self, now: datetime | None = None, *, limit: int = 20) -> int:
        """Claim what is due and deliver it, returning when all of it is settled (tests,
        and `amends outbox run`)."""
        jobs = self.claim(now or self.clock(), limit)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency,
                                            thread_name_prefix="amends-outbox-once")
        list(self._pool.map(self._one, jobs))
        return len(jobs)

    def _one(self, job: Job) -> None:
        logs.case_id.set(job.payload.get("case_id") or job.payload.get("case"))
        effect: effects.Effect | None = None
        # A post whose reply was lost (or whose worker died) may be in Slack already: an
        # attempt knows which posts earlier ones sent, and looks for those before posting.
        attempt = Attempt(key=f"o{job.id}", since=job.created_at or self.clock(),
                          sent_before=job.sent_labels)
        # One connection for the delivery and its settling (db.connected).
        with db.connected(self.deliveries) as session:
            try:
                effect = effects.decode(job.kind, job.payload, job.case_id)
                if job.folded:
                    taken = effects.FOLDS[job.kind]
                    effect = effects.fold(effect, [effects.decode(taken, payload, job.case_id)
                                                   for _, payload in job.folded])
                self.deliver(effect, attempt, session)
            except Exception as exc:
                self._failed(job, effect, exc, attempt)
                return
            with db.standalone(session):  # one UPDATE of the row and those folded into it
                outbox.sent(session, job, self.clock())

    def _failed(self, job: Job, effect: effects.Effect | None, exc: Exception,
                attempt: Attempt) -> None:
        """Settle a failed delivery: put off, retried (what is left of it), or dead."""
        rest: dict[str, Any] | None = None
        if isinstance(exc, effects.Unfinished):  # part went through: retry only the rest
            rest, exc = exc.rest.to_payload(), exc.cause
        if isinstance(exc, Held):
            # Refused here while Slack's Retry-After for that channel or method runs: not an
            # attempt; the row waits out the pause, and other channels go on.
            now = self.clock()
            until = now + timedelta(seconds=exc.seconds)
            with self.sessions.begin() as session:
                outbox.postpone(session, job, now, until, payload=rest,
                                sent_labels=attempt.labels())
            self._retry_at(until)
            return
        permanent, retry_after, reason = classify(exc)
        with self.sessions.begin() as session:
            outcome = outbox.failed(session, job, self.clock(), reason, permanent=permanent,
                                    retry_after=retry_after, payload=rest,
                                    sent_labels=attempt.labels(),
                                    progressed=attempt.progressed)
            notice = self.gave_up(effect, reason) if (
                outcome == "dead" and effect is not None and self.gave_up) else None
            if notice is not None:  # in the same transaction: told exactly once
                effects.queue(session, notice, now=self.clock())
        if isinstance(outcome, datetime):
            self._retry_at(outcome)
        log.warning("outbox delivery %s (%s) failed, %s: %s", job.id, job.kind,
                    "dead-lettered" if outcome == "dead" else "will retry", reason)

    def _retry_at(self, when: datetime) -> None:
        with self._lock:
            if self._next_retry is None or when < self._next_retry:
                self._next_retry = when

    def drain(self, now: datetime | None = None, rounds: int = 100) -> None:
        """Deliver everything that is due (tests and `amends outbox run`)."""
        for _ in range(rounds):
            if self.run_once(now) == 0:
                return

    # -- running beside the app ------------------------------------------------------------

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before claiming: a kick during the claim is not lost
            self._renew()  # before claiming: what this worker holds is not up for grabs
            with self._lock:
                in_hand = self._in_hand
            # Claim once every thread is busy and none has a next delivery waiting: enough
            # for each thread to have one more. Claiming only for the idle threads ran a claim
            # (and its grouped pass over the queue) per delivery; this runs one per
            # `concurrency` of them, and no thread waits for a claim while work is due.
            if in_hand <= self.concurrency:
                try:
                    jobs = self.claim(self.clock(), 2 * self.concurrency - in_hand, LEASE)
                except Exception:
                    log.exception("outbox claim failed; it tries again shortly")
                    jobs = []
                with self._lock:
                    self._in_hand += len(jobs)
                    self._held.update(job.id for job in jobs)
                for job in jobs:
                    self._queue.put(job)
            self._wake.wait(self._until_due())

    def _renew(self) -> None:
        """Every RENEW_EVERY, extend the leases of what is in hand (claimed, not settled)."""
        now = self.clock()
        if self._renew_at is not None and now < self._renew_at:
            return
        self._renew_at = now + RENEW_EVERY
        with self._lock:
            held = list(self._held)
        if not held:
            return
        try:
            with self.sessions.begin() as session:
                outbox.renew(session, held, now + LEASE)
        except Exception:  # the database away: deliveries fail too; a lease that ends is safe
            log.exception("could not renew the outbox's leases")

    def _until_due(self) -> float:
        """How long to sleep when nothing wakes the dispatcher: until the earliest retry it
        set, at most the poll interval (rows other processes queue or leave behind)."""
        now = self.clock()
        with self._lock:
            if self._next_retry is not None and self._next_retry <= now:
                self._next_retry = None  # due: the claim that follows takes it
            due = self._next_retry
        return self.interval if due is None else min((due - now).total_seconds(),
                                                     self.interval)

    def _deliverer(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self.gate is not None:
                # Acknowledgements go first: wait a moment for a quiet one. Each delivery
                # thread waits on its own, so the wait never throttles the claims.
                self.gate.wait_quiet(self.patience)
            if self._stop.is_set():  # stopping: hand it back untried
                self._hand_back([job])
            else:
                try:
                    self._one(job)
                except Exception:  # settling failed (the database away): the lease ends it
                    log.exception("outbox delivery %s could not be settled", job.id)
            with self._lock:
                self._in_hand -= 1
                self._held.discard(job.id)
            self._wake.set()

    def _hand_back(self, jobs: list[Job]) -> None:
        try:
            with self.sessions.begin() as session:
                outbox.release(session, jobs)
        except Exception:
            log.exception("could not hand back claimed deliveries; their lease ends it")

    def start(self) -> OutboxWorker:
        self._threads = [threading.Thread(target=self._deliverer, daemon=True,
                                          name=f"amends-outbox-{n}")
                         for n in range(self.concurrency)]
        self._threads.append(threading.Thread(target=self._dispatch, name="amends-outbox",
                                              daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 20) -> None:
        """Stop claiming, finish the deliveries in hand, hand back what was claimed and not
        begun (graceful shutdown): the dispatcher stops before its delivery threads."""
        self._stop.set()
        self._wake.set()
        if self._threads:
            self._threads[-1].join(timeout)
            for _ in self._threads[:-1]:
                self._queue.put(None)
            # The dispatcher no longer renews: keep the leases of the deliveries still
            # finishing alive while waiting for them, so no other process takes one up.
            deadline = time.monotonic() + timeout
            for thread in self._threads[:-1]:
                while thread.is_alive() and (left := deadline - time.monotonic()) > 0:
                    thread.join(min(left, 0.1))
                    self._renew()  # when RENEW_EVERY has passed
            self._threads = []
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def status(sessions: sessionmaker[Session], now: datetime) -> dict[str, Any]:
    with sessions() as session:
        return {"counts": outbox.counts(session), "backlog": outbox.backlog(session, now),
                "dead": [(row.id, row.kind, row.case_id, row.attempts, row.last_error)
                         for row in outbox.dead(session)]}
