"""The case lifecycle: an explicit transition table and an append-only event timeline.

    opened -> apologised -> fixing -> (awaiting approval -> fixing) -> follow-up due
           -> closed                      (the customer met the manager and is fine)
           -> fixing, reopened            (still unhappy at the follow-up)
    closed -> fixing, reopened            (the customer's survey answer was 1 or 2)
    any open state -> cancelled

Every change goes through `_apply`, which looks the move up in TRANSITIONS, so an illegal
move fails with a plain message and a legal one always leaves an event behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.domain.compensation import CompensationPolicy
from bot.domain.errors import (
    AlreadyDecided,
    CompensationRefused,
    InvalidTransition,
    NotAuthorised,
)
from bot.domain.playbook import CompensationType, Playbook
from bot.domain.survey import CUSTOMER, Answer

OTHER_CAUSE = "Other"
# A manager should close the loop in person within about two days.
DEFAULT_FOLLOW_UP_HOURS = 48  # a manager closes the loop in person within two days
DEFAULT_FOLLOW_UP = timedelta(hours=DEFAULT_FOLLOW_UP_HOURS)


def case_reference(case_id: int) -> str:
    """How a case is named everywhere people see it: C-0042."""
    return f"C-{case_id:04d}"


class CaseState(StrEnum):
    OPENED = "opened"
    APOLOGISED = "apologised"
    FIXING = "fixing"
    AWAITING_APPROVAL = "awaiting_approval"
    FOLLOW_UP_DUE = "follow_up_due"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


_STATE_LABELS = {
    CaseState.OPENED: "open", CaseState.APOLOGISED: "apologised",
    CaseState.FIXING: "being fixed", CaseState.AWAITING_APPROVAL: "waiting for a manager",
    CaseState.FOLLOW_UP_DUE: "resolved, follow-up due", CaseState.CLOSED: "closed",
    CaseState.CANCELLED: "cancelled",
}
WORKING_STATES = frozenset({CaseState.OPENED, CaseState.APOLOGISED, CaseState.FIXING})
OPEN_STATES = WORKING_STATES | {CaseState.AWAITING_APPROVAL}


class EventKind(StrEnum):
    OPENED = "opened"
    APOLOGY_GIVEN = "apology_given"
    STEP_DONE = "step_done"
    STEP_UNDONE = "step_undone"
    COMPENSATION_PROPOSED = "compensation_proposed"
    COMPENSATION_APPROVED = "compensation_approved"
    COMPENSATION_DENIED = "compensation_denied"
    COMPENSATION_ENDORSED = "compensation_endorsed"
    RESOLVED = "resolved"
    FOLLOW_UP_SNOOZED = "follow_up_snoozed"
    FOLLOWED_UP = "followed_up"
    REOPENED = "reopened"
    CANCELLED = "cancelled"
    SURVEY_ANSWERED = "survey_answered"


_S = CaseState
_E = EventKind
# (state, event) -> the state after it. Anything not listed is not allowed.
TRANSITIONS: dict[tuple[CaseState, EventKind], CaseState] = {
    (_S.OPENED, _E.APOLOGY_GIVEN): _S.APOLOGISED,
    (_S.FIXING, _E.APOLOGY_GIVEN): _S.FIXING,
    (_S.AWAITING_APPROVAL, _E.APOLOGY_GIVEN): _S.AWAITING_APPROVAL,
    **{(s, _E.STEP_DONE): _S.FIXING for s in WORKING_STATES},
    **{(s, _E.STEP_UNDONE): _S.FIXING for s in WORKING_STATES},
    (_S.AWAITING_APPROVAL, _E.STEP_DONE): _S.AWAITING_APPROVAL,
    (_S.AWAITING_APPROVAL, _E.STEP_UNDONE): _S.AWAITING_APPROVAL,
    **{(s, _E.COMPENSATION_PROPOSED): _S.AWAITING_APPROVAL for s in WORKING_STATES},
    **{(s, _E.COMPENSATION_APPROVED): _S.FIXING for s in WORKING_STATES},
    (_S.AWAITING_APPROVAL, _E.COMPENSATION_APPROVED): _S.FIXING,
    (_S.AWAITING_APPROVAL, _E.COMPENSATION_DENIED): _S.FIXING,
    (_S.AWAITING_APPROVAL, _E.COMPENSATION_ENDORSED): _S.AWAITING_APPROVAL,
    **{(s, _E.RESOLVED): _S.FOLLOW_UP_DUE for s in WORKING_STATES},
    (_S.FOLLOW_UP_DUE, _E.FOLLOW_UP_SNOOZED): _S.FOLLOW_UP_DUE,
    (_S.FOLLOW_UP_DUE, _E.FOLLOWED_UP): _S.CLOSED,
    (_S.FOLLOW_UP_DUE, _E.REOPENED): _S.FIXING,
    **{(s, _E.CANCELLED): _S.CANCELLED for s in OPEN_STATES},
    # The customer's answer is recorded whatever the case is doing; only a low one on a
    # closed case moves it (record_survey).
    **{(s, _E.SURVEY_ANSWERED): s for s in CaseState},
    (_S.CLOSED, _E.REOPENED): _S.FIXING,
}

_ACTIONS = {
    _E.APOLOGY_GIVEN: "record the apology", _E.STEP_DONE: "tick off a fix step",
    _E.STEP_UNDONE: "untick a fix step", _E.COMPENSATION_PROPOSED: "propose compensation",
    _E.COMPENSATION_APPROVED: "approve compensation", _E.COMPENSATION_DENIED: "deny compensation",
    _E.COMPENSATION_ENDORSED: "endorse compensation",
    _E.RESOLVED: "mark it resolved", _E.FOLLOW_UP_SNOOZED: "snooze the follow-up",
    _E.FOLLOWED_UP: "record the follow-up", _E.REOPENED: "reopen it", _E.CANCELLED: "cancel it",
    _E.SURVEY_ANSWERED: "record the customer's answer",
}
_HINTS = {
    (_S.AWAITING_APPROVAL, _E.RESOLVED): " A manager must decide on the compensation first.",
    (_S.AWAITING_APPROVAL, _E.COMPENSATION_PROPOSED):
        " One compensation request is already waiting for a manager.",
}


class Reaction(StrEnum):
    DELIGHTED = "delighted"
    SATISFIED = "satisfied"
    NEUTRAL = "neutral"
    STILL_UNHAPPY = "still_unhappy"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def recovered(self) -> bool:
        return self in (Reaction.DELIGHTED, Reaction.SATISFIED)


class CompensationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@dataclass(frozen=True, kw_only=True)
class CaseEvent:
    kind: EventKind
    actor: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Endorsement:
    """A manager below the needed level backing a request as it goes up the ladder."""

    by: str
    at: datetime
    level: str  # the endorser's level, by name, as it was then


@dataclass(kw_only=True)
class Compensation:
    number: int  # 1, 2, ... within the case
    type: CompensationType
    label: str
    amount_minor: int
    currency: str
    option_key: str | None
    requested_by: str
    requested_at: datetime
    status: CompensationStatus = CompensationStatus.PENDING
    auto_approved: bool = False
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    endorsements: list[Endorsement] = field(default_factory=list)


@dataclass(kw_only=True)
class Outcome:
    reaction: Reaction
    root_cause: str
    action_taken: str
    notes: str = ""


@dataclass(kw_only=True)
class FollowUp:
    number: int
    manager: str
    due_at: datetime
    snoozed_until: datetime | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    reaction: Reaction | None = None
    note: str = ""


@dataclass(kw_only=True)
class Customer:
    name: str
    contact: str | None = None


@dataclass(frozen=True)
class Source:
    """Where the complaint was first written down: a chat message (its place and id), and
    a link back to it once one is known."""

    channel: str
    ts: str
    link: str | None = None


@dataclass(kw_only=True)
class Case:
    """One customer let down, and everything done to put it right."""

    id: int | None = None
    playbook_id: str
    playbook_version: str
    playbook_hash: str
    severity: str
    customer: Customer
    summary: str
    order_ref: str | None = None
    location: str | None = None
    purchase_minor: int | None = None
    currency: str
    opened_by: str
    opened_at: datetime
    manager: str | None = None  # who follows up with the customer in person
    state: CaseState = CaseState.OPENED
    apology_given_at: datetime | None = None
    steps_done: set[int] = field(default_factory=set)
    compensations: list[Compensation] = field(default_factory=list)
    outcome: Outcome | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    follow_ups: list[FollowUp] = field(default_factory=list)
    source: Source | None = None  # the message it was opened from, if it was
    new_events: list[CaseEvent] = field(default_factory=list)

    @classmethod
    def open(cls, *, playbook: Playbook, severity: str, customer: Customer, summary: str,
             opened_by: str, at: datetime, currency: str, order_ref: str | None = None,
             location: str | None = None, purchase_minor: int | None = None,
             manager: str | None = None, source: Source | None = None) -> Case:
        if severity not in playbook.severity_keys:
            raise InvalidTransition(f"'{severity}' is not a severity of the "
                                    f"'{playbook.title}' playbook.")
        case = cls(playbook_id=playbook.id, playbook_version=playbook.version,
                   playbook_hash=playbook.content_hash, severity=severity, customer=customer,
                   summary=summary, order_ref=order_ref, location=location,
                   purchase_minor=purchase_minor, currency=currency, opened_by=opened_by,
                   opened_at=at, manager=manager, source=source)
        case.new_events.append(CaseEvent(kind=EventKind.OPENED, actor=opened_by, at=at, data={
            "playbook": playbook.id, "version": playbook.version, "hash": playbook.content_hash,
            "severity": severity}))
        return case

    # -- queries ---------------------------------------------------------------------------

    @property
    def reference(self) -> str:
        return case_reference(self.id) if self.id is not None else "C-new"

    @property
    def pending_compensation(self) -> Compensation | None:
        return next((c for c in self.compensations if c.status is CompensationStatus.PENDING),
                    None)

    def compensation(self, number: int) -> Compensation:
        for comp in self.compensations:
            if comp.number == number:
                return comp
        raise InvalidTransition(f"{self.reference} has no compensation #{number}.")

    @property
    def approved_minor(self) -> int:
        return sum(c.amount_minor for c in self.compensations
                   if c.status is CompensationStatus.APPROVED)

    @property
    def open_follow_up(self) -> FollowUp | None:
        return next((f for f in self.follow_ups if f.done_at is None), None)

    @property
    def time_to_recover(self) -> timedelta | None:
        return self.resolved_at - self.opened_at if self.resolved_at else None

    # -- transitions -----------------------------------------------------------------------

    def _apply(self, kind: EventKind, actor: str, at: datetime, **data: Any) -> CaseEvent:
        target = TRANSITIONS.get((self.state, kind))
        if target is None:
            hint = _HINTS.get((self.state, kind), "")
            raise InvalidTransition(
                f"{self.reference} is {self.state.label}, so you can't {_ACTIONS[kind]} now.{hint}")
        self.state = target
        event = CaseEvent(kind=kind, actor=actor, at=at, data=data)
        self.new_events.append(event)
        return event

    def give_apology(self, *, actor: str, at: datetime) -> CaseEvent:
        if self.apology_given_at is not None:
            raise InvalidTransition(f"The apology for {self.reference} is already recorded.")
        event = self._apply(EventKind.APOLOGY_GIVEN, actor, at)
        self.apology_given_at = at
        return event

    def mark_step(self, *, step: int, done: bool, playbook: Playbook, actor: str,
                  at: datetime) -> CaseEvent:
        if not 0 <= step < len(playbook.fix):
            raise InvalidTransition(f"The playbook has no fix step {step + 1}.")
        if done == (step in self.steps_done):
            raise InvalidTransition(
                f"Step {step + 1} is already {'done' if done else 'not done'}.")
        kind = EventKind.STEP_DONE if done else EventKind.STEP_UNDONE
        event = self._apply(kind, actor, at, step=step, text=playbook.fix[step].text)
        (self.steps_done.add if done else self.steps_done.discard)(step)
        return event

    def propose_compensation(self, *, type: CompensationType, label: str, amount_minor: int,
                             option_key: str | None, actor: str, at: datetime,
                             policy: CompensationPolicy, playbook: Playbook) -> Compensation:
        """Within the requester's own limit it is approved at once; above it, it waits for
        the ladder."""
        if amount_minor <= 0 and type is not CompensationType.GOODWILL:
            raise CompensationRefused("A compensation needs an amount above zero.")
        if option_key is not None and option_key not in {
                o.key for o in playbook.compensation.get(self.severity, ())}:
            raise CompensationRefused("That option doesn't fit this case (it belongs to "
                                      "another severity or is no longer in the playbook).")
        if option_key is not None and any(
                c.option_key == option_key and c.status is not CompensationStatus.DENIED
                for c in self.compensations):
            # Also what makes a double click on an option give it once.
            raise CompensationRefused("That option has already been given on this case.")
        if self.state in OPEN_STATES and self.pending_compensation is not None:
            raise InvalidTransition(
                f"{self.reference} already has compensation waiting for a manager.")
        policy.check_ceiling(amount_minor=amount_minor, already_minor=self.approved_minor,
                             ceiling_minor=playbook.ceiling_minor(self.purchase_minor),
                             purchase_minor=self.purchase_minor)
        policy.check_request(amount_minor, actor)
        comp = Compensation(number=len(self.compensations) + 1, type=type, label=label,
                            amount_minor=amount_minor, currency=self.currency,
                            option_key=option_key, requested_by=actor, requested_at=at)
        data = {"compensation": comp.number, "type": type.value, "label": label,
                "amount_minor": amount_minor, "currency": self.currency}
        if policy.needs_approval(amount_minor, actor):
            self._apply(EventKind.COMPENSATION_PROPOSED, actor, at, **data)
        else:
            self._apply(EventKind.COMPENSATION_APPROVED, actor, at, auto=True, **data)
            comp.status, comp.auto_approved = CompensationStatus.APPROVED, True
            comp.decided_by, comp.decided_at = actor, at
        self.compensations.append(comp)
        return comp

    def decide_compensation(self, *, number: int, approve: bool, actor: str, at: datetime,
                            policy: CompensationPolicy, reason: str | None = None) -> Compensation:
        comp = self.compensation(number)
        if comp.status is not CompensationStatus.PENDING:
            raise AlreadyDecided(comp, f"Compensation #{number} on {self.reference} was already "
                                 f"{comp.status.value}.")
        policy.check_decider(decider=actor, requester=comp.requested_by,
                             amount_minor=comp.amount_minor, location=self.location)
        if not approve and not (reason or "").strip():
            raise InvalidTransition("Say why the compensation is denied, so the requester knows.")
        kind = EventKind.COMPENSATION_APPROVED if approve else EventKind.COMPENSATION_DENIED
        self._apply(kind, actor, at, compensation=number, amount_minor=comp.amount_minor,
                    reason=reason or "")
        comp.status = CompensationStatus.APPROVED if approve else CompensationStatus.DENIED
        comp.decided_by, comp.decided_at, comp.reason = actor, at, (reason or None)
        return comp

    def endorse_compensation(self, *, number: int, actor: str, at: datetime,
                             policy: CompensationPolicy) -> Compensation:
        """Back a request above one's own authority: it stays waiting, for the level that
        may decide it, and the chain of endorsements shows in the thread."""
        comp = self.compensation(number)
        if comp.status is not CompensationStatus.PENDING:
            raise AlreadyDecided(comp, f"Compensation #{number} on {self.reference} was already "
                                 f"{comp.status.value}.")
        policy.check_endorser(endorser=actor, requester=comp.requested_by,
                              amount_minor=comp.amount_minor, location=self.location,
                              endorsed_by=tuple(e.by for e in comp.endorsements))
        rank = policy.rank(actor)
        level = policy.levels[rank].name if rank is not None else ""
        self._apply(EventKind.COMPENSATION_ENDORSED, actor, at, compensation=number,
                    amount_minor=comp.amount_minor, level=level)
        comp.endorsements.append(Endorsement(by=actor, at=at, level=level))
        return comp

    def resolve(self, *, outcome: Outcome, playbook: Playbook, actor: str, at: datetime,
                manager: str, default_window: timedelta = DEFAULT_FOLLOW_UP) -> FollowUp:
        """Record the outcome; the manager must follow up within the playbook's window."""
        if outcome.root_cause not in playbook.causes and outcome.root_cause != OTHER_CAUSE:
            raise InvalidTransition(f"'{outcome.root_cause}' is not a root cause in the "
                                    f"'{playbook.title}' playbook.")
        if not outcome.action_taken.strip():
            raise InvalidTransition("Say what action was taken, so the case can close honestly.")
        self._apply(EventKind.RESOLVED, actor, at, reaction=outcome.reaction.value,
                    root_cause=outcome.root_cause, action_taken=outcome.action_taken,
                    notes=outcome.notes, manager=manager)
        self.outcome, self.resolved_at, self.manager = outcome, at, manager
        follow_up = FollowUp(number=len(self.follow_ups) + 1, manager=manager,
                             due_at=at + (playbook.follow_up.within or default_window))
        self.follow_ups.append(follow_up)
        return follow_up

    def snooze_follow_up(self, *, until: datetime, actor: str, at: datetime,
                         policy: CompensationPolicy) -> FollowUp:
        follow_up = self._follow_up_for(actor, policy)
        if until <= at:
            raise InvalidTransition("A snooze must end in the future.")
        self._apply(EventKind.FOLLOW_UP_SNOOZED, actor, at, follow_up=follow_up.number,
                    until=until.isoformat())
        follow_up.snoozed_until = until
        return follow_up

    def record_follow_up(self, *, reaction: Reaction, note: str, actor: str, at: datetime,
                         policy: CompensationPolicy) -> FollowUp:
        """The manager met the customer. Still unhappy reopens the case; otherwise it closes."""
        follow_up = self._follow_up_for(actor, policy)
        kind = EventKind.REOPENED if reaction is Reaction.STILL_UNHAPPY else EventKind.FOLLOWED_UP
        self._apply(kind, actor, at, follow_up=follow_up.number, reaction=reaction.value,
                    note=note, on_time=at <= follow_up.due_at)
        follow_up.done_at, follow_up.done_by = at, actor
        follow_up.reaction, follow_up.note = reaction, note
        if kind is EventKind.FOLLOWED_UP:
            self.closed_at = at
        else:
            self.resolved_at, self.outcome = None, None
        return follow_up

    def record_survey(self, *, survey: int, answer: Answer, at: datetime) -> bool:
        """The customer's own answer. A low score reopens a closed case, as "still unhappy"
        at the follow-up does (True); a follow-up still due keeps it, and its manager hears
        the answer before they go."""
        self._apply(EventKind.SURVEY_ANSWERED, CUSTOMER, at, survey=survey,
                    score=answer.score, comment=answer.comment)
        if not answer.low or self.state is not CaseState.CLOSED:
            return False
        self._apply(EventKind.REOPENED, CUSTOMER, at, survey=survey, score=answer.score)
        self.resolved_at, self.outcome, self.closed_at = None, None, None
        return True

    def cancel(self, *, reason: str, actor: str, at: datetime) -> CaseEvent:
        if not reason.strip():
            raise InvalidTransition("Say why the case is cancelled.")
        event = self._apply(EventKind.CANCELLED, actor, at, reason=reason)
        self.closed_at = at
        for comp in self.compensations:
            if comp.status is CompensationStatus.PENDING:
                comp.status, comp.decided_by, comp.decided_at = (
                    CompensationStatus.DENIED, actor, at)
                comp.reason = "case cancelled"
        return event

    def _follow_up_for(self, actor: str, policy: CompensationPolicy) -> FollowUp:
        follow_up = self.open_follow_up
        if follow_up is None or self.state is not CaseState.FOLLOW_UP_DUE:
            raise InvalidTransition(f"{self.reference} has no follow-up due.")
        if actor != follow_up.manager and not policy.is_manager(actor):
            raise NotAuthorised("Only the manager responsible for this follow-up can record it.")
        return follow_up



