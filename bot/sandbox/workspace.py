"""The sandbox workspace: the fake Slack Web API plus a page, and the bot's other half.

It keeps what the bot creates (messages, threads, DMs, modals, Home tabs) and, for the page,
sends the bot what Slack would: signed slash commands, button clicks and modal submissions,
each with a trigger_id that lets the bot open a modal for the right person.
"""

from __future__ import annotations

import html
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from bot.sandbox import render
from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import FakeSlack, Posted

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    role: str  # staff, manager, leadership


PEOPLE = (Person("U0ALEX0001", "Alex", "staff"), Person("U0MORGAN01", "Morgan", "manager"),
          Person("U0SAM00001", "Sam", "manager"), Person("U0LEE00001", "Lee", "leadership"))
CHANNELS = {"C0SHOPFLOOR": "shop-floor", "C0RECOVERY": "recovery", "C0LEADERS": "leadership"}


class Sandbox(FakeSlack):
    def __init__(self, *, secret: str, port: int = 0) -> None:
        super().__init__(port=port)
        self.secret = secret
        self.bot_url = ""  # set once the bot is listening
        self.actions: list[Any] = []  # what the page's buttons for digest/reminders call
        self.users = {p.id: {"name": p.name, "role": p.role} for p in PEOPLE}
        self._triggers = itertools.count(1)
        # Each read of the page's state is numbered under the lock that every change takes,
        # so the page can tell an older read that arrived late from a newer one.
        self._reads = itertools.count(1)

    # -- talking to the bot, as Slack does -------------------------------------------------

    def _send(self, body: str, content_type: str = "application/x-www-form-urlencoded"
              ) -> tuple[int, str]:
        return sr.send(self.bot_url, body, content_type=content_type, secret=self.secret)

    def command(self, user: str, channel: str, text: str) -> dict[str, Any]:
        if not text.startswith("/"):
            ts = self.new_ts()
            with self._lock:
                self.messages[ts] = Posted(channel=channel, ts=ts, text=text, blocks=[],
                                           user=user)
            return {"ok": True}
        command, _, rest = text.partition(" ")
        if command != "/recover":
            return {"ok": False, "error": f"{command} is not a command here; try /recover"}
        # As Slack sends it: escaped, with @names and #channels as mentions (should_escape).
        text = sr.as_slack_sends(rest.strip(), users=self.names(), channels=CHANNELS)
        body = sr.command_body(text, user=user, channel=channel, trigger=self.trigger(user))
        status, answer = self._send(body)
        if status == 200 and answer:
            try:
                reply = json.loads(answer)
            except json.JSONDecodeError:
                reply = {"text": answer}
            self._ephemeral(channel, user, reply.get("text", ""))
        return {"ok": status == 200, "status": status}

    def _ephemeral(self, channel: str, user: str, text: str) -> None:
        ts = self.new_ts()
        with self._lock:
            self.ephemerals.append(Posted(channel=channel, ts=ts, text=text,
                                          blocks=[{"type": "section", "text": {
                                              "type": "mrkdwn", "text": text}}], user=user))

    def action(self, user: str, data: dict[str, Any]) -> dict[str, Any]:
        action = data["action"]
        if action.get("type") == "static_select" and "selected" in data:
            action = {**action, "selected_option": {
                "text": {"type": "plain_text", "text": data.get("selected_text", "")},
                "value": data["selected"]}}
        if data.get("home"):  # a button on the Home tab: Slack sends the Home view with it
            home = self.homes.get(user)
            if home is None:
                return {"ok": False, "error": "Open the Home tab first."}
            payload = sr.block_action(user=user, action=action, view=home)
        elif data.get("view_id"):
            view = {**self.views[data["view_id"]]}
            view["state"] = self._state(view, data.get("values", {}))
            with self._lock:
                self.views[data["view_id"]]["state"] = view["state"]
            payload = sr.block_action(user=user, action=action, view=view)
        else:
            posted = self.messages[data["ts"]]
            message = {"type": "message", "ts": posted.ts, "text": posted.text,
                       "blocks": posted.blocks,
                       **({"thread_ts": posted.thread_ts} if posted.thread_ts else {})}
            payload = sr.block_action(user=user, action=action, message=message,
                                      channel=posted.channel)
        payload["trigger_id"] = self.trigger(user)
        status, _ = self._send(sr.interaction_body(payload))
        return {"ok": status == 200, "status": status}

    def _state(self, view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        filled = sr.fill(view, {k: (v or None) for k, v in values.items()})
        state: dict[str, Any] = filled["state"]
        return state

    def submit(self, user: str, view_id: str, values: dict[str, str]) -> dict[str, Any]:
        view = {**self.views[view_id]}
        view["state"] = self._state(view, values)
        with self._lock:
            self.views[view_id]["state"] = view["state"]
        status, answer = self._send(sr.interaction_body(sr.view_submission(user=user,
                                                                           view=view)))
        reply = json.loads(answer) if answer.strip().startswith("{") else {}
        with self._lock:
            if reply.get("response_action") == "errors":
                self.view_errors[view_id] = reply.get("errors", {})
                return {"ok": False, "errors": reply["errors"]}
            self.view_errors.pop(view_id, None)
            stack = self.open_views.get(user, [])
            if view_id in stack:
                stack.remove(view_id)
        return {"ok": status == 200, "status": status}

    def close(self, user: str, view_id: str) -> None:
        with self._lock:
            stack = self.open_views.get(user, [])
            if view_id in stack:
                stack.remove(view_id)

    def open_home(self, user: str) -> None:
        self._send(sr.event_body({"type": "app_home_opened", "user": user, "tab": "home",
                                  "channel": "D" + user, "event_ts": str(time.time())},
                                 event_id=f"Ev{next(self._triggers)}"), "application/json")

    # -- what the page shows -------------------------------------------------------------

    def names(self) -> dict[str, str]:
        return {uid: u["name"] for uid, u in self.users.items()}

    def state(self, user: str, conversation: str) -> dict[str, Any]:
        names = self.names()
        with self._lock:
            seq = next(self._reads)
            dm = "D" + user.lstrip("U")
            conversations = [{"id": cid, "name": f"# {name}"} for cid, name in CHANNELS.items()]
            conversations.append({"id": dm, "name": "Amends (direct messages)"})
            conversations.append({"id": "HOME", "name": "Amends: Home"})
            stack = self.open_views.get(user, [])
            modal = None
            if stack:
                view = self.views[stack[-1]]
                values = {block_id: next(iter(actions.values())) for block_id, actions in
                          view.get("state", {}).get("values", {}).items()}
                typed = {k: (v.get("value") or (v.get("selected_option") or {}).get("value")
                             or v.get("selected_user")) for k, v in values.items()}
                errors = self.view_errors.get(view["id"], {})
                modal = {"id": view["id"], "version": f"{view['hash']}:{len(errors)}",
                         "title": view.get("title", {}).get("text", ""),
                         "submit": (view.get("submit") or {}).get("text", "Submit"),
                         "html": render.blocks(view.get("blocks", []), names, values=typed,
                                               errors=errors)}
            if conversation == "HOME":
                home = self.homes.get(user)
                body = render.blocks(home["blocks"], names) if home else \
                    '<p class="empty">Opening the Home tab…</p>'
            else:
                body = self._conversation(conversation, user, names)
            unread = {c["id"]: self._count(c["id"], user) for c in conversations}
        return {"seq": seq, "conversations": conversations, "html": body, "modal": modal,
                "unread": unread,
                "people": [p.__dict__ for p in PEOPLE]}

    def _count(self, conversation: str, user: str) -> int:
        return sum(1 for m in self.messages.values() if m.channel == conversation
                   and m.thread_ts is None)

    def _conversation(self, channel: str, user: str, names: dict[str, str]) -> str:
        top = sorted((m for m in self.messages.values()
                      if m.channel == channel and m.thread_ts is None), key=lambda m: m.ts)
        mine = [e for e in self.ephemerals if e.channel == channel and e.user == user]
        parts = []
        for posted in sorted([*top, *[e for e in mine if not e.thread_ts]], key=lambda m: m.ts):
            parts.append(self._message(posted, names, ephemeral=posted in mine))
            replies = sorted((m for m in self.messages.values() if m.thread_ts == posted.ts),
                             key=lambda m: m.ts)
            replies += [e for e in mine if e.thread_ts == posted.ts]
            if replies:
                inner = "".join(self._message(r, names, ephemeral=r in mine)
                                for r in sorted(replies, key=lambda m: m.ts))
                parts.append(f'<div class="thread">{inner}</div>')
        return "".join(parts) or '<p class="empty">No messages yet. Type /recover below.</p>'

    def _message(self, posted: Posted, names: dict[str, str], *, ephemeral: bool) -> str:
        author = names.get(posted.user or "", "Amends") if not ephemeral else "Amends"
        note = '<span class="only-you">Only visible to you</span>' if ephemeral else ""
        body = (render.blocks(posted.blocks, names) if posted.blocks
                else render.mrkdwn(posted.text, names))
        for shared in posted.files:  # a file share: the image, as Slack previews it
            file_id = html.escape(str(shared.get("id", "")), quote=True)
            body += (f'<figure class="file"><img src="/sandbox/files/{file_id}" '
                     f'alt="{html.escape(str(shared.get("alt_txt") or ""), quote=True)}">'
                     f'<figcaption>{html.escape(str(shared.get("title") or ""))}</figcaption>'
                     '</figure>')
        return (f'<div class="message" data-ts="{html.escape(posted.ts, quote=True)}">'
                f'<div class="author">{html.escape(author)} {note}</div>{body}</div>')

    # -- HTTP routes ---------------------------------------------------------------------

    def get_page(self, path: str) -> tuple[int, str, bytes]:
        url = urlparse(path)
        if url.path in ("/", "/index.html"):
            return 200, "text/html; charset=utf-8", (STATIC / "index.html").read_bytes()
        if url.path == "/sandbox/ready":  # the bot is up and listening
            return 200, "application/json", json.dumps({"ready": bool(self.bot_url)}).encode()
        if url.path.startswith("/sandbox/files/"):  # a shared file's bytes, for its <img>
            data = self.file_bytes(url.path.rsplit("/", 1)[-1])
            if data is None:
                return 404, "application/json", b'{"error": "no such file"}'
            return 200, "image/png", data
        if url.path == "/sandbox/state":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            user = query.get("user", PEOPLE[0].id)
            payload = self.state(user, query.get("conversation", "C0SHOPFLOOR"))
            return 200, "application/json", json.dumps(payload).encode()
        return super().get_page(path)

    def post_page(self, path: str, body: str) -> tuple[int, str, bytes]:
        data = json.loads(body or "{}")
        user = data.get("user", PEOPLE[0].id)
        if user not in self.users:
            return 400, "application/json", b'{"error": "unknown user"}'
        routes = {
            "/sandbox/command": lambda: self.command(user, data["channel"], data["text"]),
            "/sandbox/action": lambda: self.action(user, data),
            "/sandbox/submit": lambda: self.submit(user, data["view_id"], data["values"]),
            "/sandbox/close": lambda: _ok(lambda: self.close(user, data["view_id"])),
            "/sandbox/home": lambda: _ok(lambda: self.open_home(user)),
        }
        for name, job in self.actions:
            routes[f"/sandbox/{name}"] = job
        route = routes.get(path)
        if route is None:
            return super().post_page(path, body)
        return 200, "application/json", json.dumps(route()).encode()


def _ok(do: Callable[[], None]) -> dict[str, Any]:
    """What the page hears back from a route that only does something."""
    do()
    return {"ok": True}
