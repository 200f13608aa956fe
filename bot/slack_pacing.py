"""Slack's rate limits, honoured where they were hit: per method, in the channel it was hit.

https://docs.slack.dev/apis/web-api/rate-limits: each Web API method has a per-workspace
limit by tier (chat.update is Tier 3, about 50 a minute); chat.postMessage allows about one
message per second per channel, with short bursts. Over a limit Slack answers HTTP 429 with
`Retry-After`. When it does, this client holds what was refused (the method, in the channel
the call named, if it named one) until then, and refuses further such calls itself with the
same 429, without asking Slack: the outbox puts those deliveries off until the hold ends,
without counting an attempt, and every other channel and method goes on at full speed.
Nothing sleeps. Where a limit is really the whole workspace's, each other channel meets its
own 429 and is held in turn: one extra refusal per channel, instead of one busy channel
stopping every case. A read or an edit that meets a 5xx or a dropped connection is sent
again once, at once (RESEND_ONCE); a post never is here (bot.messaging looks for it first).
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot import slack_http

LONGEST_HOLD = 900.0  # a garbled or huge Retry-After must not silence a method for long
# Calls that change nothing, or set a thing to what it already is (an edit to the same
# content): doing one twice is harmless, so after a 5xx or a dropped connection it is sent
# again at once, one time, rather than costing its delivery a round of back-off (in the soak,
# edits of a case were retried in 16% of deliveries before, 7% after). Posts never are here:
# the outbox retries them, first looking for the copy a lost reply may hide. Timeouts are not
# resent either: the call already took the client's whole timeout.
RESEND_ONCE = frozenset({
    "chat.update", "chat.getPermalink", "conversations.history", "conversations.replies",
    "conversations.open", "conversations.info", "users.info", "usergroups.users.list",
    "views.publish", "auth.test"})


def hold_key(method: str, args: dict[str, Any] | None) -> str:
    """What one 429 holds: the method, in the channel the call named if it named one."""
    channel = (args or {}).get("channel")
    return f"{method} {channel}" if isinstance(channel, str) and channel else method


class Holds:
    """Until when each method (or method in a channel) is held after a 429."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def left(self, key: str) -> float:
        """Seconds before `key` may be called again (0: now)."""
        with self._lock:
            until = self._until.get(key)
            if until is None:
                return 0.0
            left = until - self.clock()
            if left <= 0:
                del self._until[key]
                return 0.0
            return left

    def hold(self, key: str, seconds: float) -> None:
        with self._lock:
            self._until[key] = max(self._until.get(key, 0.0), self.clock() + seconds)


def retry_after(response: SlackResponse) -> float:
    """A 429's Retry-After in seconds, bounded (1 s to LONGEST_HOLD): a garbled or huge
    value must not park a delivery or silence a method."""
    value = response.headers.get("Retry-After") or response.headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return min(max(float(str(value)), 1.0), LONGEST_HOLD)
    except ValueError:
        return 1.0


class PacedClient(WebClient):
    """A WebClient that honours Slack's 429s per method and channel (see the module doc)."""

    def __init__(self, *args: Any, holds: Holds | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holds = holds or Holds()

    def api_call(self, api_method: str, *, http_verb: str = "POST",
                 files: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None, json: dict[str, Any] | None = None,
                 headers: dict[str, Any] | None = None, auth: dict[str, Any] | None = None
                 ) -> SlackResponse:
        key = hold_key(api_method, json or data or params)
        left = self.holds.left(key)
        if left > 0:
            raise Held(self, api_method, left)
        send = partial(self._send, key, api_method, http_verb=http_verb, files=files,
                       data=data, params=params, json=json, headers=headers, auth=auth)
        try:
            return send()
        except Exception as exc:
            if api_method not in RESEND_ONCE or not blip(exc):
                raise
        return send()

    def _perform_urllib_http_request_internal(self, url: str, req: urllib.request.Request
                                              ) -> dict[str, Any]:
        """The one HTTP exchange slack_sdk makes per call, on a kept-alive connection
        (bot.slack_http) unless a proxy is configured."""
        if self.proxy is None:
            answer = slack_http.perform(url, req, timeout=self.timeout, context=self.ssl)
            if answer is not None:
                return answer
        return super()._perform_urllib_http_request_internal(url, req)

    def _send(self, key: str, api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            if exc.response is not None and exc.response.status_code == 429:
                self.holds.hold(key, retry_after(exc.response))
            raise


def blip(exc: Exception) -> bool:
    """A 5xx or a dropped connection; not a timeout (the call already took the client's
    whole timeout), nor a 429 or a refusal."""
    if isinstance(exc, SlackApiError):
        return exc.response is not None and exc.response.status_code >= 500
    if isinstance(exc, urllib.error.URLError):
        return not isinstance(exc.reason, TimeoutError)
    return isinstance(exc, ConnectionError | http.client.HTTPException)


class Held(SlackApiError):
    """A call refused here, not by Slack, while Slack's Retry-After for it runs: it is the
    429 Slack would answer (so everything downstream treats it as Slack's), but nothing was
    sent, so the outbox doesn't count it as an attempt."""

    def __init__(self, client: WebClient, method: str, left: float) -> None:
        self.seconds = left
        whole = max(1, int(left + 0.999))
        response = SlackResponse(client=client, http_verb="POST",
                                 api_url=client.base_url + method, req_args={},
                                 data={"ok": False, "error": "ratelimited"},
                                 headers={"Retry-After": str(whole)}, status_code=429)
        super().__init__(f"held: Slack asked for a pause in {method} ({whole}s left)",  # type: ignore[no-untyped-call]
                         response)
