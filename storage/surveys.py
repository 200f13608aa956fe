"""Survey rows: created in a case change's transaction, answered once, read for messages."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.domain.survey import Answer, Survey
from storage import db
from storage.models import SurveyRow


def _domain(row: SurveyRow) -> Survey:
    return Survey(id=row.id, case_id=row.case_id, nonce=row.nonce, created_at=row.created_at,
                  expires_at=row.expires_at, answered_at=row.answered_at, score=row.score,
                  comment=row.comment)


def issue(session: Session, case_id: int, *, now: datetime, lasts: timedelta) -> Survey:
    """The case's survey still waiting for an answer, or a new one: a customer asked at
    resolving and again at the follow-up keeps one link."""
    waiting = session.scalars(select(SurveyRow).where(
        SurveyRow.case_id == case_id, SurveyRow.answered_at.is_(None),
        SurveyRow.expires_at > now).order_by(SurveyRow.id.desc()).limit(1)).first()
    if waiting is not None:
        return _domain(waiting)
    row = SurveyRow(case_id=case_id, nonce=secrets.token_urlsafe(12), created_at=now,
                    expires_at=now + lasts)
    session.add(row)
    session.flush()
    return _domain(row)


def get(session: Session, survey_id: int) -> Survey | None:
    row = session.get(SurveyRow, survey_id)
    return _domain(row) if row is not None else None


def latest(session: Session, case_id: int) -> Survey | None:
    """The case's newest survey, answered or not: what its messages show."""
    row = session.scalars(select(SurveyRow).where(SurveyRow.case_id == case_id)
                          .order_by(SurveyRow.id.desc()).limit(1)).first()
    return _domain(row) if row is not None else None


def answer(session: Session, survey_id: int, nonce: str, given: Answer, *,
           now: datetime) -> bool:
    """Record the answer if the survey is still open: one conditional UPDATE, so of two
    answers racing (two processes, SQLite or PostgreSQL) exactly one is written."""
    result = session.execute(
        update(SurveyRow)
        .where(SurveyRow.id == survey_id, SurveyRow.nonce == nonce,
               SurveyRow.answered_at.is_(None), SurveyRow.expires_at > now)
        .values(answered_at=now, score=given.score, comment=given.comment or None),
        execution_options={"synchronize_session": False})
    return db.changed(result) == 1
