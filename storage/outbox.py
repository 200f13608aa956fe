"""The outbox's queries: add in the caller's transaction, claim with a lease, settle.

A claim is a lease (locked_until), so a worker that dies mid-delivery leaves the row to be
taken again once the lease ends: nothing is lost across a restart. On PostgreSQL, claims
skip rows another worker holds (FOR UPDATE SKIP LOCKED). Deliveries for one case go out in
order: a row waits while an earlier row of its case is still pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage import db
from storage.models import OutboxRow

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    case_id: int | None = None
    created_at: datetime | None = None


def add(session: Session, kind: str, payload: dict[str, Any], *, case_id: int | None,
        now: datetime) -> None:
    """Queue a delivery in the caller's transaction: it goes out only if that commits.
    Rows with a case_id go out in order, one at a time, behind that case's earlier ones."""
    session.add(OutboxRow(kind=kind, payload=payload, case_id=case_id, status="pending",
                          attempts=0, next_attempt_at=now, created_at=now))


def claim(session: Session, now: datetime, *, limit: int = 20,
          lease: timedelta = timedelta(seconds=60)) -> list[Job]:
    # Each case's oldest pending row is the only one of that case that may go now; rows
    # about no case stand alone. One grouped pass, however long the queue.
    heads = (select(func.min(OutboxRow.id))
             .where(OutboxRow.status == "pending")
             .group_by(func.coalesce(OutboxRow.case_id, -OutboxRow.id)))
    statement = (select(OutboxRow)
                 .where(OutboxRow.id.in_(heads), OutboxRow.next_attempt_at <= now,
                        (OutboxRow.locked_until.is_(None)) | (OutboxRow.locked_until < now))
                 .order_by(OutboxRow.id).limit(limit))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True, of=OutboxRow)
    rows = session.scalars(statement).all()
    jobs = []
    for row in rows:
        row.locked_until, row.attempts = now + lease, row.attempts + 1
        jobs.append(Job(row.id, row.kind, dict(row.payload), row.attempts, row.case_id,
                        row.created_at))
    return jobs


def sent(session: Session, job_id: int, now: datetime) -> None:
    session.execute(update(OutboxRow).where(OutboxRow.id == job_id).values(
        status="sent", sent_at=now, locked_until=None, last_error=None))


def failed(session: Session, job: Job, now: datetime, error: str, *, permanent: bool,
           retry_after: float | None) -> str:
    """Back off (or honour Retry-After) and try again; dead-letter when it can't succeed."""
    if permanent or job.attempts >= MAX_ATTEMPTS:
        session.execute(update(OutboxRow).where(OutboxRow.id == job.id).values(
            status="dead", locked_until=None, last_error=error[:2000]))
        return "dead"
    wait = retry_after if retry_after is not None else min(2 ** job.attempts, 300)
    session.execute(update(OutboxRow).where(OutboxRow.id == job.id).values(
        next_attempt_at=now + timedelta(seconds=wait), locked_until=None,
        last_error=error[:2000]))
    return "retry"


def counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(OutboxRow.status, func.count())
                                .group_by(OutboxRow.status)).all())


def dead(session: Session, limit: int = 50) -> list[OutboxRow]:
    return list(session.scalars(select(OutboxRow).where(OutboxRow.status == "dead")
                                .order_by(OutboxRow.id).limit(limit)))


def retry(session: Session, now: datetime, ids: list[int] | None = None) -> int:
    """Put dead-lettered deliveries back in the queue (all of them, or the given ids)."""
    statement = update(OutboxRow).where(OutboxRow.status == "dead")
    if ids:
        statement = statement.where(OutboxRow.id.in_(ids))
    result = session.execute(statement.values(status="pending", attempts=0,
                                              next_attempt_at=now, last_error=None))
    return db.changed(result)

