"""Delivering outbox jobs: each kind renders from the database as it is now and tells Slack.

A job may run more than once (a retry after a failure), so each is safe to repeat: edits
are idempotent, and a job that posts a message first checks whether an earlier attempt
already posted it (the stored ts), so a retry never posts twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests

from bot import redact
from bot.blocks import case_messages
from bot.blocks.base import Message
from bot.ids import Message as Part
from bot.listeners.common import Deps, render
from storage.outbox import Job


class WebhookFailed(Exception):
    """The shop's endpoint failed this time (5xx, 408, 429, unreachable): retried."""


class WebhookRejected(Exception):
    """The receiving system refused the event (4xx): retrying won't help."""


def _message(payload: dict[str, Any]) -> Message:
    return Message(text=payload["text"], blocks=payload.get("blocks") or [])


class Deliverer:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "start_thread": self.start_thread, "refresh": self.refresh, "reply": self.reply,
            "approval_request": self.approval_request, "decision": self.decision,
            "follow_up_dm": self.follow_up_dm, "follow_up_dm_update": self.follow_up_dm_update,
            "withdraw_approvals": self.withdraw_approvals, "hotspot": self.hotspot,
            "post": self.post, "dm": self.dm, "webhook": self.webhook,
        }

    def __call__(self, job: Job) -> None:
        self.handlers[job.kind](job.payload)

    # -- case messages --------------------------------------------------------------------

    def start_thread(self, p: dict[str, Any]) -> None:
        """The case card, then the walkthrough in its thread: apology, fix, compensation."""
        deps, case_id = self.deps, p["case_id"]
        case = deps.service.get(case_id)
        playbook = deps.service.playbook(case.playbook_id)
        where = deps.service.thread(case_id)
        if where is None:
            card = case_messages.case_card(case, playbook, deps.style)
            where = deps.slack.post_case(p["channel"], p["user"], card)
            deps.service.set_thread(case_id, *where)
        done = deps.service.messages(case_id)
        for part in (Part.APOLOGY, Part.FIX, Part.COMPENSATION):
            if part not in done:
                ts = deps.slack.reply(*where, render(deps, case, part))
                deps.service.set_message(case_id, part, where[0], ts)

    def refresh(self, p: dict[str, Any]) -> None:
        deps, case_id = self.deps, p["case_id"]
        thread = deps.service.thread(case_id)
        if thread is None:
            return  # the thread isn't posted yet; start_thread will show the case as it is
        case = deps.service.get(case_id)
        targets = {"card": thread, **deps.service.messages(case_id)}
        for part in ("card", *p["parts"]):
            if part in targets:
                deps.slack.update(*targets[part], render(deps, case, part))

    def reply(self, p: dict[str, Any]) -> None:
        thread = self.deps.service.thread(p["case_id"])
        if thread is None:
            raise RuntimeError("the case thread is not posted yet")
        self.deps.slack.reply(*thread, _message(p))

    def approval_request(self, p: dict[str, Any]) -> None:
        deps, case_id, number = self.deps, p["case_id"], p["number"]
        if deps.service.approval_message(case_id, number) is not None:
            return  # posted by an earlier attempt
        thread = deps.service.thread(case_id)
        if thread is None:
            raise RuntimeError("the case thread is not posted yet")
        case = deps.service.get(case_id)
        comp = case.compensation(number)
        request = case_messages.approval_request(
            case, comp, deps.style, deps.manager_mentions(besides=comp.requested_by))
        ts = deps.slack.reply(*thread, request)
        deps.service.set_approval_message(case_id, number, thread[0], ts)

    def decision(self, p: dict[str, Any]) -> None:
        deps, case_id, number = self.deps, p["case_id"], p["number"]
        where = deps.service.approval_message(case_id, number)
        if where is not None:
            case = deps.service.get(case_id)
            deps.slack.update(*where, case_messages.approval_decided(
                case, case.compensation(number), deps.style))

    def withdraw_approvals(self, p: dict[str, Any]) -> None:
        deps, case_id = self.deps, p["case_id"]
        case = deps.service.get(case_id)
        for comp in case.compensations:
            where = deps.service.approval_message(case_id, comp.number)
            if where is not None and comp.reason == "case cancelled":
                deps.slack.update(*where, case_messages.approval_decided(case, comp,
                                                                         deps.style))

    def follow_up_dm(self, p: dict[str, Any]) -> None:
        deps, case_id, number = self.deps, p["case_id"], p["number"]
        if deps.service.follow_up_message(case_id, number) is not None:
            return  # posted by an earlier attempt
        case = deps.service.get(case_id)
        follow_up = next(f for f in case.follow_ups if f.number == number)
        dm = case_messages.follow_up_dm(case, deps.service.playbook(case.playbook_id),
                                        follow_up, deps.style)
        where = deps.slack.dm(follow_up.manager, dm)
        deps.service.set_follow_up_message(case_id, number, *where)

    def follow_up_dm_update(self, p: dict[str, Any]) -> None:
        deps, case_id, number = self.deps, p["case_id"], p["number"]
        where = deps.service.follow_up_message(case_id, number)
        if where is not None:
            case = deps.service.get(case_id)
            follow_up = next(f for f in case.follow_ups if f.number == number)
            deps.slack.update(*where, case_messages.follow_up_dm(
                case, deps.service.playbook(case.playbook_id), follow_up, deps.style))

    def hotspot(self, p: dict[str, Any]) -> None:
        if self.deps.followthrough.check_hotspot(p["location"],
                                                 datetime.fromisoformat(p["at"])) is None:
            raise RuntimeError("the hotspot alert could not be sent")

    # -- plain messages -------------------------------------------------------------------

    def post(self, p: dict[str, Any]) -> None:
        kwargs: dict[str, Any] = _message(p).kwargs()
        if p.get("thread_ts"):
            kwargs["thread_ts"] = p["thread_ts"]
        self.deps.slack.client.chat_postMessage(channel=p["channel"], **kwargs)
        digest = (p.get("after") or {}).get("digest_sent")
        if digest:
            self.deps.followthrough.mark_digest_sent(digest["week"], digest["channel"])

    def dm(self, p: dict[str, Any]) -> None:
        self.deps.slack.dm(p["user"], _message(p))

    # -- outbound webhooks ----------------------------------------------------------------

    def webhook(self, p: dict[str, Any]) -> None:
        url, secret = self.deps.settings.webhook_url, self.deps.settings.webhook_secret
        if not url:
            return  # webhooks were turned off after this was queued
        body = json.dumps(p, separators=(",", ":"), sort_keys=True)
        headers = {"Content-Type": "application/json", "User-Agent": "Amends-Webhook/1",
                   **sign_webhook(body, secret or "", int(time.time()))}
        # Reasons end up in the outbox and `amends outbox status`: never the URL's secrets
        # (requests' own messages carry the whole URL, query string and all).
        where = redact.endpoint(url)
        try:
            response = requests.post(url, data=body.encode(), headers=headers, timeout=10)
        except requests.RequestException as exc:
            raise WebhookFailed(f"{where} unreachable ({type(exc).__name__})") from None
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise WebhookRejected(f"{where} answered {response.status_code}")
        if response.status_code >= 400:
            raise WebhookFailed(f"{where} answered {response.status_code}")


def sign_webhook(body: str, secret: str, timestamp: int) -> dict[str, str]:
    """X-Amends-Signature: HMAC-SHA256 over "{timestamp}.{body}", as Slack signs its own."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return {"X-Amends-Timestamp": str(timestamp),
            "X-Amends-Signature": f"sha256={digest.hexdigest()}"}
