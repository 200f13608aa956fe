"""Slack-shaped requests, signed with the signing secret as Slack signs them."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = {"id": "T0SHOP", "domain": "shop"}


def sign(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": ts, "x-slack-signature": f"v0={digest}"}


def form_headers(body: str, **kwargs: Any) -> dict[str, str]:
    return {"content-type": "application/x-www-form-urlencoded", **sign(body, **kwargs)}


_triggers = itertools.count(1)


def send(url: str, body: str, *, content_type: str = "application/x-www-form-urlencoded",
         secret: str = SECRET, timeout: float = 10.0) -> tuple[int, str]:
    """POST a signed request to the bot as Slack does: (status, body), an HTTP error's
    included. A connection that can't be made raises (URLError, ConnectionError)."""
    headers = {"content-type": content_type, **sign(body, secret=secret)}
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def new_trigger() -> str:
    """A trigger_id Slack never issued: each request its own, as in Slack (a fake that
    hands out triggers, FakeSlack.trigger, also knows when each was issued)."""
    return f"{int(time.time())}.{next(_triggers)}.local"


def as_slack_sends(text: str, *, users: dict[str, str] | None = None,
                   channels: dict[str, str] | None = None) -> str:
    """A slash command's text as Slack sends it (https://docs.slack.dev/messaging/
    formatting-message-text#escaping): &, < and > as entities; with should_escape on,
    @name of a known person as <@U123|name> and #name of a known channel as <#C123|name>."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    by_name = {name.lower(): uid for uid, name in (users or {}).items()}
    by_channel = {name.lower(): cid for cid, name in (channels or {}).items()}

    def person(match: re.Match[str]) -> str:
        uid = by_name.get(match.group(1).lower())
        return f"<@{uid}|{match.group(1).lower()}>" if uid else match.group(0)

    def channel(match: re.Match[str]) -> str:
        cid = by_channel.get(match.group(1).lower())
        return f"<#{cid}|{match.group(1).lower()}>" if cid else match.group(0)

    escaped = re.sub(r"(?<![\w&])@([\w.-]+)", person, escaped)
    return re.sub(r"(?<![\w&])#([\w-]+)", channel, escaped)


def command_body(text: str, *, user: str, channel: str = "C0SHOPFLOOR",
                 trigger: str | None = None) -> str:
    return urlencode({
        "token": "legacy", "team_id": TEAM["id"], "team_domain": TEAM["domain"],
        "channel_id": channel, "channel_name": "shop-floor", "user_id": user,
        "user_name": user.lower(), "command": "/recover", "text": text,
        "api_app_id": "A0AMENDS", "response_url": "http://127.0.0.1:9/commands/1",
        "trigger_id": trigger or new_trigger(),
    })


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def block_action(*, user: str, action: dict[str, Any], message: dict[str, Any] | None = None,
                 channel: str | None = None, view: dict[str, Any] | None = None,
                 trigger: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions", "team": TEAM, "user": {"id": user, "team_id": TEAM["id"]},
        "api_app_id": "A0AMENDS", "token": "legacy", "trigger_id": trigger or new_trigger(),
        "response_url": "http://127.0.0.1:9/actions/1",
        "actions": [{**action, "action_ts": str(time.time())}],
    }
    if message is not None:
        payload["message"] = message
        payload["channel"] = {"id": channel}
        payload["container"] = {"type": "message", "message_ts": message["ts"],
                                "channel_id": channel, "is_ephemeral": False}
    if view is not None:
        payload["view"] = view
        payload["container"] = {"type": "view", "view_id": view["id"]}
    return payload


def message_action(*, user: str, callback_id: str, channel: str, message: dict[str, Any],
                   trigger: str | None = None) -> dict[str, Any]:
    """A message shortcut, as Slack sends it
    (https://docs.slack.dev/reference/interaction-payloads/shortcuts-interaction-payload)."""
    return {"type": "message_action", "callback_id": callback_id, "team": TEAM,
            "user": {"id": user, "team_id": TEAM["id"]}, "channel": {"id": channel,
                                                                  "name": channel.lower()},
            "message": message, "message_ts": message.get("ts"), "api_app_id": "A0AMENDS",
            "token": "legacy", "trigger_id": trigger or new_trigger(),
            "response_url": "http://127.0.0.1:9/actions/2", "action_ts": str(time.time())}


def view_submission(*, user: str, view: dict[str, Any], trigger: str | None = None
                    ) -> dict[str, Any]:
    return {"type": "view_submission", "team": TEAM, "user": {"id": user, "team_id": TEAM["id"]},
            "api_app_id": "A0AMENDS", "token": "legacy", "trigger_id": trigger or new_trigger(),
            "view": view}


def event_body(event: dict[str, Any], event_id: str = "Ev001") -> str:
    return json.dumps({"token": "legacy", "team_id": TEAM["id"], "api_app_id": "A0AMENDS",
                       "event": event, "type": "event_callback", "event_id": event_id,
                       "event_time": int(time.time())})


def fill(view: dict[str, Any], answers: dict[str, str | None]) -> dict[str, Any]:
    """The view as Slack sends it back on submit, with `answers` typed into its inputs."""
    values: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element, block_id = block["element"], block["block_id"]
        answer = answers.get(block_id)
        kind = element["type"]
        if kind == "plain_text_input":
            # What the form was opened with is submitted unless the person changed it.
            typed = answer if block_id in answers else element.get("initial_value")
            state: dict[str, Any] = {"type": kind, "value": typed}
        elif kind == "static_select":
            # A person picks what they see; tests may name the value instead.
            chosen = next((o for o in element["options"] if answer in (
                o["value"], o["text"]["text"])), None)
            if answer is not None and chosen is None:
                raise AssertionError(f"{answer!r} is not an option of {block_id}")
            if answer is None and element.get("initial_option"):
                chosen = element["initial_option"]
            state = {"type": kind, "selected_option": chosen}
        elif kind == "users_select":
            state = {"type": kind, "selected_user": answer or element.get("initial_user")}
        else:
            raise AssertionError(f"unknown input {kind}")
        values[block_id] = {element["action_id"]: state}
    return {**view, "state": {"values": values}}
