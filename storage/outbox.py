"""The outbox's queries: add in the caller's transaction, claim with a lease, settle.

A claim is a lease (locked_until), so a worker that dies mid-delivery leaves the row to be
taken again once the lease ends: nothing is lost across a restart. On PostgreSQL, claims
skip rows another worker holds (FOR UPDATE SKIP LOCKED); on SQLite a claim's transaction
holds the write lock (BEGIN IMMEDIATE), so two claims can't take one row. Deliveries for one
case go out in order within their lane (the caller maps kinds to lanes: the thread's posts,
the card's edits, direct messages, webhooks): a row waits while an earlier row of its case
and lane is still pending, so a failing edit never holds up the thread's notes.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    Table,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from storage import db
from storage.models import OutboxRow

# A failed delivery is tried again after 0.25 s, 0.5 s, 1 s, … (each ±25%, spread by row so
# a burst of failures doesn't come back at once), at most 5 minutes apart: a blip costs a
# person a fraction of a second, and the twelve attempts span about ten minutes of outage
# before a row is dead-lettered. A 429 waits for Slack's Retry-After and spends no attempt.
MAX_ATTEMPTS = 12
FIRST_RETRY = 0.25
LONGEST_WAIT = 300.0
# A claim's lease when nobody renews it (`amends outbox run`, tests). The running worker
# (bot.delivery.outbox) takes a shorter one and renews it while the rows are in its hands.
LEASE = timedelta(seconds=60)
FOLD_LOOKAHEAD = 50  # later rows of a case looked at when folding into its head
# OutboxRow.sent_labels while an attempt runs, and after one whose worker died: which posts
# were sent is not known, so the retry looks for every one.
UNKNOWN = ["*"]
# Settling a delivery is a plain UPDATE on the table (Core): the ORM's bulk update would
# look for loaded rows to synchronise, a cost paid on every delivery for nothing.
TABLE = cast(Table, OutboxRow.__table__)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    case_id: int | None = None
    created_at: datetime | None = None
    # Rows of the same kind queued right behind this one for its case, delivered by it
    # (their payloads, to merge; settled with it).
    folded: tuple[tuple[int, dict[str, Any]], ...] = field(default=())
    # Labels of the posts earlier attempts sent (OutboxRow.sent_labels); None: not known.
    sent_labels: frozenset[str] | None = frozenset()


def add(session: Session, kind: str, payload: dict[str, Any], *, case_id: int | None,
        now: datetime, requested_at: datetime | None = None) -> None:
    """Queue a delivery in the caller's transaction: it goes out only if that commits.
    Rows with a case_id go out in order, one at a time, behind that case's earlier ones.
    `requested_at`: when the request behind the change arrived, if one did."""
    session.add(OutboxRow(kind=kind, payload=payload, case_id=case_id, status="pending",
                          attempts=0, next_attempt_at=now, created_at=now,
                          requested_at=requested_at))


def claim(session: Session, now: datetime, *, limit: int = 20, lease: timedelta = LEASE,
          first: Collection[str] = (), fold: Mapping[str, str] | None = None,
          lanes: Mapping[str, int] | None = None, barriers: Collection[str] = ()
          ) -> list[Job]:
    """Lease up to `limit` rows that may go now: kinds in `first` ahead of the rest (someone
    waits on them), then oldest first. A head whose kind `fold` maps to a kind, and which
    has posted nothing yet, takes along the rows of that kind queued right behind it in
    that kind's lane of its case (one edit, or the first posts, show them all).
    `lanes` maps kinds to lanes (others: lane 0); a pending row of a kind in `barriers`
    holds every later row of its case, in every lane."""
    lanes = lanes or {}
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    statement = _claimable(tuple(first), tuple(sorted(lanes.items())), tuple(barriers),
                           postgres)
    # On PostgreSQL the statement's snapshot is taken when it starts, and each row is locked
    # as the scan reaches it: a row another worker claimed, delivered and settled meanwhile
    # is checked again as it is now, but only against the conditions on the row itself
    # (due, no live lease); `heads`, the only test of "pending", answers from the snapshot.
    # So a row just sent (lease cleared, still due) came back, and was sent again. The row
    # comes back as it is now, so what is no longer pending is left here. (Testing it in
    # the WHERE clause instead made the planner, without statistics on a young table,
    # pick a plan that ran the grouped pass once per row: 9 s for a claim of 7,500 rows.)
    rows = [row for row in session.execute(statement, {"now": now, "limit": limit})
            if row.status == "pending"]
    if not rows:
        return []
    # The lease, as one plain UPDATE: no ORM objects to load, track and flush per claim. The
    # record of what earlier attempts posted goes to the job, and the row says "not known"
    # until this attempt settles: a worker that dies mid-delivery leaves that, not a record
    # this attempt outgrew.
    session.execute(_LEASE, {"ids": [row.id for row in rows], "until": now + lease})
    # Only a head that has posted nothing yet folds: all it shows is drawn after this claim.
    # (One whose earlier attempt posted would have to edit those posts too, and its case's
    # other lanes would wait for those edits.)
    fold = fold or {}
    behind = _behind(session, [r for r in rows if r.kind in fold and r.case_id is not None
                               and not r.sent_labels], lanes, fold)
    return [Job(row.id, row.kind, dict(row.payload), row.attempts + 1, row.case_id,
                row.created_at, folded=behind.get(row.id, ()),
                sent_labels=_labels(row.sent_labels)) for row in rows]


def _labels(stored: list[str] | None) -> frozenset[str] | None:
    if stored is None:
        return frozenset()  # never tried, or tried and nothing posted
    return None if UNKNOWN[0] in stored else frozenset(stored)


def _stored(labels: Collection[str] | None) -> list[str]:
    return UNKNOWN if labels is None else sorted(labels)


def lane_of(kind: ColumnElement[str], lanes: Mapping[str, int]) -> ColumnElement[int]:
    """A row's lane from its kind, in SQL: `lanes` maps kinds to lanes, others are lane 0."""
    return case(dict(lanes), value=kind, else_=0) if lanes else literal(0)


@functools.lru_cache(maxsize=16)
def _claimable(first: tuple[str, ...], lanes: tuple[tuple[str, int], ...],
               barriers: tuple[str, ...], postgres: bool) -> Select[Any]:
    """The claim's statement, built once for its settings (claims run after every delivery;
    building it and leasing through the ORM each time was a fifth of the worker's
    interpreter time), with `now` and `limit` bound."""
    t = TABLE.c
    lane = lane_of(t.kind, dict(lanes))
    # Each case's oldest pending row in each lane is the only one there that may go now;
    # rows about no case stand alone. One grouped pass, however long the queue.
    heads = (select(func.min(t.id)).where(t.status == "pending")
             .group_by(func.coalesce(t.case_id, -t.id), lane))
    now = bindparam("now", type_=t.next_attempt_at.type)
    order = [case((t.kind.in_(list(first)), 0), else_=1)] if first else []
    # The status comes back too: see claim().
    statement = (select(t.id, t.kind, t.payload, t.attempts, t.case_id, t.created_at,
                        t.sent_labels, t.status)
                 .where(t.id.in_(heads), t.next_attempt_at <= now,
                        t.locked_until.is_(None) | (t.locked_until < now))
                 .order_by(*order, t.id).limit(bindparam("limit", type_=Integer)))
    if barriers:
        earlier = TABLE.alias("earlier")
        statement = statement.where(~exists().where(
            earlier.c.case_id == t.case_id, earlier.c.status == "pending",
            earlier.c.kind.in_(list(barriers)), earlier.c.id < t.id))
    if postgres:
        statement = statement.with_for_update(skip_locked=True, of=TABLE)
    return statement


def _behind(session: Session, heads: Sequence[Row[Any]], lanes: Mapping[str, int],
            fold: Mapping[str, str]) -> dict[int, tuple[tuple[int, dict[str, Any]], ...]]:
    """For each head, the pending rows right behind it in its case while they are of the
    kind it folds in (in that kind's lane): all queued before this claim, so the head's
    delivery (which reads the case after it) shows what they would have. A row of another
    kind in that lane ends the run: order is kept."""
    if not heads:
        return {}
    by_case = {row.case_id: row for row in heads}
    later = session.execute(
        select(OutboxRow.id, OutboxRow.case_id, OutboxRow.kind, OutboxRow.payload)
        .where(OutboxRow.status == "pending", OutboxRow.case_id.in_(list(by_case)),
               OutboxRow.id.not_in([row.id for row in heads]))
        .order_by(OutboxRow.case_id, OutboxRow.id)).all()
    found: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    ended: set[int] = set()
    for row_id, case_id, kind, payload in later:
        head = by_case[case_id]
        takes = fold[head.kind]
        if case_id in ended or row_id < head.id or \
                lanes.get(kind, 0) != lanes.get(takes, 0):
            continue
        run = found.setdefault(head.id, [])
        if kind != takes or len(run) >= FOLD_LOOKAHEAD:
            ended.add(case_id)
            continue
        run.append((row_id, dict(payload)))
    return {head: tuple(run) for head, run in found.items() if run}


def sent(session: Session, job: Job | int, now: datetime) -> None:
    """Settle a delivered row, and the rows it folded in."""
    _settle(session, [job] if isinstance(job, int) else [job.id, *_folded(job)], now)


def _settle(session: Session, ids: list[int], now: datetime) -> None:
    if ids:
        session.execute(_SENT, {"ids": ids, "now": now})


# The lease and the settling, built once with parameters: each runs for every delivery, and
# building one and working out its cache key cost as much CPU as running it.
_LEASE = update(TABLE).where(TABLE.c.id.in_(bindparam("ids", expanding=True))).values(
    locked_until=bindparam("until", type_=TABLE.c.locked_until.type),
    attempts=TABLE.c.attempts + 1, sent_labels=UNKNOWN)
_SENT = update(TABLE).where(TABLE.c.id.in_(bindparam("ids", expanding=True))).values(
    status="sent", sent_at=bindparam("now", type_=TABLE.c.sent_at.type), locked_until=None,
    last_error=None, sent_labels=None)


def _folded(job: Job) -> list[int]:
    return [row_id for row_id, _ in job.folded]


def backoff(attempts: int, row_id: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from FIRST_RETRY, spread ±25% by the
    row's id (the same row always waits the same), at most LONGEST_WAIT."""
    spread = hashlib.blake2b(str(row_id).encode(), digest_size=2).digest()
    factor = 0.75 + 0.5 * int.from_bytes(spread, "big") / 0xFFFF
    return min(FIRST_RETRY * 2.0 ** max(attempts - 1, 0) * factor, LONGEST_WAIT)


def failed(session: Session, job: Job, now: datetime, error: str, *, permanent: bool,
           retry_after: float | None, payload: dict[str, Any] | None = None,
           sent_labels: Collection[str] | None = (), progressed: bool = False
           ) -> str | datetime:
    """Back off (or honour Retry-After) and try again: returns when; or "dead" when it can't
    succeed. `sent_labels`: the posts sent so far, for the retry (None: not known).

    With `payload`, part of the delivery went through and this is what is left: the row
    keeps only that. Then, or when `progressed` (a post landed that no attempt had made
    before), it counts as a first attempt again and its back-off starts again: it moved on,
    and what is left is smaller each time (a post lands once, its label is kept), so this
    ends. A four-post case card meeting one failure per post waits a quarter second after
    each, not 0.25 + 0.5 + 1 + 2 s."""
    fresh = payload is not None or progressed
    record = {"sent_labels": _stored(sent_labels)}
    if permanent or (retry_after is None and not fresh and job.attempts >= MAX_ATTEMPTS):
        session.execute(update(TABLE).where(TABLE.c.id == job.id).values(
            status="dead", locked_until=None, last_error=error[:2000], **record,
            **({"payload": payload} if payload is not None else {})))
        return "dead"  # rows folded into it stay pending: they get their own attempts
    # A 429 spends no attempt: Slack said when to come back, which says nothing about
    # whether the delivery can succeed. Counted, it dead-lettered a row that met twelve of
    # them, and doubled the back-off of the blip after it (a soak's case card met three
    # 429s and two blips and waited 4.6 s after the last).
    spent = 0 if retry_after is not None else 1
    attempts = spent if fresh else job.attempts - 1 + spent
    wait = retry_after if retry_after is not None else backoff(attempts, job.id)
    when = now + timedelta(seconds=wait)
    session.execute(update(TABLE).where(TABLE.c.id == job.id).values(
        next_attempt_at=when, locked_until=None, last_error=error[:2000], attempts=attempts,
        rate_limited=TABLE.c.rate_limited + (0 if retry_after is None else 1),
        **record, **({"payload": payload} if payload is not None else {})))
    if payload is not None:
        # What is left of the rows folded into it is in its rest now: settled with it. Left
        # pending, they were folded in again and the rest never shrank (a soak dead-lettered
        # a refresh that way).
        _settle(session, _folded(job), now)
    return when


def postpone(session: Session, job: Job, now: datetime, until: datetime, *,
             payload: dict[str, Any] | None = None,
             sent_labels: Collection[str] | None = ()) -> None:
    """Not tried after all (Slack asked for a pause in what it needs): again at `until`,
    with no attempt used, counted as a wait Slack asked for (rate_limited); with `payload`,
    only what is left of it (and of the rows folded into it). `sent_labels` as in
    failed()."""
    session.execute(update(TABLE).where(TABLE.c.id == job.id).values(
        next_attempt_at=until, locked_until=None, rate_limited=TABLE.c.rate_limited + 1,
        sent_labels=_stored(sent_labels),
        attempts=0 if payload is not None else job.attempts - 1,
        **({"payload": payload} if payload is not None else {})))
    if payload is not None:  # as in failed(): the folded rows live on in the rest
        _settle(session, _folded(job), now)


def release(session: Session, jobs: list[Job]) -> None:
    """Hand back claimed rows that were never tried (a worker stopping): no attempt used,
    no lease to wait out, and the record of what earlier attempts posted put back."""
    for job in jobs:
        session.execute(update(TABLE).where(TABLE.c.id == job.id).values(
            locked_until=None, attempts=job.attempts - 1,
            sent_labels=_stored(job.sent_labels)))


def renew(session: Session, ids: Collection[int], until: datetime) -> int:
    """Extend the leases of rows still in a live worker's hands to `until`. A row settled
    meanwhile (sent, or failed and waiting: no lease) is left alone; returns how many."""
    if not ids:
        return 0
    return db.changed(session.execute(update(TABLE).where(
        TABLE.c.id.in_(list(ids)), TABLE.c.status == "pending",
        TABLE.c.locked_until.is_not(None)).values(locked_until=until)))


@dataclass(frozen=True)
class Backlog:
    due: int  # pending and due now: waiting for a delivery thread
    waiting: int  # pending and put off: a back-off or Slack's Retry-After
    oldest: datetime | None  # when the oldest pending change was asked for


def backlog(session: Session, now: datetime) -> Backlog:
    """What is still to go out, in one pass over the pending rows (the status index)."""
    t = TABLE.c
    due = case((t.next_attempt_at <= now, 1), else_=0)
    found = session.execute(select(
        func.coalesce(func.sum(due), 0), func.count(),
        func.min(func.coalesce(t.requested_at, t.created_at))
    ).where(t.status == "pending")).one()
    return Backlog(due=int(found[0]), waiting=int(found[1]) - int(found[0]), oldest=found[2])


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
