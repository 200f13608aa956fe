"""Slack's size and rate limits, as the fake Slack enforces them (each with its source)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# https://docs.slack.dev/reference/methods/chat.postMessage#truncating: text over 40,000
# characters is refused (msg_too_long).
MAX_TEXT = 40_000
# A message's blocks share a text budget of about 12,000 characters beyond each field's own
# limit, answered with msg_blocks_too_long (a Slack maintainer, slackapi/bolt-js #2509, #2867).
BLOCKS_TEXT_BUDGET = 12_000

# https://docs.slack.dev/apis/web-api/rate-limits: per method per workspace, by tier
# (requests per minute); the tiers of these methods as slackapi/java-slack-sdk lists them
# (MethodsRateLimits.java).
TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
TIERS = {"chat.update": 3, "chat.postEphemeral": 4, "chat.delete": 3,
         "conversations.open": 3, "conversations.history": 3, "conversations.replies": 3,
         "views.open": 4, "views.push": 4, "views.update": 4, "views.publish": 4,
         "users.info": 4, "usergroups.users.list": 2, "auth.test": 4,
         "apps.connections.open": 1, "files.getUploadURLExternal": 4,
         "files.completeUploadExternal": 4}
# chat.postMessage is special: about one message per second per channel, with short bursts.
POSTS_PER_SECOND, POST_BURST = 1.0, 5


def text_in_blocks(blocks: Any) -> int:
    """Characters of text a message's blocks carry: every `text` string, at any depth."""
    total, stack = 0, [blocks]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return total


def limit_for(method: str, args: dict[str, Any]) -> tuple[str, float, int]:
    """(bucket key, requests per second, burst) for one call."""
    if method == "chat.postMessage":
        return f"post:{args.get('channel')}", POSTS_PER_SECOND, POST_BURST
    per_minute = TIER_PER_MINUTE[TIERS.get(method, 3)]
    return method, per_minute / 60, per_minute


@dataclass
class Bucket:
    """A token bucket: `burst` calls at once, then `rate` per second."""

    rate: float
    burst: int
    at: float
    tokens: float = -1.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = float(self.burst)

    def take(self, now: float) -> float | None:
        """None when the call may go; else the seconds until it may."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate
