"""The digest's figures on a hand-built week, each checked against a value worked out by hand.

Week 2026-W47 runs Mon 16 Nov to Sun 22 Nov (UTC here). The cases:

    P1  W46 Tue 10 Nov 10:00  customer A, High Street; resolved after 60 min, satisfied
    C1  Mon 16 09:00  customer A again (a repeat), High Street; apology; $15 voucher (within
        the limit); resolved 09:30 (30 min) satisfied; follow-up done Tue, on time, delighted
    C2  Tue 17 12:00  customer B, Station; no apology; $30 refund approved by a manager;
        resolved 14:00 (120 min) neutral; follow-up due Thu 14:00, done Fri 09:00: late, satisfied
    C3  Wed 18 08:00  customer C, High Street; apology; resolved 08:10 still unhappy; follow-up
        done Thu, on time, still unhappy: reopened (so no longer resolved)
    C4  Thu 19 10:00  customer D, no location; apology; resolved 10:20 (20 min) satisfied;
        follow-up due Sat 10:20 (manager 2), never done: overdue (as is P1's, manager 1)
    C5  Sat 21 18:00  customer E, Station; $25 request denied; still open
    N1  W48 Mon 23 00:30: outside the week
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from bot.domain.compensation import CompensationPolicy
from bot.domain.digest import CaseLine, CompensationTotal, Count
from bot.domain.lifecycle import Case, Customer, Outcome, Reaction
from bot.domain.playbook import CompensationType
from bot.domain.playbook_library import PlaybookLibrary
from bot.domain.weeks import Week
from storage import cases
from storage.digest import trend, week_against_last, week_figures

UTC_ZONE = __import__("zoneinfo").ZoneInfo("UTC")
STAFF, M1, M2 = "U0STAFF1", "U0MGR001", "U0MGR002"
POLICY = CompensationPolicy(staff_limit_minor=2000, managers=frozenset({M1, M2}), currency="USD")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


class Builder:
    def __init__(self, session: Session, library: PlaybookLibrary) -> None:
        self.session, self.library = session, library

    def open(self, when: datetime, name: str, *, contact: str, location: str | None,
             playbook: str = "late-delivery", severity: str = "major") -> Case:
        case = Case.open(playbook=self.library.get(playbook), severity=severity,
                         customer=Customer(name=name, contact=contact), summary="x",
                         opened_by=STAFF, at=when, currency="USD", location=location,
                         purchase_minor=4000)
        cases.add(self.session, case)
        return case

    def change(self, case: Case, apply) -> Case:  # type: ignore[no-untyped-def]
        loaded, row = cases.load(self.session, case.id)
        apply(loaded, self.library.get(loaded.playbook_id))
        cases.save(self.session, loaded, row)
        return loaded

    def resolve(self, case: Case, when: datetime, reaction: Reaction, cause: str,
                manager: str = M1) -> Case:
        return self.change(case, lambda c, p: c.resolve(
            outcome=Outcome(reaction=reaction, root_cause=cause, action_taken="fixed"),
            playbook=p, actor=STAFF, at=when, manager=manager))

    def follow_up(self, case: Case, when: datetime, reaction: Reaction, note: str = "") -> Case:
        return self.change(case, lambda c, p: c.record_follow_up(
            reaction=reaction, note=note, actor=M1, at=when, policy=POLICY))

    def apology(self, case: Case, when: datetime) -> Case:
        return self.change(case, lambda c, p: c.give_apology(actor=STAFF, at=when))

    def give(self, case: Case, when: datetime, amount: int, kind: CompensationType) -> Case:
        return self.change(case, lambda c, p: c.propose_compensation(
            type=kind, label=kind.value, amount_minor=amount, option_key=None, actor=STAFF,
            at=when, policy=POLICY, playbook=p))

    def decide(self, case: Case, when: datetime, approve: bool) -> Case:
        return self.change(case, lambda c, p: c.decide_compensation(
            number=len(c.compensations), approve=approve, actor=M1, at=when, policy=POLICY,
            reason=None if approve else "too much"))


def build_week(session: Session, library: PlaybookLibrary) -> dict[str, Case]:
    b = Builder(session, library)
    p1 = b.open(datetime(2026, 11, 10, 10, tzinfo=UTC), "Ann", contact="ann@example.com",
                location="High Street")
    b.resolve(p1, datetime(2026, 11, 10, 11, tzinfo=UTC), Reaction.SATISFIED, "Courier delay")

    c1 = b.open(at(16, 9), "Ann", contact=" ANN@example.com", location="High Street")
    b.apology(c1, at(16, 9, 5))
    b.give(c1, at(16, 9, 10), 1500, CompensationType.VOUCHER)
    b.resolve(c1, at(16, 9, 30), Reaction.SATISFIED, "Courier delay")
    b.follow_up(c1, at(17, 10), Reaction.DELIGHTED)

    c2 = b.open(at(17, 12), "Bo", contact="bo@example.com", location="Station",
                playbook="billing-error")
    b.give(c2, at(17, 12, 10), 3000, CompensationType.REFUND)
    b.decide(c2, at(17, 12, 30), approve=True)
    b.resolve(c2, at(17, 14), Reaction.NEUTRAL, "Charge entered twice by staff")
    b.follow_up(c2, at(20, 9), Reaction.SATISFIED)

    c3 = b.open(at(18, 8), "Cy", contact="cy@example.com", location="High Street",
                playbook="poor-service", severity="minor")
    b.apology(c3, at(18, 8, 1))
    b.resolve(c3, at(18, 8, 10), Reaction.STILL_UNHAPPY, "Gap in training")
    b.follow_up(c3, at(19, 15), Reaction.STILL_UNHAPPY, "Wants <!here> a call")

    c4 = b.open(at(19, 10), "Di", contact="di@example.com", location=None,
                playbook="damaged-or-faulty")
    b.apology(c4, at(19, 10, 5))
    b.resolve(c4, at(19, 10, 20), Reaction.SATISFIED, "Poor packaging", manager=M2)

    c5 = b.open(at(21, 18), "Ed", contact="ed@example.com", location="Station",
                severity="minor")
    b.give(c5, at(21, 18, 10), 2500, CompensationType.REFUND)
    b.decide(c5, at(21, 18, 30), approve=False)

    b.open(at(23, 0, 30), "Fi", contact="fi@example.com", location="Station")
    session.flush()
    return {"c1": c1, "c2": c2, "c3": c3, "c5": c5}


def test_every_figure_of_a_hand_built_week(session: Session, library: PlaybookLibrary) -> None:
    built = build_week(session, library)
    f = week_figures(session, *Week(2026, 47).bounds(UTC_ZONE))
    assert f.opened == 5
    assert f.resolved == 3  # C1, C2, C4; C3 was reopened
    assert f.median_recovery_s == 30 * 60  # of 20, 30, 120 minutes
    assert f.p90_recovery_s == 120 * 60
    assert f.by_playbook == [Count("late-delivery", 2), Count("billing-error", 1),
                             Count("damaged-or-faulty", 1), Count("poor-service", 1)]
    assert f.by_location == [Count("High Street", 2), Count("Station", 2), Count("(none)", 1)]
    assert f.compensation == [CompensationTotal("refund", 1, 3000),
                              CompensationTotal("voucher", 1, 1500)]
    assert f.compensation_minor == 4500
    assert (f.approvals, f.denials) == (1, 1)
    assert f.outcomes == [Count("satisfied", 2), Count("neutral", 1)]
    assert (f.follow_ups_due, f.follow_ups_on_time, f.follow_ups_late, f.follow_ups_open) == (
        4, 2, 1, 1)
    assert f.on_time_rate == 0.5
    # C4's, and P1's from the week before (resolved, never followed up).
    assert f.overdue_by_manager == [Count(M1, 1), Count(M2, 1)]
    assert (f.follow_ups_done, f.recovered_at_follow_up) == (3, 2)
    assert f.recovery_rate == 2 / 3
    assert f.repeat_customers == 1
    assert f.apologies == 2 and f.apology_share == 2 / 3
    assert f.top_causes == [Count("Charge entered twice by staff", 1),
                            Count("Courier delay", 1), Count("Poor packaging", 1)]
    assert [(line.case_id, line.detail) for line in f.oldest_open] == [
        (built["c3"].id, "fixing"), (built["c5"].id, "fixing")]
    assert [(line.case_id, line.amount_minor) for line in f.largest_compensation] == [
        (built["c2"].id, 3000), (built["c1"].id, 1500)]
    assert f.still_unhappy == [CaseLine(case_id=built["c3"].id, customer="Cy", at=at(19, 15),
                                        detail="Wants <!here> a call", person=M1)]
    # A denied compensation stands out too, with who denied it and why.
    assert f.denied == [CaseLine(case_id=built["c5"].id, customer="Ed", at=at(21, 18, 30),
                                 detail="too much", amount_minor=2500, person=M1)]

    last = week_figures(session, *Week(2026, 46).bounds(UTC_ZONE))
    assert (last.opened, last.resolved, last.median_recovery_s) == (1, 1, 3600)
    assert last.repeat_customers == 0 and last.compensation_minor == 0


def test_the_week_before_carries_its_headline_figures_only(session: Session,
                                                          library: PlaybookLibrary) -> None:
    build_week(session, library)
    for week in (Week(2026, 47), Week(2026, 46)):
        full = week_figures(session, *week.bounds(UTC_ZONE))
        this, last = week_against_last(session, week.next().bounds(UTC_ZONE),
                                       week.bounds(UTC_ZONE))
        assert this == week_figures(session, *week.next().bounds(UTC_ZONE))
        # Every figure the digest compares is the same as the full week's...
        headline = ("opened", "resolved", "median_recovery_s", "p90_recovery_s",
                    "compensation", "approvals", "denials", "follow_ups_due",
                    "follow_ups_on_time", "follow_ups_late", "follow_ups_open",
                    "follow_ups_done", "recovered_at_follow_up", "repeat_customers",
                    "apologies")
        assert {k: getattr(last, k) for k in headline} == {k: getattr(full, k) for k in headline}
        # ...and no breakdown is queried for it.
        assert last.by_playbook == last.overdue_by_manager == last.still_unhappy == []


def test_percentiles_are_nearest_rank_for_any_count(session: Session,
                                                    library: PlaybookLibrary) -> None:
    b = Builder(session, library)
    # 30 cases included: 0.9 * 30 in floats rounds up to rank 28, not 27.
    minutes = [7, 3, 11, 3, 5, 20, 1, 9, 4, 13, 2, *range(30, 49)]
    for n, m in enumerate(minutes, start=1):
        case = b.open(at(16, 9), f"P{n}", contact=f"p{n}@example.com", location=None)
        b.resolve(case, at(16, 9) + timedelta(minutes=m), Reaction.SATISFIED, "Courier delay")
        session.flush()
        f = week_figures(session, *Week(2026, 47).bounds(UTC_ZONE))
        ranked = sorted(x * 60 for x in minutes[:n])
        # Nearest rank: the ceil(p * n)-th smallest.
        assert (f.median_recovery_s, f.p90_recovery_s) == (
            ranked[-(-n // 2) - 1], ranked[-(-9 * n // 10) - 1]), n


def test_an_empty_week_has_no_rates(session: Session) -> None:
    f = week_figures(session, *Week(2020, 1).bounds(UTC_ZONE))
    assert (f.opened, f.resolved, f.median_recovery_s, f.on_time_rate) == (0, 0, None, None)
    assert f.recovery_rate is None and f.apology_share is None


def test_week_boundaries_follow_the_local_calendar(session: Session,
                                                    library: PlaybookLibrary) -> None:
    london = __import__("zoneinfo").ZoneInfo("Europe/London")
    b = Builder(session, library)
    # Sun 25 Oct 2026 23:30 London (GMT, after the clocks went back) is still week 43...
    b.open(datetime(2026, 10, 25, 23, 30, tzinfo=UTC), "Late Sunday", contact="s@x",
           location=None)
    # ...and Mon 19 Oct 00:30 BST (Sun 18 Oct 23:30 UTC) is its first hour.
    b.open(datetime(2026, 10, 18, 23, 30, tzinfo=UTC), "Early Monday", contact="m@x",
           location=None)
    # Sun 18 Oct 22:30 UTC is Sun 23:30 BST: the week before.
    b.open(datetime(2026, 10, 18, 22, 30, tzinfo=UTC), "Previous Sunday", contact="p@x",
           location=None)
    session.flush()
    assert week_figures(session, *Week(2026, 43).bounds(london)).opened == 2
    assert week_figures(session, *Week(2026, 42).bounds(london)).opened == 1
    # In UTC the Monday case falls on Sunday 18 Oct, the week before.
    assert week_figures(session, *Week(2026, 43).bounds(UTC_ZONE)).opened == 1
    assert timedelta(hours=169) == (lambda s, e: e - s)(*Week(2026, 43).bounds(london))


def test_the_recovery_rate_counts_each_case_once_by_its_latest_follow_up(
        session: Session, library: PlaybookLibrary) -> None:
    b = Builder(session, library)
    case = b.open(at(16, 9), "Gus", contact="gus@example.com", location=None)
    b.resolve(case, at(16, 10), Reaction.SATISFIED, "Courier delay")
    b.follow_up(case, at(17, 10), Reaction.STILL_UNHAPPY, "cold again")  # reopens it
    b.resolve(case, at(18, 10), Reaction.SATISFIED, "Courier delay")
    b.follow_up(case, at(19, 10), Reaction.DELIGHTED)
    session.flush()
    f = week_figures(session, *Week(2026, 47).bounds(UTC_ZONE))
    assert (f.follow_ups_done, f.recovered_at_follow_up, f.recovery_rate) == (1, 1, 1.0)
    # The week that saw only the unhappy follow-up counts the case as not recovered then.
    upto = week_figures(session, at(16, 0), at(18, 0))
    assert (upto.follow_ups_done, upto.recovered_at_follow_up) == (1, 0)


def test_the_charts_trend_agrees_with_each_weeks_own_figures(
        session: Session, library: PlaybookLibrary) -> None:
    # The hand-built week, plus a case reopened in one week and recovered in the next, so
    # the "latest follow-up by the week's end" rule is tested across a week boundary.
    build_week(session, library)
    b = Builder(session, library)
    gus = b.open(at(9, 9), "Gus", contact="gus@example.com", location=None)
    b.resolve(gus, at(9, 10), Reaction.SATISFIED, "Courier delay")
    b.follow_up(gus, at(13, 10), Reaction.STILL_UNHAPPY, "cold again")
    b.resolve(gus, at(16, 10), Reaction.SATISFIED, "Courier delay")
    b.follow_up(gus, at(17, 10), Reaction.DELIGHTED)
    # Reopened twice and recovered within one week: one case, counted once, recovered.
    ida = b.open(at(2, 9), "Ida", contact="ida@example.com", location=None)
    for day, reaction in ((3, Reaction.STILL_UNHAPPY), (4, Reaction.STILL_UNHAPPY),
                          (5, Reaction.SATISFIED)):
        b.resolve(ida, at(day, 9), Reaction.SATISFIED, "Courier delay")
        b.follow_up(ida, at(day, 10), reaction)
    session.flush()
    weeks = [Week(2026, n) for n in range(40, 49)]
    bounds = [w.bounds(UTC_ZONE) for w in weeks]
    points = trend(session, bounds)
    assert [p.start for p in points] == [start for start, _end in bounds]
    for point, (start, end) in zip(points, bounds, strict=True):
        own = week_figures(session, start, end, detail=False)
        assert (point.opened, point.median_recovery_s, point.followed_up, point.recovered,
                point.compensation_minor, point.recovery_rate) == (
            own.opened, own.median_recovery_s, own.follow_ups_done,
            own.recovered_at_follow_up, own.compensation_minor, own.recovery_rate), start
    assert sum(p.opened for p in points) == 9
    ida_week = next(p for p in points if p.start <= at(3, 10) < p.start + timedelta(days=7))
    assert (ida_week.followed_up, ida_week.recovered) == (1, 1)  # three follow-ups, one case
    assert trend(session, []) == []
