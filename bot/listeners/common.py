"""What every listener is handed (through Bolt's context) and the helpers they share."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks.case_messages import Style
from bot.domain.lifecycle import Case
from bot.domain.playbook_library import PlaybookLibrary
from bot.inbox import Inbox
from bot.managers import ManagerDirectory
from bot.messaging import Slack
from bot.recovery import RecoveryService, Unit
from bot.settings import Settings
from bot.values import CaseRef, Malformed
from bot.work import Background

__all__ = ["Deps", "Malformed", "meta", "meta_int", "slack_call"]

log = logging.getLogger("amends.slack")


@dataclass(frozen=True)
class Deps:
    settings: Settings
    service: RecoveryService
    sessions: Callable[[], Unit]  # one session (unit of work) per request or job
    slack: Slack
    style: Style
    managers: ManagerDirectory
    library: PlaybookLibrary
    work: Background  # after the ack: changes from clicks, message edits
    urgent: Background  # after the ack, but within the trigger_id's 3 s: opening modals
    inbox: Inbox  # clicks recorded before their ack, so a crash can't lose them

    def later(self, job: Callable[[], None]) -> None:
        self.work.submit(job)

    def soon(self, job: Callable[[], Any]) -> None:
        self.urgent.submit(job)

    @contextmanager
    def unit(self) -> Iterator[Unit]:
        """The unit of work for a job that runs after its request (a click, Home)."""
        with self.sessions() as session:
            yield session

    def staff_name(self, user: str) -> str:
        """A person's name for plain text (modal errors, the resolve form); never fails."""
        return self.slack.name(user)


def meta_int(data: dict[str, Any], name: str) -> int:
    """A number from a view's private_metadata (ours, but carried by the client)."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Malformed()
    return CaseRef.decode(str(value)).case


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
