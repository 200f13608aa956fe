"""Acknowledged clicks survive a crash.

Slack is told "got it" within milliseconds, and the work a click starts runs just after.
A process killed in between would lose that work while the person believes it was done. So
a click that changes a case is first written to the inbox (one small insert), then
acknowledged; the row is deleted when its work has run. Rows left behind by a dead process
are run again by any process once their lease ends: the click's request key makes a second
run of work that did finish harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import logs
from storage import inbox

log = logging.getLogger("amends.inbox")


class Inbox:
    def __init__(self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime],
                 lease: timedelta = timedelta(seconds=60), interval: float = 15.0) -> None:
        self.sessions, self.clock, self.lease, self.interval = sessions, clock, lease, interval
        # Filled in by the listeners that use the inbox: kind -> how to run a stored click.
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, kind: str, body: dict[str, Any]) -> int | None:
        """Before the ack. None when the database is unreachable: the work then runs as
        before and reports that nothing could be changed."""
        try:
            with self.sessions.begin() as session:
                return inbox.add(session, kind, body, now=self.clock(), lease=self.lease)
        except SQLAlchemyError as exc:
            log.error("inbox unavailable (%s); the click runs without it", type(exc).__name__)
            return None

    def done(self, entry_id: int | None) -> None:
        if entry_id is None:
            return
        try:
            with self.sessions.begin() as session:
                inbox.done(session, entry_id)
        except SQLAlchemyError as exc:  # it runs again later, harmlessly (request keys)
            log.warning("inbox entry %s not cleared (%s)", entry_id, type(exc).__name__)

    def recover(self, now: datetime | None = None) -> int:
        """Run again the clicks whose process died before their work finished."""
        with self.sessions.begin() as session:
            entries = inbox.claim_stale(session, now or self.clock(), lease=self.lease)
        for entry in entries:
            handler = self.handlers.get(entry.kind)
            if handler is None:
                log.error("inbox entry %s: no handler for %s", entry.id, entry.kind)
                continue
            log.warning("running click %s (%s) again: its process stopped before finishing",
                        entry.id, entry.kind)
            try:
                handler(entry.payload)
            except Exception:
                log.exception("inbox entry %s failed again (attempt %s)", entry.id,
                              entry.attempts)
                continue
            self.done(entry.id)
        return len(entries)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                logs.request_id.set(None)
                self.recover()
            except Exception:
                log.exception("inbox recovery pass failed; it tries again shortly")

    def start(self) -> Inbox:
        self._thread = threading.Thread(target=self._loop, name="amends-inbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
