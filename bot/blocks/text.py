"""Putting text into Slack safely: escaping, limits and mentions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

_ID = re.compile(r"^[UWSCGD][A-Z0-9]{2,}$")
MARKER = "… (cut)"


def escape(text: str | None) -> str:
    """User text into mrkdwn: &, < and > are Slack's control characters (mentions, links)."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """Fit a Slack limit, with a visible marker rather than a rejected message."""
    if len(text) <= limit:
        return text
    keep = text[: limit - len(MARKER)]
    # Don't leave half an escape sequence ("&am") behind.
    amp = keep.rfind("&")
    if amp != -1 and ";" not in keep[amp:]:
        keep = keep[:amp]
    return keep + MARKER


def shorten(text: str, limit: int) -> str:
    """For what a person reads at a glance (a dropdown option, a card): cut at a word,
    with an ellipsis; `cut`'s marker is for text that had to fit Slack's limits."""
    if len(text) <= limit:
        return text
    keep = text[: limit - 1]
    space = keep.rfind(" ")
    if space > limit // 2:
        keep = keep[:space]
    amp = keep.rfind("&")  # never half an escape sequence
    if amp != -1 and ";" not in keep[amp:]:
        keep = keep[:amp]
    return keep.rstrip(" ,;:.-") + "…"


def mrkdwn(text: str | None, limit: int = 3000) -> str:
    return cut(escape(text), limit)


def plain(text: str | None, limit: int) -> str:
    """For plain_text objects, which Slack never parses for mentions: only the length."""
    return cut((text or "").strip() or "-", limit)


def mention(user_id: str | None) -> str:
    """A user mention, only for something that really is a Slack id."""
    if user_id and _ID.match(user_id):
        return f"<@{user_id}>"
    return escape(user_id or "someone")


def channel_mention(channel_id: str | None) -> str:
    """A channel link, only for something that really is a channel id."""
    if channel_id and _ID.match(channel_id) and channel_id[0] in "CGD":
        return f"<#{channel_id}>"
    return escape(channel_id or "the channel")


def group_mention(group_id: str) -> str:
    return f"<!subteam^{group_id}>" if _ID.match(group_id) else ""


def deciders(managers: Iterable[str], *, besides: str | None = None,
             groups: Iterable[str] = ()) -> str:
    """The managers to mention for a decision (at most ten, and their groups): never
    `besides`, the requester, who can't approve their own request."""
    people = " ".join([mention(m) for m in sorted(managers) if m != besides][:10])
    return " ".join(x for x in (*(group_mention(g) for g in groups), people) if x) \
        or "Managers:"


def date(moment: datetime, fallback_zone: str = "UTC") -> str:
    """Slack renders this in each reader's own time zone; the fallback is for notifications."""
    fallback = moment.strftime("%a %d %b %H:%M ") + fallback_zone
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def quote(text: str) -> str:
    return "\n".join(f">{line}" if line else ">" for line in text.splitlines())
