"""Reading a case's timeline a page at a time, on the (case_id, id) index."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.lifecycle import Case
from bot.domain.timeline import PAGE, Entry, entry, pages
from storage.models import EventRow


def page(session: Session, case: Case, number: int | None = 1
         ) -> tuple[int, int, list[Entry]]:
    """(events in all, the page shown, its entries), oldest first, for a case just read.
    Pages count from 1; a page past the end shows the last; None reads every event (the
    terminal, the JSON)."""
    statement = select(EventRow.kind, EventRow.actor, EventRow.at, EventRow.data).where(
        EventRow.case_id == case.id).order_by(EventRow.id)
    first = 0
    if number is None:
        total = None  # every event is read: counted as they come
    else:
        total = session.scalar(select(func.count()).where(EventRow.case_id == case.id)) or 0
        number = min(max(number, 1), pages(total))
        first = (number - 1) * PAGE
        statement = statement.offset(first).limit(PAGE)
    entries = [entry(first + i + 1, row.kind, row.actor, row.at, row.data or {},
                     case.currency) for i, row in enumerate(session.execute(statement))]
    return (len(entries) if total is None else total), number or 1, entries
