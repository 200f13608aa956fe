"""Two workers claiming at once never take a row the other has already settled
(storage.outbox.claim)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert
from sqlalchemy.orm import Session

from storage import outbox
from storage.models import OutboxRow

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CASES = 900_000  # this test's rows: cases no other test uses, deleted at the end


def test_a_row_settled_by_one_worker_is_never_claimed_by_another(engine: Engine) -> None:
    # On PostgreSQL a claim is one statement, READ COMMITTED: its snapshot is taken when it
    # starts and each row is locked as it is reached. A row another worker claimed, delivered
    # and settled in between is checked again at its latest version, but only against the
    # conditions on the row itself, not the "oldest pending of its case" subquery, whose
    # answer is from the snapshot. Unless the claim looks at the row's status as it comes
    # back, a row already sent (lease cleared, due) was claimed and delivered again: a post
    # shown twice, with nothing logged. A long queue of rows put off makes each claim's
    # grouped pass slow enough for the others to settle rows meanwhile: before the fix,
    # 20-72 of the 200 rows were claimed twice in every run.
    row = {"kind": "resolved_note", "payload": {}, "status": "pending", "attempts": 0,
           "created_at": NOW}
    later = NOW + timedelta(hours=1)
    waiting = [{**row, "case_id": CASES + 10_000 + n, "next_attempt_at": later}
               for n in range(4000)]
    due = [{**row, "case_id": CASES + n, "next_attempt_at": NOW} for n in range(200)]
    with Session(engine) as session, session.begin():
        session.execute(insert(OutboxRow), waiting + due)
    claimed: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        while True:
            with Session(engine) as session, session.begin():
                jobs = outbox.claim(session, NOW, limit=4)
            if not jobs:
                return
            with lock:
                claimed.update(job.id for job in jobs)
            with Session(engine) as session, session.begin():
                for job in jobs:
                    outbox.sent(session, job, NOW)

    workers = [threading.Thread(target=work) for _ in range(4)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert len(claimed) == len(due)
        assert [row_id for row_id, n in claimed.items() if n > 1] == []
    finally:
        with Session(engine) as session, session.begin():
            session.execute(delete(OutboxRow).where(OutboxRow.case_id >= CASES))
