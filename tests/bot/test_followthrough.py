"""Reminders, escalations, nudges, hotspots and the weekly digest, with time under control."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.app import make_jobs
from bot.domain.weeks import Week, send_time
from bot.ids import Action, Field
from bot.jobs import JobContext, alerts, digest, run_reminders
from bot.managers import ManagerDirectory
from bot.messaging import make_client
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.models import OutboxRow, SentDigestRow
from tests.bot.conftest import MANAGER, MANAGER2, STAFF, Harness, make_settings
from tests.bot.test_journey import open_case, thread

LEADERS = "C0LEADERS"


def jobs_for(harness: Harness, library: Any, settings: Settings | None = None) -> JobContext:
    settings = settings or harness.settings
    client = make_client(token="xoxb-test-token-0000", base_url=harness.fake.url)
    jobs = make_jobs(
        settings, sessions=harness.sessions, library=library,
        managers=ManagerDirectory(managers=settings.managers, group=None, client=client))
    jobs.notify = harness.deliver  # what it queues is delivered at once, as the worker would
    return jobs


def dms(harness: Harness, user: str) -> list[str]:
    return [m.text for m in harness.fake.posts_in("D" + user.lstrip("U"))]


def leaders(harness: Harness) -> list[str]:
    return [m.text for m in harness.fake.posts_in(LEADERS)]


def resolve(harness: Harness, card: Any) -> None:
    harness.click(card, Action.RESOLVE, user=STAFF)
    harness.submit(harness.opened_view(), {Field.REACTION: "satisfied",
                                           Field.ROOT_CAUSE: "Courier delay",
                                           Field.ACTION_TAKEN: "New order sent",
                                           Field.MANAGER: MANAGER}, user=STAFF)


def test_follow_up_reminder_then_escalation_each_once(harness: Harness, library: Any) -> None:
    jobs = jobs_for(harness, library)
    card = open_case(harness)
    resolve(harness, card)
    due = harness.clock.now + timedelta(hours=48)
    assert len(dms(harness, MANAGER)) == 1  # the follow-up request itself

    assert not run_reminders(jobs, due - timedelta(minutes=1))
    assert len(dms(harness, MANAGER)) == 1
    report = run_reminders(jobs, due + timedelta(minutes=1))
    assert report.reminders == 1 and report.escalations == 0
    assert "Reminder: follow up with Sam &lt;!channel&gt; Taylor" in dms(harness, MANAGER)[-1]
    assert not run_reminders(jobs, due + timedelta(hours=2))  # never twice for one due time
    assert len(dms(harness, MANAGER)) == 2

    # The late-delivery playbook escalates 24 hours after the due time.
    assert not run_reminders(jobs, due + timedelta(hours=23, minutes=59))
    report = run_reminders(jobs, due + timedelta(hours=24))
    assert report.escalations == 1
    (alert,) = leaders(harness)
    assert "Follow-up overdue on C-" in alert
    assert not run_reminders(jobs, due + timedelta(days=3))
    assert len(leaders(harness)) == 1 and len(dms(harness, MANAGER)) == 2


def test_snooze_is_honoured_and_a_new_due_time_gets_its_reminder(harness: Harness,
                                                                  library: Any) -> None:
    jobs = jobs_for(harness, library)
    card = open_case(harness)
    resolve(harness, card)
    due = harness.clock.now + timedelta(hours=48)
    harness.clock.advance(hours=47)
    dm = harness.fake.posts_in("D0MGR001")[0]
    harness.choose(dm, Action.SNOOZE, ":48", user=MANAGER)  # until 47 + 48 hours from now
    snoozed_until = harness.clock.now + timedelta(hours=48)
    assert not run_reminders(jobs, due + timedelta(hours=1))
    assert run_reminders(jobs, snoozed_until + timedelta(minutes=1)).reminders == 1
    assert not run_reminders(jobs, snoozed_until + timedelta(minutes=30))


def test_follow_up_done_stops_the_reminders(harness: Harness, library: Any) -> None:
    jobs = jobs_for(harness, library)
    card = open_case(harness)
    resolve(harness, card)
    dm = harness.fake.posts_in("D0MGR001")[0]
    harness.click(dm, Action.FOLLOWED_UP, user=MANAGER)
    harness.submit(harness.opened_view(), {Field.REACTION: "satisfied"}, user=MANAGER)
    assert not run_reminders(jobs, harness.clock.now + timedelta(days=10))


def test_stalled_approval_is_reminded_then_escalated(harness: Harness, library: Any) -> None:
    jobs = jobs_for(harness, library)
    card = open_case(harness)
    compensation = thread(harness, card)[2]
    harness.click(compensation, Action.COMPENSATION_CUSTOM, user=STAFF)
    harness.submit(harness.opened_view(), {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund",
                                           Field.AMOUNT: "30"}, user=STAFF)
    asked = harness.clock.now
    assert not run_reminders(jobs, asked + timedelta(minutes=29))
    assert run_reminders(jobs, asked + timedelta(minutes=30)).approval_reminders == 1
    reminder = thread(harness, card)[-1]
    assert "has been waiting since" in reminder.blocks[0]["text"]["text"]
    assert f"<@{MANAGER}>" in reminder.blocks[0]["text"]["text"]
    report = run_reminders(jobs, asked + timedelta(minutes=120))
    assert report.approval_escalations == 1 and report.approval_reminders == 0
    assert "Approval needed on C-" in leaders(harness)[-1]
    assert not run_reminders(jobs, asked + timedelta(hours=5))


def test_next_approver_is_asked_in_the_thread(harness: Harness, library: Any) -> None:
    settings = make_settings(SLACK_API_URL=harness.fake.url,
                             AMENDS_ESCALATION_USER="U0SENIOR1")
    jobs = jobs_for(harness, library, settings)
    card = open_case(harness)
    harness.click(thread(harness, card)[2], Action.COMPENSATION_CUSTOM, user=STAFF)
    harness.submit(harness.opened_view(), {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund",
                                           Field.AMOUNT: "30"}, user=STAFF)
    run_reminders(jobs, harness.clock.now + timedelta(hours=3))
    assert "<@U0SENIOR1>" in thread(harness, card)[-1].blocks[0]["text"]["text"]
    assert leaders(harness) == []


def test_a_case_left_open_nudges_its_staff_member_once(harness: Harness, library: Any) -> None:
    jobs = jobs_for(harness, library)
    card = open_case(harness)
    assert not run_reminders(jobs, harness.clock.now + timedelta(hours=23))
    assert run_reminders(jobs, harness.clock.now + timedelta(hours=24)).nudges == 1
    nudge = thread(harness, card)[-1]
    assert f"<@{STAFF}>" in nudge.blocks[0]["text"]["text"]
    assert not run_reminders(jobs, harness.clock.now + timedelta(hours=48))


def test_hotspot_alerts_once_when_a_location_reaches_the_threshold(harness: Harness) -> None:
    for n in range(4):
        open_case(harness, answers={Field.LOCATION: "High Street" if n != 1 else "high street"})
        if n < 2:
            assert leaders(harness) == []
    (alert,) = leaders(harness)
    assert "3 cases at High Street today" in alert


def test_after_its_alert_a_hotspot_is_not_counted_or_claimed_again(harness: Harness,
                                                                   library: Any) -> None:
    for _ in range(3):  # the third alerts, from the app's own check
        open_case(harness, answers={Field.LOCATION: "High Street"})
    # Two other processes: each counts and finds the day's alert claimed, once.
    jobs, elsewhere = jobs_for(harness, library), jobs_for(harness, library)
    for ctx in (jobs, elsewhere):
        assert not alerts.check_hotspot(ctx, "High Street", harness.clock.now)
    engine = harness.sessions.kw["bind"]
    statements: list[str] = []

    def seen(conn, cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for ctx in (jobs, elsewhere):
            assert not alerts.check_hotspot(ctx, "High Street", harness.clock.now)
        assert statements == []  # each knows the day's alert is claimed: no count, no claim
        # Another location, or the next day, is counted as before.
        assert not alerts.check_hotspot(jobs, "Market Square", harness.clock.now)
        assert statements
        statements.clear()
        assert not alerts.check_hotspot(jobs, "High Street",
                                        harness.clock.now + timedelta(days=1))
        assert statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(leaders(harness)) == 1


def test_a_case_without_a_location_queues_no_hotspot_check(harness: Harness) -> None:
    open_case(harness, answers={Field.LOCATION: None})
    open_case(harness, answers={Field.LOCATION: "High Street"})
    with harness.sessions() as session:
        kinds = list(session.scalars(select(OutboxRow.kind).order_by(OutboxRow.id)))
    assert kinds.count("start_thread") == 2 and kinds.count("hotspot") == 1


def test_hotspot_goes_to_the_locations_manager(harness: Harness, library: Any) -> None:
    settings = make_settings(SLACK_API_URL=harness.fake.url,
                             AMENDS_LOCATION_MANAGERS="High Street=U0LOCAL1")
    jobs = jobs_for(harness, library, settings)
    for _ in range(3):
        open_case(harness, answers={Field.LOCATION: "High Street"})
    harness.fake.messages.clear()
    with harness.sessions.begin() as session:
        from storage.models import AlertRow

        session.execute(AlertRow.__table__.delete())
    assert alerts.check_hotspot(jobs, "High Street", harness.clock.now)
    assert dms(harness, "U0LOCAL1")


def test_digest_goes_out_once_and_a_missed_week_is_sent_late(harness: Harness,
                                                             library: Any) -> None:
    jobs = jobs_for(harness, library)
    open_case(harness)  # Mon 16 Nov: week 47
    due = send_time(Week(2026, 47), day=0, hour=9, zone=harness.settings.timezone)
    # Before it is due, the latest due week is the one before Amends' first case: nothing.
    assert digest.run(jobs, due - timedelta(minutes=1)) is False
    leaders_before = len(leaders(harness))
    # Amends was down on Monday morning and comes back on Tuesday.
    assert digest.run(jobs, due + timedelta(days=1)) is True
    posted = harness.fake.posts_in(LEADERS)[-1]
    assert len(leaders(harness)) == leaders_before + 1
    text = str(posted.blocks)
    assert "Sent late" in text and "week 47" in text and "*1* cases opened" in text
    assert digest.run(jobs, due + timedelta(days=1, minutes=1)) is False
    assert digest.send(jobs, Week(2026, 47), due + timedelta(days=2)) is False
    with harness.sessions() as session:
        row = session.scalars(select(SentDigestRow)).one()
        assert (row.week, row.channel, row.late) == ("2026-W47", LEADERS, True)


def test_digest_on_time_is_not_marked_late(harness: Harness, library: Any) -> None:
    jobs = jobs_for(harness, library)
    open_case(harness)
    due = send_time(Week(2026, 47), day=0, hour=9, zone=harness.settings.timezone)
    assert digest.run(jobs, due + timedelta(minutes=1)) is True
    assert "Sent late" not in str(harness.fake.posts_in(LEADERS)[-1].blocks)


def test_two_schedulers_racing_send_one_digest(harness: Harness, library: Any) -> None:
    open_case(harness)
    racers = [jobs_for(harness, library) for _ in range(4)]
    due = send_time(Week(2026, 47), day=0, hour=9, zone=harness.settings.timezone)
    start = threading.Barrier(len(racers))
    outcomes: list[bool | None] = []

    def race(jobs: JobContext) -> None:
        start.wait()
        outcomes.append(digest.run(jobs, due + timedelta(seconds=5)))

    threads = [threading.Thread(target=race, args=(j,)) for j in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes, key=str) == [False, False, False, True]
    assert len(harness.fake.posts_in(LEADERS)) == 1


def test_a_refused_digest_is_retried_by_the_outbox(harness: Harness, library: Any) -> None:
    jobs = jobs_for(harness, library)
    open_case(harness)
    due = send_time(Week(2026, 47), day=0, hour=9, zone=harness.settings.timezone)
    harness.fake.fail_next["chat.postMessage"] = [(200, {"ok": False, "error": "fatal_error"}),
                                                  (503, {"ok": False, "error": "service"})]
    assert digest.run(jobs, due) is True  # claimed and queued in one transaction
    assert len(leaders(harness)) == 1  # delivered on the third attempt, once
    assert digest.run(jobs, due + timedelta(minutes=1)) is False
    with harness.sessions() as session:
        assert session.scalars(select(SentDigestRow)).one().sent_at is not None


def test_scheduler_tick_runs_every_job_even_when_one_fails(harness: Harness, library: Any,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    jobs = jobs_for(harness, library)
    calls: list[str] = []

    def broken(now: Any) -> None:
        calls.append("reminders")
        raise RuntimeError("database away")

    Scheduler(jobs, clock=lambda: harness.clock.now, jobs={
        "reminders": lambda ctx, now: broken(now),
        "digest": lambda ctx, now: calls.append("digest")}).tick()
    assert calls == ["reminders", "digest"]
    assert "scheduled job reminders failed" in caplog.text
    caplog.clear()


def test_wording_fits_who_can_act(harness: Harness, library: Any) -> None:
    """The requester is never asked to approve their own request; someone who can't
    approve is asked to get a manager; a case waiting on a manager isn't nudged."""
    jobs = jobs_for(harness, library)
    card = open_case(harness, user=MANAGER)
    compensation = thread(harness, card)[2]
    harness.click(compensation, Action.COMPENSATION_CUSTOM, user=MANAGER)
    harness.submit(harness.opened_view(), {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund",
                                           Field.AMOUNT: "30"}, user=MANAGER)
    request = thread(harness, card)[-1].blocks[0]["text"]["text"]
    assert f"<@{MANAGER2}>" in request and f"<@{MANAGER}> *Approval" not in request
    assert request.count(f"<@{MANAGER}>") == 1  # as the requester, not as an approver
    asked = harness.clock.now
    report = run_reminders(jobs, asked + timedelta(hours=48))
    assert report.nudges == 0  # waiting on a manager: the approval's reminders chase it
    reminder = next(p.blocks[0]["text"]["text"] for p in thread(harness, card)
                    if "has been waiting since" in p.text + str(p.blocks))
    assert reminder.count(f"<@{MANAGER}>") == 1 and f"<@{MANAGER2}>" in reminder
    escalation = json.dumps(harness.fake.posts_in(LEADERS)[-1].blocks)
    assert "Only a manager can decide" in escalation  # leadership can't click Approve
    assert "Please approve or deny it" not in escalation


def test_resolving_with_work_undone_says_so_and_the_manager_sees_it(
        harness: Harness, library: Any) -> None:
    card = open_case(harness)
    harness.click(card, Action.RESOLVE, user=STAFF)
    view = harness.opened_view()
    heads_up = json.dumps(view["blocks"][0])
    assert "no apology is recorded" in heads_up and "4 of 4 fix steps aren't ticked" in heads_up
    harness.submit(view, {Field.REACTION: "satisfied", Field.ROOT_CAUSE: "Courier delay",
                          Field.ACTION_TAKEN: "New order sent", Field.NOTES: "Refused a call",
                          Field.MANAGER: MANAGER}, user=STAFF)
    (dm,) = harness.fake.posts_in("D" + MANAGER.lstrip("U"))
    text = json.dumps(dm.blocks)
    assert "Refused a call" in text and "Steps not ticked" in text
    assert "*Apology:* none recorded" in text


def test_the_resolve_form_opens_before_any_name_is_looked_up(harness: Harness) -> None:
    """users.info can take its time: the form opens at once (the trigger_id lives 3 s) and
    the managers' names follow in an update; a second form has them from the start."""
    card = open_case(harness)
    start = len(harness.fake.calls)
    harness.click(card, Action.RESOLVE, user=STAFF)
    methods = [c.method for c in harness.fake.calls[start:]]
    assert methods.index("views.open") < methods.index("users.info")
    update = harness.fake.called("views.update")[-1].args["view"]
    picker = next(b for b in update["blocks"] if b.get("block_id") == Field.MANAGER)
    assert {o["text"]["text"] for o in picker["element"]["options"]} == {"Morgan", "Jo"}

    start = len(harness.fake.calls)
    harness.click(card, Action.RESOLVE, user=STAFF)
    assert [c.method for c in harness.fake.calls[start:]] == ["views.open"]
