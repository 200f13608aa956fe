"""What a button or select carries back to us, as typed values with one encoding each.

Builders encode them into a button's `value`; listeners decode them, and anything our own
buttons never carry (forged, truncated, from another version) raises Malformed, which the
person sees as "that doesn't fit this case" and which changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.errors import DomainError

MAX_ID_DIGITS = 12  # no case, step or compensation number is longer
MAX_SNOOZE_HOURS = 24 * 14
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a playbook option key, as the loader allows


class Malformed(DomainError):
    """A button value or form metadata we never made: told to the person, nothing changes."""

    def __init__(self) -> None:
        super().__init__("That doesn't fit this case (the button or form may be out of date).")


def _number(part: str) -> int:
    if not (part.isascii() and part.isdigit() and len(part) <= MAX_ID_DIGITS):
        raise Malformed()
    return int(part)


def _parts(value: object, count: int) -> list[str]:
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) != count:
        raise Malformed()
    return parts


@dataclass(frozen=True)
class CaseRef:
    """A button about a whole case: Apology given, Mark resolved, Cancel, Read all…"""

    case: int

    def encode(self) -> str:
        return str(self.case)

    @classmethod
    def decode(cls, value: object) -> CaseRef:
        return cls(_number(_parts(value, 1)[0]))


@dataclass(frozen=True)
class CompensationRef:
    """Approve or Deny one compensation of a case; Followed up uses it for a follow-up."""

    case: int
    number: int

    def encode(self) -> str:
        return f"{self.case}:{self.number}"

    @classmethod
    def decode(cls, value: object) -> CompensationRef:
        case, number = _parts(value, 2)
        return cls(_number(case), _number(number))


FollowUpRef = CompensationRef  # a follow-up is named the same way: case and number


@dataclass(frozen=True)
class StepTick:
    """Tick (done) or untick one fix step. What the click does is in the value, not the
    button's label, so a double click can't undo itself."""

    case: int
    step: int
    done: bool

    def encode(self) -> str:
        return f"{self.case}:{self.step}:{int(self.done)}"

    @classmethod
    def decode(cls, value: object, label: object = None) -> StepTick:
        """`label`: the button's text, read only for buttons posted before the value said
        what they do ("case:step"; their label was "Done" or "Undo")."""
        if isinstance(value, str) and value.count(":") == 1 and label in ("Done", "Undo"):
            case, step = _parts(value, 2)
            return cls(_number(case), _number(step), label == "Done")
        case, step, done = _parts(value, 3)
        if done not in ("0", "1"):
            raise Malformed()
        return cls(_number(case), _number(step), done == "1")


@dataclass(frozen=True)
class OptionPick:
    """Give (or request) one of the playbook's compensation options."""

    case: int
    key: str

    def encode(self) -> str:
        return f"{self.case}:{self.key}"

    @classmethod
    def decode(cls, value: object) -> OptionPick:
        case, key = _parts(value, 2)
        if not _KEY.match(key):
            raise Malformed()
        return cls(_number(case), key)


@dataclass(frozen=True)
class Snooze:
    """Snooze a follow-up by some hours (up to two weeks)."""

    case: int
    number: int
    hours: int

    def encode(self) -> str:
        return f"{self.case}:{self.number}:{self.hours}"

    @classmethod
    def decode(cls, value: object) -> Snooze:
        case, number, hours = (_number(p) for p in _parts(value, 3))
        if not 0 < hours <= MAX_SNOOZE_HOURS:
            raise Malformed()
        return cls(case, number, hours)


@dataclass(frozen=True)
class TimelinePage:
    """Show one page of a case's History."""

    case: int
    page: int

    def encode(self) -> str:
        return f"{self.case}:{self.page}"

    @classmethod
    def decode(cls, value: object) -> TimelinePage:
        case, page = (_number(p) for p in _parts(value, 2))
        return cls(case, page)


_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,31}$")
_USER = re.compile(r"^[UWB][A-Z0-9]{2,31}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")


@dataclass(frozen=True)
class MessageRef:
    """The message a new-case form was opened from: its channel, ts and author, carried in
    the form's private_metadata as "channel:ts:author"."""

    channel: str
    ts: str
    author: str | None = None

    def encode(self) -> str:
        return f"{self.channel}:{self.ts}:{self.author or ''}"

    @classmethod
    def decode(cls, value: object) -> MessageRef:
        channel, ts, author = _parts(value, 3)
        if not (_CHANNEL.match(channel) and _TS.match(ts)) or (author and not _USER.match(author)):
            raise Malformed()
        return cls(channel, ts, author or None)

    @classmethod
    def maybe(cls, value: object) -> MessageRef | None:
        """The reference, or None when there is none or it is not one we made: a form
        without its source still opens and still opens a case."""
        try:
            return cls.decode(value) if value else None
        except Malformed:
            return None
