"""Acknowledged clicks survive a crash.

Slack is told "got it" within milliseconds, and the work a click starts runs just after.
A process killed in between would lose that work while the person believes it was done. So
a click that changes a case is first written to the inbox (one small insert), then
acknowledged; the row is deleted when its work has run. Rows left behind by a dead process
are run again by any process once their lease ends: the click's request key makes a second
run of work that did finish harmless. The lease is short (LEASE) and a live process renews
it on every click still in its hands, so a queue of work behind a busy moment is not run
twice, and a dead process's clicks wait at most LEASE plus one pass (RENEW_EVERY).

The insert sits in the acknowledgement's path, so clicks arriving together share one
transaction (group commit): a burst of 25 clicks costs one or two commits, not 25 fsyncs
queued behind SQLite's single writer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import logs
from storage import db, inbox

log = logging.getLogger("amends.inbox")
RECORD_PATIENCE = 1.0  # seconds; Slack waits 3 for the ack
# A click's lease, and how often the background pass renews the leases of those in hand,
# clears finished ones and runs a dead process's: a lease outlives two missed passes.
LEASE = timedelta(seconds=15)
RENEW_EVERY = 5.0  # seconds


class _SessionConnection:
    """`engine.begin()` for a session factory without an engine of its own (tests that
    switch databases under the app)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._transaction = sessions.begin()

    def __enter__(self) -> Any:
        return self._transaction.__enter__().connection()

    def __exit__(self, *exc: Any) -> Any:
        return self._transaction.__exit__(*exc)


class _Waiting:
    def __init__(self, kind: str, body: dict[str, Any]) -> None:
        self.kind, self.body = kind, body
        self.entry_id: int | None = None
        self.lead = False  # woken to write the next batch rather than with a result
        self.done = threading.Event()


class Inbox:
    def __init__(self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime],
                 handlers: Mapping[str, Callable[[dict[str, Any]], None]] | None = None,
                 lease: timedelta = LEASE, interval: float = RENEW_EVERY) -> None:
        self.sessions, self.clock, self.lease, self.interval = sessions, clock, lease, interval
        # kind -> how to run a stored click again (the listeners that record them say how).
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = dict(handlers or {})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._writing = False
        self._finished: list[int] = []
        self._held: set[int] = set()  # entries recorded or recovered here, not finished yet

    def record(self, kind: str, body: dict[str, Any]) -> int | None:
        """Before the ack. None when the database is unreachable (or slower than Slack's
        patience): the work then runs as before, and reports if nothing could be changed.

        Group commit without a writer thread: the first click to arrive writes, for itself
        and every click queued behind it, in one transaction; clicks arriving meanwhile wait,
        and the first of them writes the next batch. No extra thread has to be scheduled in
        the acknowledgement's path (under load each hand-off costs a GIL switch interval).
        """
        waiting = _Waiting(kind, body)
        with self._lock:
            self._queue.append(waiting)
            lead = not self._writing
            self._writing = True
        if not lead and not waiting.done.wait(RECORD_PATIENCE):
            with self._lock:
                withdrawn = waiting in self._queue and not waiting.lead
                if withdrawn:
                    self._queue.remove(waiting)
            if withdrawn:
                log.error("inbox write took over %.1f s; the click runs without it",
                          RECORD_PATIENCE)
                return None
            waiting.done.wait()  # in a batch being written, or just made the writer
        if lead or waiting.lead:
            self._write_batch()
        return waiting.entry_id

    def _engine(self) -> Any:
        return getattr(self.sessions, "kw", {}).get("bind")

    def _begin(self) -> Any:
        engine = self._engine()
        if engine is not None:
            return engine.begin()
        return _SessionConnection(self.sessions)

    def _write_batch(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        entries = [(w.kind, w.body) for w in batch]
        engine = self._engine()
        try:
            if engine is not None and engine.dialect.name == "sqlite":
                ids: list[int | None] = list(inbox.add_all_sqlite(
                    engine, entries, now=self.clock(), lease=self.lease))
            elif engine is not None and engine.dialect.name == "postgresql":
                ids = list(self._write_postgresql(engine, entries))
            else:
                ids = list(self._write_in_transaction(entries))
        except (SQLAlchemyError, sqlite3.Error) as exc:
            log.error("inbox unavailable (%s); %d click(s) run without it",
                      type(exc).__name__, len(batch))
            ids = [None for _ in batch]
        self._settle_batch(batch, ids)

    def _write_postgresql(self, engine: Engine, entries: list[tuple[str, dict[str, Any]]]
                          ) -> list[int]:
        """One INSERT … RETURNING that commits by itself: one round trip while Slack waits
        (it was five: a ping, BEGIN, SET LOCAL, INSERT and COMMIT)."""
        return inbox.add_all_postgresql(db.inbox_writer(engine), entries, now=self.clock(),
                                        lease=self.lease)

    def _write_in_transaction(self, entries: list[tuple[str, dict[str, Any]]]) -> list[int]:
        # A bare connection, not an ORM session: this runs while Slack waits.
        with self._begin() as connection:
            if connection.dialect.name == "postgresql":
                # The row must outlive this process, which it does once PostgreSQL has it;
                # not waiting for its disk flush keeps the ack fast.
                connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
            return inbox.add_all(connection, entries, now=self.clock(), lease=self.lease)

    def _settle_batch(self, batch: list[_Waiting], ids: list[int | None]) -> None:
        with self._lock:
            self._held.update(entry_id for entry_id in ids if entry_id is not None)
        for waiting, entry_id in zip(batch, ids, strict=True):
            waiting.entry_id = entry_id
            waiting.done.set()
        with self._lock:  # clicks that queued meanwhile: the first of them writes next
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.set()
            else:
                self._writing = False

    def done(self, entry_id: int | None) -> None:
        """The click's work has run. Cleared a little later, many at once, off the
        acknowledgement's path: an entry a crash leaves uncleared only runs again,
        harmlessly (its request key)."""
        if entry_id is not None:
            with self._lock:
                self._held.discard(entry_id)
                self._finished.append(entry_id)

    def release(self, entry_id: int | None) -> None:
        """The click's work failed (unexpectedly, or can't run here): stop renewing its
        lease, so a recovery pass runs it again once the lease ends (up to
        inbox.MAX_ATTEMPTS times)."""
        if entry_id is not None:
            with self._lock:
                self._held.discard(entry_id)

    def renew(self) -> int:
        """Extend the lease of every click this process still holds (recorded, its work
        queued or running): work waiting behind a busy moment is not taken up by another
        process as if this one had died."""
        with self._lock:
            held = list(self._held)
        if not held:
            return 0
        try:
            with self.sessions.begin() as session:
                return inbox.renew(session, held, self.clock() + self.lease)
        except SQLAlchemyError as exc:  # the next pass tries again, inside the lease
            log.warning("%d inbox leases not renewed (%s)", len(held), type(exc).__name__)
            return 0

    def flush(self) -> None:
        """Clear finished entries now (the recovery loop, tests, shutdown)."""
        with self._lock:
            finished, self._finished = self._finished, []
        if not finished:
            return
        try:
            with self.sessions.begin() as session:
                inbox.done(session, finished)
            if self._engine() is not None:
                db.checkpoint(self._engine())  # here, not in an acknowledgement's commit
        except SQLAlchemyError as exc:  # they run again later, harmlessly (request keys)
            log.warning("%d inbox entries not cleared (%s)", len(finished),
                        type(exc).__name__)

    def recover(self, now: datetime | None = None) -> int:
        """Run again the clicks whose process died before their work finished."""
        with self.sessions.begin() as session:
            entries = inbox.claim_stale(session, now or self.clock(), lease=self.lease)
        with self._lock:
            self._held.update(entry.id for entry in entries)
        for entry in entries:
            handler = self.handlers.get(entry.kind)
            if handler is None:
                log.error("inbox entry %s: no handler for %s", entry.id, entry.kind)
                self.release(entry.id)  # another process may know it once the lease ends
                continue
            log.warning("running click %s (%s) again: its process stopped before finishing",
                        entry.id, entry.kind)
            # What Slack shows of it has waited since the click, not since this run.
            arrived = logs.request_at.set(entry.created_at)
            try:
                handler(entry.payload)
            except Exception:
                log.exception("inbox entry %s failed again (attempt %s)", entry.id,
                              entry.attempts)
                self.release(entry.id)  # tried again once its lease ends
                continue
            finally:
                logs.request_at.reset(arrived)
            self.done(entry.id)
        self.flush()
        return len(entries)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                logs.request_id.set(None)
                self.renew()
                self.flush()
                self.recover()
            except Exception:
                log.exception("inbox recovery pass failed; it tries again shortly")

    def start(self) -> Inbox:
        self._thread = threading.Thread(target=self._loop, name="amends-inbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.flush()  # what finished need not run again after a restart
