"""A local stand-in for Slack's Web API: an HTTP server on loopback that records each call.

`slack_sdk` talks urllib, so `responses` can't see it; the WebClient is pointed here instead
(base_url). Every block and view it receives is checked with slack_sdk's models.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

BOT_USER = "U0AMENDSBOT"


@dataclass
class Call:
    method: str
    args: dict[str, Any]


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    history: list[list[dict[str, Any]]] = field(default_factory=list)
    user: str | None = None  # who wrote it (a person, not the bot); for an ephemeral, its viewer


def problems_with_blocks(blocks: Any, *, limit: int) -> list[str]:
    """Slack-side checks: the models' validators, a lossless round trip, the block limit."""
    if not isinstance(blocks, list):
        return [f"blocks is {type(blocks).__name__}, not a list"]
    found = [] if len(blocks) <= limit else [f"{len(blocks)} blocks (limit {limit})"]
    for block in blocks:
        try:
            parsed = Block.parse(block)
            if parsed is None or parsed.to_dict() != block:
                found.append(f"block does not round-trip: {json.dumps(block)[:300]}")
        except Exception as exc:
            found.append(f"invalid block ({exc}): {json.dumps(block)[:300]}")
    return found


def problems_with_view(view: Any) -> list[str]:
    try:
        if View(**view).to_dict() != view:
            return [f"view does not round-trip: {json.dumps(view)[:300]}"]
    except Exception as exc:
        return [f"invalid view ({exc})"]
    return problems_with_blocks(view.get("blocks", []), limit=100)


class FakeSlack:
    def __init__(self, *, port: int = 0) -> None:
        self.calls: list[Call] = []
        self.invalid: list[str] = []
        self.messages: dict[str, Posted] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.cannot_post_in: set[str] = set()
        self.group_members: dict[str, list[str]] = {}
        self.fail_next: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.lenient = False
        # Chaos for soak tests: this share of calls fails (429, 500 or a dropped connection)
        # before it is processed, as a request lost on the way to Slack.
        self.failure_rate = 0.0
        self.random = random.Random(7)
        # Who is who, which modal each person has open, their Home tab, private notes.
        self.users: dict[str, dict[str, str]] = {}
        self.triggers: dict[str, str] = {}
        self.open_views: dict[str, list[str]] = {}
        self.view_errors: dict[str, dict[str, str]] = {}
        self.homes: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[Posted] = []
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        # A short poll: shutdown() waits for the loop to notice, and every test stops one.
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what tests look at ---------------------------------------------------------------

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posts_in(self, channel: str, thread_ts: str | None = None) -> list[Posted]:
        return [m for m in self.messages.values()
                if m.channel == channel and m.thread_ts == thread_ts]

    def last_view(self) -> dict[str, Any]:
        calls = [c for c in self.calls if c.method in ("views.open", "views.update")]
        view: dict[str, Any] = calls[-1].args["view"]
        return view

    def reset_calls(self) -> None:
        self.calls.clear()

    # -- pages (the sandbox serves its workspace here; the plain fake only counts) ---------

    def get_page(self, path: str) -> tuple[int, str, bytes]:
        # For a fake running in a process of its own (the benchmarks): counts, and with
        # ?messages, what was posted.
        report: dict[str, Any] = {"calls": len(self.calls), "invalid": len(self.invalid)}
        if "messages" in path:
            with self._lock:
                report["messages"] = [{"channel": m.channel, "ts": m.ts, "thread_ts": m.thread_ts,
                                       "text": m.text, "blocks": m.blocks}
                                      for m in self.messages.values()]
        return 200, "application/json", json.dumps(report).encode()

    def post_page(self, path: str, body: str) -> tuple[int, str, bytes]:
        return 404, "application/json", b'{"error": "not found"}'

    # -- the server -----------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, content_type: str, payload: bytes,
                       headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                status, content_type, payload = fake.get_page(self.path)
                self._reply(status, content_type, payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if not self.path.startswith("/api/"):
                    status, content_type, payload = fake.post_page(self.path, raw)
                    self._reply(status, content_type, payload)
                    return
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(raw).items()}
                for key in ("blocks", "view"):
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
                method = self.path.rsplit("/", 1)[-1]
                status, body = fake._answer(method, args)
                if status == 0:  # a failure injected as a dropped connection
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                retry_after = str(body.pop("retry_after", 0)) if status == 429 else None
                self._reply(status, "application/json", json.dumps(body).encode(),
                            {"Retry-After": retry_after} if retry_after else None)

        return Handler

    def _answer(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(method, args))
            queued = self.fail_next.get(method)
            if queued:
                return queued.pop(0)
            if self.failure_rate and method != "auth.test" and \
                    self.random.random() < self.failure_rate:
                return self.random.choice([
                    (429, {"ok": False, "error": "ratelimited", "retry_after": 1}),
                    (500, {"ok": False, "error": "internal_error"}), (0, {})])
            self._validate(method, args)
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            return 200, (handler(args) if handler else {"ok": True})

    def _validate(self, method: str, args: dict[str, Any]) -> None:
        if "blocks" in args:
            self.invalid += [f"{method}: {p}" for p in problems_with_blocks(args["blocks"],
                                                                              limit=50)]
            if not args.get("text"):
                self.invalid.append(f"{method}: no notification text")
        if "view" in args:
            self.invalid += [f"{method}: {p}" for p in problems_with_view(args["view"])]

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": BOT_USER, "bot_id": "B0AMENDS", "team_id": "T0SHOP",
                "url": "https://shop.slack.com/", "team": "Shop", "user": "amends"}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args["channel"]
        if channel in self.cannot_post_in:
            return {"ok": False, "error": "not_in_channel"}
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages[ts] = Posted(channel=channel, ts=ts, text=args.get("text", ""),
                                   blocks=args.get("blocks", []), thread_ts=args.get("thread_ts"))
        return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        posted = self.messages.get(args["ts"])
        if posted is None and self.lenient:  # messages posted before this fake started
            posted = self.messages[args["ts"]] = Posted(channel=args["channel"], ts=args["ts"],
                                                        text="", blocks=[])
        if posted is None or posted.channel != args["channel"]:
            return {"ok": False, "error": "message_not_found"}
        posted.history.append(posted.blocks)
        posted.blocks, posted.text = args.get("blocks", []), args.get("text", "")
        return {"ok": True, "channel": posted.channel, "ts": posted.ts}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        self.ephemerals.append(Posted(channel=args["channel"], ts=ts, text=args.get("text", ""),
                                      blocks=args.get("blocks") or [],
                                      thread_ts=args.get("thread_ts"), user=args["user"]))
        return {"ok": True, "message_ts": ts}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = f"V{next(self._views):06d}"
        view = {**args["view"], "id": view_id, "hash": f"h{view_id}"}
        self.views[view_id] = view
        user = self.triggers.pop(args.get("trigger_id", ""), None)
        if user is not None:
            self.open_views.setdefault(user, []).append(view_id)
        return {"ok": True, "view": view}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        old = self.views.get(args["view_id"], {})
        view = {**args["view"], "id": args["view_id"],
                "hash": f"h{args['view_id']}.{next(self._views)}"}
        if "state" in old:  # what the person had typed stays, as in Slack
            view["state"] = old["state"]
        self.views[args["view_id"]] = view
        return {"ok": True, "view": view}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/views.publish: the answer is the view, with its id;
        # a click on the Home tab carries that view (type "home") and its id.
        user = args["user_id"]
        view = {**args["view"], "id": f"VHOME{user}"}
        self.homes[user] = view
        return {"ok": True, "view": view}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": "D" + args["users"].lstrip("UW")}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args["user"]
        known = self.users.get(user, {}).get("name")
        name = known or {"U0STAFF1": "Alex", "U0MGR001": "Morgan"}.get(user, "Jo")
        return {"ok": True, "user": {"id": user, "name": name.lower(), "real_name": name,
                                     "profile": {"display_name": name}}}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.group_members.get(args["usergroup"])
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": members}


if __name__ == "__main__":
    # A fake in a process of its own: `python -m bot.sandbox.fake_slack` prints its URL.
    import sys

    server = FakeSlack()
    server.lenient = True
    server.failure_rate = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    server.start()
    print(server.url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()
