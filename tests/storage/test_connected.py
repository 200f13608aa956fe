"""A delivery's one connection: its reads and single-statement saves stand alone (on
PostgreSQL without BEGIN and COMMIT round trips), and a transaction after them on the same
connection is still all or nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from storage import db
from storage.models import OutboxRow
from tests.conftest import T0


def _row() -> OutboxRow:
    return OutboxRow(kind="connected-test", payload={}, status="pending", attempts=0,
                     next_attempt_at=T0, created_at=T0)


def _saved(engine: Engine) -> int | None:
    with db.make_sessions(engine)() as session:
        return session.scalar(select(OutboxRow.id).where(OutboxRow.kind == "connected-test"))


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    sent: list[str] = []

    def seen(conn, cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement.split()[0].upper())

    def begun(conn) -> None:  # type: ignore[no-untyped-def]
        # psycopg sends BEGIN before a transaction's first statement unless it is in
        # autocommit; SQLite's BEGIN IMMEDIATE is storage.db's own statement, seen above.
        if conn.dialect.name == "postgresql" and not conn.connection.dbapi_connection.autocommit:
            sent.append("BEGIN")

    event.listen(engine, "before_cursor_execute", seen)
    event.listen(engine, "begin", begun)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        event.remove(engine, "begin", begun)
        with engine.begin() as conn:
            conn.execute(delete(OutboxRow).where(OutboxRow.kind == "connected-test"))


def test_standalone_statements_open_no_transaction_on_postgresql(
        engine: Engine, statements: list[str]) -> None:
    sessions = db.make_sessions(engine)
    with db.connected(sessions) as session:
        with db.standalone(session):
            session.execute(select(text("1")))
        with db.standalone(session):
            session.add(_row())
    opened = statements.count("BEGIN")
    if engine.dialect.name == "postgresql":
        assert opened == 0, statements
    else:
        assert opened == 2, statements  # SQLite: a transaction each (in-process, no trip)
    assert _saved(engine) is not None


def test_a_transaction_after_standalone_statements_is_still_all_or_nothing(
        engine: Engine, statements: list[str]) -> None:
    sessions = db.make_sessions(engine)
    with db.connected(sessions) as session:
        with db.standalone(session):
            session.execute(select(text("1")))
        with pytest.raises(RuntimeError), session.begin():
            session.add(_row())
            session.flush()
            raise RuntimeError("the second write of the transaction fails")
    assert "BEGIN" in statements  # a real transaction, on PostgreSQL too
    assert _saved(engine) is None  # the flushed row rolled back


def _synchronous_commit(session: Session) -> str:
    return str(session.execute(text("SHOW synchronous_commit")).scalar_one())


def test_deliveries_commit_without_waiting_for_the_disk_and_claims_still_do(
        engine: Engine) -> None:
    deliveries = db.delivery_engine(engine, connections=2)
    if engine.dialect.name != "postgresql":
        assert deliveries is engine  # SQLite: one file, one engine
        return
    assert deliveries is db.delivery_engine(engine, connections=2)  # one pool per database
    with db.make_sessions(engine)() as session, session.begin():
        assert _synchronous_commit(session) == "on"  # the app's own writes: durable
    with db.connected(db.make_sessions(deliveries)) as session:
        with db.standalone(session):
            assert _synchronous_commit(session) == "off"
        with session.begin():
            db.durable(session)  # a claim made once (JobContext.send)
            assert _synchronous_commit(session) == "on"
        with db.standalone(session):  # for that transaction only
            assert _synchronous_commit(session) == "off"



def test_connections_that_skip_the_flush_wait_keep_the_urls_own_options(
        postgres_url: str) -> None:
    """An operator's `?options=` (a search_path, a timeout) reaches the delivery and inbox
    connections too: libpq options given on their own would replace the URL's."""
    url = make_url(postgres_url).update_query_dict({"options": "-c statement_timeout=12345"})
    engine = db.make_engine(url.render_as_string(hide_password=False))
    try:
        for own in (db.delivery_engine(engine, connections=1), db.inbox_writer(engine)):
            with own.connect() as connection:
                shown = [connection.execute(text(f"SHOW {name}")).scalar_one()
                         for name in ("synchronous_commit", "statement_timeout")]
            assert shown == ["off", "12345ms"]
            own.dispose()
    finally:
        engine.dispose()
