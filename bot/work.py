"""Work done after the acknowledgement, and the rule that acknowledgements come first.

Slack drops a request that isn't acknowledged within 3 seconds. Everything that can wait
(database changes from clicks, message edits) runs on a small pool after the ack, and each
job first waits, briefly, until no request is being acknowledged: under a burst the acks go
out first and the work follows. Opening a modal can't wait long (its trigger_id expires in
3 seconds), so it has a pool of its own that waits only a moment.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor

from bot.logs import ContextExecutor

log = logging.getLogger("amends.work")


# A burst: this many requests begun within BURST_WINDOW (160 a second; a shop's steady
# traffic is a few a second). Inside a burst, gaps of 5-17 ms between requests reaching the
# app are common (gunicorn's accept loop shares the GIL), and post-ack work that slipped
# into one slowed the rest of the burst's acks (bench/ack_latency.py, traced: the slowest
# burst of a run was the one where four jobs began 25-30 ms in; its median ack went from
# about 20 to 39 ms). So after a burst work waits BURST_SETTLE; at a steady pace, SETTLE.
SETTLE = 0.005
BURST, BURST_WINDOW, BURST_SETTLE = 8, 0.05, 0.025


class RequestGate:
    """Counts requests in flight; background jobs wait for a quiet moment, up to a limit."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._quiet = threading.Condition()
        self._active = 0
        self._begun: deque[float] = deque(maxlen=BURST)  # when the last requests began
        self._last_end = -math.inf  # when the last request ended

    def enter(self) -> None:
        with self._quiet:
            self._active += 1
            self._begun.append(self.clock())

    def leave(self) -> None:
        with self._quiet:
            self._active -= 1
            self._last_end = self.clock()
            if self._active == 0:
                self._quiet.notify_all()

    def until_quiet(self) -> float:
        """Seconds until the server counts as quiet: 0 now, infinity while a request is in
        flight; else the settle time after the last one ended (longer after a burst)."""
        with self._quiet:
            return self._until_quiet(self.clock())

    def _until_quiet(self, now: float) -> float:
        if self._active:
            return math.inf
        begun = self._begun
        in_burst = len(begun) == BURST and begun[-1] - begun[0] <= BURST_WINDOW
        return max(self._last_end + (BURST_SETTLE if in_burst else SETTLE) - now, 0.0)

    def wait_quiet(self, patience: float) -> None:
        """Until the server is quiet (see until_quiet), or `patience` runs out.

        The settle time bridges the gap between one request's ack and the next one the
        server has already accepted, so a burst is acknowledged before work resumes.
        """
        deadline = self.clock() + patience
        with self._quiet:
            while True:
                now = self.clock()
                wait = min(self._until_quiet(now), deadline - now)
                if wait <= 0:
                    return
                self._quiet.wait(timeout=wait)  # woken early when the last request ends


class Background:
    """A pool for after-the-ack work whose jobs let acknowledgements go first."""

    def __init__(self, *, executor: Executor | None = None, threads: int, name: str,
                 gate: RequestGate | None, patience: float) -> None:
        self.executor = executor or ContextExecutor(max_workers=threads,
                                                    thread_name_prefix=name)
        self.gate, self.patience = gate, patience

    def submit(self, job: Callable[[], None]) -> None:
        context = contextvars.copy_context()  # the request's ids, for the logs

        def run() -> None:
            if self.gate is not None:
                self.gate.wait_quiet(self.patience)
            try:
                job()
            except Exception:
                log.exception("unhandled error in background work")

        self.executor.submit(context.run, run)
