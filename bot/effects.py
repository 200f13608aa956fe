"""What Slack (or the shop's own systems) must be told after a change, as typed values.

A change writes its effects to the outbox in its own transaction; the delivery side
(`bot/delivery`) reads them back and renders every message at delivery time, from the
database as it is then. So an effect carries facts (which case, which compensation, who,
when, where), never a rendered message. Each kind has a fixed name (the outbox row's
`kind`) and an explicit, JSON-safe serialisation; `decode` refuses what it doesn't know.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Union

from sqlalchemy.orm import Session

from bot import logs
from bot.ids import Message as Part
from storage import outbox

if TYPE_CHECKING:
    from bot.domain.lifecycle import Case


@dataclasses.dataclass(frozen=True)
class Place:
    """Where a message goes: a channel (optionally a thread in it) or a person's DM."""

    channel: str | None = None
    thread_ts: str | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        if (self.channel is None) == (self.user is None):
            raise ValueError("a place is a channel or a user, not both or neither")

    @classmethod
    def dm(cls, user: str) -> Place:
        return cls(user=user)

    @classmethod
    def thread(cls, channel: str, thread_ts: str | None = None) -> Place:
        return cls(channel=channel, thread_ts=thread_ts)


@dataclasses.dataclass(frozen=True)
class Effect:
    kind: ClassVar[str]

    @property
    def ordered_by(self) -> int | None:
        """The case whose deliveries this one queues behind (the outbox's per-case order);
        None: it goes whenever it is due."""
        return None

    def to_payload(self) -> dict[str, Any]:
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not f.metadata.get("folded")}


@dataclasses.dataclass(frozen=True)
class CaseEffect(Effect):
    """About one case's own messages: delivered in order with the case's others."""

    case_id: int

    @property
    def ordered_by(self) -> int | None:
        return self.case_id


KINDS: dict[str, type[Effect]] = {}


def _kind(name: str) -> Any:
    def register(cls: type[Effect]) -> type[Effect]:
        cls.kind = name
        KINDS[name] = cls
        return cls

    return register


# -- the case thread ---------------------------------------------------------------------

@_kind("start_thread")
@dataclasses.dataclass(frozen=True)
class StartThread(CaseEffect):
    """The case card where the case was opened, then apology, fix and compensation."""

    channel: str
    user: str
    # The case's edits queued behind it, folded in at delivery (never stored): the posts
    # this attempt makes show the case as it is; those an earlier attempt made are edited.
    then: Refresh | None = dataclasses.field(default=None, metadata={"folded": True})


@_kind("refresh")
@dataclasses.dataclass(frozen=True)
class Refresh(CaseEffect):
    """Edit the card (unless `card` is off: a retry that already did it) and these
    walkthrough messages to show the case as it is now."""

    parts: tuple[str, ...] = ()
    card: bool = True


def fold(effect: Effect, later: list[Effect]) -> Effect:
    """One delivery for the run of edits queued back to back behind `effect` for its case
    (FOLDS): a Refresh renders the case as it is when delivered, so one edit of every part
    any of them named shows them all; a case's card and walkthrough, not posted yet, are
    drawn then too (and edit whatever of theirs an earlier attempt already posted)."""
    edits = [other for other in later if isinstance(other, Refresh)]
    if isinstance(effect, StartThread) and edits:
        return dataclasses.replace(effect, then=_merged(edits[0], edits[1:]))
    if isinstance(effect, Refresh):
        return _merged(effect, edits)
    return effect


def _merged(first: Refresh, later: list[Refresh]) -> Refresh:
    parts, card = list(first.parts), first.card
    for other in later:
        parts += [part for part in other.parts if part not in parts]
        card = card or other.card
    return dataclasses.replace(first, parts=tuple(parts), card=card)


class Unfinished(Exception):
    """A delivery that did part of its work before a call failed: `rest` is what is left,
    so a retry doesn't redo (and risk failing again on) what already went through."""

    def __init__(self, rest: Effect, cause: Exception) -> None:
        super().__init__(str(cause))
        self.rest, self.cause = rest, cause


# Under a backlog these go first: someone is waiting on them (a new case's card, a request
# for approval, its answer, word that something could not be delivered).
FIRST = ("start_thread", "approval_request", "decision", "undelivered")
# A head of each kind named here takes along the rows of the kind it maps to, queued right
# behind it for its case in that kind's lane (fold() merges them). Edits of a case whose
# card isn't posted yet wait behind it (BARRIERS), and go with it: a card that met a 429
# showed them a second later, after their own claim and call (and their own faults).
FOLDS = {"refresh": "refresh", "start_thread": "refresh"}
# A case's deliveries go out in order within a lane; lanes don't wait for each other, so a
# failing edit of the card never holds up the thread's notes, nor a DM a webhook. Lane 0
# (every kind not named) is the thread: the card, then its posts, in order. The card and
# its walkthrough (start_thread) go before anything else of the case, in every lane: an
# edit needs its messages posted. A DM's update follows the DM in its own lane.
LANES = {"refresh": 1, "follow_up_dm": 2, "follow_up_dm_update": 2, "webhook": 3}
BARRIERS = ("start_thread",)


@_kind("approval_request")
@dataclasses.dataclass(frozen=True)
class ApprovalRequest(CaseEffect):
    number: int


@_kind("decision")
@dataclasses.dataclass(frozen=True)
class Decision(CaseEffect):
    """The approval request edited to show the decision, and the requester told."""

    number: int
    # The request already shows it: a retry after the edit went through only tells the
    # requester (editing again cost a call and, in a 429's wake, a second wait).
    edited: bool = False


@_kind("endorsed")
@dataclasses.dataclass(frozen=True)
class Endorsed(CaseEffect):
    """A request passed up the ladder: redrawn with its chain, the level above asked."""

    number: int
    by: str
    edited: bool = False  # as Decision.edited: the request already redrawn


@_kind("withdraw_approvals")
@dataclasses.dataclass(frozen=True)
class WithdrawApprovals(CaseEffect):
    """A cancelled case's open requests edited to say so (their buttons gone)."""



@_kind("resolved_note")
@dataclasses.dataclass(frozen=True)
class ResolvedNote(CaseEffect):
    by: str
    manager: str
    seconds: float


@_kind("follow_up_note")
@dataclasses.dataclass(frozen=True)
class FollowUpNote(CaseEffect):
    """The manager's follow-up told in the thread: the case closed, or reopened."""

    number: int
    by: str


@_kind("survey_note")
@dataclasses.dataclass(frozen=True)
class SurveyNote(CaseEffect):
    """The customer's survey answer told in the thread (a low one to the staff member and
    the manager by name)."""

    survey: int
    reopened: bool = False


@_kind("cancelled_note")
@dataclasses.dataclass(frozen=True)
class CancelledNote(CaseEffect):
    by: str
    reason: str


# -- the manager's follow-up -------------------------------------------------------------

@_kind("follow_up_dm")
@dataclasses.dataclass(frozen=True)
class FollowUpDM(CaseEffect):
    number: int


@_kind("follow_up_dm_update")
@dataclasses.dataclass(frozen=True)
class FollowUpDMUpdate(CaseEffect):
    number: int


# -- follow-through: reminders, escalations, nudges, alerts, the digest -------------------
# Claimed by the scheduled jobs and sent outside any case's order, but naming their case so
# the message is rendered from it at delivery time.

@_kind("follow_up_reminder")
@dataclasses.dataclass(frozen=True)
class FollowUpReminder(Effect):
    case: int
    number: int
    manager: str
    due: datetime


@_kind("follow_up_escalation")
@dataclasses.dataclass(frozen=True)
class FollowUpEscalation(Effect):
    case: int
    number: int
    manager: str
    due: datetime
    escalate_to: str | None
    to: Place


@_kind("approval_reminder")
@dataclasses.dataclass(frozen=True)
class ApprovalReminder(Effect):
    case: int
    number: int
    since: datetime
    to: Place


@_kind("approval_escalation")
@dataclasses.dataclass(frozen=True)
class ApprovalEscalation(Effect):
    case: int
    number: int
    since: datetime
    approver: str | None
    to: Place


@_kind("open_case_nudge")
@dataclasses.dataclass(frozen=True)
class OpenCaseNudge(Effect):
    case: int
    staff: str
    opened: datetime
    to: Place


@_kind("hotspot")
@dataclasses.dataclass(frozen=True)
class CheckHotspot(Effect):
    """A case opened at a location: alert its manager if that makes the day a hotspot."""

    location: str | None
    at: datetime


@_kind("hotspot_alert")
@dataclasses.dataclass(frozen=True)
class HotspotAlert(Effect):
    location: str
    count: int
    day: str
    to: Place


@_kind("digest")
@dataclasses.dataclass(frozen=True)
class WeeklyDigest(Effect):
    """A week's digest for a channel, rendered when it is posted and then marked sent."""

    week: str
    channel: str
    late: bool
    due: datetime


@_kind("digest_chart")
@dataclasses.dataclass(frozen=True)
class DigestChart(Effect):
    """The week's chart, shared in the channel after its digest: queued once the text is
    posted, so a chart that fails never delays or repeats the digest."""

    week: str
    channel: str
    digest_ts: str  # the digest's message: where a missing chart is noted


@_kind("chart_missing")
@dataclasses.dataclass(frozen=True)
class ChartMissing(Effect):
    """Slack refused the chart for good: the digest's thread says so."""

    week: str
    channel: str
    digest_ts: str
    reason: str


@_kind("undelivered")
@dataclasses.dataclass(frozen=True)
class Undelivered(Effect):
    """Slack refused for good a message someone is waiting on (their case card, their
    approval request): they are told directly, so nothing they were promised vanishes."""

    case: int
    what: str  # "card" or "approval"
    reason: str
    user: str | None = None  # None: whoever the message was for (the requester)
    number: int = 0  # the compensation, for an approval request
    channel: str | None = None  # where the card was to go


# -- the shop's own systems --------------------------------------------------------------

@_kind("webhook")
@dataclasses.dataclass(frozen=True)
class Webhook(Effect):
    case_id: int | None
    event: dict[str, Any]

    @property
    def ordered_by(self) -> int | None:
        return self.case_id  # the receiver hears a case's changes in order

    def to_payload(self) -> dict[str, Any]:
        return self.event  # the body as the receiver gets it (signed at delivery)


# -- rows queued by earlier versions ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class QueuedMessage(Effect):
    """A message rendered before it was queued, as versions before 0.2 wrote replies
    ("reply"), posts ("post") and DMs ("dm"). Read from rows queued before an upgrade so
    none is lost; never written."""

    case_id: int | None
    to: Place | None  # None: the case's thread
    text: str
    blocks: list[Any]
    digest: dict[str, str] | None = None  # a digest post: marked sent once posted

    @property
    def ordered_by(self) -> int | None:
        return self.case_id


def _legacy(kind: str, p: dict[str, Any], case_id: int | None) -> QueuedMessage:
    to = (None if kind == "reply" else Place.dm(p["user"]) if kind == "dm"
          else Place.thread(p["channel"], p.get("thread_ts")))
    return QueuedMessage(case_id=case_id, to=to, text=str(p.get("text") or ""),
                         blocks=list(p.get("blocks") or []),
                         digest=(p.get("after") or {}).get("digest_sent"))


def case_opened(case: Case, channel: str, user: str) -> list[Effect]:
    """What a newly opened case tells: its card and walkthrough where it was opened, and,
    when it has a location (hotspots are counted by location), whether that location has
    just become a hotspot."""
    opened: list[Effect] = [StartThread(case.id or 0, channel, user)]
    if case.location:
        opened.append(CheckHotspot(case.location, case.opened_at))
    return opened


def opened_or_shut(case: Case) -> Refresh:
    """The card and each walkthrough message whose look follows whether the case is open
    (resolved, cancelled, reopened: their buttons come or go). The apology's does only while
    it hasn't been given; once it has, it reads the same either way, and editing it spent a
    call on nothing (chat.update is Tier 3: about 50 a minute for the whole workspace)."""
    parts = ((Part.APOLOGY,) if case.apology_given_at is None else ()) + (
        Part.FIX, Part.COMPENSATION)
    return Refresh(case.id or 0, parts)


def queue(session: Session, effect: Effect, *, now: datetime) -> None:
    """Write `effect` to the outbox in the caller's transaction, with the time the request
    being worked arrived (none for the scheduler's jobs)."""
    outbox.add(session, effect.kind, effect.to_payload(), case_id=effect.ordered_by, now=now,
               requested_at=logs.request_at.get())


# -- serialisation ------------------------------------------------------------------------

def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Place):
        return {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
    if isinstance(value, tuple):
        return list(value)
    return value


class Undecodable(ValueError):
    """An outbox row this version can't read: dead-lettered with this reason."""


def _load(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (kind,) = [o for o in options if o is not type(None)]
        origin = typing.get_origin(kind)
    if kind is type(None):
        if value is not None:
            raise Undecodable("expected nothing")
        return None
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is Place:
        return Place(**value)
    if origin is tuple:
        return tuple(str(v) for v in value)
    if origin is dict or kind is Any:
        if not isinstance(value, dict):
            raise Undecodable("expected an object")
        return value
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Undecodable(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """A kind's fields with their resolved types, worked out once: resolving the hints'
    strings (get_type_hints) on every decode was 3% of a delivery's CPU."""
    if cls not in _FIELDS:
        hints = typing.get_type_hints(cls)
        _FIELDS[cls] = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
    return _FIELDS[cls]


def decode(kind: str, payload: dict[str, Any], case_id: int | None = None) -> Effect:
    """The effect an outbox row holds."""
    if kind in ("reply", "post", "dm"):
        try:
            return _legacy(kind, payload, case_id)
        except (KeyError, TypeError, ValueError) as exc:
            raise Undecodable(f"{kind}: {exc}") from None
    cls = KINDS.get(kind)
    if cls is None:
        raise Undecodable(f"unknown delivery kind {kind!r}")
    if cls is Webhook:
        return Webhook(case_id=case_id, event=payload)
    try:
        values = {name: _load(hint, payload[name])
                  for name, hint in _fields(cls) if name in payload}
        return cls(**values)
    except (KeyError, TypeError, ValueError) as exc:
        raise Undecodable(f"{kind}: {exc}") from None
