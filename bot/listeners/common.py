"""What every listener is handed (through Bolt's context) and the helpers they share."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks import case_messages
from bot.blocks.base import Message
from bot.blocks.case_messages import Style
from bot.domain.errors import DomainError
from bot.domain.lifecycle import Case
from bot.domain.playbook_library import PlaybookLibrary
from bot.followthrough import FollowThrough
from bot.ids import Message as Part
from bot.inbox import Inbox
from bot.managers import ManagerDirectory
from bot.messaging import Slack
from bot.recovery import RecoveryService
from bot.settings import Settings
from bot.work import Background

log = logging.getLogger("amends.slack")


@dataclass(frozen=True)
class Deps:
    settings: Settings
    service: RecoveryService
    slack: Slack
    style: Style
    managers: ManagerDirectory
    library: PlaybookLibrary
    work: Background  # after the ack: changes from clicks, message edits
    urgent: Background  # after the ack, but within the trigger_id's 3 s: opening modals
    followthrough: FollowThrough
    inbox: Inbox  # clicks recorded before their ack, so a crash can't lose them

    def later(self, job: Callable[[], None]) -> None:
        self.work.submit(job)

    def soon(self, job: Callable[[], None]) -> None:
        self.urgent.submit(job)

    def staff_name(self, user: str) -> str:
        """The name to sign the suggested apology with; never fails the flow."""
        return self.slack.name(user)

    def manager_mentions(self, *, besides: str | None = None) -> str:
        """Who can decide, to mention: never `besides` (the requester can't approve their
        own request)."""
        from bot.blocks.text import deciders

        return deciders(self.managers.all(), besides=besides, group=self.managers.group)


class Malformed(DomainError):
    """A button value or form metadata we never made: told to the person, nothing changes."""

    def __init__(self) -> None:
        super().__init__("That doesn't fit this case (the button or form may be out of date).")


MAX_ID_DIGITS = 12  # no case, step or compensation number is longer


def ids(value: Any, count: int) -> list[int]:
    """'12:3' -> [12, 3]; a value our own buttons never carry raises Malformed."""
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) < count or not all(
            p.isascii() and p.isdigit() and len(p) <= MAX_ID_DIGITS for p in parts[:count]):
        raise Malformed()
    return [int(p) for p in parts[:count]]


def meta_int(data: dict[str, Any], name: str) -> int:
    """A number from a view's private_metadata (ours, but carried by the client)."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Malformed()
    return ids(str(value), 1)[0]


def meta(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def slack_call(what: str, case: Case | None, call: Callable[[], Any]) -> Any:
    """Run a Web API call after the case is committed; a failure is logged, never lost data."""
    try:
        return call()
    except SlackApiError as exc:
        ref = case.reference if case else "-"
        log.error("slack call failed: %s case=%s error=%s", what, ref,
                  exc.response.get("error"))
    except OSError as exc:  # timeouts and refused connections after the client's retries
        log.error("slack unreachable: %s case=%s error=%s", what, case.reference if case else "-",
                  exc)
    return None


def render(deps: Deps, case: Case, part: str) -> Message:
    playbook = deps.service.playbook(case.playbook_id)
    if part == "card":
        return case_messages.case_card(case, playbook, deps.style)
    if part == Part.APOLOGY:
        return case_messages.apology(case, playbook, deps.staff_name(case.opened_by))
    if part == Part.FIX:
        return case_messages.fix(case, playbook)
    return case_messages.compensation(case, playbook, deps.style)
