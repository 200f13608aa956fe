"""Talking to Slack's Web API: posting with a fallback channel, editing in place, names.

The calls here never retry by themselves: deliveries run from the outbox, which retries
with its own back-off after the case is committed, so a failed call never loses a case.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.base import Message

log = logging.getLogger("amends.messaging")

# Errors meaning "the bot can't post here", after which the recovery channel is tried.
CANNOT_POST_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action",
                    "cannot_reply_to_message", "method_not_supported_for_channel_type"}


def make_client(*, token: str, base_url: str) -> WebClient:
    """A WebClient that never retries by itself.

    slack_sdk's retry handlers resend a call after a 5xx or a dropped connection, sleeping
    in between: a post whose reply was lost would be posted twice, and the sleep holds a
    thread. The outbox is the one place that retries (its row's next attempt time is the
    back-off); a modal's trigger_id can't be retried at all.
    """
    client = WebClient(token=token, base_url=base_url, timeout=10)
    client.retry_handlers = []
    return client


MAX_NAMES = 10_000  # people whose names are kept


class Slack:
    """The few Web API calls Amends makes, each with a plain outcome."""

    def __init__(self, client: WebClient, *, recovery_channel: str | None) -> None:
        self.client = client
        self.recovery_channel = recovery_channel
        self._names: dict[str, str] = {}

    def name(self, user: str) -> str:
        """A person's display name (users.info), "" when Slack can't say; never raises.
        Cached: messages are re-rendered on every change, and names rarely change. A failed
        lookup isn't cached, so a passing outage doesn't blank a name for good."""
        known = self._names.get(user)
        if known is not None:
            return known
        try:
            profile = self.client.users_info(user=user)["user"]
        except (SlackApiError, OSError, KeyError, TypeError):
            return ""
        found = str(profile.get("profile", {}).get("display_name") or profile.get("real_name")
                    or profile.get("name") or "")
        if len(self._names) < MAX_NAMES:
            self._names[user] = found
        return found

    def known_name(self, user: str) -> str | None:
        """The cached name, without asking Slack (None: not looked up yet)."""
        return self._names.get(user)

    def post_case(self, channel: str, user: str, msg: Message) -> tuple[str, str]:
        """Post where the case was opened; else the recovery channel; else a DM."""
        candidates = [channel, self.recovery_channel]
        for candidate in [c for c in candidates if c]:
            try:
                response = self.client.chat_postMessage(channel=candidate, **msg.kwargs())
                return response["channel"], response["ts"]
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error not in CANNOT_POST_HERE:
                    raise
                log.info("cannot post in %s (%s); trying the next place", candidate, error)
        dm = self.open_dm(user)
        response = self.client.chat_postMessage(channel=dm, **msg.kwargs())
        return response["channel"], response["ts"]

    def reply(self, channel: str, thread_ts: str, msg: Message) -> str:
        response = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                                **msg.kwargs())
        return str(response["ts"])

    def update(self, channel: str, ts: str, msg: Message) -> None:
        self.client.chat_update(channel=channel, ts=ts, **msg.kwargs())

    def open_dm(self, user: str) -> str:
        return str(self.client.conversations_open(users=user)["channel"]["id"])

    def dm(self, user: str, msg: Message) -> tuple[str, str]:
        channel = self.open_dm(user)
        response = self.client.chat_postMessage(channel=channel, **msg.kwargs())
        return response["channel"], response["ts"]

    def tell(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        """An ephemeral note only `user` sees, e.g. a refusal. Never raises."""
        try:
            kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
            if thread_ts:
                kwargs["thread_ts"] = thread_ts
            self.client.chat_postEphemeral(**kwargs)
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", user, exc.response.get("error"))
