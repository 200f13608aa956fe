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
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor

from bot.logs import ContextExecutor

log = logging.getLogger("amends.work")


class RequestGate:
    """Counts requests in flight; background jobs wait for a quiet moment, up to a limit."""

    def __init__(self) -> None:
        self._quiet = threading.Condition()
        self._active = 0

    def enter(self) -> None:
        with self._quiet:
            self._active += 1

    def leave(self) -> None:
        with self._quiet:
            self._active -= 1
            if self._active == 0:
                self._quiet.notify_all()

    def wait_quiet(self, patience: float, settle: float = 0.005) -> None:
        """Until no request has been in flight for `settle` seconds, or `patience` runs out.

        The settle time bridges the gap between one request's ack and the next one the
        server has already accepted, so a burst is acknowledged before work resumes.
        """
        deadline = time.monotonic() + patience
        with self._quiet:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self._quiet.wait_for(lambda: self._active == 0,
                                                         timeout=left):
                    return
                if self._quiet.wait(timeout=min(settle, max(left, 0))) is False \
                        and self._active == 0:
                    return


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
