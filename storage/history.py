"""A customer's earlier cases: one statement on the (customer_key, opened_at) index."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, func, or_, select
from sqlalchemy import case as when
from sqlalchemy.orm import Session

from bot.domain.history import LOOKBACK, SHOWN, CustomerHistory, PastCase
from bot.domain.lifecycle import Case, CaseState, CompensationStatus, Reaction
from storage.cases import PLACEHOLDERS, customer_key
from storage.models import CaseRow, CompensationRow, FollowUpRow

# A key this short, or a placeholder name ("Walk-in"), is not a customer: every such case
# would otherwise be the same "repeat customer".
MIN_KEY = 3


def customer_history(session: Session, case: Case) -> CustomerHistory:
    """The customer's cases opened in the year before `case` (never `case` itself): how
    many, and the latest few with what was given and how the customer left."""
    if case.id is None:
        return CustomerHistory(opened_at=case.opened_at)
    return for_key(session, customer_key(case.customer), case.id, case.opened_at)


def for_key(session: Session, key: str, case_id: int, opened_at: datetime) -> CustomerHistory:
    history = CustomerHistory(opened_at=opened_at)
    if len(key) < MIN_KEY or key in PLACEHOLDERS:
        return history
    rows = session.execute(STATEMENT, {"key": key, "case_id": case_id, "opened_at": opened_at,
                                       "since": opened_at - LOOKBACK}).all()
    if not rows:
        return history
    return CustomerHistory(opened_at=opened_at, count=rows[0].earlier, recent=tuple(
        _past(row) for row in rows))


def _statement() -> Select[Any]:
    """The latest SHOWN earlier cases, each carrying the count of all of them. Earlier is
    opened before, or at the same moment with a lower id, so two cases never list each
    other. Every part reads the customer's index range, never the table at large. Built
    once, with parameters: building it per lookup cost more than running it."""
    cases, comps, follow_ups = (cast(Table, t.__table__)
                                for t in (CaseRow, CompensationRow, FollowUpRow))
    earlier = cases.alias("earlier")
    opened_at = bindparam("opened_at", type_=cases.c.opened_at.type)

    def before(table: Any) -> Any:
        return and_(table.c.customer_key == bindparam("key"),
                    table.c.opened_at >= bindparam("since", type_=cases.c.opened_at.type),
                    or_(table.c.opened_at < opened_at,
                        and_(table.c.opened_at == opened_at,
                             table.c.id < bindparam("case_id"))))

    count = select(func.count()).select_from(earlier).where(before(earlier)).scalar_subquery()
    # Filtered on the case alone, so the (case_id, number) index is the only one that fits:
    # with status in the WHERE, SQLite may pick the status index and read every approval.
    given = select(func.coalesce(func.sum(when(
        (comps.c.status == CompensationStatus.APPROVED.value, comps.c.amount_minor),
        else_=0)), 0)).where(comps.c.case_id == cases.c.id).scalar_subquery()
    followed = select(follow_ups.c.reaction).where(
        follow_ups.c.case_id == cases.c.id, follow_ups.c.reaction.is_not(None)
    ).order_by(follow_ups.c.number.desc()).limit(1).scalar_subquery()
    return (select(cases.c.id, cases.c.playbook_id, cases.c.opened_at, cases.c.state,
                   cases.c.currency, cases.c.reaction, given.label("given"),
                   followed.label("followed"), count.label("earlier"))
            .where(before(cases))
            .order_by(cases.c.opened_at.desc(), cases.c.id.desc()).limit(SHOWN))


STATEMENT = _statement()


def _past(row: Any) -> PastCase:
    state = CaseState(row.state)
    # Closed: the manager heard the customer last. Otherwise the latest resolve's reaction,
    # or, reopened and not yet resolved again, the follow-up that reopened it.
    reaction = (row.followed or row.reaction) if state is CaseState.CLOSED \
        else (row.reaction or row.followed)
    return PastCase(id=row.id, playbook_id=row.playbook_id, opened_at=row.opened_at,
                    state=state, given_minor=int(row.given or 0),
                    currency=row.currency, reaction=Reaction(reaction) if reaction else None)
