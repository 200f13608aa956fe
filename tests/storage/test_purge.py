"""amends purge: old finished cases lose their customer's details and keep their figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.lifecycle import Reaction
from bot.domain.playbook import CompensationType
from bot.domain.weeks import Week
from storage import purge
from storage.digest import week_figures
from storage.models import CaseRow, EventRow, FollowUpRow, SurveyRow
from tests.storage.test_digest_figures import UTC_ZONE, Builder


def test_purge_anonymises_old_finished_cases_and_keeps_the_figures(session: Session,
                                                                   library) -> None:
    b = Builder(session, library)
    old = b.open(datetime(2025, 1, 6, 10, tzinfo=UTC), "Old Customer", contact="old@x",
                 location="High Street")
    b.give(old, datetime(2025, 1, 6, 10, 5, tzinfo=UTC), 1500, CompensationType.VOUCHER)
    b.resolve(old, datetime(2025, 1, 6, 11, tzinfo=UTC), Reaction.SATISFIED, "Courier delay")
    b.follow_up(old, datetime(2025, 1, 7, 9, tzinfo=UTC), Reaction.DELIGHTED, "Lives at 1 Road")
    asked = datetime(2025, 1, 7, 9, tzinfo=UTC)
    session.add(SurveyRow(case_id=old.id, nonce="n", created_at=asked,
                          expires_at=asked + timedelta(days=14), answered_at=asked,
                          score=5, comment="I'm at 1 Road, call me"))
    still_open = b.open(datetime(2025, 1, 7, 10, tzinfo=UTC), "Open Customer", contact="o@x",
                        location="High Street")
    recent = b.open(datetime(2026, 11, 1, 10, tzinfo=UTC), "New Customer", contact="n@x",
                    location="Station")
    session.flush()
    week = Week.containing(datetime(2025, 1, 6, tzinfo=UTC), UTC_ZONE)
    before_figures = week_figures(session, *week.bounds(UTC_ZONE))
    cutoff = datetime(2026, 1, 1, tzinfo=UTC)

    assert purge.count(session, cutoff) == 1
    assert purge.purge(session, cutoff) == 1
    session.expire_all()

    row = session.get(CaseRow, old.id)
    assert (row.customer_name, row.customer_contact, row.summary) == ("Customer", None,
                                                                      "(removed)")
    assert row.customer_key == f"purged-{old.id}"
    assert row.location == "High Street" and row.root_cause == "Courier delay"
    follow_up = session.scalars(select(FollowUpRow).where(FollowUpRow.case_id == old.id)).one()
    assert follow_up.note is None and follow_up.reaction == "delighted"
    notes = [e.data.get("note") for e in session.scalars(
        select(EventRow).where(EventRow.case_id == old.id)) if "note" in e.data]
    assert notes == ["(removed)"]
    # The customer's own words go; their score stays for the figures.
    survey = session.scalars(select(SurveyRow).where(SurveyRow.case_id == old.id)).one()
    assert (survey.score, survey.comment) == (5, None)
    # Open and recent cases are untouched; the figures of the purged week are the same.
    assert session.get(CaseRow, still_open.id).customer_name == "Open Customer"
    assert session.get(CaseRow, recent.id).customer_contact == "n@x"
    after_figures = week_figures(session, *week.bounds(UTC_ZONE))
    assert after_figures.opened == before_figures.opened
    assert after_figures.compensation_minor == before_figures.compensation_minor == 1500
    assert after_figures.outcomes == before_figures.outcomes
    assert purge.count(session, cutoff) == 0
