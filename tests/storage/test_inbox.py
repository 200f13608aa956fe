"""The inbox's group commit: clicks arriving together share a transaction, each gets its own
entry, none waits forever, and finished entries are cleared in one statement."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, delete, event, func, select, text, update

from bot.inbox import LEASE, RENEW_EVERY, Inbox
from storage import db
from storage import inbox as inbox_queries
from storage.models import InboxRow
from tests.conftest import T0


def test_clicks_arriving_together_each_get_an_entry_and_are_cleared(engine: Engine) -> None:
    inbox = Inbox(db.make_sessions(db.inbox_engine(engine)), clock=lambda: T0)
    ids: list[int | None] = []
    held: dict[int | None, int] = {}  # entry id -> the click it was given to
    start = threading.Barrier(40)

    def click(n: int) -> None:
        start.wait()
        entry = inbox.record("approve", {"n": n})
        ids.append(entry)
        held[entry] = n

    threads = [threading.Thread(target=click, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert None not in ids and len(set(ids)) == 40
        with inbox.sessions() as session:
            stored = dict(session.execute(select(InboxRow.id, InboxRow.payload)).all())
        # Each click holds its own entry, whichever batch it was written in: finishing one
        # must clear that click's entry, not another's.
        assert {entry: payload["n"] for entry, payload in stored.items()} == held
        assert sorted(held.values()) == list(range(40))

        for entry_id in ids:
            inbox.done(entry_id)
        inbox.flush()
        with inbox.sessions() as session:
            assert session.scalar(select(func.count()).select_from(InboxRow)) == 0
    finally:
        with inbox.sessions.begin() as session:
            session.execute(delete(InboxRow))


def test_each_click_gets_the_entry_that_holds_it(engine: Engine) -> None:
    """Each database records a batch in one driver call of its own (SQLite works the ids
    out from the last rowid, PostgreSQL sorts what RETURNING gives): each id must hold its
    own click, written as the ORM writes it."""
    inbox = Inbox(db.make_sessions(db.inbox_engine(engine)), clock=lambda: T0)
    entries = [("approve", {"n": n, "text": "café ✓"}) for n in range(7 + 160)]
    try:
        # A batch of one, of six, and one longer than a single INSERT takes.
        for batch in (entries[:1], entries[1:7], entries[7:]):
            if db.inbox_engine(engine).dialect.name == "sqlite":
                ids = inbox_queries.add_all_sqlite(db.inbox_engine(engine), batch, now=T0,
                                                   lease=timedelta(seconds=60))
            else:
                ids = inbox_queries.add_all_postgresql(db.inbox_writer(engine), batch, now=T0,
                                                       lease=timedelta(seconds=60))
            with inbox.sessions() as session:
                stored = [session.get_one(InboxRow, entry_id) for entry_id in ids]
            assert [(row.kind, row.payload) for row in stored] == batch
            assert {(row.status, row.attempts, row.created_at, row.locked_until)
                    for row in stored} == {("pending", 1, T0, T0 + timedelta(seconds=60))}
    finally:
        with inbox.sessions.begin() as session:
            session.execute(delete(InboxRow))


def test_a_click_runs_without_the_inbox_when_it_cannot_be_written(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    where = db.inbox_engine(engine)
    inbox = Inbox(db.make_sessions(where), clock=lambda: T0)
    InboxRow.__table__.drop(where)  # type: ignore[attr-defined]
    try:
        assert inbox.record("approve", {"n": 1}) is None
        assert "inbox unavailable" in caplog.text and "1 click(s) run without it" in caplog.text
        assert inbox.record("approve", {"n": 2}) is None  # and the next click isn't stuck
    finally:
        InboxRow.__table__.create(where)  # type: ignore[attr-defined]


def test_an_entry_whose_process_died_is_run_again_once_its_lease_ends(engine: Engine) -> None:
    inbox = Inbox(db.make_sessions(db.inbox_engine(engine)), clock=lambda: T0)
    ran: list[dict[str, object]] = []
    inbox.handlers["approve"] = ran.append
    try:
        inbox.record("approve", {"n": 1})
        assert inbox.recover(now=T0 + LEASE - timedelta(seconds=1)) == 0  # its first run's
        assert inbox.recover(now=T0 + timedelta(minutes=2)) == 1
        assert ran == [{"n": 1}]
        assert inbox.recover(now=T0 + timedelta(minutes=10)) == 0  # done: cleared

        inbox.handlers["approve"] = lambda body: (_ for _ in ()).throw(RuntimeError("boom"))
        inbox.record("approve", {"n": 2})
        for minutes in range(2, 20, 2):  # fails every time: set aside after MAX_ATTEMPTS
            inbox.recover(now=T0 + timedelta(minutes=minutes))
        with inbox.sessions() as session:
            assert session.scalars(select(InboxRow.status)).one() == "dead"
    finally:
        with inbox.sessions.begin() as session:
            session.execute(delete(InboxRow))


def _pragma(engine: Engine, statement: str) -> tuple[int, ...]:
    connection = engine.raw_connection()  # autocommit: no BEGIN around the pragma
    try:
        return tuple(connection.execute(statement).fetchone())
    finally:
        connection.close()


def test_the_inbox_log_is_checkpointed_by_the_background_pass_not_by_a_click(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite copies its write-ahead log into the file on the commit that fills it; on the
    inbox that commit is an acknowledgement, so the background pass does it instead."""
    inbox_engine = db.inbox_engine(engine)
    if inbox_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's checkpoints are its own background work")
    inbox = Inbox(db.make_sessions(inbox_engine), clock=lambda: T0)
    assert _pragma(inbox_engine, "PRAGMA wal_autocheckpoint") == (0,)
    try:
        ids = [inbox.record("approve", {"n": n}) for n in range(20)]
        _pragma(inbox_engine, "PRAGMA wal_checkpoint(TRUNCATE)")  # a clean log to start
        more = [inbox.record("approve", {"n": n}) for n in range(20, 40)]
        size = Path(inbox_engine.url.database or "").with_name(
            Path(inbox_engine.url.database or "").name + "-wal").stat().st_size
        assert size > 0  # 20 commits, all still in the log: no click checkpointed it
        checkpointed: list[Engine] = []
        real = db.checkpoint
        monkeypatch.setattr(db, "checkpoint", lambda e: (checkpointed.append(e), real(e)))
        for entry_id in ids + more:
            inbox.done(entry_id)
        inbox.flush()
        assert checkpointed == [inbox_engine]  # the background pass copied the log
    finally:
        with inbox.sessions.begin() as session:
            session.execute(delete(InboxRow))


def test_a_live_process_keeps_its_clicks_and_a_dead_ones_run_within_a_lease(
        engine: Engine) -> None:
    """Each pass renews the leases of the clicks a process still holds (queued behind a busy
    moment, say); a process that died renews nothing, and its clicks run elsewhere once the
    short lease ends, not a minute later."""
    sessions = db.make_sessions(db.inbox_engine(engine))
    now = [T0]
    live, dead, survivor = (Inbox(sessions, clock=lambda: now[0]) for _ in range(3))
    ran: list[dict[str, object]] = []
    survivor.handlers["approve"] = ran.append
    try:
        kept = live.record("approve", {"n": 1})  # its work not run yet
        dead.record("approve", {"n": 2})  # and then its process was killed
        passes = 0
        while not ran:
            passes += 1
            now[0] = T0 + timedelta(seconds=RENEW_EVERY * passes)
            live.renew()
            survivor.recover()
        assert ran == [{"n": 2}]
        assert now[0] - T0 <= LEASE + timedelta(seconds=RENEW_EVERY)
        for _ in range(12):  # a minute more: the live process's click stays its own
            passes += 1
            now[0] = T0 + timedelta(seconds=RENEW_EVERY * passes)
            live.renew()
            survivor.recover()
        assert ran == [{"n": 2}]

        live.done(kept)
        assert live.renew() == 0  # finished: nothing left to hold
        live.flush()
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(InboxRow)) == 0
    finally:
        with sessions.begin() as session:
            session.execute(delete(InboxRow))


def test_a_renewal_leaves_an_entry_set_aside_as_dead_alone(engine: Engine) -> None:
    sessions = db.make_sessions(db.inbox_engine(engine))
    try:
        with sessions.begin() as session:
            ids = inbox_queries.add_all(session, [("approve", {}), ("approve", {})], now=T0,
                                        lease=LEASE)
            session.execute(update(InboxRow).where(InboxRow.id == ids[1])
                            .values(status="dead"))
        with sessions.begin() as session:
            assert inbox_queries.renew(session, ids, T0 + timedelta(minutes=5)) == 1
        with sessions() as session:
            assert dict(session.execute(select(InboxRow.status, InboxRow.locked_until))
                        .all()) == {"pending": T0 + timedelta(minutes=5), "dead": T0 + LEASE}
    finally:
        with sessions.begin() as session:
            session.execute(delete(InboxRow))


def _postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite records in one driver call of its own (add_all_sqlite)")


def test_on_postgresql_a_click_is_recorded_in_one_round_trip(
        engine: Engine, tmp_path: Path) -> None:
    """Read off libpq's own trace of what the writer's connection sends: one INSERT that
    commits by itself, not BEGIN, SET LOCAL, INSERT and COMMIT (four waits while Slack
    waits), and no ping before it."""
    _postgres_only(engine)
    inbox = Inbox(db.make_sessions(db.inbox_engine(engine)), clock=lambda: T0)
    writer = db.inbox_writer(engine)
    inbox.record("approve", {"n": 0})  # the writer's connection, opened
    trace = tmp_path / "libpq.trace"

    def traced(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.pgconn.trace(handle.fileno())
        dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    def untraced(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.pgconn.untrace()

    with trace.open("w") as handle:
        event.listen(writer, "checkout", traced)
        event.listen(writer, "checkin", untraced)
        try:
            entry = inbox.record("approve", {"n": 1})
        finally:
            event.remove(writer, "checkout", traced)
            event.remove(writer, "checkin", untraced)
    sent = [line.split("\t") for line in trace.read_text().splitlines()
            if line.split("\t")[0] == "F"]
    # Each wait for the server ends a simple Query or an extended query's Sync.
    waits = [fields for fields in sent if fields[2] in ("Query", "Sync")]
    assert len(waits) == 1, sent
    statements = " ".join(" ".join(fields[3:]) for fields in sent)
    # The INSERT's text, or (psycopg prepares a statement used five times) its name; the
    # click itself either way.
    assert "INSERT INTO inbox" in statements or "_pg3_" in statements
    assert '{"n": 1}' in statements
    assert not any(word in statements for word in ("BEGIN", "COMMIT", "SET", "SELECT 1"))
    try:
        with inbox.sessions() as session:  # committed: another connection sees it
            assert session.get_one(InboxRow, entry).payload == {"n": 1}
        with writer.connect() as connection:
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    finally:
        with inbox.sessions.begin() as session:
            session.execute(delete(InboxRow))


def test_on_postgresql_a_dropped_writer_connection_costs_no_click(engine: Engine) -> None:
    """The writer doesn't ping before each use; when the server has dropped its connection
    (a restart, an idle timeout), the record is tried once more on a fresh one."""
    _postgres_only(engine)
    inbox = Inbox(db.make_sessions(db.inbox_engine(engine)), clock=lambda: T0)
    writer = db.inbox_writer(engine)
    backends: list[int] = []

    def listener(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        backends.append(dbapi_connection.info.backend_pid)

    try:
        inbox.record("approve", {"n": 1})
        writer.pool.dispose()  # one connection in the pool, whose backend is known
        event.listen(writer, "checkout", listener)
        inbox.record("approve", {"n": 2})
        with engine.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:pid)"),
                                 {"pid": backends[-1]}).scalar()
        assert inbox.record("approve", {"n": 3}) is not None
        assert len(set(backends)) == 2  # the dropped connection, then a fresh one
        with inbox.sessions() as session:
            assert sorted(p["n"] for p in session.scalars(select(InboxRow.payload))) == [
                1, 2, 3]
    finally:
        event.remove(writer, "checkout", listener)
        with inbox.sessions.begin() as session:
            session.execute(delete(InboxRow))


def test_a_click_whose_work_failed_is_no_longer_held_and_runs_again(engine: Engine) -> None:
    """Work that raised unexpectedly is released, not renewed forever: the recovery pass
    runs it again once its lease ends, as it would for a dead process."""
    sessions = db.make_sessions(db.inbox_engine(engine))
    now = [T0]
    inbox = Inbox(sessions, clock=lambda: now[0])
    ran: list[dict[str, object]] = []
    inbox.handlers["approve"] = ran.append
    try:
        entry = inbox.record("approve", {"n": 1})
        inbox.release(entry)
        assert inbox.renew() == 0
        now[0] = T0 + LEASE + timedelta(seconds=1)
        assert inbox.recover() == 1 and ran == [{"n": 1}]
    finally:
        with sessions.begin() as session:
            session.execute(delete(InboxRow))
