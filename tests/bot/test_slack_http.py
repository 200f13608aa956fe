"""Slack's Web API over a kept-alive connection (bot.slack_http), against the fake Slack."""

from __future__ import annotations

import os
import ssl
import threading
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError

from bot import slack_http
from bot.messaging import make_client
from bot.sandbox.fake_slack import FakeSlack


def test_a_thread_sends_its_calls_on_one_connection(fake_slack: FakeSlack) -> None:
    client = make_client(token="xoxb-test-token-00", base_url=fake_slack.url)
    for n in range(5):
        client.chat_postMessage(channel="C0SHOPFLOOR", text=f"note {n}")
    assert fake_slack.connections == 1
    assert [c.args["text"] for c in fake_slack.called("chat.postMessage")] == [
        f"note {n}" for n in range(5)]


def test_threads_keep_a_connection_each(fake_slack: FakeSlack) -> None:
    client = make_client(token="xoxb-test-token-00", base_url=fake_slack.url)

    def calls() -> None:
        for _ in range(3):
            client.auth_test()

    threads = [threading.Thread(target=calls) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake_slack.connections == 4 and len(fake_slack.called("auth.test")) == 12


def test_a_forked_process_opens_its_own_connection(fake_slack: FakeSlack) -> None:
    """gunicorn's master checks the token with Slack, then forks its workers: a worker must
    not send on the master's connection (two processes on one would read each other's
    answers)."""
    client = make_client(token="xoxb-test-token-00", base_url=fake_slack.url)
    client.auth_test()  # the master's check
    child = os.fork()
    if child == 0:  # the worker: one call, then out, without pytest's teardown
        try:
            client.auth_test()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fake_slack.connections == 2 and len(fake_slack.called("auth.test")) == 2
    client.auth_test()  # the parent's connection still serves it
    assert fake_slack.connections == 2


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed(
        fake_slack: FakeSlack) -> None:
    client = make_client(token="xoxb-test-token-00", base_url=fake_slack.url)
    client.chat_postMessage(channel="C0SHOPFLOOR", text="first")
    fake_slack.hang_up()  # an idle timeout, or a restart, on Slack's side
    client.chat_postMessage(channel="C0SHOPFLOOR", text="second")
    assert fake_slack.connections == 2
    assert [c.args["text"] for c in fake_slack.called("chat.postMessage")] == [
        "first", "second"]


def test_slacks_errors_read_as_they_did_through_urllib(fake_slack: FakeSlack) -> None:
    client = make_client(token="xoxb-test-token-00", base_url=fake_slack.url)
    fake_slack.fail_next["chat.postMessage"] = [
        (429, {"ok": False, "error": "ratelimited", "retry_after": 7})]
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C0SHOPFLOOR", text="held")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert limited.value.response["error"] == "ratelimited"
    # A refusal (HTTP 200, ok: false), and the connection still serves the next call.
    with pytest.raises(SlackApiError) as refused:
        client.chat_update(channel="C0SHOPFLOOR", ts="1.000001", text="nothing there")
    assert refused.value.response["error"] == "message_not_found"
    client.chat_postMessage(channel="C0ELSEWHERE", text="after")
    assert fake_slack.connections == 1


def test_a_reply_lost_with_its_connection_is_a_blip_and_the_next_call_reconnects(
        fake_slack: FakeSlack) -> None:
    client = make_client(token="xoxb-test-token-00", base_url=fake_slack.url)
    fake_slack.lose_next["chat.postMessage"] = ["drop"]
    with pytest.raises(ConnectionError):  # what urllib raised too: a blip (slack_pacing)
        client.chat_postMessage(channel="C0SHOPFLOOR", text="landed, reply lost")
    client.chat_postMessage(channel="C0SHOPFLOOR", text="next")
    assert fake_slack.connections == 2
    assert len(fake_slack.posts_in("C0SHOPFLOOR")) == 2  # posted once each: nothing resent


def test_with_a_proxy_configured_calls_go_through_urllib(
        fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy that isn't there: the call fails at the proxy, so urllib (which honours the
    # environment's proxy settings) sent it, not a direct kept connection to the fake.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    # Read once per process, as urllib's default opener reads them: this one starts now.
    monkeypatch.setattr(slack_http, "_proxies", None)
    client = make_client(token="xoxb-test-token-00", base_url=fake_slack.url)
    with pytest.raises(urllib.error.URLError):
        client.auth_test()
    assert fake_slack.called("auth.test") == [] and fake_slack.connections == 0


# Test certificates (tls/make.sh): a CA nothing outside the tests trusts, a server
# certificate it signed for 127.0.0.1, and one for a name the tests never connect to.
TLS = Path(__file__).parent / "tls"


def served_as(name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / f"{name}.pem", TLS / f"{name}.key")
    return context


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(slack_http, "_proxies", {})  # the kept connection, not urllib's
    yield


def test_over_https_calls_share_one_connection_whose_certificate_was_checked(
        no_proxy: None) -> None:
    """Slack's API is served over HTTPS only: the kept connection speaks TLS, and checks
    the server's certificate against the trusted issuers (here the client's own, as
    SSL_CERT_FILE would give it)."""
    fake = FakeSlack(tls=served_as("localhost")).start()
    try:
        assert fake.url.startswith("https://127.0.0.1:")
        client = make_client(token="xoxb-test-token-00", base_url=fake.url)
        client.ssl = ssl.create_default_context(cafile=str(TLS / "ca.pem"))
        for n in range(3):
            client.chat_postMessage(channel="C0SHOPFLOOR", text=f"note {n}")
        assert [c.args["text"] for c in fake.called("chat.postMessage")] == [
            f"note {n}" for n in range(3)]
        assert fake.connections == 1
    finally:
        fake.stop()


@pytest.mark.parametrize(("served", "trusted"), [
    ("localhost", None),  # an issuer this machine does not trust (the system's default)
    ("elsewhere", "ca.pem"),  # a trusted issuer, but a certificate for another name
])
def test_a_server_whose_certificate_does_not_check_out_is_told_nothing(
        no_proxy: None, served: str, trusted: str | None) -> None:
    """As urllib would: the call fails at the handshake, before the token or the message
    leaves this machine, and never falls back to an unchecked connection."""
    fake = FakeSlack(tls=served_as(served)).start()
    try:
        client = make_client(token="xoxb-test-token-00", base_url=fake.url)
        if trusted:
            client.ssl = ssl.create_default_context(cafile=str(TLS / trusted))
        with pytest.raises(urllib.error.URLError) as refused:
            client.chat_postMessage(channel="C0SHOPFLOOR", text="a note")
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
        assert fake.calls == []
    finally:
        fake.stop()
