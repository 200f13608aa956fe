"""Who counts as a manager: AMENDS_MANAGERS, plus members of AMENDS_MANAGER_GROUP."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger("amends.managers")


class ManagerDirectory:
    # usergroups.users.list is Tier 2 (about 20 calls a minute): cache the members.
    TTL_SECONDS = 300.0

    def __init__(self, *, managers: frozenset[str], group: str | None, client: WebClient,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._static = managers
        self._group = group
        self._client = client
        self._clock = clock
        self._cached: frozenset[str] = frozenset()
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    @property
    def group(self) -> str | None:
        return self._group

    def all(self) -> frozenset[str]:
        return self._static | self._group_members()

    def _group_members(self) -> frozenset[str]:
        if not self._group:
            return frozenset()
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at > self.TTL_SECONDS:
                try:
                    response = self._client.usergroups_users_list(usergroup=self._group)
                    self._cached = frozenset(response.get("users") or [])
                except SlackApiError as exc:
                    # Keep the last known members; the configured list still works.
                    log.warning("could not read manager group %s: %s", self._group,
                                exc.response.get("error"))
                self._fetched_at = now
            return self._cached
