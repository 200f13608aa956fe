"""The real Bolt App, a real database, signed requests, and the fake Slack Web API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from bot.app import assemble
from bot.delivery.outbox import OutboxWorker
from bot.domain.playbook_library import PlaybookLibrary
from bot.inbox import Inbox
from bot.messaging import make_client
from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import FakeSlack, Posted
from bot.settings import Settings, load_settings
from storage import db
from storage.models import Base, InboxRow
from tests.conftest import T0

# Tests deliver the outbox by hand, everything that is queued, whatever its time.
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
STAFF, STAFF2, MANAGER, MANAGER2, STRANGER = (
    "U0STAFF1", "U0STAFF2", "U0MGR001", "U0MGR002", "U0NOBODY")
LEADER = "U0LEADER1"  # in AMENDS_LEADERS: sees the week's picture on Home
SHOP_FLOOR, RECOVERY = "C0SHOPFLOOR", "C0RECOVERY"
PEOPLE = {STAFF: "Alex", STAFF2: "Jo", MANAGER: "Morgan", MANAGER2: "Sam"}
CHANNELS = {SHOP_FLOOR: "shop-floor", RECOVERY: "recovery"}


class TrackingExecutor(ThreadPoolExecutor):
    """Bolt's listener pool, but tests can wait until every listener has finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=8)
        self.futures: list[Future[Any]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self.futures.append(future)
        return future

    def drain(self, timeout: float = 20) -> None:
        while True:
            with self._lock:
                pending = [f for f in self.futures if not f.done()]
            if not pending:
                return
            _done, not_done = wait(pending, timeout=timeout)
            assert not not_done, "listeners still running after the timeout"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Harness:
    app: App
    fake: FakeSlack
    sessions: sessionmaker[Session]
    executor: TrackingExecutor
    clock: Clock
    settings: Settings
    outbox: OutboxWorker | None = None
    inbox: Inbox | None = None
    responses: list[BoltResponse] = field(default_factory=list)
    last_trigger: str = ""

    def send(self, body: str, headers: dict[str, str]) -> BoltResponse:
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        self.deliver()
        self.responses.append(response)
        return response

    def deliver(self) -> None:
        """Wait for the listeners, then deliver everything they wrote to the outbox."""
        self.executor.drain()
        if self.inbox is not None:
            self.inbox.flush()  # finished clicks leave the inbox (the writer does it lazily)
        if self.outbox is not None:
            self.outbox.drain(now=FAR_FUTURE)

    def command(self, text: str, *, user: str = STAFF, channel: str = SHOP_FLOOR
                ) -> BoltResponse:
        """`text` as the person types it; it reaches the app as Slack sends it."""
        self.last_trigger = self.fake.trigger(user)
        body = sr.command_body(sr.as_slack_sends(text, users=PEOPLE, channels=CHANNELS),
                               user=user, channel=channel, trigger=self.last_trigger)
        return self.send(body, sr.form_headers(body))

    def interact(self, payload: dict[str, Any], *, trigger: str | None = None) -> BoltResponse:
        # Each click or submission carries a trigger Slack just issued (or the one given:
        # issued earlier, or already used).
        user = (payload.get("user") or {}).get("id")
        self.last_trigger = trigger or self.fake.trigger(user)
        payload = {**payload, "trigger_id": self.last_trigger}
        body = sr.interaction_body(payload)
        return self.send(body, sr.form_headers(body))

    def click(self, posted: Posted, action_prefix: str, *, user: str, index: int = 0,
              trigger: str | None = None) -> BoltResponse:
        """Click the index-th element of a posted message whose action_id starts so."""
        element, block_id = find_element(posted.blocks, action_prefix, index)
        action = {"action_id": element["action_id"], "block_id": block_id,
                  "type": element["type"], "text": element.get("text"),
                  "value": element.get("value")}
        message = {"type": "message", "ts": posted.ts, "text": posted.text,
                   "blocks": posted.blocks, **({"thread_ts": posted.thread_ts}
                                               if posted.thread_ts else {})}
        return self.interact(sr.block_action(user=user, action=action, message=message,
                                             channel=posted.channel), trigger=trigger)

    def choose(self, posted: Posted, action_prefix: str, value: str, *, user: str
               ) -> BoltResponse:
        element, block_id = find_element(posted.blocks, action_prefix, 0)
        chosen = next(o for o in element["options"] if o["value"].endswith(value))
        action = {"action_id": element["action_id"], "block_id": block_id,
                  "type": "static_select", "selected_option": chosen}
        message = {"type": "message", "ts": posted.ts, "blocks": posted.blocks}
        return self.interact(sr.block_action(user=user, action=action, message=message,
                                             channel=posted.channel))

    def submit(self, view: dict[str, Any], answers: dict[str, str | None], *, user: str
               ) -> BoltResponse:
        return self.interact(sr.view_submission(user=user, view=sr.fill(view, answers)))

    def opened_view(self) -> dict[str, Any]:
        """The last modal the bot opened or updated, as the fake Slack holds it (with id)."""
        calls = [c for c in self.fake.calls if c.method in ("views.open", "views.update")]
        assert calls, "no modal was opened"
        last = calls[-1]
        view_id = last.args.get("view_id") or sorted(self.fake.views)[-1]
        return self.fake.views[view_id]


def find_element(blocks: list[dict[str, Any]], prefix: str, index: int
                 ) -> tuple[dict[str, Any], str]:
    found = []
    for block in blocks:
        elements = block.get("elements", []) if block["type"] == "actions" else (
            [block["accessory"]] if "accessory" in block else [])
        found += [(e, block.get("block_id", "")) for e in elements
                  if e.get("action_id", "").startswith(prefix)]
    assert len(found) > index, f"no element {prefix!r} #{index} in the message"
    return found[index]


def make_settings(**overrides: str) -> Settings:
    env = {"SLACK_BOT_TOKEN": "xoxb-test-token-0000", "SLACK_SIGNING_SECRET": sr.SECRET,
           "AMENDS_MANAGERS": f"{MANAGER},{MANAGER2}", "AMENDS_STAFF_LIMIT": "20.00",
           "AMENDS_RECOVERY_CHANNEL": RECOVERY, "AMENDS_LEADERSHIP_CHANNEL": "C0LEADERS",
           "AMENDS_CURRENCY": "USD", "AMENDS_LEADERS": LEADER, **overrides}
    return load_settings(env, dotenv_path=None)


def reassembled(harness: Harness, library: PlaybookLibrary, **settings: str
                ) -> tuple[Harness, Any]:
    """Amends assembled again with these settings, on the harness's fake Slack, database and
    clock: (its harness, its parts). The caller shuts the new harness's executor down."""
    config = make_settings(**{"SLACK_API_URL": harness.fake.url, **settings})
    executor = TrackingExecutor()
    parts = assemble(config, client=make_client(token="xoxb-test-token-0000",
                                                base_url=harness.fake.url),
                     sessions=harness.sessions, library=library, executor=executor,
                     work_executor=executor, clock=harness.clock)
    return Harness(app=parts.app, fake=harness.fake, sessions=harness.sessions,
                   executor=executor, clock=harness.clock, settings=config,
                   outbox=parts.outbox, inbox=parts.inbox), parts


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def harness(engine: Engine, fake_slack: FakeSlack, library: PlaybookLibrary,
            caplog: pytest.LogCaptureFixture) -> Iterator[Harness]:
    settings = make_settings(SLACK_API_URL=fake_slack.url)
    client = make_client(token=settings.slack_bot_token or "", base_url=settings.slack_api_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    executor, clock = TrackingExecutor(), Clock()
    fake_slack.clock = lambda: clock.now.timestamp()  # Slack's time is the tests' time
    parts = assemble(settings, client=client, sessions=sessions, library=library,
                     executor=executor, work_executor=executor, clock=clock)
    worker = parts.outbox
    caplog.set_level(logging.ERROR)
    yield Harness(app=parts.app, fake=fake_slack, sessions=sessions, executor=executor,
                  clock=clock, settings=settings, outbox=worker, inbox=parts.inbox)
    executor.shutdown(wait=True)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    with db.inbox_engine(engine).begin() as connection:  # its own file on SQLite
        connection.execute(delete(InboxRow))
    # Every message and view the bot sent passed slack_sdk's models and Slack's limits.
    assert fake_slack.invalid == []
    # No listener crashed (Bolt logs unhandled errors; the app logs them at ERROR).
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR
               and "unhandled" in r.getMessage()]
    assert crashes == []
