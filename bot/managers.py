"""Who counts as a manager: AMENDS_MANAGERS, members of AMENDS_MANAGER_GROUP, and everyone on
the approval ladder (its people and the members of its user groups)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.settings import LadderStep

log = logging.getLogger("amends.managers")


class ManagerDirectory:
    # usergroups.users.list is Tier 2 (about 20 calls a minute): cache each group's members.
    TTL_SECONDS = 300.0

    def __init__(self, *, managers: frozenset[str], group: str | None, client: WebClient,
                 clock: Callable[[], float] = time.monotonic,
                 ladder: tuple[LadderStep, ...] = ()) -> None:
        self._static = managers
        self._group = group
        self._client = client
        self._clock = clock
        self.ladder = ladder
        self._cached: dict[str, tuple[float, frozenset[str]]] = {}  # group -> (when, who)
        self._lock = threading.Lock()

    @property
    def group(self) -> str | None:
        return self._group

    def all(self) -> frozenset[str]:
        everyone = self._static | self.members((self._group,) if self._group else ())
        for step in self.ladder:
            everyone |= self.on(step)
        return everyone

    def on(self, step: LadderStep) -> frozenset[str]:
        """The people on one level of the ladder."""
        return step.users | self.members(step.groups)

    def members(self, groups: Iterable[str]) -> frozenset[str]:
        found: frozenset[str] = frozenset()
        for group in groups:
            found |= self._group_members(group)
        return found

    def _group_members(self, group: str) -> frozenset[str]:
        with self._lock:
            now = self._clock()
            fetched = self._cached.get(group)
            if fetched is not None and now - fetched[0] <= self.TTL_SECONDS:
                return fetched[1]
            known = fetched[1] if fetched is not None else frozenset()
            try:
                response = self._client.usergroups_users_list(usergroup=group)
                known = frozenset(response.get("users") or [])
            except SlackApiError as exc:
                # Keep the last known members; the configured people still work.
                log.warning("could not read user group %s: %s", group,
                            exc.response.get("error"))
            self._cached[group] = (now, known)
            return known
