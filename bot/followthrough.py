"""Follow-through jobs: reminders, escalations, nudges, hotspots and the weekly digest.

Each job finds what is due with a query, then claims each item with a conditional UPDATE
(so two schedulers never both take it) and writes its message to the outbox in the same
transaction; the outbox worker delivers it, with retries. Time is passed in: tests
control it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot import digest_render
from bot import effects as fx
from bot.blocks import reminders as msgs
from bot.blocks.base import Message
from bot.blocks.text import deciders
from bot.domain import money
from bot.domain.playbook_library import PlaybookLibrary
from bot.domain.weeks import Week, latest_due, send_time
from bot.effects import Effect
from bot.settings import Settings
from storage import claims, outbox
from storage.digest import week_figures

log = logging.getLogger("amends.followthrough")
LATE_AFTER = timedelta(hours=1)  # a digest sent later than this after its slot says so


@dataclass
class Report:
    reminders: int = 0
    escalations: int = 0
    approval_reminders: int = 0
    approval_escalations: int = 0
    nudges: int = 0

    def __bool__(self) -> bool:
        return any(vars(self).values())

    def __str__(self) -> str:
        return (f"{self.reminders} follow-up reminder(s), {self.escalations} escalation(s), "
                f"{self.approval_reminders} approval reminder(s), {self.approval_escalations} "
                f"approval escalation(s), {self.nudges} open-case nudge(s)")


@dataclass
class FollowThrough:
    settings: Settings
    sessions: sessionmaker[Session]
    library: PlaybookLibrary
    managers: Callable[[], frozenset[str]] = field(default=lambda: frozenset())
    notify: Callable[[], None] = field(default=lambda: None)  # wakes the outbox worker

    # -- claiming, then queueing the message in the same transaction --------------------

    def _send(self, claim: Callable[[Session], bool], effect: Effect | None,
              now: datetime) -> bool:
        """Claim the item and queue its message atomically; False if already claimed.

        The outbox delivers the message (with retries), so a claimed item is never lost
        and never sent twice.
        """
        with self.sessions.begin() as session:
            if not claim(session):
                return False
            if effect is not None:
                outbox.add(session, effect.kind, effect.payload, case_id=None, now=now)
        self.notify()
        return True

    def _to_leadership(self, msg: Message, person: str | None = None) -> Effect | None:
        if person:
            return fx.direct(person, msg)
        if self.settings.leadership_channel:
            return fx.post(self.settings.leadership_channel, msg)
        log.warning("nowhere to escalate (set AMENDS_ESCALATION_USER or "
                    "AMENDS_LEADERSHIP_CHANNEL): %s", msg.text)
        return None

    @staticmethod
    def _count(report: Report, attribute: str, outcome: bool) -> None:
        if outcome:
            setattr(report, attribute, getattr(report, attribute) + 1)

    # -- reminders ------------------------------------------------------------------------

    def run_reminders(self, now: datetime, *, send_at: datetime | None = None) -> Report:
        """Everything due at `now`, each claimed once. Its messages go out from `send_at`
        (default `now`): the sandbox asks what would be due in three days, but wants the
        messages at once."""
        report = Report()
        self._follow_ups(now, report, send_at or now)
        self._approvals(now, report, send_at or now)
        self._nudges(now, report, send_at or now)
        return report

    def _follow_ups(self, now: datetime, report: Report, send_at: datetime) -> None:
        with self.sessions() as session:
            rows = [(f.id, f.manager, f.due_at, f.snoozed_until, f.reminded_for, f.escalated_at,
                     f.case_id, f.case.customer_name, f.case.customer_contact,
                     f.case.playbook_id) for f in claims.overdue_follow_ups(session, now)]
        default_window = timedelta(hours=self.settings.escalate_after_hours)
        for (fu_id, manager, due_at, snoozed, reminded_for, escalated_at, case_id, customer,
             contact, playbook_id) in rows:
            due = max(due_at, snoozed) if snoozed else due_at
            if reminded_for is None or reminded_for < due:
                reminder = msgs.follow_up_reminder(case_id=case_id, customer=customer, due=due,
                                                   contact=contact)
                self._count(report, "reminders", self._send(
                    lambda s, i=fu_id, d=due: claims.claim_reminder(s, i, d),
                    fx.direct(manager, reminder), send_at))
            playbook = self.library.get(playbook_id)
            policy = playbook.follow_up if playbook else None
            window = policy.escalate_after if policy and policy.escalate_after else default_window
            if escalated_at is None and now >= due + window:
                alert = msgs.follow_up_escalation(
                    case_id=case_id, customer=customer, manager=manager, due=due,
                    escalate_to=policy.escalate_to if policy else None)
                self._count(report, "escalations", self._send(
                    lambda s, i=fu_id: claims.claim_follow_up_escalation(s, i, now),
                    self._to_leadership(alert, self.settings.escalation_user), send_at))

    def _approvals(self, now: datetime, report: Report, send_at: datetime) -> None:
        remind = timedelta(minutes=self.settings.approval_remind_minutes)
        escalate = timedelta(minutes=self.settings.approval_escalate_minutes)
        with self.sessions() as session:
            rows = [(a.id, a.requested_at, a.reminded_at, a.escalated_at, a.compensation.case_id,
                     a.compensation.amount_minor, a.compensation.requested_by,
                     a.compensation.case.channel_id, a.compensation.case.message_ts)
                    for a in claims.stalled_approvals(session, now - remind, now - escalate)]
        everyone = sorted(self.managers())
        approver = self.settings.escalation_user
        for (approval_id, since, reminded, escalated, case_id, amount, requester, channel,
             thread_ts) in rows:
            shown = money.format_amount(amount, self.settings.currency)
            if reminded is None and now >= since + remind and channel and thread_ts:
                msg = msgs.approval_reminder(case_id=case_id, amount=shown, requester=requester,
                                             since=since,
                                             managers=deciders(everyone, besides=requester))
                self._count(report, "approval_reminders", self._send(
                    lambda s, i=approval_id: claims.claim_approval(s, i, "reminded_at", now),
                    fx.post(channel, msg, thread_ts=thread_ts), send_at))
            if escalated is None and now >= since + escalate:
                msg = msgs.approval_escalation(case_id=case_id, amount=shown,
                                               requester=requester, since=since,
                                               approver=approver,
                                               can_decide=bool(approver) and approver in everyone
                                               and approver != requester)

                # The next approver is asked in the thread, where the buttons are.
                effect = (fx.post(channel, msg, thread_ts=thread_ts)
                          if approver and channel and thread_ts else self._to_leadership(msg))
                self._count(report, "approval_escalations", self._send(
                    lambda s, i=approval_id: claims.claim_approval(s, i, "escalated_at", now),
                    effect, send_at))

    def _nudges(self, now: datetime, report: Report, send_at: datetime) -> None:
        window = timedelta(hours=self.settings.open_nudge_hours)
        with self.sessions() as session:
            rows = [(c.id, c.opened_by, c.opened_at, c.channel_id, c.message_ts)
                    for c in claims.cases_to_nudge(session, now - window)]
        for case_id, staff, opened, channel, thread_ts in rows:
            msg = msgs.open_case_nudge(case_id=case_id, staff=staff, opened=opened)
            effect = (fx.post(channel, msg, thread_ts=thread_ts) if channel and thread_ts
                      else fx.direct(staff, msg))
            self._count(report, "nudges", self._send(
                lambda s, i=case_id: claims.claim_nudge(s, i, now), effect, send_at))

    # -- hotspots -------------------------------------------------------------------------

    def check_hotspot(self, location: str | None, now: datetime) -> bool:
        """Alert the location's manager the moment it reaches the day's threshold."""
        if not location:
            return False
        zone = self.settings.timezone
        day = now.astimezone(zone).date()
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = start + timedelta(days=1)
        with self.sessions() as session:
            count = claims.cases_today(session, location, start, end)
        if count < self.settings.hotspot_threshold:
            return False
        manager = self.settings.location_managers.get(location.strip().lower())
        msg = msgs.hotspot(location=location, count=count, day=f"{day:%a %d %b}")
        return self._send(
            lambda s: claims.claim_alert(s, "hotspot", f"{location.strip().lower()}|{day}", now),
            self._to_leadership(msg, manager), now)

    # -- the weekly digest ----------------------------------------------------------------

    def digest(self, week: Week, *, late: bool = False, due: datetime | None = None,
               plain: bool = False, names: Callable[[str], str] | None = None
               ) -> digest_render.Digest:
        zone = self.settings.timezone
        with self.sessions() as session:
            this = week_figures(session, *week.bounds(zone))
            last = week_figures(session, *week.previous().bounds(zone))
        return digest_render.render(
            week=week, this=this, last=last, currency=self.settings.currency, zone=zone,
            on_time_goal=self.settings.on_time_goal, late=late, due=due,
            template=self.settings.digest_template, plain=plain, names=names,
            titles={p.id: p.title for p in self.library.all()})

    def due_week(self, now: datetime) -> tuple[Week, datetime]:
        return latest_due(now, day=self.settings.digest_day, hour=self.settings.digest_hour,
                          zone=self.settings.timezone)

    def send_digest(self, week: Week, now: datetime) -> bool:
        """Queue `week`'s digest, once per week and channel. False: it already went."""
        channel = self.settings.leadership_channel
        if not channel:
            raise ValueError("AMENDS_LEADERSHIP_CHANNEL is not set: there is nowhere to post "
                             "the digest.")
        due = send_time(week, day=self.settings.digest_day, hour=self.settings.digest_hour,
                        zone=self.settings.timezone)
        late = now > due + LATE_AFTER
        digest = self.digest(week, late=late, due=due)
        return self._send(
            lambda s: claims.claim_digest(s, str(week), channel, now, late=late),
            fx.post(channel, digest.message(),
                    after={"digest_sent": {"week": str(week), "channel": channel}}), now)

    def mark_digest_sent(self, week: str, channel: str) -> None:
        with self.sessions.begin() as session:
            claims.digest_sent(session, week, channel, datetime.now(UTC))

    def run_digest(self, now: datetime) -> bool:
        """The scheduler's job: send the latest week that is due, if it hasn't gone yet."""
        if not self.settings.leadership_channel:
            return False
        week, _due = self.due_week(now)
        # Nothing to report for weeks before Amends' first case (a fresh install doesn't
        # post an empty "late" digest for last week).
        with self.sessions() as session:
            first = claims.first_case_opened(session)
        if first is None or week.bounds(self.settings.timezone)[1] <= first:
            return False
        return self.send_digest(week, now)
