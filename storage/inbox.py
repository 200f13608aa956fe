"""The inbox's queries: record a click before its ack, forget it when its work is done, and
hand back the ones whose process died in between."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from storage import db
from storage.models import InboxRow

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime  # just before the click was acknowledged


def add_all(session: Session | Connection, entries: list[tuple[str, dict[str, Any]]], *,
            now: datetime, lease: timedelta) -> list[int]:
    """Several clicks in one insert and one commit (the caller's): a burst's fsync, shared."""
    rows = _rows(entries, now, lease)
    # A core INSERT … RETURNING (one statement for the batch on SQLite and PostgreSQL).
    return list(session.scalars(insert(InboxRow).returning(InboxRow.id,
                                                           sort_by_parameter_order=True),
                                rows))


def _rows(entries: list[tuple[str, dict[str, Any]]], now: datetime, lease: timedelta
          ) -> list[dict[str, Any]]:
    return [{"kind": kind, "payload": payload, "status": "pending", "attempts": 1,
             "created_at": now, "locked_until": now + lease} for kind, payload in entries]


def add_all_sqlite(engine: Engine, entries: list[tuple[str, dict[str, Any]]], *,
                   now: datetime, lease: timedelta) -> list[int]:
    """add_all on an SQLite file in one driver call (per ROWS_PER_INSERT clicks): a
    multi-row INSERT that commits by itself (the connection is in autocommit, storage.db).
    It runs while Slack waits for the acknowledgement, and each sqlite3 call lets go of the
    GIL and must win it back from the request threads: the ORM's BEGIN, INSERT … RETURNING
    (a step per row) and COMMIT are several such calls, and were most of what a click's ack
    cost beyond a bare Bolt app's (bench/ack_latency.py: p99 1.24-1.61x the bare app's with
    them, 0.87-1.27x without). The ids are the statement's: SQLite gives the rows of one
    INSERT consecutive rowids under its write lock, the last one being lastrowid."""
    rows = _rows(entries, now, lease)
    binds = list(zip(_COLUMNS, _binds(engine.dialect), strict=True))
    ids: list[int] = []
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start:start + ROWS_PER_INSERT]
            cursor.execute(
                f"INSERT INTO inbox ({', '.join(_COLUMNS)}) VALUES "
                + ", ".join([f"({', '.join('?' * len(_COLUMNS))})"] * len(chunk)),
                [bind(row[column]) for row in chunk for column, bind in binds])
            last = cursor.lastrowid
            if last is None:
                raise sqlite3.OperationalError("SQLite gave no rowid for the inbox insert")
            ids.extend(range(last - len(chunk) + 1, last + 1))
    finally:
        connection.close()
    return ids


def add_all_postgresql(engine: Engine, entries: list[tuple[str, dict[str, Any]]], *,
                       now: datetime, lease: timedelta) -> list[int]:
    """add_all on PostgreSQL in one statement on a bare driver connection (the engine is
    db.inbox_writer's: autocommit, no ping). It runs while Slack waits for the ack; the
    ORM's insert cost a click 0.26 ms of CPU where this costs 0.12, and 0.34 ms of wall time
    where this costs 0.19 (sequential, measured): half the interpreter time a burst's other
    acknowledgements wait for.

    The ids are matched to the clicks as SQLAlchemy's own ordered insertmanyvalues does: the
    rows come out of a SELECT ordered by their place in the batch, so the id column's
    sequence numbers them in that order, and the returned ids sorted are the clicks' ids.
    A connection the server dropped (a restart, an idle timeout) is thrown away and the
    insert tried once more on a fresh one; other errors are SQLAlchemy's DBAPIError."""
    rows = _rows(entries, now, lease)
    binds = list(zip(_COLUMNS, _binds(engine.dialect), strict=True))
    values = [bind(row[column]) for row in rows for column, bind in binds]
    statement = _postgresql_insert(len(rows))
    try:
        return _inserted_ids(engine, statement, values)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return _inserted_ids(engine, statement, values)


def _inserted_ids(engine: Engine, statement: str, values: list[Any]) -> list[int]:
    """One try on a bare connection; the driver's error as SQLAlchemy's, a connection the
    dialect counts as dropped invalidated (so the pool makes a fresh one)."""
    connection = engine.raw_connection()
    cursor = None
    try:
        cursor = connection.cursor()
        cursor.execute(statement, values)
        return sorted(row[0] for row in cursor.fetchall())
    except engine.dialect.loaded_dbapi.Error as exc:
        dropped = engine.dialect.is_disconnect(exc, connection.dbapi_connection, cursor)
        if dropped:
            connection.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, engine.dialect.loaded_dbapi.Error,
                                  connection_invalidated=dropped) from exc
    finally:
        connection.close()


@functools.lru_cache(maxsize=32)
def _postgresql_insert(count: int) -> str:
    placeholders = ", ".join(
        f"(%s, %s::json, %s, %s, %s::timestamptz, %s::timestamptz, {n})" for n in range(count))
    return (f"INSERT INTO inbox ({', '.join(_COLUMNS)}) SELECT c0, c1, c2, c3, c4, c5 FROM "
            f"(VALUES {placeholders}) AS batch(c0, c1, c2, c3, c4, c5, n) ORDER BY n "
            "RETURNING id")


_COLUMNS = ("kind", "payload", "status", "attempts", "created_at", "locked_until")
# Within SQLite's oldest limit of 999 bound values per statement (six per row); a process's
# batch is at most its request threads (16 under `amends serve`).
ROWS_PER_INSERT = 150
TABLE = cast(Table, InboxRow.__table__)


@functools.lru_cache(maxsize=4)
def _binds(dialect: Any) -> tuple[Callable[[Any], Any], ...]:
    """How SQLAlchemy sends each column's value (the JSON text, UTC timestamps), found once:
    this runs in the acknowledgement's path."""
    def bind(column: str) -> Callable[[Any], Any]:
        processor = TABLE.c[column].type.dialect_impl(dialect).bind_processor(dialect)
        return processor if processor is not None else (lambda value: value)

    return tuple(bind(column) for column in _COLUMNS)


def done(session: Session, entry_ids: list[int]) -> None:
    session.execute(delete(InboxRow).where(InboxRow.id.in_(entry_ids)))


def renew(session: Session, entry_ids: Collection[int], until: datetime) -> int:
    """Extend the leases of entries a live process is still working to `until`, so no other
    process runs them again meanwhile; one set aside as dead stays so. Returns how many."""
    if not entry_ids:
        return 0
    return db.changed(session.execute(update(TABLE).where(
        TABLE.c.id.in_(list(entry_ids)), TABLE.c.status == "pending")
        .values(locked_until=until)))


def claim_stale(session: Session, now: datetime, *, lease: timedelta,
                limit: int = 50) -> list[Entry]:
    """Entries whose lease ran out without their work finishing; each leased again.
    One tried MAX_ATTEMPTS times is set aside as dead, for a person to look at."""
    session.execute(update(InboxRow).where(
        InboxRow.status == "pending", InboxRow.locked_until < now,
        InboxRow.attempts >= MAX_ATTEMPTS).values(status="dead"))
    statement = (select(InboxRow).where(InboxRow.status == "pending",
                                        InboxRow.locked_until < now)
                 .order_by(InboxRow.id).limit(limit))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    entries = []
    for row in session.scalars(statement).all():
        row.locked_until, row.attempts = now + lease, row.attempts + 1
        entries.append(Entry(row.id, row.kind, dict(row.payload), row.attempts,
                             row.created_at))
    return entries

