"""A customer's earlier cases at 100k cases: the right ones, read through the index.

Timing belongs in bench/history.py; here the planner is asked how it reads them (an index
search on the customer, never a scan of the table), on both databases, and the answer is
checked against the rows written.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, insert, text
from sqlalchemy.orm import Session

from bot.domain.history import REPEAT_WINDOW
from bot.domain.lifecycle import Reaction
from storage import db
from storage.history import for_key
from storage.models import CaseRow, CompensationRow, FollowUpRow

N = 100_000
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _seed(engine: Engine) -> None:
    rng = random.Random(7)
    rows = [{"id": i, "state": "fixing", "playbook_id": "late-delivery",
             "playbook_version": "1", "playbook_hash": "h", "severity": "major",
             "customer_name": f"Customer {i}", "customer_key": f"customer-{rng.randrange(N // 4)}",
             "summary": "late", "currency": "USD", "opened_by": "U0STAFF1",
             "opened_at": NOW - timedelta(seconds=rng.randrange(2 * 365 * 86400)),
             "steps_done": [], "version": 1} for i in range(1, N + 1)]
    with engine.begin() as conn:
        conn.execute(insert(CaseRow), rows)
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('cases_id_seq', :n)"), {"n": N + 100})
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE cases"))
    else:
        db.refresh_statistics(engine)


def _plan(engine: Engine, key: str, case_id: int) -> str:
    """The planner's account of the lookup, as the driver runs it."""
    plans: list[Any] = []
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN (FORMAT JSON) "

    def explain(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        if "earlier" in statement and not statement.startswith("EXPLAIN"):
            cursor.execute(prefix + statement, params)
            plans.extend(list(r) for r in cursor.fetchall())

    event.listen(engine, "before_cursor_execute", explain)
    try:
        with Session(engine) as session:
            for_key(session, key, case_id, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    assert plans
    return json.dumps(plans, default=str)


@pytest.fixture
def seeded(engine: Engine) -> Iterator[Engine]:
    """100k cases, removed afterwards: the engine is shared by every storage test."""
    try:
        _seed(engine)
        yield engine
    finally:
        with engine.begin() as conn:
            for table in (FollowUpRow, CompensationRow, CaseRow):
                conn.execute(delete(table))


def test_the_lookup_reads_one_customer_through_the_index_at_100k_cases(
        seeded: Engine) -> None:
    engine = seeded
    key = "regular@example.com"
    opened = [NOW - timedelta(days=d) for d in (400, 200, 60, 10)]
    with Session(engine) as session, session.begin():
        for offset, at in enumerate(opened):
            session.execute(insert(CaseRow), [{
                "id": N + 1 + offset, "state": "closed" if offset < 3 else "fixing",
                "playbook_id": "billing-error", "playbook_version": "1",
                "playbook_hash": "h", "severity": "minor", "customer_name": "Regular",
                "customer_key": key, "summary": "x", "currency": "USD",
                "opened_by": "U0STAFF1", "opened_at": at, "steps_done": [], "version": 1,
                "reaction": "satisfied" if offset < 3 else None}])
        # The case 60 days ago: $12 given (a denied $50 is not), followed up delighted.
        session.execute(insert(CompensationRow), [
            {"case_id": N + 3, "number": n, "type": "refund", "label": "x", "amount_minor": a,
             "currency": "USD", "status": s, "requested_by": "U0STAFF1", "requested_at": NOW}
            for n, a, s in ((1, 1200, "approved"), (2, 5000, "denied"))])
        session.execute(insert(FollowUpRow), [{
            "case_id": N + 3, "number": 1, "manager": "U0MGR001", "due_at": NOW,
            "done_at": NOW, "reaction": "delighted"}])

    with Session(engine) as session:
        history = for_key(session, key, N + 100, NOW)  # a new case, opened now
    assert history.count == 3  # 400 days ago is over a year
    assert [p.id for p in history.recent] == [N + 4, N + 3, N + 2]
    assert history.repeat and NOW - history.recent[0].opened_at < REPEAT_WINDOW
    assert history.recent[0].left == "still open"
    assert history.recent[1].given_minor == 1200
    assert history.recent[1].reaction is Reaction.DELIGHTED  # the follow-up's, not resolve's
    assert history.recent[2].reaction is Reaction.SATISFIED

    # As of the case 10 days ago, the newest earlier case is 50 days before it.
    with Session(engine) as session:
        as_then = for_key(session, key, N + 4, opened[3])
    assert [p.id for p in as_then.recent] == [N + 3, N + 2]

    plan = _plan(engine, key, N + 100)
    assert "ix_cases_customer_key_opened_at" in plan
    if engine.dialect.name == "sqlite":
        # Every table is searched: cases by customer, compensations and follow-ups by case.
        reads = [r[3] for r in json.loads(plan) if r[3].startswith(("SCAN", "SEARCH"))]
        assert len(reads) == 4 and all("SEARCH" in r for r in reads)
        children = [r for r in reads if r.split()[1] not in ("cases", "earlier")]
        assert len(children) == 2 and all("(case_id=?)" in r for r in children), reads
    else:
        assert "Seq Scan" not in plan


def test_no_customer_and_no_rows_give_an_empty_history(engine: Engine) -> None:
    with Session(engine) as session:
        for key in ("", "ab", "walkin", "nobody@example.com"):
            history: Any = for_key(session, key, 1, NOW)
            assert history.empty and not history.repeat and history.recent == ()
