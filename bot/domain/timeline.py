"""A case's append-only timeline, told as a person reads it: who did what, and when.

Plain text, with nothing escaped: the modal escapes it for mrkdwn, the terminal prints it, and
the JSON carries the event's own data beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import money
from bot.domain.lifecycle import EventKind, Reaction
from bot.domain.survey import QUESTION, SCALE

PAGE = 20  # events per page of the History modal (Block Kit: at most 100 blocks a view)


@dataclass(frozen=True, kw_only=True)
class Entry:
    number: int  # 1 for the case's first event
    kind: str
    actor: str
    at: datetime
    what: str  # what happened, in a sentence
    detail: str = ""  # what a person wrote with it (a reason, a note), shown quoted
    data: Mapping[str, Any]


def entry(number: int, kind: str, actor: str, at: datetime, data: Mapping[str, Any],
          currency: str) -> Entry:
    what, detail = describe(kind, data, currency)
    return Entry(number=number, kind=kind, actor=actor, at=at, what=what, detail=detail,
                 data=data)


def describe(kind: str, data: Mapping[str, Any], currency: str) -> tuple[str, str]:
    """(what happened, the words a person wrote with it). Data is read defensively: rows
    written by earlier versions may lack a key."""
    def amount() -> str:
        value = data.get("amount_minor")
        return money.format_amount(value, str(data.get("currency") or currency)) \
            if isinstance(value, int) else "an amount"

    def reaction() -> str:
        value = data.get("reaction")
        try:
            return Reaction(str(value)).label.lower()
        except ValueError:
            return str(value or "")

    match kind:
        case EventKind.OPENED:
            return (f"opened the case ({data.get('playbook', '')!s}, "
                    f"{data.get('severity', '')!s})"), ""
        case EventKind.APOLOGY_GIVEN:
            return "recorded the apology as given", ""
        case EventKind.STEP_DONE | EventKind.STEP_UNDONE:
            verb = "ticked" if kind == EventKind.STEP_DONE else "unticked"
            step = data.get("step")
            number = f" {step + 1}" if isinstance(step, int) else ""
            return f"{verb} fix step{number}: {data.get('text', '')!s}", ""
        case EventKind.COMPENSATION_PROPOSED:
            return (f"asked a manager to approve {amount()} "
                    f"({data.get('type', '')!s}: {data.get('label', '')!s})"), ""
        case EventKind.COMPENSATION_APPROVED:
            if data.get("auto"):
                return (f"gave {amount()} ({data.get('type', '')!s}: "
                        f"{data.get('label', '')!s}), within the staff limit"), ""
            return (f"approved compensation #{data.get('compensation', '?')} "
                    f"({amount()})"), ""
        case EventKind.COMPENSATION_DENIED:
            return (f"denied compensation #{data.get('compensation', '?')} ({amount()})",
                    str(data.get("reason") or ""))
        case EventKind.COMPENSATION_ENDORSED:
            level = f" as {data.get('level')!s}" if data.get("level") else ""
            return (f"endorsed compensation #{data.get('compensation', '?')} ({amount()})"
                    f"{level} and passed it up"), ""
        case EventKind.RESOLVED:
            return (f"resolved the case: the customer felt {reaction()}; root cause "
                    f"{data.get('root_cause', '')!s}; action: "
                    f"{data.get('action_taken', '')!s}", str(data.get("notes") or ""))
        case EventKind.FOLLOW_UP_SNOOZED:
            return f"snoozed the follow-up until {str(data.get('until', ''))[:16]}", ""
        case EventKind.FOLLOWED_UP:
            late = "" if data.get("on_time", True) else " (late)"
            return (f"followed up in person{late}: the customer feels {reaction()}; "
                    "case closed", str(data.get("note") or ""))
        case EventKind.REOPENED if "survey" in data:
            return (f"answered the survey with {data.get('score', '?')!s}/5, so the case "
                    "was reopened"), ""
        case EventKind.SURVEY_ANSWERED:
            return (f"answered “{QUESTION}” with {score(data.get('score'))}",
                    str(data.get("comment") or ""))
        case EventKind.REOPENED:
            return ("followed up in person: the customer is still unhappy, so the case "
                    "was reopened", str(data.get("note") or ""))
        case EventKind.CANCELLED:
            return "cancelled the case", str(data.get("reason") or "")
    return kind.replace("_", " "), ""


def score(value: Any) -> str:
    return f"{value}/5 ({SCALE[value]})" if value in SCALE else "a score"


def pages(total: int) -> int:
    return max(1, -(-total // PAGE))
