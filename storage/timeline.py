"""Reading a case's timeline a page at a time, on the (case_id, id) index."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.lifecycle import case_reference
from bot.domain.timeline import PAGE, Entry, entry, pages
from storage.cases import CaseNotFound
from storage.models import CaseRow, EventRow


def page(session: Session, case_id: int, number: int | None = 1
         ) -> tuple[int, int, list[Entry]]:
    """(events in all, the page shown, its entries), oldest first. Pages count from 1; a
    page past the end shows the last; None reads every event (the terminal, the JSON)."""
    currency = session.scalar(select(CaseRow.currency).where(CaseRow.id == case_id))
    if currency is None:
        raise CaseNotFound(f"There is no case {case_reference(case_id)}.")
    total = session.scalar(select(func.count()).where(EventRow.case_id == case_id)) or 0
    statement = select(EventRow.kind, EventRow.actor, EventRow.at, EventRow.data).where(
        EventRow.case_id == case_id).order_by(EventRow.id)
    first = 0
    if number is not None:
        last = pages(total)
        number = min(max(number, 1), last)
        first = (number - 1) * PAGE
        statement = statement.offset(first).limit(PAGE)
    entries = [entry(first + i + 1, row.kind, row.actor, row.at, row.data or {}, currency)
               for i, row in enumerate(session.execute(statement))]
    return total, number or 1, entries
