"""Engines, sessions and the schema's version. Nothing here runs at import time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutOfDate(Exception):
    pass


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Survive a database restart, or a connection dropped while idle, between uses: ping
    # a connection that sat idle (_ping_if_idle) rather than on every checkout.
    idle_ping = kwargs.pop("pool_pre_ping", True)
    # Request threads (16), after-the-ack work, the outbox's claims and the jobs: the
    # default 5 (+10) made them queue for connections under load. The outbox's delivery
    # threads have a pool of their own (delivery_engine, 8 + 2), and the inbox's writers
    # (inbox_writer, 2 + 2): a process holds at most 22 + 10 + 4 = 36, so two replicas stay
    # well inside PostgreSQL's default 100.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 2)
    engine = create_engine(url, **kwargs)
    if idle_ping:
        _ping_if_idle(engine)
    return engine


# A pooled connection idle this long is pinged before use (a round trip); one used more
# recently is not. Under load a ping on every checkout was 8% of the busy threads' time in
# the soak (py-spy), for connections used milliseconds before. A connection that dies while
# in steady use fails its statement instead: SQLAlchemy then replaces every connection the
# pool held before the failure, so one operation fails, as it would have mid-statement.
IDLE_BEFORE_PING = 10.0
_clock = time.monotonic


def _ping_if_idle(engine: Engine) -> None:
    def returned(_dbapi_connection: Any, record: Any) -> None:  # or just made
        record.info["returned_at"] = _clock()

    def taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is not None and _clock() - returned_at < IDLE_BEFORE_PING:
            return
        dialect = engine.dialect
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:  # the pool discards it and checks out another (up to three tries)
            raise exc.DisconnectionError("the database closed this idle connection")

    event.listen(engine, "connect", returned)
    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", taken)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINTs and starts transactions late;
    # SQLAlchemy emits BEGIN itself instead (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers (the Home tab, the digest) run while a case is being saved.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: two processes that read a case and then
    # write it wait their turn (the 30 s timeout) instead of failing with "database is locked".
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def inbox_engine(engine: Engine) -> Engine:
    """Where acknowledged clicks are recorded. On PostgreSQL, the database itself. On an
    SQLite file, a file of its own beside it: SQLite has one writer per file, and the
    record is written while Slack waits for its acknowledgement, so it must never queue
    behind a case being saved."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return engine
    where = url.set(database=f"{url.database}-inbox").render_as_string(hide_password=False)
    if where not in _INBOXES:
        from storage.models import InboxRow

        inbox = make_engine(where)
        # Commits wait for the operating system, not the disk: an inbox row must outlive
        # this process (it does), and only a power cut in the same instant could take it,
        # as it would the click in flight. Case data keeps full durability in its own file.
        event.listen(inbox, "connect", _inbox_pragmas)
        InboxRow.__table__.create(inbox, checkfirst=True)  # type: ignore[attr-defined]
        _INBOXES[where] = inbox
    return _INBOXES[where]


_INBOXES: dict[str, Engine] = {}  # one engine per inbox file, however many apps use it


def inbox_writer(engine: Engine) -> Engine:
    """PostgreSQL: the connections that record clicks while Slack waits, kept apart so that
    each record is one round trip. Each statement commits by itself (autocommit: no BEGIN,
    no COMMIT), the session setting makes a commit not wait for its disk flush (a row must
    outlive this process, which it does once PostgreSQL has it; only a crash of the
    database server in the same instant could take it), and there is no ping before each
    use: a connection the server dropped fails its statement, and the caller tries once
    more on a fresh one (Inbox._write_postgresql). One writer at a time per process records a
    whole burst (group commit), so the pool is small."""
    url = engine.url.render_as_string(hide_password=False)
    if url not in _WRITERS:
        _WRITERS[url] = make_engine(
            url, isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_size=2,
            max_overflow=2, connect_args=_no_flush_wait(engine))
    return _WRITERS[url]


_WRITERS: dict[str, Engine] = {}


def delivery_engine(engine: Engine, connections: int) -> Engine:
    """PostgreSQL: the connections the outbox delivers on, whose commits don't wait for
    their disk flush (synchronous_commit off). What a delivery writes is bookkeeping that
    may be done again: where its posts landed, what an edit showed, its row settled. Were
    the database server to crash before the flush, the newest of those would be lost
    together (the log is lost from a point on, never a hole in it), as if the worker had
    died mid-delivery: the row's lease, committed durably by the claim, runs out, and the
    retry looks for every post before posting again. A write that claims something once
    (an alert, a digest) commits durably all the same (`durable`). Elsewhere (SQLite) the
    engine itself. (bench/outbox.py, eight drains each in turns: 590 calls/s before, 615 after.)"""
    if engine.dialect.name != "postgresql":
        return engine
    url = engine.url.render_as_string(hide_password=False)
    if url not in _DELIVERY:
        _DELIVERY[url] = make_engine(
            url, pool_size=connections, max_overflow=2, connect_args=_no_flush_wait(engine))
    return _DELIVERY[url]


def _no_flush_wait(engine: Engine) -> dict[str, str]:
    """libpq's `options` for connections whose commits don't wait for the disk flush, added
    to any the URL gives (`?options=-csearch_path%3Damends`): given on their own, they
    would replace those."""
    given = engine.url.query.get("options")
    given = given[-1] if isinstance(given, tuple) else given
    return {"options": " ".join(filter(None, [given, "-c synchronous_commit=off"]))}


_DELIVERY: dict[str, Engine] = {}


def durable(session: Session) -> None:
    """Make the transaction in progress wait for its disk flush when it commits, on a
    connection that otherwise doesn't (delivery_engine): a claim that must never be made
    twice. Nothing to do on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO on"))


def _inbox_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    # SQLite checkpoints the log into the file on the commit that fills it, and that commit
    # is an acknowledgement waiting on Slack's clock (a stall of a whole burst, measured).
    # The inbox's background pass checkpoints instead (checkpoint below).
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(engine: Engine) -> None:
    """Copy an SQLite file's write-ahead log into the file, without waiting on writers
    (PASSIVE); nothing to do elsewhere."""
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()  # autocommit (isolation_level None): no BEGIN
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connection.close()


def insert_for(dialect: str) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL's and SQLite's spell it
    alike): an upsert is one statement instead of an UPDATE and then an INSERT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def changed(result: Any) -> int:
    """Rows an UPDATE or DELETE changed (Session.execute types its result generally)."""
    return int(result.rowcount or 0)


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def connected(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session on one connection for a run of short transactions (a delivery: read, then
    remember each post, then settle): one checkout and one pre-ping, not one per
    transaction. No transaction is held between them, only the idle connection."""
    engine = sessions.kw["bind"]
    with engine.connect() as connection, sessions(bind=connection) as session:
        yield session


@contextmanager
def standalone(session: Session) -> Iterator[Session]:
    """A transaction for statements that each stand alone (reads; a single UPDATE or
    upsert), on a `connected` session. On PostgreSQL they run in the driver's autocommit:
    no BEGIN and COMMIT round trips, nor the server's work for them. Under READ COMMITTED
    each statement takes its own snapshot inside a transaction too, so reads see what they
    would have seen. Elsewhere (SQLite, in-process, where a transaction's snapshot does span
    its statements) an ordinary transaction."""
    bind = session.bind
    if not (isinstance(bind, Connection) and bind.dialect.name == "postgresql"
            and not bind.in_transaction()):
        with session.begin():
            yield session
        return
    bind.execution_options(isolation_level="AUTOCOMMIT")  # the driver's flag: no round trip
    try:
        with session.begin():
            yield session
    finally:
        bind.execution_options(isolation_level=bind.default_isolation_level)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)
    refresh_statistics(engine)  # the new schema's indexes, measured


# Rows ANALYZE reads per index (PRAGMA analysis_limit): about 40 ms at a million cases, and
# the plans it leads to are the full ANALYZE's (bench/digest.py).
STATISTICS_ROWS = 20_000


def refresh_statistics(engine: Engine) -> bool:
    """Refresh SQLite's planner statistics (the scheduler does it hourly). SQLite plans
    from what ANALYZE last wrote and, with nothing written, prefers any equality index: the
    digest read a million-case week through the status index instead of decided_at, 0.53 s
    instead of 0.23 s. PostgreSQL's autovacuum does this itself: False there."""
    if engine.dialect.name != "sqlite":
        return False
    connection = engine.raw_connection()  # autocommit (isolation_level None): no BEGIN
    try:
        connection.execute(f"PRAGMA analysis_limit={STATISTICS_ROWS}")
        connection.execute("ANALYZE")
    finally:
        connection.close()
    return True


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://"))).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def unreachable(url: str, exc: BaseException) -> str:
    """One line for a database that can't be reached: where, why, what to do next."""
    parsed = make_url(url)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    why = reason[0] if reason else type(exc).__name__
    if parsed.get_backend_name() == "sqlite":
        return (f"Can't open the SQLite database {parsed.database} ({why}). Check that its "
                "folder exists and is writable, or set DATABASE_URL.")
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return (f"Can't connect to the database at {where} ({why}). Is PostgreSQL running there, "
            f"and is DATABASE_URL ({parsed.render_as_string(hide_password=True)}) right?")


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema older (or newer) than this code expects."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = make_url(str(engine.url)).render_as_string(hide_password=True)
        state = "empty" if current is None else f"at revision {current}"
        raise SchemaOutOfDate(
            f"The database {where} is {state}, but this version of Amends needs revision "
            f"{head}. Run `amends db upgrade` to bring it up to date.")
