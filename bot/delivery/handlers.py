"""Delivering effects: one handler per kind, each rendering from the database as it is now.

A delivery may run more than once (a retry after a failure), so each is safe to repeat:
edits are idempotent, a handler that posts first checks whether an earlier attempt already
posted and saved its ts, and every post is tagged with its delivery so a retry finds one
whose reply was lost (bot.messaging), so a retry never posts twice. Each delivery uses one
session, in short transactions that are never held across a Slack call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot import effects as fx
from bot import slack_errors
from bot.blocks import case_messages
from bot.blocks import reminders as msgs
from bot.blocks.base import Message
from bot.delivery import webhooks
from bot.delivery.render import CARD, Renderer
from bot.domain.history import CustomerHistory
from bot.domain.lifecycle import Case, Compensation, CompensationStatus, FollowUp
from bot.domain.weeks import Week
from bot.ids import Message as Part
from bot.jobs import alerts, digest
from bot.jobs.context import JobContext
from bot.messaging import Attempt, Slack
from bot.messaging import attempt as current_attempt
from storage import cases, db, surveys
from storage.history import customer_history

T = TypeVar("T")


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str


class Deliverer:
    """Runs one effect. Collaborators are handed in once, when the app is assembled."""

    def __init__(self, *, sessions: sessionmaker[Session], slack: Slack, render: Renderer,
                 jobs: JobContext, clock: Callable[[], datetime],
                 webhook: WebhookTarget | None = None) -> None:
        self.sessions, self.slack, self.render = sessions, slack, render
        self.jobs, self.clock, self.webhook_target = jobs, clock, webhook
        self.handlers: dict[type[fx.Effect], Callable[[Session, Any], None]] = {
            fx.StartThread: self.start_thread, fx.Refresh: self.refresh,
            fx.ApprovalRequest: self.approval_request, fx.Decision: self.decision,
            fx.WithdrawApprovals: self.withdraw_approvals,
            fx.ResolvedNote: self.resolved_note, fx.FollowUpNote: self.follow_up_note,
            fx.CancelledNote: self.cancelled_note, fx.SurveyNote: self.survey_note,
            fx.FollowUpDM: self.follow_up_dm, fx.FollowUpDMUpdate: self.follow_up_dm_update,
            fx.FollowUpReminder: self.follow_up_reminder,
            fx.FollowUpEscalation: self.follow_up_escalation,
            fx.ApprovalReminder: self.approval_reminder,
            fx.ApprovalEscalation: self.approval_escalation,
            fx.OpenCaseNudge: self.open_case_nudge, fx.CheckHotspot: self.check_hotspot,
            fx.HotspotAlert: self.hotspot_alert, fx.WeeklyDigest: self.weekly_digest,
            fx.Webhook: self.webhook, fx.QueuedMessage: self.queued_message,
            fx.Undelivered: self.undelivered, fx.DigestChart: self.digest_chart,
            fx.ChartMissing: self.chart_missing, fx.Endorsed: self.endorsed,
        }

    def __call__(self, effect: fx.Effect, attempt: Attempt | None = None,
                 session: Session | None = None) -> None:
        """Deliver `effect` on `session` (a `db.connected` one: the worker settles the row on
        the same connection), or on a connection of its own."""
        token = current_attempt.set(attempt)  # tags this delivery's posts (bot.messaging)
        try:
            if session is not None:
                self.handlers[type(effect)](session, effect)
                return
            with db.connected(self.sessions) as own:
                self.handlers[type(effect)](own, effect)
        finally:
            current_attempt.reset(token)

    # -- reading and remembering: each one short transaction, none held across a call ------

    @staticmethod
    def _read(session: Session, query: Callable[[Session], T]) -> T:
        with db.standalone(session):
            return query(session)

    def _see(self, session: Session, case_id: int, *, messages: bool = False,
             history: bool = False, shown: bool = False) -> _Seen:
        return self._read(session, partial(_seen, case_id=case_id, messages=messages,
                                           history=history, shown=shown))

    @staticmethod
    def _remember(session: Session, write: Callable[[Session], None]) -> None:
        """Save where a post landed: each write stands alone (saving the same place twice is
        harmless), so it needs no transaction around it (db.standalone)."""
        with db.standalone(session):
            write(session)

    def _post(self, to: fx.Place, msg: Message) -> None:
        if to.user:
            self.slack.dm(to.user, msg)
        else:
            self.slack.post(to.channel or "", msg, thread_ts=to.thread_ts)

    # -- the case thread -------------------------------------------------------------------

    def start_thread(self, session: Session, e: fx.StartThread) -> None:
        """The case card, then the walkthrough in its thread: apology, fix, compensation."""
        seen = self._see(session, e.case_id, messages=True, history=True)
        where = seen.thread
        source = seen.case.source
        if where is None and source is not None and source.link is None:
            # The link back to the message the case was opened from, asked once: a message
            # gone or hidden gives none, and the card goes out without it.
            link = self.slack.permalink(source.channel, source.ts)
            if link is not None:
                self._remember(session, partial(cases.set_source_link, case_id=e.case_id,
                                                link=link))
                seen.case.source = replace(source, link=link)
        # Posted by this attempt, from the case as read above: not one an earlier attempt may
        # have posted (a look finds that one, as it was drawn then).
        attempt = current_attempt.get()

        def drawn_now(label: str) -> bool:
            return attempt is None or not attempt.may_be_posted(label)

        fresh: set[str] = set()
        # What this attempt's own posts show, saved with where the walkthrough's posts
        # landed (one write, not one more for the card's): a process that dies before then
        # leaves the card's "not known", and the next refresh edits it (harmlessly).
        drawn: dict[str, str | None] = {}
        if where is None:
            card = self.render.part(seen.case, CARD, seen.history)
            where = self.slack.post_case(e.channel, e.user, card)
            if drawn_now(CARD):
                fresh.add(CARD)
                drawn[CARD] = card.digest()
            self._remember(session, partial(cases.set_thread, case_id=e.case_id,
                                            channel_id=where[0], ts=where[1]))
        channel, thread_ts = where
        # Where the walkthrough's posts landed and what they show, saved once they are made,
        # or once one fails. A process that dies in between leaves its attempt's record of
        # what it sent "not known" (storage.outbox), and the retry looks for those posts
        # before posting again, as after a lost reply.
        posted: list[tuple[str, str, str]] = []
        try:
            for part in (Part.APOLOGY, Part.FIX, Part.COMPENSATION):
                if part not in seen.messages:
                    msg = self.render.part(seen.case, part, seen.history)
                    ts = self.slack.reply(channel, thread_ts, msg, label=part)
                    posted.append((part, channel, ts))
                    if drawn_now(part):
                        drawn[part] = msg.digest()
        finally:
            if posted or drawn:
                self._remember(session, partial(_placed_parts, case_id=e.case_id,
                                                places=posted, shown=drawn))
        fresh.update(part for part, _, _ in posted if drawn_now(part))
        if e.then is not None:
            # The edits folded in, for what an earlier attempt posted. Should one fail, the
            # whole row is retried: it posts nothing again, and edits (harmlessly) again.
            stale = fx.Refresh(e.case_id, tuple(p for p in e.then.parts if p not in fresh),
                               card=e.then.card and CARD not in fresh)
            if stale.card or stale.parts:
                try:
                    self.refresh(session, stale)
                except fx.Unfinished as exc:
                    raise exc.cause from exc

    def refresh(self, session: Session, e: fx.Refresh) -> None:
        """Each message named edited to show the case as it is now; one that already shows
        exactly that (its digest, ShownRow) is left alone: about one edit in fifteen in the
        soak, and chat.update is Tier 3 (about 50 a minute for the whole workspace)."""
        # The customer's history only for the parts that show it: a fix tick doesn't pay.
        shows = e.card or Part.COMPENSATION in e.parts
        seen = self._see(session, e.case_id, messages=True, history=shows, shown=_trusted())
        if seen.thread is None:
            return  # the thread isn't posted yet; start_thread will show the case as it is
        targets = {CARD: seen.thread, **seen.messages}
        todo = [part for part in ([CARD] if e.card else []) + list(e.parts) if part in targets]
        drawn: dict[str, str | None] = {}
        try:
            for done, part in enumerate(todo):
                msg = self.render.part(seen.case, part, seen.history)
                digest = msg.digest()
                if seen.shown.get(part) == digest:
                    continue
                try:
                    self.slack.update(*targets[part], msg)
                except Exception as exc:
                    # It may have landed unheard; a 429 (or one held here) changed nothing.
                    if not slack_errors.nothing_done(exc):
                        drawn[part] = None
                    if done == 0:
                        raise
                    rest = todo[done:]
                    raise fx.Unfinished(fx.Refresh(e.case_id,
                                                   tuple(p for p in rest if p != CARD),
                                                   card=CARD in rest), exc) from exc
                drawn[part] = digest
        finally:
            # One statement for the delivery. Should it fail (the database away), so does the
            # row's settling: its lease runs out, and the next attempt trusts no digest.
            if drawn:
                self._remember(session, partial(cases.set_shown, case_id=e.case_id,
                                                digests=drawn))

    def approval_request(self, session: Session, e: fx.ApprovalRequest) -> None:
        seen, posted = self._read(session, lambda s: (
            _seen(s, e.case_id), cases.approval_message(s, e.case_id, e.number)))
        if posted:
            return  # posted by an earlier attempt
        thread = seen.posted_thread()
        ts = self.slack.reply(*thread, self.render.approval_request(
            seen.case, seen.case.compensation(e.number)), label="approval")
        self._remember(session, partial(cases.set_approval_message, case_id=e.case_id,
                                        number=e.number, channel_id=thread[0], ts=ts))

    def decision(self, session: Session, e: fx.Decision) -> None:
        """The request edited to show the decision, then the requester told in the thread."""
        seen, where = self._read(session, lambda s: (
            _seen(s, e.case_id), cases.approval_message(s, e.case_id, e.number)))
        comp = seen.case.compensation(e.number)
        self._edit_then_note(e, where, seen.posted_thread(),
                             case_messages.approval_decided(seen.case, comp, self.render.style),
                             case_messages.decision_notice(seen.case, comp, self.render.style))

    def endorsed(self, session: Session, e: fx.Endorsed) -> None:
        """The request redrawn with its chain of endorsements, then the level above asked."""
        seen, where = self._read(session, lambda s: (
            _seen(s, e.case_id), cases.approval_message(s, e.case_id, e.number)))
        comp = seen.case.compensation(e.number)
        if comp.status is not CompensationStatus.PENDING:
            return  # decided since: the decision's own edit shows the chain
        self._edit_then_note(e, where, seen.posted_thread(),
                             self.render.approval_request(seen.case, comp),
                             self.render.endorsed_note(seen.case, comp, e.by))

    def _edit_then_note(self, e: fx.Decision | fx.Endorsed, request: tuple[str, str] | None,
                        thread: tuple[str, str], redrawn: Message, note: Message) -> None:
        """The approval request redrawn (unless an earlier attempt did it), then a note in
        the thread. Should the note fail after the edit went through, the retry only posts
        the note: editing again cost a call and, in a 429's wake, a second wait."""
        if request is None or e.edited:
            self.slack.reply(*thread, note)
            return
        self.slack.update(*request, redrawn)
        try:
            self.slack.reply(*thread, note)
        except Exception as exc:
            raise fx.Unfinished(replace(e, edited=True), exc) from exc

    def withdraw_approvals(self, session: Session, e: fx.WithdrawApprovals) -> None:
        """Each request the cancellation denied, edited to say so."""
        def read(s: Session) -> tuple[Case, list[tuple[Compensation, tuple[str, str]]]]:
            case = cases.read(s, e.case_id)[0]
            withdrawn = [(c, cases.approval_message(s, e.case_id, c.number))
                         for c in case.compensations if c.reason == "case cancelled"]
            return case, [(c, where) for c, where in withdrawn if where is not None]

        case, requests = self._read(session, read)
        for comp, where in requests:
            self.slack.update(*where, case_messages.approval_decided(case, comp,
                                                                     self.render.style))

    def resolved_note(self, session: Session, e: fx.ResolvedNote) -> None:
        seen = self._see(session, e.case_id)
        self.slack.reply(*seen.posted_thread(), case_messages.resolved_note(
            seen.case, by=e.by, manager=e.manager, seconds=e.seconds))

    def follow_up_note(self, session: Session, e: fx.FollowUpNote) -> None:
        seen = self._see(session, e.case_id)
        self.slack.reply(*seen.posted_thread(), case_messages.follow_up_note(
            seen.case, _follow_up(seen.case, e.number), by=e.by))

    def survey_note(self, session: Session, e: fx.SurveyNote) -> None:
        seen, survey = self._read(session, lambda s: (_seen(s, e.case_id),
                                                      surveys.get(s, e.survey)))
        if survey is None:
            raise LookupError(f"{seen.case.reference} has no survey #{e.survey}.")
        self.slack.reply(*seen.posted_thread(), case_messages.survey_note(
            seen.case, survey, reopened=e.reopened))

    def cancelled_note(self, session: Session, e: fx.CancelledNote) -> None:
        seen = self._see(session, e.case_id)
        self.slack.reply(*seen.posted_thread(), case_messages.cancelled_note(
            seen.case, by=e.by, reason=e.reason))

    # -- the manager's follow-up -----------------------------------------------------------

    def follow_up_dm(self, session: Session, e: fx.FollowUpDM) -> None:
        seen, posted, survey = self._read(session, lambda s: (
            _seen(s, e.case_id, history=True), cases.follow_up_message(s, e.case_id, e.number),
            surveys.latest(s, e.case_id)))
        if posted:
            return  # posted by an earlier attempt
        follow_up = _follow_up(seen.case, e.number)
        where = self.slack.dm(follow_up.manager, self.render.follow_up_dm(
            seen.case, follow_up, seen.history, survey, self.clock()))
        self._remember(session, partial(cases.set_follow_up_message, case_id=e.case_id,
                                        number=e.number, channel_id=where[0], ts=where[1]))

    def follow_up_dm_update(self, session: Session, e: fx.FollowUpDMUpdate) -> None:
        seen, where, survey = self._read(session, lambda s: (
            _seen(s, e.case_id, history=True), cases.follow_up_message(s, e.case_id, e.number),
            surveys.latest(s, e.case_id)))
        if where is not None:
            self.slack.update(*where, self.render.follow_up_dm(
                seen.case, _follow_up(seen.case, e.number), seen.history, survey,
                self.clock()))

    # -- follow-through ----------------------------------------------------------------------

    def follow_up_reminder(self, session: Session, e: fx.FollowUpReminder) -> None:
        case = self._see(session, e.case).case
        if _follow_up(case, e.number).done_at is not None:
            return  # done since it was queued: nothing to remind of
        self.slack.dm(e.manager, msgs.follow_up_reminder(
            case_id=e.case, customer=case.customer.name, due=e.due,
            contact=case.customer.contact))

    def follow_up_escalation(self, session: Session, e: fx.FollowUpEscalation) -> None:
        case = self._see(session, e.case).case
        if _follow_up(case, e.number).done_at is not None:
            return
        self._post(e.to, msgs.follow_up_escalation(
            case_id=e.case, customer=case.customer.name, manager=e.manager, due=e.due,
            escalate_to=e.escalate_to))

    def approval_reminder(self, session: Session, e: fx.ApprovalReminder) -> None:
        case = self._see(session, e.case).case
        comp = case.compensation(e.number)
        if comp.status is CompensationStatus.PENDING:  # else decided since it was queued
            self._post(e.to, self.render.approval_reminder(case, comp, e.since))

    def approval_escalation(self, session: Session, e: fx.ApprovalEscalation) -> None:
        seen = self._see(session, e.case)
        case = seen.case
        comp = case.compensation(e.number)
        if comp.status is not CompensationStatus.PENDING:
            return
        # Up the ladder, in the thread where the buttons are, when there is a level above
        # the one asked; at the top, the escalation contact or leadership, as configured.
        higher = self.render.approval_passed_up(case, comp, e.since)
        if higher is not None:
            self.slack.reply(*seen.posted_thread(), higher)
            return
        self._post(e.to, self.render.approval_escalation(
            case, comp, e.since, e.approver, self.jobs.managers()))

    def open_case_nudge(self, session: Session, e: fx.OpenCaseNudge) -> None:
        self._post(e.to, msgs.open_case_nudge(case_id=e.case, staff=e.staff, opened=e.opened))

    def check_hotspot(self, session: Session, e: fx.CheckHotspot) -> None:
        alerts.check_hotspot(self.jobs, e.location, e.at, session)

    def hotspot_alert(self, session: Session, e: fx.HotspotAlert) -> None:
        self._post(e.to, msgs.hotspot(location=e.location, count=e.count, day=e.day))

    def weekly_digest(self, session: Session, e: fx.WeeklyDigest) -> None:
        week = Week.parse(e.week)
        text = digest.compose(self.jobs, session, week, late=e.late, due=e.due)
        _channel, ts = self.slack.post(e.channel, text.message())
        digest.mark_sent(session, e.week, e.channel, self.clock(),
                         chart_after=ts if self.jobs.settings.digest_chart else None)

    def digest_chart(self, session: Session, e: fx.DigestChart) -> None:
        if self.jobs.settings.digest_chart:  # not turned off since it was queued
            digest.share_chart(self.jobs, session, self.slack, Week.parse(e.week), e.channel)

    def chart_missing(self, session: Session, e: fx.ChartMissing) -> None:
        self.slack.reply(e.channel, e.digest_ts, msgs.chart_missing(week=e.week,
                                                                    reason=e.reason))

    # -- what Slack refused for good --------------------------------------------------------

    @staticmethod
    def gave_up(effect: fx.Effect, reason: str) -> fx.Effect | None:
        """What to queue when `effect` is dead-lettered: who waited on it is told."""
        if isinstance(effect, fx.StartThread):
            return fx.Undelivered(case=effect.case_id, what="card", user=effect.user,
                                  reason=reason, channel=effect.channel)
        if isinstance(effect, fx.ApprovalRequest):
            return fx.Undelivered(case=effect.case_id, what="approval", number=effect.number,
                                  reason=reason)
        if isinstance(effect, fx.DigestChart):  # the digest went out: its thread says so
            return fx.ChartMissing(week=effect.week, channel=effect.channel,
                                   digest_ts=effect.digest_ts, reason=reason)
        return None

    def undelivered(self, session: Session, e: fx.Undelivered) -> None:
        case = self._see(session, e.case).case
        if e.what == "card":
            self.slack.dm(e.user or case.opened_by, msgs.undelivered_card(
                case_id=e.case, channel=e.channel, reason=e.reason))
            return
        comp = case.compensation(e.number)
        self.slack.dm(comp.requested_by, msgs.undelivered_approval(
            case_id=e.case, amount=self.render.style.amount(comp.amount_minor),
            reason=e.reason))

    # -- the shop's own systems, and rows from earlier versions -----------------------------

    def webhook(self, session: Session, e: fx.Webhook) -> None:
        if self.webhook_target is None:
            return  # webhooks were turned off after this was queued
        webhooks.send(self.webhook_target.url, self.webhook_target.secret, e.event)

    def queued_message(self, session: Session, e: fx.QueuedMessage) -> None:
        msg = Message(text=e.text, blocks=e.blocks)
        if e.to is None:
            if e.case_id is None:
                raise fx.Undecodable("a thread reply without its case")
            self.slack.reply(*self._see(session, e.case_id).posted_thread(), msg)
            return
        self._post(e.to, msg)
        if e.digest:
            digest.mark_sent(session, e.digest["week"], e.digest["channel"], self.clock())


@dataclass(frozen=True)
class _Seen:
    """A case as a delivery reads it, with where its messages are."""

    case: Case
    thread: tuple[str, str] | None  # the card, heading the thread (None: not posted yet)
    messages: dict[str, tuple[str, str]]  # walkthrough part -> where, when asked for
    history: CustomerHistory | None = None  # the customer's earlier cases, when asked for
    shown: dict[str, str] = field(default_factory=dict)  # part -> digest, when asked for

    def posted_thread(self) -> tuple[str, str]:
        if self.thread is None:
            raise RuntimeError("the case thread is not posted yet")  # retried: it comes first
        return self.thread


def _seen(session: Session, case_id: int, messages: bool = False,
          history: bool = False, shown: bool = False) -> _Seen:
    """One read inside the caller's transaction: the case, its thread, its messages (`shown`
    reads them too, with what they and the card show as far as Amends knows), and the
    customer's earlier cases."""
    case, thread = cases.read(session, case_id)
    places: dict[str, tuple[str, str]] = {}
    digests: dict[str, str] = {}
    if shown:  # the messages and their digests in one statement (only a refresh asks)
        places, digests = cases.messages_and_shown(session, case_id)
    elif messages:
        places = cases.messages(session, case_id)
    return _Seen(case, thread, places, customer_history(session, case) if history else None,
                 digests)


def _trusted() -> bool:
    """Whether recorded digests say what Slack shows: not when an earlier attempt of this
    delivery died mid-way (its record of what it sent is not known): an edit it made may
    have landed unrecorded. Any other edit that may have landed unheard records its part as
    not known (refresh)."""
    current = current_attempt.get()
    return current is None or current.sent_before is not None


def _placed_parts(session: Session, case_id: int, places: list[tuple[str, str, str]],
                  shown: dict[str, str | None]) -> None:
    if places:
        cases.set_messages(session, case_id, places)
    cases.set_shown(session, case_id, shown)


def _follow_up(case: Case, number: int) -> FollowUp:
    found = next((f for f in case.follow_ups if f.number == number), None)
    if found is None:
        raise LookupError(f"{case.reference} has no follow-up #{number}.")
    return found
