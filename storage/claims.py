"""Claims that make reminders, escalations and digests go out exactly once.

Each claim is one conditional UPDATE (or a unique INSERT): whichever process's statement
changes the row owns the job, however many schedulers run against the database. The
claim commits together with the job's outbox row, so a claimed message is never lost.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain.lifecycle import OPEN_STATES, CompensationStatus
from storage import db
from storage.models import (
    AlertRow,
    ApprovalRow,
    CaseRow,
    CompensationRow,
    FollowUpRow,
    SentDigestRow,
)

# When a follow-up is really due: its due time, or later if the manager snoozed it.
EFFECTIVE_DUE = case((FollowUpRow.snoozed_until > FollowUpRow.due_at, FollowUpRow.snoozed_until),
                     else_=FollowUpRow.due_at)


def overdue_follow_ups(session: Session, now: datetime) -> Sequence[Any]:
    """Open follow-ups past their (snoozed) due time that still need a reminder or escalation:
    what the job needs of each, in one query."""
    return session.execute(
        select(FollowUpRow.id, FollowUpRow.number, FollowUpRow.manager, FollowUpRow.due_at,
               FollowUpRow.snoozed_until, FollowUpRow.reminded_for, FollowUpRow.escalated_at,
               FollowUpRow.case_id, CaseRow.playbook_id)
        .join(CaseRow, FollowUpRow.case_id == CaseRow.id)
        .where(FollowUpRow.done_at.is_(None), now >= EFFECTIVE_DUE,
               or_(FollowUpRow.reminded_for.is_(None), FollowUpRow.reminded_for < EFFECTIVE_DUE,
                   FollowUpRow.escalated_at.is_(None)))
        .order_by(FollowUpRow.due_at)).all()


def claim_reminder(session: Session, follow_up_id: int, due: datetime) -> bool:
    result = session.execute(update(FollowUpRow).where(
        FollowUpRow.id == follow_up_id, FollowUpRow.done_at.is_(None),
        or_(FollowUpRow.reminded_for.is_(None), FollowUpRow.reminded_for < due),
    ).values(reminded_for=due))
    return db.changed(result) == 1


def claim_follow_up_escalation(session: Session, follow_up_id: int, now: datetime) -> bool:
    result = session.execute(update(FollowUpRow).where(
        FollowUpRow.id == follow_up_id, FollowUpRow.done_at.is_(None),
        FollowUpRow.escalated_at.is_(None)).values(escalated_at=now))
    return db.changed(result) == 1


def stalled_approvals(session: Session, remind_before: datetime, escalate_before: datetime
                      ) -> Sequence[Any]:
    return session.execute(
        select(ApprovalRow.id, ApprovalRow.requested_at, ApprovalRow.reminded_at,
               ApprovalRow.escalated_at, CompensationRow.case_id, CompensationRow.number,
               CompensationRow.requested_by, CaseRow.channel_id, CaseRow.message_ts)
        .join(CompensationRow, ApprovalRow.compensation_id == CompensationRow.id)
        .join(CaseRow, CompensationRow.case_id == CaseRow.id)
        .where(CompensationRow.status == CompensationStatus.PENDING.value,
               or_(and_(ApprovalRow.reminded_at.is_(None),
                        ApprovalRow.requested_at <= remind_before),
                   and_(ApprovalRow.escalated_at.is_(None),
                        ApprovalRow.requested_at <= escalate_before)))
        .order_by(ApprovalRow.requested_at)).all()


def claim_approval(session: Session, approval_id: int, column: str, now: datetime) -> bool:
    attribute = getattr(ApprovalRow, column)
    result = session.execute(update(ApprovalRow).where(
        ApprovalRow.id == approval_id, attribute.is_(None)).values({column: now}))
    return db.changed(result) == 1


def cases_to_nudge(session: Session, opened_before: datetime) -> Sequence[Any]:
    """Open cases left alone: not those waiting on a manager's decision (the approval's own
    reminders chase that, and the staff member can't move it)."""
    waiting = select(CompensationRow.id).where(
        CompensationRow.case_id == CaseRow.id,
        CompensationRow.status == CompensationStatus.PENDING.value)
    return session.execute(select(
        CaseRow.id, CaseRow.opened_by, CaseRow.opened_at, CaseRow.channel_id,
        CaseRow.message_ts).where(
        CaseRow.state.in_([s.value for s in OPEN_STATES]), CaseRow.nudged_at.is_(None),
        CaseRow.opened_at <= opened_before, ~waiting.exists()).order_by(CaseRow.opened_at)).all()


def claim_nudge(session: Session, case_id: int, now: datetime) -> bool:
    # A plain UPDATE: it doesn't change the case, so it doesn't bump the case's version.
    result = session.execute(update(CaseRow).where(
        CaseRow.id == case_id, CaseRow.nudged_at.is_(None)).values(nudged_at=now))
    return db.changed(result) == 1


def claim_alert(session: Session, kind: str, key: str, now: datetime) -> bool:
    """True for the first process to claim this (kind, key); False for every later one.

    One INSERT … ON CONFLICT DO NOTHING: once a location is a hotspot, every later case of
    its day asks again, and a savepoint, a flush and a unique violation caught each time
    cost about as much as the rest of the check (counting the day's cases)."""
    statement = _alert_claim(session.get_bind().dialect.name)
    return session.execute(statement, {"kind": kind, "key": key[:200],
                                       "created_at": now}).first() is not None


@functools.cache
def _alert_claim(dialect: str) -> Any:
    """claim_alert's statement, built once per dialect with parameters (it runs for every
    new case: building it each time cost as much CPU as running it)."""
    table = cast(Table, AlertRow.__table__)
    return db.insert_for(dialect)(table).values(
        kind=bindparam("kind", type_=table.c.kind.type),
        key=bindparam("key", type_=table.c.key.type),
        created_at=bindparam("created_at", type_=table.c.created_at.type),
    ).on_conflict_do_nothing(index_elements=["kind", "key"]).returning(table.c.id)


def claim_digest(session: Session, week: str, channel: str, now: datetime, *,
                 late: bool) -> bool:
    """Claim a week's digest for a channel: the unique row makes it once, whoever races."""
    try:
        with session.begin_nested():
            session.add(SentDigestRow(week=week, channel=channel, claimed_at=now, late=late))
        return True
    except IntegrityError:
        return False


def digest_sent(session: Session, week: str, channel: str, now: datetime) -> bool:
    """Mark a week's digest posted. False: it already was (a retried delivery), so what
    follows the post (its chart) is queued once."""
    done = session.execute(update(SentDigestRow).where(
        SentDigestRow.week == week, SentDigestRow.channel == channel,
        SentDigestRow.sent_at.is_(None)).values(sent_at=now))
    return bool(getattr(done, "rowcount", 0))


def cases_today(session: Session, location: str, start: datetime, end: datetime) -> int:
    return session.scalar(_CASES_TODAY, {"location": location.lower(), "start": start,
                                         "end": end}) or 0


def _cases_today() -> Any:
    """Built once with parameters: it runs for every new case (the hotspot check)."""
    opened_at = cast(Table, CaseRow.__table__).c.opened_at
    return select(func.count()).where(
        func.lower(CaseRow.location) == bindparam("location"),
        opened_at >= bindparam("start", type_=opened_at.type),
        opened_at < bindparam("end", type_=opened_at.type))


_CASES_TODAY = _cases_today()


def first_case_opened(session: Session) -> datetime | None:
    return session.scalar(select(func.min(CaseRow.opened_at)))
