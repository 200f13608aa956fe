"""Requests already acted on, so that a replayed or doubled request changes nothing.

The key is written in the transaction of the change it caused: either both are saved or
neither is. Two deliveries racing on two processes meet on the primary key (and, for a
case, on its row lock first)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage import db
from storage.models import RequestKeyRow

MAX_KEY = 160


def seen(session: Session, key: str) -> bool:
    return session.scalar(select(RequestKeyRow.key).where(
        RequestKeyRow.key == key[:MAX_KEY])) is not None


def record(session: Session, key: str, *, case_id: int | None, now: datetime) -> None:
    session.add(RequestKeyRow(key=key[:MAX_KEY], case_id=case_id, created_at=now))


def forget_before(session: Session, moment: datetime) -> int:
    """Slack never redelivers a request after minutes; old keys can go."""
    result = session.execute(delete(RequestKeyRow).where(RequestKeyRow.created_at < moment))
    return db.changed(result)
