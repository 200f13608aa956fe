"""Cases saved and loaded on SQLite and PostgreSQL: rows, child rows and the timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bot.domain.compensation import CompensationPolicy, place_key
from bot.domain.lifecycle import Case, CaseState, Customer, Outcome, Reaction
from bot.domain.playbook import CompensationType
from bot.domain.playbook_library import PlaybookLibrary
from storage import cases, db
from storage.models import ApprovalRow, CaseRow, CompensationRow, FollowUpRow
from tests.conftest import T0

POLICY = CompensationPolicy(staff_limit_minor=2000, managers=frozenset({"U0MGR001"}),
                            currency="USD")


def _open(session: Session, library: PlaybookLibrary, contact: str = "+44 7700-900123") -> Case:
    playbook = library.get("late-delivery")
    assert playbook is not None
    case = Case.open(playbook=playbook, severity="major",
                     customer=Customer(name="Sam <!channel> Taylor", contact=contact),
                     summary="Late and cold", opened_by="U0STAFF1", at=T0, currency="USD",
                     order_ref="A-1", location="High Street", purchase_minor=4000)
    cases.add(session, case)
    return case


def test_round_trip_keeps_every_field_and_the_timeline(session: Session,
                                                       library: PlaybookLibrary) -> None:
    playbook = library.get("late-delivery")
    assert playbook is not None
    case = _open(session, library)
    assert case.id is not None and case.reference == f"C-{case.id:04d}"
    loaded, row = cases.load(session, case.id, for_update=True)
    loaded.give_apology(actor="U0STAFF1", at=T0 + timedelta(minutes=1))
    loaded.mark_step(step=1, done=True, playbook=playbook, actor="U0STAFF1", at=T0)
    loaded.propose_compensation(type=CompensationType.REFUND, label="Refund 35%",
                                amount_minor=1400, option_key="major-1", actor="U0STAFF1", at=T0,
                                policy=POLICY, playbook=playbook)
    loaded.propose_compensation(type=CompensationType.VOUCHER, label="Voucher",
                                amount_minor=2500, option_key=None, actor="U0STAFF1", at=T0,
                                policy=POLICY, playbook=playbook)
    cases.save(session, loaded, row)
    session.commit()

    again, row = cases.load(session, case.id)
    assert again.state is CaseState.AWAITING_APPROVAL
    assert again.apology_given_at == T0 + timedelta(minutes=1)
    assert again.apology_given_at.tzinfo is not None
    assert again.steps_done == {1}
    assert [(c.amount_minor, c.status.value, c.auto_approved) for c in again.compensations] == [
        (1400, "approved", True), (2500, "pending", False)]
    assert again.customer.name == "Sam <!channel> Taylor"
    assert row.customer_key == "+447700900123"
    # Only the request above the limit gets an approval record.
    assert session.scalar(select(func.count()).select_from(ApprovalRow)) == 1

    again.decide_compensation(number=2, approve=True, actor="U0MGR001", at=T0, policy=POLICY)
    again.resolve(outcome=Outcome(reaction=Reaction.SATISFIED, root_cause="Courier delay",
                                  action_taken="New order sent"), playbook=playbook,
                  actor="U0STAFF1", at=T0 + timedelta(minutes=45), manager="U0MGR001")
    cases.save(session, again, row)
    session.commit()

    row = session.get(CaseRow, case.id)
    assert row is not None
    assert row.recovery_seconds == 45 * 60 and row.state == "follow_up_due"
    assert row.reaction == "satisfied" and row.root_cause == "Courier delay"
    follow_up = session.scalars(select(FollowUpRow).where(FollowUpRow.case_id == case.id)).one()
    assert follow_up.due_at == T0 + timedelta(minutes=45, hours=48)
    kinds = [e.kind for e in cases.timeline(session, case.id)]
    assert kinds == ["opened", "apology_given", "step_done", "compensation_approved",
                     "compensation_proposed", "compensation_approved", "resolved"]
    total = session.scalar(select(func.sum(CompensationRow.amount_minor)).where(
        CompensationRow.case_id == case.id, CompensationRow.status == "approved"))
    assert total == 3900


def test_missing_case_is_a_clear_error(session: Session) -> None:
    with pytest.raises(cases.CaseNotFound, match="no case C-99999"):
        cases.load(session, 99999)


def test_two_writers_cannot_both_win(engine: Engine, library: PlaybookLibrary) -> None:
    """Optimistic locking: the second save of a stale copy fails instead of overwriting.

    On SQLite, writers are serialised (BEGIN IMMEDIATE): the second one waits for the
    first, so it never holds a stale copy; here it is shown waiting (and timing out fast).
    """
    with Session(engine, expire_on_commit=False) as setup:
        case = _open(setup, library, contact="race@example.com")
        setup.commit()
    assert case.id is not None
    if engine.dialect.name == "sqlite":
        impatient = db.make_engine(str(engine.url), connect_args={"timeout": 0.2})
        try:
            with Session(engine) as one, Session(impatient) as two:
                cases.load(one, case.id, for_update=True)
                with pytest.raises(OperationalError, match="locked"):
                    cases.load(two, case.id, for_update=True)
        finally:
            impatient.dispose()
            with Session(engine) as cleanup:
                cleanup.delete(cleanup.get(CaseRow, case.id))
                cleanup.commit()
        return
    try:
        with Session(engine) as one, Session(engine) as two:
            first, first_row = cases.load(one, case.id)
            second, second_row = cases.load(two, case.id)
            first.give_apology(actor="U0STAFF1", at=T0)
            cases.save(one, first, first_row)
            one.commit()
            second.cancel(reason="duplicate", actor="U0STAFF2", at=T0)
            with pytest.raises(StaleDataError):
                cases.save(two, second, second_row)
                two.commit()
    finally:
        with Session(engine) as cleanup:
            cleanup.delete(cleanup.get(CaseRow, case.id))
            cleanup.commit()


def test_a_managers_own_requests_never_crowd_out_the_others_waiting(
        session: Session, library: PlaybookLibrary) -> None:
    """The Home tab's "Approvals waiting for you": the manager's own requests are filtered
    in SQL, before the limit, so 25 of their own still leave the others' in view."""
    playbook = library.get("late-delivery")
    assert playbook is not None
    manager = "U0MGR001"
    for requester in [manager] * 25 + ["U0STAFF1", "U0STAFF2"]:
        case = _open(session, library)
        assert case.id is not None
        loaded, row = cases.load(session, case.id, for_update=True)
        loaded.propose_compensation(type=CompensationType.VOUCHER, label="Voucher",
                                    amount_minor=2500, option_key=None, actor=requester,
                                    at=T0, policy=POLICY, playbook=playbook)
        cases.save(session, loaded, row)
    session.commit()
    waiting = cases.approvals_waiting_for(session, manager)
    assert sorted(w.requested_by for w in waiting) == ["U0STAFF1", "U0STAFF2"]
    assert all(w.case.customer == "Sam <!channel> Taylor" and w.amount_minor == 2500
               for w in waiting)
    assert len(cases.approvals_waiting_for(session, "U0MGR002")) == 20  # the page's limit


def test_a_manager_is_shown_only_the_requests_they_may_decide(
        session: Session, library: PlaybookLibrary) -> None:
    """Their level's limit and the locations they serve, in SQL and before the page's limit:
    25 requests they can't decide still leave theirs in view."""
    playbook = library.get("late-delivery")
    assert playbook is not None
    made = [("High Street", 6000)] * 25 + [("Station", 6000)] * 25 + \
        [("High Street", 2500), ("  station ", 2500), (None, 2500)]
    where: dict[int, tuple[str | None, int]] = {}
    for location, amount in made:
        case = Case.open(playbook=playbook, severity="major",
                         customer=Customer(name="Sam Taylor", contact="+44 7700-900123"),
                         summary="Late", opened_by="U0STAFF1", at=T0, currency="USD",
                         location=location, purchase_minor=4000)
        cases.add(session, case)
        assert case.id is not None
        loaded, row = cases.load(session, case.id, for_update=True)
        loaded.propose_compensation(type=CompensationType.VOUCHER, label="Voucher",
                                    amount_minor=amount, option_key=None, actor="U0STAFF1",
                                    at=T0, policy=POLICY, playbook=playbook)
        cases.save(session, loaded, row)
        where[case.id] = (location, amount)
    session.commit()

    def waiting(**scope: Any) -> list[tuple[str | None, int]]:
        return sorted((where[w.case.id]
                       for w in cases.approvals_waiting_for(session, "U0MGR001", **scope)),
                      key=repr)

    def station(place: str | None) -> bool:
        return place_key(place) == "station"

    assert waiting(up_to_minor=3000) == [
        ("  station ", 2500), ("High Street", 2500), (None, 2500)]
    assert waiting(up_to_minor=3000, serves=station) == [("  station ", 2500)]
    assert waiting(serves=lambda place: place is None) == [(None, 2500)]
    assert len(waiting(serves=station)) == 20  # the page's limit, of 26 theirs
    assert len(waiting()) == 20
