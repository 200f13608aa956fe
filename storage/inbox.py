"""The inbox's queries: record a click before its ack, forget it when its work is done, and
hand back the ones whose process died in between."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.orm import Session

from storage.models import InboxRow

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def add_all(session: Session | Connection, entries: list[tuple[str, dict[str, Any]]], *,
            now: datetime, lease: timedelta) -> list[int]:
    """Several clicks in one insert and one commit (the caller's): a burst's fsync, shared."""
    rows = [{"kind": kind, "payload": payload, "status": "pending", "attempts": 1,
             "created_at": now, "locked_until": now + lease} for kind, payload in entries]
    # A core INSERT … RETURNING (one statement for the batch on SQLite and PostgreSQL).
    return list(session.scalars(insert(InboxRow).returning(InboxRow.id,
                                                           sort_by_parameter_order=True),
                                rows))


def done(session: Session, entry_ids: list[int]) -> None:
    session.execute(delete(InboxRow).where(InboxRow.id.in_(entry_ids)))


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
        entries.append(Entry(row.id, row.kind, dict(row.payload), row.attempts))
    return entries

