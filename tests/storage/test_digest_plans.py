"""The digest reads a week through its indexes, never a whole table (SQLite's query plans).

At a million cases a table scan is the difference between 0.15 s and 1.3 s
(bench/digest.py). Every statement the digest runs is captured and explained; each must
search an index, and the open follow-ups must be found by the index that holds only them
(an index led by done_at once looked so selective for "done_at IS NULL" that SQLite read
every open follow-up from the table).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bot.domain.playbook_library import PlaybookLibrary
from bot.domain.weeks import Week
from storage import db
from storage.digest import trend, week_against_last
from tests.storage.test_digest_figures import UTC_ZONE, build_week

TABLES = {"cases", "compensations", "follow_ups", "approvals", "case_events", "surveys"}


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    db.upgrade(engine)
    yield engine
    engine.dispose()


def test_every_digest_query_searches_an_index(sqlite: Engine,
                                              library: PlaybookLibrary) -> None:
    with Session(sqlite) as session, session.begin():
        build_week(session, library)
    db.refresh_statistics(sqlite)  # as the scheduler does hourly

    statements: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(sqlite, "before_cursor_execute", capture)
    try:
        with Session(sqlite) as session:
            week = Week(2026, 47)
            week_against_last(session, week.bounds(UTC_ZONE), week.previous().bounds(UTC_ZONE))
            # The chart's twelve weeks, too: each figure a range of an index.
            span = [week]
            while len(span) < 12:
                span.insert(0, span[0].previous())
            trend(session, [w.bounds(UTC_ZONE) for w in span])
    finally:
        event.remove(sqlite, "before_cursor_execute", capture)

    assert len(statements) >= 20
    plans = []
    with sqlite.connect() as conn:
        for statement, params in statements:
            detail = [row[3] for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", params)]
            plans.append(detail)
            scans = [d for d in detail if d.startswith("SCAN ")
                     and d.split(" ")[1] in TABLES and "INDEX" not in d]
            assert not scans, (statement, detail)
    overdue = [p for s, p in zip((s for s, _ in statements), plans, strict=True)
               if "done_at IS NULL" in s]
    assert overdue and all(any("ix_follow_ups_open_manager_due_at" in d for d in p)
                           for p in overdue)
