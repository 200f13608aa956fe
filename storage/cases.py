"""Saving and loading cases: the domain `Case` in, rows out, and back.

Loading for a change takes a row lock on PostgreSQL (SELECT ... FOR UPDATE), and every
save bumps the row's version, so two processes changing one case never both win.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, false, literal, null, or_, select, union_all, update
from sqlalchemy.orm import Session, selectinload

from bot.domain.lifecycle import (
    Case,
    CaseState,
    Compensation,
    CompensationStatus,
    Customer,
    Endorsement,
    FollowUp,
    Outcome,
    Reaction,
    Source,
    case_reference,
)
from bot.domain.playbook import CompensationType
from bot.domain.worklists import CaseLine, DueFollowUp, WaitingApproval
from storage import db
from storage.models import (
    ApprovalRow,
    CaseMessageRow,
    CaseRow,
    CompensationRow,
    EventRow,
    FollowUpRow,
    ShownRow,
)


class CaseNotFound(LookupError):
    pass


# What staff type when there is no contact: not a person to recognise a customer by.
PLACEHOLDERS = frozenset({"na", "n/a", "none", "unknown", "nil", "null", "no", "tbc", "?",
                          "walkin", "anonymous", "noemail", "nophone"})


def customer_key(customer: Customer) -> str:
    """The same customer, however the contact was typed: lowercased, spaces and dashes gone.
    A contact that is a placeholder ("n/a", "-") leaves the name to decide."""
    def key(raw: str | None) -> str:
        return re.sub(r"[\s\-().]+", "", (raw or "").strip().lower())[:200]

    contact = key(customer.contact)
    return key(customer.name) if contact in PLACEHOLDERS or len(contact) < 3 else contact


def add(session: Session, case: Case, *, origin_key: str | None = None) -> CaseRow:
    """Insert a newly opened case with its events; sets `case.id`."""
    row = CaseRow(version=1, steps_done=[], customer_key=customer_key(case.customer),
                  origin_key=origin_key,
                  # Written once here; the link only by set_source_link, so a change saved
                  # from a case read before the link was known never erases it.
                  source_channel=case.source.channel if case.source else None,
                  source_ts=case.source.ts if case.source else None)
    _copy_to_row(case, row)
    session.add(row)
    session.flush()
    case.id = row.id
    _sync_children(case, row)
    session.flush()
    _flush_events(session, case, row)
    return row


def load(session: Session, case_id: int, *, for_update: bool = False) -> tuple[Case, CaseRow]:
    row = session.scalars(_LOAD_FOR_UPDATE if for_update else _LOAD,
                          {"case_id": case_id}).one_or_none()
    if row is None:
        raise CaseNotFound(f"There is no case {case_reference(case_id)}.")
    return _to_domain(row), row


# A case to change, with its children, built once with parameters (every click runs it).
_LOAD = select(CaseRow).where(CaseRow.id == bindparam("case_id")).options(
    selectinload(CaseRow.compensations), selectinload(CaseRow.follow_ups))
_LOAD_FOR_UPDATE = _LOAD.with_for_update(of=CaseRow)


def save(session: Session, case: Case, row: CaseRow) -> None:
    """Write the domain case's changes and its new events into its row and child rows."""
    _copy_to_row(case, row)
    _sync_children(case, row)
    session.flush()
    _flush_events(session, case, row)


def _sync_children(case: Case, row: CaseRow) -> None:
    existing = {c.number: c for c in row.compensations}
    for comp in case.compensations:
        comp_row = existing.get(comp.number)
        if comp_row is None:
            comp_row = CompensationRow(number=comp.number)
            row.compensations.append(comp_row)
        _copy_compensation(comp, comp_row)
        if comp.status is CompensationStatus.PENDING and comp_row.approval is None:
            comp_row.approval = ApprovalRow(requested_at=comp.requested_at)
    follow_ups = {f.number: f for f in row.follow_ups}
    for follow_up in case.follow_ups:
        fu_row = follow_ups.get(follow_up.number)
        if fu_row is None:
            fu_row = FollowUpRow(number=follow_up.number)
            row.follow_ups.append(fu_row)
        _copy_follow_up(follow_up, fu_row)


def find_by_origin(session: Session, origin_key: str) -> int | None:
    return session.scalar(select(CaseRow.id).where(CaseRow.origin_key == origin_key))


def set_thread(session: Session, case_id: int, channel_id: str, ts: str) -> None:
    # A plain UPDATE: where the thread lives is not a change of the case's state, so it
    # neither bumps the version nor conflicts with someone working on the case.
    result = session.execute(_SET_THREAD, {"case_id": case_id, "channel_id": channel_id,
                                           "ts": ts})
    if db.changed(result) == 0:
        raise CaseNotFound(f"There is no case {case_reference(case_id)}.")


def set_source_link(session: Session, case_id: int, link: str) -> None:
    session.execute(update(CaseRow).where(CaseRow.id == case_id).values(source_link=link))


def thread(session: Session, case_id: int) -> tuple[str, str] | None:
    found = session.execute(select(CaseRow.channel_id, CaseRow.message_ts).where(
        CaseRow.id == case_id)).one_or_none()
    return (found[0], found[1]) if found and found[0] and found[1] else None


def set_messages(session: Session, case_id: int,
                 places: Sequence[tuple[str, str, str]]) -> None:
    """Where several walkthrough messages live ((kind, channel_id, ts) each), in one call."""
    session.execute(_message_upsert(session.get_bind().dialect.name),
                    [{"case_id": case_id, "kind": kind, "channel_id": channel_id, "ts": ts}
                     for kind, channel_id, ts in places])


@functools.cache
def _message_upsert(dialect: str) -> Any:
    """Where a walkthrough message lives, as one upsert built once (saved after every post a
    delivery makes: an UPDATE then an INSERT, or building the statement's `excluded` each
    time, was paid on every one)."""
    table = cast(Table, CaseMessageRow.__table__)
    upsert = db.insert_for(dialect)(table).values(
        case_id=bindparam("case_id"), kind=bindparam("kind"),
        channel_id=bindparam("channel_id"), ts=bindparam("ts"))
    return upsert.on_conflict_do_update(
        index_elements=[table.c.case_id, table.c.kind],
        set_={"channel_id": upsert.excluded.channel_id, "ts": upsert.excluded.ts})


def messages(session: Session, case_id: int) -> dict[str, tuple[str, str]]:
    rows = session.execute(_READ_MESSAGES, {"case_id": case_id})
    return {kind: (channel, ts) for kind, channel, ts in rows}


def messages_and_shown(session: Session, case_id: int
                       ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """messages(), and what each of them and the card shows as far as Amends knows (ShownRow),
    in one statement: every refresh reads both, and each statement costs a delivery CPU
    and a round trip."""
    places: dict[str, tuple[str, str]] = {}
    digests: dict[str, str] = {}
    for source, name, channel, ts in session.execute(_READ_MESSAGES_AND_SHOWN,
                                                     {"case_id": case_id}):
        if source == "m":
            places[name] = (channel, ts)
        elif ts is not None:  # a digest, in the ts column; None: not known
            digests[name] = ts
    return places, digests


def set_shown(session: Session, case_id: int, digests: Mapping[str, str | None]) -> None:
    """Record what messages now show (None: not known), in one statement."""
    if digests:
        session.execute(_shown_upsert(session.get_bind().dialect.name),
                        [{"case_id": case_id, "part": part, "digest": digest}
                         for part, digest in digests.items()])


@functools.cache
def _shown_upsert(dialect: str) -> Any:
    table = cast(Table, ShownRow.__table__)
    upsert = db.insert_for(dialect)(table).values(
        case_id=bindparam("case_id"), part=bindparam("part"), digest=bindparam("digest"))
    return upsert.on_conflict_do_update(index_elements=[table.c.case_id, table.c.part],
                                        set_={"digest": upsert.excluded.digest})


def approval_message(session: Session, case_id: int, number: int) -> tuple[str, str] | None:
    """Where compensation #number's approval request was posted, if it was."""
    found = session.execute(_APPROVAL_MESSAGE, {"case_id": case_id, "number": number}
                            ).one_or_none()
    return (found[0], found[1]) if found and found[0] and found[1] else None


def set_approval_message(session: Session, case_id: int, number: int, channel_id: str,
                         ts: str) -> None:
    row = session.scalar(select(ApprovalRow).join(CompensationRow).where(
        CompensationRow.case_id == case_id, CompensationRow.number == number))
    if row is not None:
        row.channel_id, row.message_ts = channel_id, ts


def follow_up_message(session: Session, case_id: int, number: int) -> tuple[str, str] | None:
    """Where follow-up #number's DM to its manager was posted, if it was."""
    found = session.execute(_FOLLOW_UP_MESSAGE, {"case_id": case_id, "number": number}
                            ).one_or_none()
    return (found[0], found[1]) if found and found[0] and found[1] else None


def set_follow_up_message(session: Session, case_id: int, number: int, channel_id: str,
                          ts: str) -> None:
    session.execute(_SET_FOLLOW_UP_MESSAGE, {"of_case": case_id, "of_number": number,
                                             "channel_id": channel_id, "ts": ts})


OPEN = [s.value for s in CaseState if s.is_open]
_LINE = (CaseRow.id, CaseRow.customer_name, CaseRow.playbook_id, CaseRow.state,
         CaseRow.opened_at, CaseRow.channel_id, CaseRow.message_ts)


def _line(row: Any) -> CaseLine:
    return CaseLine(id=row.id, customer=row.customer_name, playbook_id=row.playbook_id,
                    state=CaseState(row.state), opened_at=row.opened_at,
                    channel_id=row.channel_id, message_ts=row.message_ts)


def open_cases_for(session: Session, user: str, limit: int = 20) -> list[CaseLine]:
    """The staff member's cases that still need them, oldest first."""
    return [_line(r) for r in session.execute(select(*_LINE).where(
        CaseRow.opened_by == user, CaseRow.state.in_(OPEN)).order_by(CaseRow.opened_at)
        .limit(limit))]


def approvals_waiting_for(session: Session, manager: str, limit: int = 20, *,
                          up_to_minor: int | None = None,
                          serves: Callable[[str | None], bool] | None = None
                          ) -> list[WaitingApproval]:
    """Compensation waiting for a decision that `manager` may make: never their own
    request, at most `up_to_minor` (None: any amount), at a location `serves` accepts
    (None: any). Filtered here, before the limit, so what they can't decide can't crowd
    out what they can."""
    mine = [CompensationRow.status == CompensationStatus.PENDING.value,
            CompensationRow.requested_by != manager]
    if up_to_minor is not None:
        mine.append(CompensationRow.amount_minor <= up_to_minor)
    if serves is not None:
        # Locations are compared as people type them (case, spacing): the few places with
        # requests waiting are read first and matched here, then filtered in the query.
        places = session.scalars(select(CaseRow.location).distinct()
                                 .join(CompensationRow, CompensationRow.case_id == CaseRow.id)
                                 .where(*mine)).all()
        theirs = [place for place in places if place is not None and serves(place)]
        mine.append(or_(CaseRow.location.in_(theirs),
                        CaseRow.location.is_(None) if serves(None) else false()))
    rows = session.execute(select(*_LINE, CompensationRow.amount_minor, CompensationRow.type,
                                  CompensationRow.requested_by, CompensationRow.requested_at)
                           .join(CaseRow, CompensationRow.case_id == CaseRow.id)
                           .where(*mine)
                           .order_by(CompensationRow.requested_at).limit(limit))
    return [WaitingApproval(case=_line(r), amount_minor=r.amount_minor, type=r.type,
                            requested_by=r.requested_by, requested_at=r.requested_at)
            for r in rows]


def follow_ups_due_for(session: Session, manager: str, limit: int = 20) -> list[DueFollowUp]:
    rows = session.execute(select(*_LINE, FollowUpRow.due_at, FollowUpRow.snoozed_until)
                           .join(CaseRow, FollowUpRow.case_id == CaseRow.id)
                           .where(FollowUpRow.manager == manager, FollowUpRow.done_at.is_(None))
                           .order_by(FollowUpRow.due_at).limit(limit))
    return [DueFollowUp(case=_line(r), due_at=r.due_at, snoozed_until=r.snoozed_until)
            for r in rows]


def timeline(session: Session, case_id: int) -> Sequence[EventRow]:
    return session.scalars(
        select(EventRow).where(EventRow.case_id == case_id).order_by(EventRow.id)).all()


def _flush_events(session: Session, case: Case, row: CaseRow) -> None:
    for event in case.new_events:
        session.add(EventRow(case_id=row.id, kind=event.kind.value, actor=event.actor,
                             at=event.at, data=event.data))
    case.new_events.clear()
    session.flush()


def _copy_to_row(case: Case, row: CaseRow) -> None:
    row.state = case.state.value
    row.playbook_id, row.playbook_version = case.playbook_id, case.playbook_version
    row.playbook_hash, row.severity = case.playbook_hash, case.severity
    row.customer_name, row.customer_contact = case.customer.name, case.customer.contact
    row.summary, row.order_ref, row.location = case.summary, case.order_ref, case.location
    row.purchase_minor, row.currency = case.purchase_minor, case.currency
    row.opened_by, row.opened_at, row.manager = case.opened_by, case.opened_at, case.manager
    row.apology_given_at = case.apology_given_at
    row.steps_done = sorted(case.steps_done)
    outcome = case.outcome
    row.reaction = outcome.reaction.value if outcome else None
    row.root_cause = outcome.root_cause if outcome else None
    row.action_taken = outcome.action_taken if outcome else None
    row.resolution_notes = outcome.notes if outcome else None
    row.resolved_at = case.resolved_at
    recovery = case.time_to_recover
    row.recovery_seconds = int(recovery.total_seconds()) if recovery is not None else None
    row.closed_at = case.closed_at


def _copy_compensation(comp: Compensation, row: CompensationRow) -> None:
    row.type, row.label, row.amount_minor = comp.type.value, comp.label, comp.amount_minor
    row.currency, row.option_key, row.status = comp.currency, comp.option_key, comp.status.value
    row.auto_approved, row.requested_by = comp.auto_approved, comp.requested_by
    row.requested_at, row.decided_by = comp.requested_at, comp.decided_by
    row.decided_at, row.reason = comp.decided_at, comp.reason
    row.endorsements = [{"by": e.by, "at": e.at.isoformat(), "level": e.level}
                        for e in comp.endorsements] or None


def _copy_follow_up(follow_up: FollowUp, row: FollowUpRow) -> None:
    row.manager, row.due_at = follow_up.manager, follow_up.due_at
    row.snoozed_until, row.done_at = follow_up.snoozed_until, follow_up.done_at
    row.done_by = follow_up.done_by
    row.reaction = follow_up.reaction.value if follow_up.reaction else None
    row.note = follow_up.note or None


def read(session: Session, case_id: int) -> tuple[Case, tuple[str, str] | None]:
    """A case to read, not change (deliveries, forms), and where its thread is: plain rows,
    without the ORM's identity map and instrumentation, which a delivery would otherwise pay
    for on every message it renders."""
    key = {"case_id": case_id}
    case_row = session.execute(_READ_CASE, key).one_or_none()
    if case_row is None:
        raise CaseNotFound(f"There is no case {case_reference(case_id)}.")
    comps = session.execute(_READ_COMPENSATIONS, key).all()
    follow_ups = session.execute(_READ_FOLLOW_UPS, key).all()
    thread = ((case_row.channel_id, case_row.message_ts)
              if case_row.channel_id and case_row.message_ts else None)
    return _build(case_row, comps, follow_ups), thread


_CASES = cast(Table, CaseRow.__table__)
_COMPENSATIONS = cast(Table, CompensationRow.__table__)
_FOLLOW_UPS = cast(Table, FollowUpRow.__table__)
_MESSAGES = cast(Table, CaseMessageRow.__table__)
_SHOWN = cast(Table, ShownRow.__table__)
# Statements every delivery runs, built once with parameters: building one and working out
# its cache key cost about 0.2 ms of CPU a statement each time (measured: 0.38 ms against
# 0.15 for a count), as much as running it.
_READ_CASE = select(_CASES).where(_CASES.c.id == bindparam("case_id"))
_READ_COMPENSATIONS = (select(_COMPENSATIONS)
                       .where(_COMPENSATIONS.c.case_id == bindparam("case_id"))
                       .order_by(_COMPENSATIONS.c.number))
_READ_FOLLOW_UPS = (select(_FOLLOW_UPS).where(_FOLLOW_UPS.c.case_id == bindparam("case_id"))
                    .order_by(_FOLLOW_UPS.c.number))
_READ_MESSAGES = (select(_MESSAGES.c.kind, _MESSAGES.c.channel_id, _MESSAGES.c.ts)
                  .where(_MESSAGES.c.case_id == bindparam("case_id")))
_READ_MESSAGES_AND_SHOWN = union_all(
    select(literal("m"), _MESSAGES.c.kind, _MESSAGES.c.channel_id, _MESSAGES.c.ts)
    .where(_MESSAGES.c.case_id == bindparam("case_id")),
    select(literal("s"), _SHOWN.c.part, null(), _SHOWN.c.digest)
    .where(_SHOWN.c.case_id == bindparam("case_id")))
_SET_THREAD = (update(_CASES).where(_CASES.c.id == bindparam("case_id"))
               .values(channel_id=bindparam("channel_id", type_=_CASES.c.channel_id.type),
                       message_ts=bindparam("ts", type_=_CASES.c.message_ts.type)))
_APPROVAL_MESSAGE = (select(ApprovalRow.channel_id, ApprovalRow.message_ts)
                     .join(CompensationRow)
                     .where(CompensationRow.case_id == bindparam("case_id"),
                            CompensationRow.number == bindparam("number")))
_FOLLOW_UP_MESSAGE = (select(_FOLLOW_UPS.c.channel_id, _FOLLOW_UPS.c.message_ts)
                      .where(_FOLLOW_UPS.c.case_id == bindparam("case_id"),
                             _FOLLOW_UPS.c.number == bindparam("number")))
# An UPDATE's WHERE parameters may not be named after one of its table's columns
# (SQLAlchemy reserves those names for the SET clause: a CompileError when run).
_SET_FOLLOW_UP_MESSAGE = (
    update(_FOLLOW_UPS).where(_FOLLOW_UPS.c.case_id == bindparam("of_case"),
                              _FOLLOW_UPS.c.number == bindparam("of_number"))
    .values(channel_id=bindparam("channel_id", type_=_FOLLOW_UPS.c.channel_id.type),
            message_ts=bindparam("ts", type_=_FOLLOW_UPS.c.message_ts.type)))


def _to_domain(row: CaseRow) -> Case:
    return _build(row, row.compensations, row.follow_ups)


def _endorsements(stored: Any) -> list[Endorsement]:
    return [Endorsement(by=str(e["by"]), at=datetime.fromisoformat(str(e["at"])),
                        level=str(e.get("level") or "")) for e in stored or []]


def _build(row: Any, compensations: Sequence[Any], follow_ups: Sequence[Any]) -> Case:
    """The domain case from its row and child rows (ORM objects or plain rows alike)."""
    outcome = None
    if row.reaction is not None:
        outcome = Outcome(reaction=Reaction(row.reaction), root_cause=row.root_cause or "",
                          action_taken=row.action_taken or "", notes=row.resolution_notes or "")
    return Case(
        id=row.id, playbook_id=row.playbook_id, playbook_version=row.playbook_version,
        playbook_hash=row.playbook_hash, severity=row.severity,
        customer=Customer(name=row.customer_name, contact=row.customer_contact),
        summary=row.summary, order_ref=row.order_ref, location=row.location,
        purchase_minor=row.purchase_minor, currency=row.currency, opened_by=row.opened_by,
        opened_at=row.opened_at, manager=row.manager, state=CaseState(row.state),
        apology_given_at=row.apology_given_at, steps_done=set(row.steps_done or []),
        compensations=[Compensation(
            number=c.number, type=CompensationType(c.type), label=c.label,
            amount_minor=c.amount_minor, currency=c.currency, option_key=c.option_key,
            requested_by=c.requested_by, requested_at=c.requested_at,
            status=CompensationStatus(c.status), auto_approved=c.auto_approved,
            decided_by=c.decided_by, decided_at=c.decided_at, reason=c.reason,
            endorsements=_endorsements(c.endorsements),
        ) for c in compensations],
        outcome=outcome, resolved_at=row.resolved_at, closed_at=row.closed_at,
        follow_ups=[FollowUp(
            number=f.number, manager=f.manager, due_at=f.due_at, snoozed_until=f.snoozed_until,
            done_at=f.done_at, done_by=f.done_by,
            reaction=Reaction(f.reaction) if f.reaction else None, note=f.note or "",
        ) for f in follow_ups],
        source=Source(row.source_channel, row.source_ts, row.source_link)
        if row.source_channel and row.source_ts else None,
    )

