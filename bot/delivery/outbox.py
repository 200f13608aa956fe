"""The outbox worker: delivers what changes wrote to the outbox, with retries.

Timeouts, connection errors and 5xx are retried with exponential back-off; a 429 waits for
Slack's Retry-After; errors that can't succeed (a deleted channel, a revoked token, a
webhook's 4xx) and deliveries that keep failing are dead-lettered with their reason, for
`amends outbox status` and `amends outbox retry`. Rows live in the database, so a restart
loses nothing: the next worker takes them up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot import effects, logs, redact, slack_errors
from bot.delivery.webhooks import WebhookRejected
from bot.messaging import Attempt
from bot.work import RequestGate
from storage import outbox
from storage.outbox import Job

log = logging.getLogger("amends.outbox")

def classify(exc: Exception) -> tuple[bool, float | None, str]:
    """(permanent, retry_after, description) for a failed delivery, from the one table of
    Slack's errors (bot.slack_errors). By the time a delivery fails, any other place to post
    was already tried, so "not here" is as final as "never"."""
    code = slack_errors.error_of(exc)
    if isinstance(exc, SlackApiError) and code is not None:
        if exc.response.status_code == 429:
            after = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                "retry-after")
            return False, _seconds(after), "rate limited (429)"
        rule = slack_errors.rule(code)
        return (rule.kind is not slack_errors.Kind.RETRY, None,
                f"slack: {code} (HTTP {exc.response.status_code}): {rule.means}")
    if isinstance(exc, WebhookRejected | effects.Undecodable):
        return True, None, str(exc)
    # Exception texts can carry URLs with credentials or tokens in their query string.
    return False, None, redact.text(f"{type(exc).__name__}: {exc}")


def _seconds(header: str | list[str] | None) -> float:
    """Retry-After in seconds, bounded: a garbled or huge value must not park a delivery."""
    value = header[0] if isinstance(header, list) and header else header
    try:
        return min(max(float(str(value)), 1.0), 900.0)
    except ValueError:
        return 1.0


class OutboxWorker:
    def __init__(self, sessions: sessionmaker[Session],
                 deliver: Callable[[effects.Effect, Attempt], None], *,
                 clock: Callable[[], datetime],
                 gate: RequestGate | None = None, interval: float = 1.0,
                 concurrency: int = 4, wake: threading.Event | None = None,
                 gave_up: Callable[[effects.Effect, str], effects.Effect | None] | None = None
                 ) -> None:
        self.sessions, self.deliver, self.clock = sessions, deliver, clock
        # What to queue when a delivery is dead-lettered (telling whoever waited on it).
        self.gave_up = gave_up
        self.gate, self.interval = gate, interval
        # A claimed batch holds at most one job per case, so its jobs may go in parallel:
        # most of a delivery is waiting for Slack.
        self._pool = ThreadPoolExecutor(max_workers=concurrency,
                                        thread_name_prefix="amends-outbox")
        # Set by whoever commits a delivery (the case service, the jobs): deliver it now,
        # not at the next poll.
        self._wake = wake or threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Something was just written to the outbox: deliver it now, not at the next poll."""
        self._wake.set()

    def run_once(self, now: datetime | None = None, *, limit: int = 20) -> int:
        now = now or self.clock()
        with self.sessions.begin() as session:
            jobs = outbox.claim(session, now, limit=limit)
        list(self._pool.map(self._one, jobs))
        return len(jobs)

    def _one(self, job: Job) -> None:
        logs.case_id.set(job.payload.get("case_id") or job.payload.get("case"))
        effect: effects.Effect | None = None
        try:
            effect = effects.decode(job.kind, job.payload, job.case_id)
            # A second attempt may follow one whose post landed but whose reply was lost (or
            # whose worker died): its posts look for their own tag before posting again.
            self.deliver(effect, Attempt(key=f"o{job.id}", retry=job.attempts > 1,
                                 since=job.created_at or self.clock()))
        except Exception as exc:
            permanent, retry_after, reason = classify(exc)
            with self.sessions.begin() as session:
                outcome = outbox.failed(session, job, self.clock(), reason,
                                        permanent=permanent, retry_after=retry_after)
                notice = self.gave_up(effect, reason) if (
                    outcome == "dead" and effect is not None and self.gave_up) else None
                if notice is not None:  # in the same transaction: told exactly once
                    effects.queue(session, notice, now=self.clock())
            log.warning("outbox delivery %s (%s) failed, %s: %s", job.id, job.kind,
                        "dead-lettered" if outcome == "dead" else "will retry", reason)
            return
        with self.sessions.begin() as session:
            outbox.sent(session, job.id, self.clock())

    def drain(self, now: datetime | None = None, rounds: int = 100) -> None:
        """Deliver everything that is due (tests and `amends outbox run`)."""
        for _ in range(rounds):
            if self.run_once(now) == 0:
                return

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                while not self._stop.is_set():
                    if self.gate is not None:
                        self.gate.wait_quiet(1.0)  # acknowledgements go first, every batch
                    if not self.run_once():
                        break
            except RuntimeError:
                # The interpreter is exiting and has closed the delivery threads: what is
                # left waits in the database for the next start.
                return
            except Exception:
                log.exception("outbox worker pass failed; it tries again shortly")

    def start(self) -> OutboxWorker:
        self._thread = threading.Thread(target=self._loop, name="amends-outbox", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 20) -> None:
        """Finish the delivery in hand, then stop (graceful shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def status(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        return {"counts": outbox.counts(session),
                "dead": [(row.id, row.kind, row.case_id, row.attempts, row.last_error)
                         for row in outbox.dead(session)]}
