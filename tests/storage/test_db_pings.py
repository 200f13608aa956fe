"""PostgreSQL connections are pinged before use only after sitting idle: a database restart
or a connection dropped while idle costs nothing, and steady use pays no round trip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from storage import db


@pytest.fixture
def pinged(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, Any]]:
    """An engine as Amends makes it, one pooled connection, a clock the test moves and a
    count of the pings sent."""
    now = [1000.0]
    monkeypatch.setattr(db, "_clock", lambda: now[0])
    engine = db.make_engine(postgres_url, pool_size=1, max_overflow=0)
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    yield engine, (now, pings)
    engine.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _drop(engine: Engine, pid: int) -> None:
    admin = create_engine(engine.url)
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"),
                                  {"pid": pid}).scalar()
    admin.dispose()


def test_steady_use_sends_no_ping(pinged: tuple[Engine, Any]) -> None:
    engine, (now, pings) = pinged
    first = _backend(engine)
    for _ in range(5):
        now[0] += db.IDLE_BEFORE_PING / 2
        assert _backend(engine) == first
    assert pings == []


def test_a_connection_dropped_while_idle_is_replaced_before_use(
        pinged: tuple[Engine, Any]) -> None:
    engine, (now, pings) = pinged
    dropped = _backend(engine)
    _drop(engine, dropped)
    now[0] += db.IDLE_BEFORE_PING  # idle that long: pinged, found dead, replaced
    assert _backend(engine) != dropped
    assert pings == [1]


def test_a_connection_dropped_in_steady_use_fails_one_statement_then_is_replaced(
        pinged: tuple[Engine, Any]) -> None:
    # The price of not pinging each checkout, as a statement that was already running
    # would pay it: that one statement fails, and the pool starts afresh.
    engine, (_now, pings) = pinged
    dropped = _backend(engine)
    _drop(engine, dropped)
    with pytest.raises(OperationalError) as failed:
        _backend(engine)
    assert failed.value.connection_invalidated
    assert _backend(engine) != dropped
    assert pings == []
