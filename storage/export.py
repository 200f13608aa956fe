"""Cases as rows for a spreadsheet: one query, streamed, with the totals computed in SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.lifecycle import CompensationStatus, case_reference
from bot.domain.money import exponent
from storage.models import CaseRow, CompensationRow, FollowUpRow

COLUMNS = ["case", "opened_at", "opened_by", "opened_by_name", "playbook", "playbook_version",
           "severity", "customer", "contact", "order_ref", "location", "what_happened",
           "purchase", "currency", "state", "apology_given_at", "resolved_at",
           "recovery_minutes", "reaction", "root_cause", "action_taken", "notes",
           "compensation_given", "compensations", "follow_up_manager",
           "follow_up_manager_name", "follow_up_due", "followed_up_at",
           "reaction_at_follow_up", "closed_at"]


def rows(session: Session, since: datetime, until: datetime | None,
         names: Callable[[str], str] = lambda _user: "") -> Iterator[dict[str, Any]]:
    """`names`: a person's name from their Slack id (empty when it can't be known), put
    beside the ids, which stay for matching across exports."""
    approved = CompensationRow.status == CompensationStatus.APPROVED.value
    given = (select(func.coalesce(func.sum(CompensationRow.amount_minor), 0))
             .where(CompensationRow.case_id == CaseRow.id, approved)
             .correlate(CaseRow).scalar_subquery())
    count = (select(func.count()).where(CompensationRow.case_id == CaseRow.id, approved)
             .correlate(CaseRow).scalar_subquery())
    # The latest follow-up of each case.
    latest = (select(func.max(FollowUpRow.number)).where(FollowUpRow.case_id == CaseRow.id)
              .correlate(CaseRow).scalar_subquery())
    statement = (
        select(CaseRow, given.label("given"), count.label("count"), FollowUpRow.manager,
               FollowUpRow.due_at, FollowUpRow.done_at, FollowUpRow.reaction)
        .outerjoin(FollowUpRow, (FollowUpRow.case_id == CaseRow.id)
                   & (FollowUpRow.number == latest))
        .where(CaseRow.opened_at >= since)
        .order_by(CaseRow.opened_at, CaseRow.id)
        .execution_options(yield_per=1000))
    if until is not None:
        statement = statement.where(CaseRow.opened_at < until)
    for case, total, n, manager, due, done, reaction in session.execute(statement):
        yield {
            "case": case_reference(case.id), "opened_at": case.opened_at.isoformat(),
            "opened_by": case.opened_by, "opened_by_name": names(case.opened_by),
            "playbook": case.playbook_id,
            "playbook_version": case.playbook_version, "severity": case.severity,
            "customer": case.customer_name, "contact": case.customer_contact or "",
            "order_ref": case.order_ref or "", "location": case.location or "",
            "what_happened": case.summary,
            "purchase": _money(case.purchase_minor, case.currency), "currency": case.currency,
            "state": case.state, "apology_given_at": _iso(case.apology_given_at),
            "resolved_at": _iso(case.resolved_at),
            "recovery_minutes": (round(case.recovery_seconds / 60)
                                 if case.recovery_seconds is not None else ""),
            "reaction": case.reaction or "", "root_cause": case.root_cause or "",
            "action_taken": case.action_taken or "", "notes": case.resolution_notes or "",
            "compensation_given": _money(total, case.currency),
            "compensations": n, "follow_up_manager": manager or "",
            "follow_up_manager_name": names(manager) if manager else "",
            "follow_up_due": _iso(due), "followed_up_at": _iso(done),
            "reaction_at_follow_up": reaction or "", "closed_at": _iso(case.closed_at),
        }


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (CSV injection, OWASP): a customer called "=HYPERLINK(...)" must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(row: dict[str, Any]) -> dict[str, Any]:
    return {key: "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START)
            else value for key, value in row.items()}


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _money(minor: int | None, currency: str) -> str:
    # Minor units to a plain decimal that spreadsheets read as a number.
    if minor is None:
        return ""
    places = exponent(currency)
    return f"{Decimal(minor) / (Decimal(10) ** places):.{places}f}"
