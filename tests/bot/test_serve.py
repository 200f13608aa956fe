"""`amends serve` as a real process: gunicorn, signed HTTP requests, /healthz, clear errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import FakeSlack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, fake: FakeSlack, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AMENDS_"))}
    return {**keep, "DATABASE_URL": f"sqlite:///{tmp_path / 'amends.db'}",
            "SLACK_BOT_TOKEN": "xoxb-test-token-0000", "SLACK_SIGNING_SECRET": sr.SECRET,
            "SLACK_API_URL": fake.url, "AMENDS_MANAGERS": "U0MGR001", **extra}


def _amends(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def _serving(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[str]:
    """`amends serve` as a process on a free port; yields its base URL; stops it cleanly."""
    port = _free_port()
    env = _env(tmp_path, fake_slack, PORT=str(port))
    assert _amends("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1"],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    assert json.loads(response.read()) == {"status": "ok", "database": "ok"}
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            raise AssertionError("amends serve did not come up")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output


def test_serve_answers_signed_requests_over_http(tmp_path: Path,
                                                 fake_slack: FakeSlack) -> None:
    with _serving(tmp_path, fake_slack) as base:
        body = sr.command_body("order 7 arrived late", user="U0STAFF1")
        request = urllib.request.Request(f"{base}/slack/events", data=body.encode(),
                                         headers=sr.form_headers(body), method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        for _ in range(50):
            if fake_slack.called("views.open"):
                break
            time.sleep(0.1)
        view = fake_slack.called("views.open")[0].args["view"]
        assert view["callback_id"] == "new_case"
        # Unsigned: 401, and nothing more reaches Slack.
        bad = urllib.request.Request(f"{base}/slack/events", data=body.encode(),
                                     headers={"content-type": "application/x-www-form-urlencoded"},
                                     method="POST")
        try:
            urllib.request.urlopen(bad, timeout=5)
            raise AssertionError("an unsigned request was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        assert len(fake_slack.called("views.open")) == 1


def _raw(base: str, head: bytes, body: bytes = b"") -> bytes:
    """Send raw bytes (headers a client chooses) and read the whole answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_serve_refuses_huge_or_unsized_bodies_before_reading_them(
        tmp_path: Path, fake_slack: FakeSlack) -> None:
    with _serving(tmp_path, fake_slack) as base:
        # 2 GB announced, a few bytes sent: refused at once, nothing buffered.
        # Connection: close, so the answer ends with the connection, not its keep-alive.
        answer = _raw(base, b"POST /slack/events HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n"
                            b"Content-Type: application/x-www-form-urlencoded\r\n"
                            b"Content-Length: 2000000000\r\n\r\n", b"payload=")
        assert answer.startswith(b"HTTP/1.1 413")
        answer = _raw(base, b"POST /slack/events HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
                      b"5\r\nhello\r\n0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 411")
        # A proper request still works afterwards.
        body = sr.command_body("help", user="U0STAFF1")
        request = urllib.request.Request(f"{base}/slack/events", data=body.encode(),
                                         headers=sr.form_headers(body), method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200


def test_a_stalled_body_is_given_up_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # The server's own reader on a real socket whose client sends part of a body and stalls.
    from bot import web_body

    monkeypatch.setattr(web_body, "BODY_SECONDS", 0.2)
    reader, writer = socket.socketpair()
    with reader, writer:
        writer.sendall(b"payload=%7B")  # 11 of the 500 bytes announced, then nothing
        environ = {"CONTENT_LENGTH": "500", "wsgi.input": reader.makefile("rb"),
                   "gunicorn.socket": reader}
        statuses: list[str] = []
        refused = web_body.read_body(environ,
                                     lambda status, headers: statuses.append(status))
        assert refused is not None and statuses == ["408 Request Timeout"]
        assert b"did not arrive" in b"".join(refused)


def test_serve_without_tokens_says_what_to_set(tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = _env(tmp_path, fake_slack)
    del env["SLACK_BOT_TOKEN"], env["SLACK_SIGNING_SECRET"]
    result = _amends("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr
    assert "manifest.yml" in result.stderr


def test_serve_refuses_an_out_of_date_schema(tmp_path: Path, fake_slack: FakeSlack) -> None:
    result = _amends("serve", env=_env(tmp_path, fake_slack), cwd=tmp_path)
    assert result.returncode == 2
    assert "Run `amends db upgrade`" in result.stderr
    assert fake_slack.calls == []


def test_socket_mode_health_server_answers_only_healthz() -> None:
    from bot.server import health_app
    from storage import db

    app = health_app(db.make_engine("sqlite://"))
    statuses: list[str] = []
    body = b"".join(app({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"},
                        lambda status, headers: statuses.append(status)))
    assert json.loads(body) == {"status": "ok", "database": "ok"}
    # Socket Mode payloads are unsigned: no HTTP route may take Slack events in that mode.
    app({"PATH_INFO": "/slack/events", "REQUEST_METHOD": "POST"},
        lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK", "404 Not Found"]
