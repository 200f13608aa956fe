"""Recovery use cases: each one a transaction over the domain and the database.

The Slack layer calls these and only translates; nothing here knows about Slack. Every
change loads the case with a row lock, applies one domain transition, saves the rows and
events, and commits before anyone is told: the case is safe before any message goes out.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from bot import logs
from bot.domain import authority
from bot.domain.compensation import CompensationPolicy
from bot.domain.digest import WeekSoFar
from bot.domain.lifecycle import (
    DEFAULT_FOLLOW_UP,
    Case,
    CaseEvent,
    Customer,
    EventKind,
    Source,
)
from bot.domain.playbook import Playbook
from bot.domain.playbook_library import PlaybookLibrary
from bot.domain.survey import Answer, Survey
from bot.domain.timeline import Entry
from bot.domain.weeks import Week
from bot.domain.worklists import CaseLine, DueFollowUp, WaitingApproval
from bot.effects import Effect, FollowUpDMUpdate, SurveyNote, Webhook, opened_or_shut, queue
from bot.surveys.links import LinkRefused, SurveyLinks
from storage import cases, request_keys, surveys, timeline
from storage.digest import week_against_last

T = TypeVar("T")
# A request's or a job's unit of work: one session, handed to every use case it runs.
Unit = Session
log = logging.getLogger("amends.recovery")


class StorageError(Exception):
    """The database did not take the change; nothing was changed. Safe to show as it is."""


class StorageUnavailable(StorageError):
    def __init__(self) -> None:
        super().__init__("Amends can't reach its database right now, so nothing was changed. "
                         "Please try again in a minute.")


class StorageRefused(StorageError):
    """A value the database can't hold (too long, out of range) got past the checks."""

    def __init__(self) -> None:
        super().__init__("Amends couldn't save that: a value is too long or too large. "
                         "Nothing was changed; shorten it and try again.")


class AlreadyHandled(Exception):
    """This very request (the same form submission or click) was acted on already."""


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            # Connection-level failures only: a half-done transaction was rolled back.
            log.error("database unavailable: %s", type(exc.orig or exc).__name__)
            raise StorageUnavailable() from exc
        except DataError as exc:
            log.error("database refused a value: %s", type(exc.orig or exc).__name__)
            raise StorageRefused() from exc

    return wrapper


def translate_storage_errors(cls: type[Any]) -> type[Any]:
    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_") and name != "playbook":
            setattr(cls, name, _translating(member))
    return cls


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """What a change needs besides the case: its playbook, the rules, and the time."""

    playbook: Playbook
    policy: CompensationPolicy
    now: datetime
    follow_up_window: timedelta = DEFAULT_FOLLOW_UP  # when the playbook sets none


# The changes the shop's own systems hear about (AMENDS_WEBHOOK_URL).
WEBHOOK_EVENTS = {EventKind.OPENED, EventKind.COMPENSATION_APPROVED, EventKind.RESOLVED,
                  EventKind.FOLLOWED_UP, EventKind.REOPENED, EventKind.CANCELLED,
                  EventKind.SURVEY_ANSWERED}


def webhook_event(case: Case, event: CaseEvent,
                  survey: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"event": f"case.{event.kind.value}", "case": case.reference, "case_id": case.id,
            "at": event.at.isoformat(), "actor": event.actor, "data": event.data,
            "playbook": case.playbook_id, "severity": case.severity,
            "state": case.state.value,
            "customer": {"name": case.customer.name, "contact": case.customer.contact},
            "order_ref": case.order_ref, "location": case.location,
            "purchase_minor": case.purchase_minor, "currency": case.currency}
    if survey is not None:
        body["survey"] = survey  # the link for the shop's own systems to send the customer
    return body


@dataclass(frozen=True)
class SurveyPlan:
    """When customers are asked (at the follow-up; at resolving too, if set), for how long
    a link stays open, and how links are made."""

    links: SurveyLinks
    lasts: timedelta
    on_resolve: bool = False

    def asks_after(self, kinds: set[EventKind]) -> bool:
        return EventKind.FOLLOWED_UP in kinds or (self.on_resolve and EventKind.RESOLVED in kinds)


class SurveyAnswer(StrEnum):
    """How an answer from the survey page went; only the first two record anything."""

    RECORDED = "recorded"
    REOPENED = "reopened"  # recorded, and the closed case reopened
    ALREADY = "already"  # answered before: nothing recorded
    EXPIRED = "expired"
    INVALID = "invalid"  # not a link Amends made


@translate_storage_errors
@dataclass
class RecoveryService:
    """The case use cases. Each takes the request's or job's session (its unit of work) and
    runs its own short transaction on it (`session.begin()`), committed before anyone is
    told, and never held across a Slack call (SQLite's BEGIN IMMEDIATE locks even reads)."""

    library: PlaybookLibrary
    policy: Callable[[], CompensationPolicy]
    clock: Callable[[], datetime] = utc_now
    follow_up_window: timedelta = DEFAULT_FOLLOW_UP
    notify: Callable[[], None] = lambda: None  # wakes the outbox worker after a commit
    webhooks: bool = False  # queue a webhook event for each case change worth telling
    surveys: SurveyPlan | None = None  # None: customers are not asked (no AMENDS_PUBLIC_URL)

    def playbook(self, playbook_id: str) -> Playbook:
        playbook = self.library.get(playbook_id)
        if playbook is None:
            # A case outlives a playbook removed from the folder; say so plainly.
            raise LookupError(f"The playbook '{playbook_id}' is no longer installed.")
        return playbook

    def open_case(self, session: Session, *, origin_key: str | None, playbook_id: str,
                  severity: str, customer: Customer, summary: str, opened_by: str,
                  currency: str, order_ref: str | None = None, location: str | None = None,
                  purchase_minor: int | None = None, source: Source | None = None,
                  effects: Callable[[Case], list[Effect]] | None = None) -> tuple[Case, bool]:
        """Record a new case. The same origin (a form submitted twice) opens it once."""
        playbook = self.playbook(playbook_id)
        if origin_key is not None:
            existing = self._existing(session, origin_key)
            if existing is not None:
                return existing, False
        case = Case.open(playbook=playbook, severity=severity, customer=customer,
                         summary=summary, opened_by=opened_by, at=self.clock(),
                         currency=currency, order_ref=order_ref, location=location,
                         purchase_minor=purchase_minor, source=source)
        try:
            with session.begin():
                events = list(case.new_events)
                cases.add(session, case, origin_key=origin_key)
                logs.case_id.set(case.id)
                self._enqueue(session, case, effects(case) if effects else [], events)
        except IntegrityError:
            existing = self._existing(session, origin_key) if origin_key else None
            if existing is None:
                raise
            return existing, False
        self.notify()
        return case, True

    def _existing(self, session: Session, origin_key: str) -> Case | None:
        with session.begin():
            case_id = cases.find_by_origin(session, origin_key)
            return cases.read(session, case_id)[0] if case_id is not None else None

    def change(self, session: Session, case_id: int, apply: Callable[[Case, Context], T], *,
               actor: str, action: EventKind,
               effects: Callable[[Case, T], list[Effect]] | None = None,
               key: str | None = None) -> tuple[Case, T]:
        """Check the actor may, apply one transition under a row lock, and commit it with
        its events and what Slack must be told (the outbox), all in one transaction.

        `key` names the request (a form's view id, a click's action_ts): the same request
        delivered again raises AlreadyHandled and changes nothing."""
        logs.case_id.set(case_id)
        try:
            with session.begin():
                case, row = cases.load(session, case_id, for_update=True)
                if key is not None and request_keys.seen(session, key):
                    raise AlreadyHandled(key)
                context = Context(playbook=self.playbook(case.playbook_id),
                                  policy=self.policy(), now=self.clock(),
                                  follow_up_window=self.follow_up_window)
                authority.check(case, action, actor, context.policy)
                result = apply(case, context)
                events = list(case.new_events)
                cases.save(session, case, row)
                survey = self._ask_customer(session, case, events, context.now)
                self._enqueue(session, case, effects(case, result) if effects else [], events,
                              survey)
                if key is not None:
                    request_keys.record(session, key, case_id=case_id, now=context.now)
        except IntegrityError:
            # Two deliveries of one request raced past the lock (SQLite has none): the
            # key's primary key let one through.
            if key is not None and self._seen(session, key):
                raise AlreadyHandled(key) from None
            raise
        self.notify()
        return case, result

    def _seen(self, session: Session, key: str) -> bool:
        with session.begin():
            return request_keys.seen(session, key)

    def _ask_customer(self, session: Session, case: Case, events: list[CaseEvent],
                      now: datetime) -> Survey | None:
        """A survey for the customer once the case is followed up (or resolved, if set):
        in the change's own transaction, so the link and the change are one."""
        plan = self.surveys
        if plan is None or case.id is None or not plan.asks_after({e.kind for e in events}):
            return None
        return surveys.issue(session, case.id, now=now, lasts=plan.lasts)

    def _enqueue(self, session: Session, case: Case, effects: list[Effect],
                 events: list[CaseEvent], survey: Survey | None = None) -> None:
        now = self.clock()
        for effect in effects:
            queue(session, effect, now=now)
        if self.webhooks:
            link = None
            if survey is not None and self.surveys is not None:
                link = {"url": self.surveys.links.url(survey),
                        "expires_at": survey.expires_at.isoformat()}
            for event in events:
                if event.kind in WEBHOOK_EVENTS:
                    asks = link if event.kind in (EventKind.FOLLOWED_UP,
                                                  EventKind.RESOLVED) else None
                    queue(session, Webhook(case_id=case.id,
                                           event=webhook_event(case, event, asks)), now=now)

    def answer_survey(self, session: Session, token: str, answer: Answer) -> SurveyAnswer:
        """The customer's answer from the survey page: recorded once, on the case's
        timeline, told in its thread; a low score reopens a closed case."""
        now = self.clock()
        with session.begin():
            survey = self._linked(session, token, now)
            if not isinstance(survey, Survey):
                return survey
            logs.case_id.set(survey.case_id)
            case, row = cases.load(session, survey.case_id, for_update=True)
            # The conditional write decides: of two answers racing, one gets here.
            if not surveys.answer(session, survey.id, survey.nonce, answer, now=now):
                return SurveyAnswer.EXPIRED if survey.expired(now) else SurveyAnswer.ALREADY
            reopened = case.record_survey(survey=survey.id, answer=answer, at=now)
            events = list(case.new_events)
            cases.save(session, case, row)
            told: list[Effect] = [SurveyNote(survey.case_id, survey.id, reopened)]
            if case.follow_ups:
                told.append(FollowUpDMUpdate(survey.case_id, case.follow_ups[-1].number))
            if reopened:  # every message of the walkthrough live again
                told.append(opened_or_shut(case))
            self._enqueue(session, case, told, events)
        self.notify()
        return SurveyAnswer.REOPENED if reopened else SurveyAnswer.RECORDED

    def survey_state(self, session: Session, token: str) -> SurveyAnswer | None:
        """What the page should show for a link before it is answered: None when the
        question can be asked, else why not. Reads only."""
        now = self.clock()
        with session.begin():
            survey = self._linked(session, token, now)
        if not isinstance(survey, Survey):
            return survey
        if survey.answered_at is not None:
            return SurveyAnswer.ALREADY
        return SurveyAnswer.EXPIRED if survey.expired(now) else None

    def _linked(self, session: Session, token: str, now: datetime) -> Survey | SurveyAnswer:
        """The survey a link names, in the caller's transaction; or why the link is refused
        (the signature and expiry are checked before the database is asked)."""
        if self.surveys is None:
            return SurveyAnswer.INVALID
        try:
            ticket = self.surveys.links.read(token, now)
        except LinkRefused as refused:
            return SurveyAnswer.EXPIRED if refused.expired else SurveyAnswer.INVALID
        survey = surveys.get(session, ticket.survey_id)
        if survey is None or survey.nonce != ticket.nonce:
            return SurveyAnswer.INVALID
        return survey

    def get(self, session: Session, case_id: int) -> Case:
        with session.begin():
            return cases.read(session, case_id)[0]

    def timeline(self, session: Session, case_id: int, page: int | None = 1
                 ) -> tuple[Case, int, int, list[Entry]]:
        """The case, its event count, the page shown and that page's entries."""
        with session.begin():
            case = cases.read(session, case_id)[0]
            return (case, *timeline.page(session, case, page))

    # -- lists for people --------------------------------------------------------------

    def week_so_far(self, session: Session, zone: ZoneInfo) -> WeekSoFar:
        """This week from its start to now, against the same stretch of last week: the
        digest's own figures (the same SQL), for leadership's Home tab."""
        now = self.clock()
        week = Week.containing(now, zone)
        start, last_start = week.bounds(zone)[0], week.previous().bounds(zone)[0]
        with session.begin():
            this, last = week_against_last(session, (start, now),
                                           (last_start, last_start + (now - start)))
        return WeekSoFar(since=start, this=this, last=last)

    def open_cases_for(self, session: Session, user: str) -> list[CaseLine]:
        with session.begin():
            return cases.open_cases_for(session, user)

    def approvals_waiting_for(self, session: Session, manager: str) -> list[WaitingApproval]:
        """What `manager` may decide (the policy's check_decider, as a query): up to their
        level's limit, at the locations they serve, never their own requests."""
        rules = self.policy()
        rank = rules.rank(manager)
        if rank is None:
            return []
        serves = None if manager not in rules.approver_locations else \
            functools.partial(rules.serves, manager)
        with session.begin():
            return cases.approvals_waiting_for(session, manager,
                                               up_to_minor=rules.levels[rank].limit_minor,
                                               serves=serves)

    def follow_ups_due_for(self, session: Session, manager: str) -> list[DueFollowUp]:
        with session.begin():
            return cases.follow_ups_due_for(session, manager)
