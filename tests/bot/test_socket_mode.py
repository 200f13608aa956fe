"""Socket Mode end to end: `amends serve` with an app token, against a local stand-in socket.

The fake Slack answers apps.connections.open with a ws://127.0.0.1 address this test serves
(https://docs.slack.dev/apis/events-api/using-socket-mode): it says hello, sends a slash
command, a click and an event as Slack wraps them (envelopes), and expects each to be
acknowledged on the socket with its envelope_id within Slack's 3 seconds. Then it drops the
connection, as a network blip or a Slack deploy does, and the bot must connect again (a new
apps.connections.open) and keep serving.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import FakeSlack
from tests.bot.test_serve import _amends, _env, _free_port

ACK_WITHIN = 3.0  # Slack's deadline for an acknowledgement, in seconds
CONNECT_WITHIN = 30.0  # the process starting up, or reconnecting after a drop


class SocketStandIn:
    """Serves the Socket Mode WebSocket; hands each new connection to the test."""

    def __init__(self) -> None:
        self.connections: queue.Queue[ServerConnection] = queue.Queue()
        self._server: Server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link"

    def start(self) -> SocketStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def _handle(self, connection: ServerConnection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1,
                                    "connection_info": {"app_id": "A0AMENDS"}}))
        self.connections.put(connection)
        with contextlib.suppress(Exception):  # however it ends: the test drives it
            connection.wait_closed()


def send_and_expect_ack(connection: ServerConnection, envelope: dict[str, Any]) -> dict[str, Any]:
    connection.send(json.dumps(envelope))
    while True:
        answer = json.loads(connection.recv(timeout=ACK_WITHIN))  # TimeoutError: too late
        if answer.get("envelope_id") == envelope["envelope_id"]:
            return answer


def slash_command(envelope_id: str, text: str) -> dict[str, Any]:
    payload = {"token": "legacy", "team_id": "T0SHOP", "channel_id": "C0SHOPFLOOR",
               "user_id": "U0STAFF1", "user_name": "alex", "command": "/recover",
               "text": text, "api_app_id": "A0AMENDS", "trigger_id": sr.new_trigger(),
               "response_url": "http://127.0.0.1:9/commands/1"}
    return {"envelope_id": envelope_id, "type": "slash_commands", "payload": payload,
            "accepts_response_payload": True}


@pytest.fixture
def socket_stand_in() -> Iterator[SocketStandIn]:
    stand_in = SocketStandIn().start()
    yield stand_in
    stand_in.stop()


def test_socket_mode_acknowledges_each_kind_and_survives_a_dropped_socket(
        tmp_path: Path, fake_slack: FakeSlack, socket_stand_in: SocketStandIn) -> None:
    fake_slack.socket_url = socket_stand_in.url
    env = _env(tmp_path, fake_slack, SLACK_APP_TOKEN="xapp-1-A0AMENDS-test",
               PORT=str(_free_port()))
    assert _amends("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        first = socket_stand_in.connections.get(timeout=CONNECT_WITHIN)

        # A slash command: acknowledged (with the help text as its response payload).
        ack = send_and_expect_ack(first, slash_command("env-1", "help"))
        assert "/recover" in json.dumps(ack.get("payload", {}))
        # A click (here on a button of a message that is no longer known): acknowledged.
        action = sr.block_action(user="U0STAFF1", action={
            "action_id": "apology_given", "block_id": "b", "type": "button", "value": "x"},
            message={"type": "message", "ts": "1.000001", "blocks": []}, channel="C0SHOPFLOOR")
        send_and_expect_ack(first, {"envelope_id": "env-2", "type": "interactive",
                                    "payload": action, "accepts_response_payload": False})
        # An event: acknowledged, then handled (the Home tab is published).
        event = json.loads(sr.event_body({"type": "app_home_opened", "user": "U0STAFF1",
                                          "tab": "home", "channel": "D0STAFF1",
                                          "event_ts": "1.1"}))
        send_and_expect_ack(first, {"envelope_id": "env-3", "type": "events_api",
                                    "payload": event, "accepts_response_payload": False,
                                    "retry_attempt": 0, "retry_reason": ""})

        # The connection drops without a goodbye (no close frame): the bot connects again.
        first.socket.shutdown(socket.SHUT_RDWR)
        first.socket.close()
        second = socket_stand_in.connections.get(timeout=CONNECT_WITHIN)
        assert len(fake_slack.called("apps.connections.open")) >= 2

        # And keeps serving: the slash command opens the form through the Web API.
        send_and_expect_ack(second, slash_command("env-4", "order 1042 late"))
        deadline = threading.Event()
        for _ in range(100):
            if fake_slack.called("views.open") and fake_slack.called("views.publish"):
                break
            deadline.wait(0.05)
        assert fake_slack.called("views.publish")  # the event of the first connection
        (opened,) = fake_slack.called("views.open")
        assert "order 1042 late" in json.dumps(opened.args["view"])
        assert fake_slack.invalid == []
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert "xapp-1-A0AMENDS-test" not in output  # the app token is never logged
