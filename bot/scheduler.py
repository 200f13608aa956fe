"""The in-process scheduler for the single-container set-up.

A daemon thread wakes every minute and runs the same jobs as `amends reminders run` and
`amends digest send`. Several processes may each run one: the claims in the database make
every reminder and digest go out once. With cron or a Kubernetes CronJob instead, set
AMENDS_SCHEDULER=off and schedule those two commands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.jobs import SCHEDULED, JobContext

log = logging.getLogger("amends.scheduler")


class Scheduler:
    def __init__(self, ctx: JobContext, *, clock: Callable[[], datetime],
                 interval: float = 60.0,
                 jobs: Mapping[str, Callable[[JobContext, datetime], Any]] = SCHEDULED
                 ) -> None:
        self.ctx, self.jobs, self.clock, self.interval = ctx, jobs, clock, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="amends-scheduler",
                                        daemon=True)

    def tick(self) -> None:
        """One pass of every job; a failing job is logged and the others still run."""
        now = self.clock()
        for name, job in self.jobs.items():
            try:
                result = job(self.ctx, now)
                if result:
                    log.info("%s: %s", name, result)
            except Exception:
                log.exception("scheduled job %s failed; it runs again next minute", name)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
