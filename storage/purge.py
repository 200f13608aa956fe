"""Forgetting customers: anonymise old finished cases and keep every figure.

Names, contacts, order references and free-text notes go; playbook, severity, location,
times, compensation, reactions and root causes stay, so past digests' figures don't move.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.orm import Session

from bot.domain.lifecycle import OPEN_STATES
from storage.models import CaseRow, EventRow, FollowUpRow, SurveyRow

REMOVED = "(removed)"
# Event data keys that hold free text a person typed.
FREE_TEXT = ("note", "notes", "action_taken", "reason", "label", "comment")


def count(session: Session, before: datetime) -> int:
    return session.scalar(select(func.count()).where(_targets(before))) or 0


def _targets(before: datetime):  # type: ignore[no-untyped-def]
    finished = CaseRow.state.not_in([s.value for s in OPEN_STATES])
    return (CaseRow.opened_at < before) & finished & (CaseRow.summary != REMOVED)


def purge(session: Session, before: datetime) -> int:
    ids = session.scalars(select(CaseRow.id).where(_targets(before))).all()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        session.execute(update(CaseRow).where(CaseRow.id.in_(chunk)).values(
            customer_name="Customer", customer_contact=None, order_ref=None,
            customer_key=literal("purged-") + cast(CaseRow.id, String), summary=REMOVED,
            action_taken=REMOVED, resolution_notes=None), execution_options={
                "synchronize_session": False})
        session.execute(update(FollowUpRow).where(FollowUpRow.case_id.in_(chunk))
                        .values(note=None), execution_options={"synchronize_session": False})
        # A customer's own words go too; their score stays, as the reactions do.
        session.execute(update(SurveyRow).where(SurveyRow.case_id.in_(chunk))
                        .values(comment=None), execution_options={"synchronize_session": False})
        # Event data is JSON; its free-text keys are blanked row by row (a batch job).
        for event in session.scalars(select(EventRow).where(EventRow.case_id.in_(chunk))):
            if any(event.data.get(key) for key in FREE_TEXT):
                event.data = {k: (REMOVED if k in FREE_TEXT and v else v)
                              for k, v in event.data.items()}
        session.flush()
    return len(ids)
