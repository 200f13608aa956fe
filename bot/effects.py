"""What Slack must be told after a change, as data: written to the outbox in the change's
transaction and delivered by the worker (bot/deliveries.py does the telling)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.blocks.base import Message


@dataclass(frozen=True)
class Effect:
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


def refresh(case_id: int, *parts: str) -> Effect:
    """Edit the case card and the named walkthrough messages to show the case as it is."""
    return Effect("refresh", {"case_id": case_id, "parts": list(parts)})


def reply(case_id: int, message: Message) -> Effect:
    """A reply in the case thread."""
    return Effect("reply", {"case_id": case_id, "text": message.text,
                            "blocks": message.blocks})


def start_thread(case_id: int, channel: str, user: str) -> Effect:
    return Effect("start_thread", {"case_id": case_id, "channel": channel, "user": user})


def approval_request(case_id: int, number: int) -> Effect:
    return Effect("approval_request", {"case_id": case_id, "number": number})


def decision(case_id: int, number: int) -> Effect:
    return Effect("decision", {"case_id": case_id, "number": number})


def follow_up_dm(case_id: int, number: int) -> Effect:
    return Effect("follow_up_dm", {"case_id": case_id, "number": number})


def follow_up_dm_update(case_id: int, number: int) -> Effect:
    return Effect("follow_up_dm_update", {"case_id": case_id, "number": number})


def withdraw_approvals(case_id: int) -> Effect:
    return Effect("withdraw_approvals", {"case_id": case_id})


def hotspot(location: str | None, at: str) -> Effect:
    return Effect("hotspot", {"location": location, "at": at})


def post(channel: str, message: Message, *, thread_ts: str | None = None,
         after: dict[str, Any] | None = None) -> Effect:
    return Effect("post", {"channel": channel, "thread_ts": thread_ts, "text": message.text,
                           "blocks": message.blocks, "after": after or {}})


def direct(user: str, message: Message) -> Effect:
    return Effect("dm", {"user": user, "text": message.text, "blocks": message.blocks})
