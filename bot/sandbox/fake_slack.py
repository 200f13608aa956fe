"""A local stand-in for Slack's Web API: an HTTP server on loopback that records each call.

`slack_sdk` talks urllib, so `responses` can't see it; the WebClient is pointed here instead
(base_url). Every block and view it receives is checked with slack_sdk's models.

It refuses what Slack refuses, each rule with the doc it comes from (method pages on
docs.slack.dev/reference/methods/...): a fake kinder than Slack lets bugs through. Tests set
up the workspace's awkward corners (archived, read-only, thread-only or private channels,
deactivated people, the Messages tab off, rate limits, replies lost after Slack did the work)
with the attributes below. Everything runs on `clock` (Unix seconds), which tests may drive.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.sandbox import slack_limits

BOT_USER = "U0AMENDSBOT"
DOCS = "https://docs.slack.dev/reference/methods/"
UPLOAD_PATH = "/upload/v1/"  # where files.getUploadURLExternal's upload_url points


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    error: str | None = None  # what the fake answered, when it refused
    lost: str | None = None  # done, but its reply lost ("500", "drop", "timeout")


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    history: list[list[dict[str, Any]]] = field(default_factory=list)
    user: str | None = None  # who wrote it (a person, not the bot); for an ephemeral, its viewer
    metadata: dict[str, Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)  # a file share's files


    def as_message(self, *, with_metadata: bool) -> dict[str, Any]:
        """As conversations.history / conversations.replies return it."""
        found: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text,
                                 "blocks": self.blocks}
        if self.thread_ts:
            found["thread_ts"] = self.thread_ts
        if self.user:
            found["user"] = self.user
        else:
            found["bot_id"] = "B0AMENDS"
        if with_metadata and self.metadata:
            found["metadata"] = self.metadata
        if self.files:
            found["files"] = self.files
        return found


@dataclass
class Upload:
    """A file between files.getUploadURLExternal and files.completeUploadExternal."""

    id: str
    filename: str
    length: int
    alt_txt: str | None
    data: bytes | None = None  # None: nothing sent to its upload URL yet
    completed: bool = False


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
    def __init__(self, *, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: serve HTTPS with this server-side context (its certificate and key
        loaded), as Slack serves its API only over HTTPS: a client's checks of the
        certificate then run for real."""
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
        self.uploads: dict[str, Upload] = {}  # file id -> its upload, once a URL was asked for
        self.fail_uploads: list[int] = []  # HTTP statuses the next uploads' POSTs get
        # Slack's time, in Unix seconds: message ts and trigger ages come from it.
        self.clock: Callable[[], float] = time.time
        # The workspace's awkward corners (see each rule's handler for its doc).
        self.archived: set[str] = set()
        self.read_only: set[str] = set()
        self.thread_only: set[str] = set()
        self.private: set[str] = set()  # private channels the bot is not a member of
        self.members: dict[str, set[str]] = {}  # channel -> who is in it, where it matters
        self.missing_users: set[str] = set()
        self.disabled_users: set[str] = set()
        self.bots: set[str] = {BOT_USER}
        self.messages_tab_enabled = True  # the manifest's features.app_home setting
        self.scopes: set[str] | None = None  # None: every scope Amends asks for
        self.rate_limits = False  # per-method tiers and one post per second per channel
        self._buckets: dict[str, slack_limits.Bucket] = {}
        # Replies lost after Slack did the work: per method, "500", "drop" or "timeout".
        self.lose_next: dict[str, list[str]] = {}
        self.lose_rate = 0.0  # the share of posts and edits whose reply is lost (soak tests)
        self.timeout_seconds = 1.0  # how long a "timeout" loss holds the reply
        # A hook run after a post is done and before its reply goes back (the kill tests).
        self.after_post: Callable[[Posted], None] | None = None
        # Socket Mode: the ws:// address apps.connections.open hands out (a test serves it).
        self.socket_url: str | None = None
        self._issued: dict[str, float] = {}  # trigger -> when Slack issued it
        self._used_triggers: set[str] = set()
        self.unchanged_edits = 0
        self.connections = 0  # connections clients opened (a kept one serves many calls)
        self._open: set[socket.socket] = set()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._files = itertools.count(1)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler())
        self._scheme = "http"
        if tls is not None:
            # Each connection's handshake runs as it is accepted: enough for tests and benches.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        # A short poll: shutdown() waits for the loop to notice, and every test stops one.
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_address[1]}/api/"

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
        """chat.postMessage's messages there (file shares are `shares_in`)."""
        return [m for m in self.messages.values()
                if m.channel == channel and m.thread_ts == thread_ts and not m.files]

    def shares_in(self, channel: str, thread_ts: str | None = None) -> list[Posted]:
        """The messages files.completeUploadExternal shared there."""
        return [m for m in self.messages.values()
                if m.channel == channel and m.thread_ts == thread_ts and m.files]

    def file_bytes(self, file_id: str) -> bytes | None:
        upload = self.uploads.get(file_id)
        return upload.data if upload is not None and upload.completed else None

    def last_view(self) -> dict[str, Any]:
        calls = [c for c in self.calls if c.method in ("views.open", "views.update")]
        view: dict[str, Any] = calls[-1].args["view"]
        return view

    def reset_calls(self) -> None:
        self.calls.clear()

    # -- what Slack hands out ---------------------------------------------------------------

    def trigger(self, user: str | None = None) -> str:
        """A trigger_id, as Slack puts in each slash command and click: it opens one modal,
        within 3 seconds (https://docs.slack.dev/interactivity/handling-user-interaction)."""
        with self._lock:
            trigger = f"{int(self.clock())}.{next(self._views)}.fake{random.getrandbits(32):08x}"
            self._issued[trigger] = self.clock()
            if user is not None:
                self.triggers[trigger] = user
        return trigger

    def say(self, user: str, channel: str, text: str) -> Posted:
        """A person's message in a channel, as a customer's complaint is pasted in."""
        with self._lock:
            ts = self.new_ts()
            posted = Posted(channel=channel, ts=ts, text=text, blocks=[], user=user)
            self.messages[ts] = posted
        return posted

    def new_ts(self) -> str:
        # Slack's ts: Unix seconds and a sequence, unique in a channel.
        return f"{int(self.clock())}.{next(self._ts):06d}"

    # -- pages (the sandbox serves its workspace here; the plain fake only counts) ---------

    def get_page(self, path: str) -> tuple[int, str, bytes]:
        # For a fake running in a process of its own (the benchmarks): counts, and with
        # ?messages, what was posted.
        with self._lock:  # calls still arriving: counted as of one moment
            report: dict[str, Any] = {
                "calls": len(self.calls), "invalid": len(self.invalid),
                "methods": dict(Counter(c.method for c in self.calls)),
                "unchanged_edits": self.unchanged_edits, "connections": self.connections}
        if "messages" in path:
            with self._lock:
                report["messages"] = [{"channel": m.channel, "ts": m.ts, "thread_ts": m.thread_ts,
                                       "text": m.text, "blocks": m.blocks,
                                       "delivery": _delivery(m.metadata)}
                                      for m in self.messages.values()]
        return 200, "application/json", json.dumps(report).encode()

    def post_page(self, path: str, body: str) -> tuple[int, str, bytes]:
        return 404, "application/json", b'{"error": "not found"}'

    def hang_up(self) -> None:
        """Close every connection clients keep open, as a server does with idle ones (or
        when it restarts): their next call must open another, not fail."""
        with self._lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    # -- the server -----------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # Slack's API keeps a connection open for the next call (HTTP/1.1), as a client
            # that reuses it expects; every answer says its length.
            protocol_version = "HTTP/1.1"
            # An answer is written in two parts (head, then body): without this, the body
            # waits for the client's delayed ACK of the head, 40 ms a call on a kept
            # connection (Slack's servers answer at once).
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake.connections += 1
                    fake._open.add(self.connection)

            def finish(self) -> None:
                with fake._lock:
                    fake._open.discard(self.connection)
                super().finish()

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, content_type: str, payload: bytes,
                       headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller is gone (a killed worker): the reply is lost, as in life

            def do_GET(self) -> None:
                status, content_type, payload = fake.get_page(self.path)
                self._reply(status, content_type, payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                if self.path.startswith(UPLOAD_PATH):  # bytes, not a form: a file's content
                    status, text = fake.receive_upload(self.path[len(UPLOAD_PATH):], data)
                    self._reply(status, "text/plain; charset=utf-8", text.encode())
                    return
                raw = data.decode()
                if not self.path.startswith("/api/"):
                    status, content_type, payload = fake.post_page(self.path, raw)
                    self._reply(status, content_type, payload)
                    return
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(raw).items()}
                for key in ("blocks", "view", "metadata", "files"):
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
                method = self.path.rsplit("/", 1)[-1]
                status, body = fake._answer(method, args)
                if status == 0 or body.pop("_timeout", False):
                    # A reply lost on the way back: the connection drops (after a wait,
                    # for a timeout), whatever Slack did.
                    if status != 0:
                        time.sleep(fake.timeout_seconds)
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
            limited = self._rate_limited(method, args)
            if limited is not None:
                self.calls[-1].error = "ratelimited"
                return 429, {"ok": False, "error": "ratelimited", "retry_after": limited}
            self._validate(method, args)
            refused = self._refusal(method, args)
            if refused is not None:
                self.calls[-1].error = refused
                return 200, {"ok": False, "error": refused}
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            answer: dict[str, Any] = handler(args) if handler else {"ok": True}
            posted = self.messages.get(str(answer.get("ts"))) \
                if method == "chat.postMessage" else None
            loss = self._loss(method) if answer.get("ok") else None
            self.calls[-1].lost = loss
        if posted is not None and self.after_post is not None:
            self.after_post(posted)  # outside the lock: it may wait for the test
        if loss == "500":
            return 500, {"ok": False, "error": "internal_error"}
        if loss == "drop":
            return 0, {}
        if loss == "timeout":
            return 200, {**answer, "_timeout": True}
        return 200, answer

    def _loss(self, method: str) -> str | None:
        queued = self.lose_next.get(method)
        if queued:
            return queued.pop(0)
        if self.lose_rate and method in ("chat.postMessage", "chat.update") and \
                self.random.random() < self.lose_rate:
            return self.random.choice(["500", "drop"])
        return None

    def _rate_limited(self, method: str, args: dict[str, Any]) -> int | None:
        """Seconds to wait when over Slack's limit, else None.
        https://docs.slack.dev/apis/web-api/rate-limits: limits are per method per workspace
        by tier; chat.postMessage allows about one message per second per channel, with short
        bursts; over a limit Slack answers HTTP 429 with Retry-After."""
        if not self.rate_limits:
            return None
        key, rate, burst = slack_limits.limit_for(method, args)
        bucket = self._buckets.setdefault(key, slack_limits.Bucket(rate, burst, self.clock()))
        wait = bucket.take(self.clock())
        return None if wait is None else max(1, math.ceil(wait))

    def _has(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def _refusal(self, method: str, args: dict[str, Any]) -> str | None:
        """The error Slack answers for this call, from the method's documented error table."""
        check = getattr(self, "_refuse_" + method.replace(".", "_"), None)
        return check(args) if check else None

    def _refuse_chat_postMessage(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/chat.postMessage#errors
        channel, text = str(args.get("channel", "")), str(args.get("text") or "")
        if channel in self.private:
            return "channel_not_found"  # a private channel the bot isn't in looks absent
        if channel in self.cannot_post_in:
            return "not_in_channel"
        if channel in self.archived:
            return "is_archived"
        if channel in self.read_only:
            return "restricted_action_read_only_channel"
        if channel in self.thread_only and not args.get("thread_ts"):
            return "restricted_action_thread_only_channel"
        if channel.startswith("D") and not self.messages_tab_enabled:
            return "messages_tab_disabled"  # a DM when the app's Messages tab is off
        if len(text) > slack_limits.MAX_TEXT:
            return "msg_too_long"
        if "blocks" in args and slack_limits.text_in_blocks(args["blocks"]) > \
                slack_limits.BLOCKS_TEXT_BUDGET:
            return "msg_blocks_too_long"
        metadata = args.get("metadata")
        if metadata is not None and not (isinstance(metadata, dict)
                                         and isinstance(metadata.get("event_type"), str)
                                         and isinstance(metadata.get("event_payload"), dict)):
            return "invalid_metadata_format"
        return None

    def _refuse_chat_update(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/chat.update#errors
        channel = str(args.get("channel", ""))
        if channel in self.archived:
            return "is_inactive"
        posted = self.messages.get(str(args.get("ts", "")))
        if posted is not None and posted.user is not None:
            return "cant_update_message"  # a person's message: only its author edits it
        if "blocks" in args and slack_limits.text_in_blocks(args["blocks"]) > \
                slack_limits.BLOCKS_TEXT_BUDGET:
            return "msg_blocks_too_long"
        return None

    def _refuse_chat_getPermalink(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/chat.getPermalink#errors: a channel the
        # bot can't see, or a message not in it. No scope is required.
        channel = str(args.get("channel", ""))
        if channel in self.private:
            return "channel_not_found"
        posted = self.messages.get(str(args.get("message_ts", "")))
        if posted is None or posted.channel != channel:
            return "message_not_found"
        return None

    def _refuse_chat_postEphemeral(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/chat.postEphemeral#errors
        channel, user = str(args.get("channel", "")), str(args.get("user", ""))
        if channel in self.private or channel in self.archived:
            return "channel_not_found"
        members = self.members.get(channel)
        if members is not None and user not in members:
            return "user_not_in_channel"
        return None

    def _refuse_views_open(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/views.open#errors: a trigger_id works
        # once (exchanged_trigger_id), within 3 seconds of the click (expired_trigger_id).
        trigger = str(args.get("trigger_id", ""))
        if trigger in self._used_triggers:
            return "exchanged_trigger_id"
        issued = self._issued.get(trigger)
        if issued is not None and self.clock() - issued > 3:
            return "expired_trigger_id"
        self._used_triggers.add(trigger)  # a trigger the fake didn't issue counts as fresh
        return None

    _refuse_views_push = _refuse_views_open  # https://docs.slack.dev/reference/methods/views.push

    def _refuse_views_update(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/views.update#errors: with a hash, the
        # update is refused if the view changed since that hash was read.
        view = self.views.get(str(args.get("view_id", "")))
        if view is None:
            return "not_found"
        if args.get("hash") and args["hash"] != view.get("hash"):
            return "hash_conflict"
        return None

    def _refuse_conversations_open(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/conversations.open#errors
        user = str(args.get("users", ""))
        if user in self.missing_users:
            return "user_not_found"
        if user in self.disabled_users:
            return "user_disabled"
        if user in self.bots:
            return "cannot_dm_bot"
        return None

    def _refuse_history(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/conversations.history#errors: reading
        # needs channels:history (groups:history private, im:history DMs).
        channel = str(args.get("channel", ""))
        scope = "im:history" if channel.startswith("D") else (
            "groups:history" if channel.startswith("G") else "channels:history")
        if not self._has(scope):
            return "missing_scope"
        if channel in self.private:
            return "channel_not_found"
        return None

    _refuse_conversations_history = _refuse_history
    _refuse_conversations_replies = _refuse_history  # .../conversations.replies#errors

    def _refuse_files_getUploadURLExternal(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/files.getUploadURLExternal: files:write;
        # `length` and `filename` required ("missing_argument: typically only occurs when the
        # length provided is 0"); alt_txt at most 1,000 characters (alt_txt_too_large).
        if not self._has("files:write"):
            return "missing_scope"
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            return "invalid_arguments"
        if length <= 0 or not args.get("filename"):
            return "missing_argument"
        if len(str(args.get("alt_txt") or "")) > 1000:
            return "alt_txt_too_large"
        return None

    def _refuse_files_completeUploadExternal(self, args: dict[str, Any]) -> str | None:
        # https://docs.slack.dev/reference/methods/files.completeUploadExternal#errors:
        # files:write; `files` a JSON array of {id, title}; file_not_found "could not find the
        # file from the upload ticket" (never asked for, or its bytes never arrived), and
        # "this method can only be called once" per file; a channel the bot can't see is
        # channel_not_found, one it may not post in not_in_channel; thread_ts must be a
        # parent ("never use a reply's ts").
        if not self._has("files:write"):
            return "missing_scope"
        files = args.get("files")
        if not isinstance(files, list) or not files or \
                not all(isinstance(f, dict) and isinstance(f.get("id"), str) for f in files):
            return "invalid_arguments"
        for f in files:
            upload = self.uploads.get(f["id"])
            if upload is None or upload.data is None or upload.completed:
                return "file_not_found"
        channel = str(args.get("channel_id") or "")
        if channel in self.private:
            return "channel_not_found"
        if channel in self.cannot_post_in or channel in self.archived:
            return "not_in_channel"
        parent = self.messages.get(str(args.get("thread_ts") or ""))
        if args.get("thread_ts") and (parent is None or parent.thread_ts not in (None,
                                                                                  parent.ts)):
            return "invalid_arguments"
        return None

    def receive_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        """The POST of a file's bytes to its upload URL: "Slack will return HTTP 200 if the
        upload is successful" (https://docs.slack.dev/reference/methods/files.getUploadURLExternal).
        A URL never handed out is 404."""
        with self._lock:
            if self.fail_uploads:
                return self.fail_uploads.pop(0), "failed"
            upload = self.uploads.get(file_id)
            if upload is None or upload.completed:
                return 404, "not found"
            upload.data = data
            return 200, f"OK - {len(data)}"

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F0FAKE{next(self._files):05d}"
        self.uploads[file_id] = Upload(id=file_id, filename=str(args["filename"]),
                                       length=int(args["length"]), alt_txt=args.get("alt_txt"))
        base = self.url.removesuffix("/api/")
        return {"ok": True, "upload_url": f"{base}{UPLOAD_PATH}{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        done = []
        for f in args["files"]:
            upload = self.uploads[f["id"]]
            upload.completed = True
            done.append({"id": upload.id, "name": upload.filename,
                         "title": str(f.get("title") or upload.filename),
                         "mimetype": "image/png" if upload.filename.endswith(".png")
                         else "application/octet-stream", "size": len(upload.data or b""),
                         "alt_txt": upload.alt_txt})
        channel = args.get("channel_id")
        if channel:  # shared: a message in the channel (or thread) carrying the files
            ts = self.new_ts()
            self.messages[ts] = Posted(channel=str(channel), ts=ts,
                                       text=str(args.get("initial_comment") or ""), blocks=[],
                                       thread_ts=args.get("thread_ts") or None, files=done)
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in done]}

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
        channel, ts = args["channel"], self.new_ts()
        metadata = args.get("metadata")
        self.messages[ts] = Posted(channel=channel, ts=ts, text=args.get("text", ""),
                                   blocks=args.get("blocks", []), thread_ts=args.get("thread_ts"),
                                   metadata=metadata if isinstance(metadata, dict) else None)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}

    def _chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        # A reply's permalink carries its thread (the method's documented response).
        channel, ts = str(args["channel"]), str(args["message_ts"])
        link = f"https://shop.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        posted = self.messages[ts]
        if posted.thread_ts and posted.thread_ts != ts:
            link += f"?thread_ts={posted.thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        posted = self.messages.get(args["ts"])
        if posted is None and self.lenient:  # messages posted before this fake started
            posted = self.messages[args["ts"]] = Posted(channel=args["channel"], ts=args["ts"],
                                                        text="", blocks=[])
        if posted is None or posted.channel != args["channel"]:
            return {"ok": False, "error": "message_not_found"}
        posted.history.append(posted.blocks)
        blocks, text = args.get("blocks", []), args.get("text", "")
        if (blocks, text) == (posted.blocks, posted.text):
            self.unchanged_edits += 1  # an edit that showed nothing new (the benchmarks)
        posted.blocks, posted.text = blocks, text
        return {"ok": True, "channel": posted.channel, "ts": posted.ts}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = self.new_ts()
        self.ephemerals.append(Posted(channel=args["channel"], ts=ts, text=args.get("text", ""),
                                      blocks=args.get("blocks") or [],
                                      thread_ts=args.get("thread_ts"), user=args["user"]))
        return {"ok": True, "message_ts": ts}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        # Top-level messages, newest first, after `oldest`; metadata only when asked for.
        channel, oldest = args["channel"], float(args.get("oldest") or 0)
        found = [m for m in self.messages.values() if m.channel == channel
                 and m.thread_ts in (None, m.ts) and float(m.ts) > oldest]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        return self._page(found, args)

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        # The parent and its replies, oldest first.
        channel, parent = args["channel"], str(args.get("ts", ""))
        head = self.messages.get(parent)
        if head is None or head.channel != channel:
            return {"ok": False, "error": "thread_not_found"}
        oldest = float(args.get("oldest") or 0)
        replies = [m for m in self.messages.values() if m.channel == channel
                   and m.thread_ts == parent and m.ts != parent and float(m.ts) > oldest]
        replies.sort(key=lambda m: float(m.ts))
        return self._page([head, *replies], args)

    def _page(self, found: list[Posted], args: dict[str, Any]) -> dict[str, Any]:
        start = int(args.get("cursor") or 0)
        size = max(1, min(int(args.get("limit") or 100), 999))
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        page = found[start:start + size]
        more = start + size < len(found)
        return {"ok": True, "messages": [m.as_message(with_metadata=with_metadata)
                                         for m in page],
                "has_more": more,
                "response_metadata": {"next_cursor": str(start + size) if more else ""}}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = f"V{next(self._views):06d}"
        view = {**args["view"], "id": view_id, "hash": f"h{view_id}"}
        self.views[view_id] = view
        user = self.triggers.pop(args.get("trigger_id", ""), None)
        if user is not None:
            self.open_views.setdefault(user, []).append(view_id)
        return {"ok": True, "view": view}

    _views_push = _views_open

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

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://docs.slack.dev/reference/methods/apps.connections.open: a WebSocket URL
        # for Socket Mode, one per call.
        if self.socket_url is None:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, "url": self.socket_url}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": "D" + args["users"].lstrip("UW")}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args["user"]
        if user in self.missing_users:
            return {"ok": False, "error": "user_not_found"}  # .../users.info#errors
        known = self.users.get(user, {}).get("name")
        name = known or {"U0STAFF1": "Alex", "U0MGR001": "Morgan"}.get(user, "Jo")
        return {"ok": True, "user": {"id": user, "name": name.lower(), "real_name": name,
                                     "deleted": user in self.disabled_users,
                                     "profile": {"display_name": name}}}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.group_members.get(args["usergroup"])
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": members}


class _Server(ThreadingHTTPServer):
    # Slack takes every connection its clients open. socketserver's listen backlog of 5 did
    # not: under the soak's load the kernel dropped connections (TcpExtListenOverflows),
    # each a SYN sent again a second later, so a fake stall passed for Slack's slowness.
    request_queue_size = 1024
    daemon_threads = True


def _delivery(metadata: dict[str, Any] | None) -> str | None:
    """The outbox delivery a message was posted by (its tag), if any."""
    payload = (metadata or {}).get("event_payload")
    return str(payload.get("delivery")) if isinstance(payload, dict) and \
        payload.get("delivery") else None


if __name__ == "__main__":
    # A fake in a process of its own: `python -m bot.sandbox.fake_slack` prints its URL.
    import sys

    server = FakeSlack()
    server.lenient = True
    server.failure_rate = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    server.lose_rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    server.start()
    print(server.url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()
