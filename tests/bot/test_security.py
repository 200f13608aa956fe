"""Requests Slack did not sign are refused and change nothing; text never pings anyone."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from bot.blocks import case_messages
from bot.blocks.case_messages import Style
from bot.blocks.text import MARKER, cut, escape, mention, mrkdwn
from bot.sandbox import slack_requests as sr
from storage.models import CaseRow
from tests.bot.conftest import STAFF, Harness


def _cases(harness: Harness) -> int:
    with harness.sessions() as session:
        return session.scalar(select(func.count()).select_from(CaseRow)) or 0


@pytest.mark.parametrize("headers", [
    pytest.param(lambda body: sr.form_headers(body, secret="0" * 32), id="wrong-secret"),
    pytest.param(lambda body: {"content-type": "application/x-www-form-urlencoded"},
                 id="missing"),
    pytest.param(lambda body: sr.form_headers(body, timestamp=int(time.time()) - 6 * 60),
                 id="stale"),
    pytest.param(lambda body: {**sr.form_headers(body), "x-slack-signature": "v0=deadbeef"},
                 id="tampered"),
])
def test_unsigned_requests_get_401_and_record_nothing(harness: Harness, headers) -> None:
    harness.fake.reset_calls()
    body = sr.command_body("late order", user=STAFF)
    assert harness.send(body, headers(body)).status == 401
    view = {"id": "V1", "callback_id": "new_case", "private_metadata": "{}",
            "state": {"values": {}}, "blocks": []}
    payload = sr.interaction_body(sr.view_submission(user=STAFF, view=view))
    assert harness.send(payload, headers(payload)).status == 401
    assert harness.fake.calls == []  # no modal, no message
    assert _cases(harness) == 0


def test_a_body_changed_after_signing_is_refused(harness: Harness) -> None:
    body = sr.command_body("late order", user=STAFF)
    headers = sr.form_headers(body)
    assert harness.send(body.replace("late", "lost"), headers).status == 401
    assert harness.fake.called("views.open") == []


def test_escape_neutralises_mentions_and_links() -> None:
    for evil in ("<!channel>", "<!here|here>", "<@U123>", "<https://evil.example|click>",
                 "<!subteam^S1>", "a & b"):
        assert "<" not in escape(evil) and ">" not in escape(evil)
    assert escape("Tom & <Jerry>") == "Tom &amp; &lt;Jerry&gt;"
    assert mention("U0STAFF1") == "<@U0STAFF1>"
    assert mention("<!channel>") == "&lt;!channel&gt;"


def test_long_text_is_cut_with_a_visible_marker() -> None:
    long = "x" * 5000
    assert cut(long, 3000).endswith(MARKER) and len(cut(long, 3000)) == 3000
    # Cutting never leaves half an escape sequence behind.
    cut_escaped = mrkdwn("<" * 2000, 3000)
    assert cut_escaped.endswith(MARKER)
    assert cut_escaped[: -len(MARKER)].endswith("&lt;")


def test_a_huge_case_still_builds_valid_messages(library) -> None:
    """Slack-limit-sized input everywhere: the builders cut, the models accept."""
    from bot.domain.lifecycle import Case, Customer
    from bot.sandbox.fake_slack import problems_with_blocks
    from tests.conftest import T0

    playbook = library.get("poor-service")
    case = Case.open(playbook=playbook, severity="severe",
                     customer=Customer(name="N" * 200, contact="c" * 200),
                     summary="<!channel> " * 300, opened_by=STAFF, at=T0, currency="USD",
                     order_ref="R" * 100, location="L" * 100, purchase_minor=10**12)
    case.id = 123456
    style = Style(currency="USD", staff_limit_minor=2000,
                  timezone=__import__("zoneinfo").ZoneInfo("UTC"))
    for msg in (case_messages.case_card(case, playbook, style),
                case_messages.apology(case, playbook, "S" * 500),
                case_messages.fix(case, playbook),
                case_messages.compensation(case, playbook, style)):
        assert problems_with_blocks(msg.blocks, limit=50) == []
        assert "<!channel>" not in json.dumps(msg.blocks) + msg.text


def test_verification_cannot_be_switched_off_by_configuration(library, fake_slack) -> None:
    """Every HTTP-mode App verifies signatures, whatever the settings say."""
    from slack_bolt.middleware.request_verification import RequestVerification

    from bot.app import build_app
    from bot.messaging import make_client
    from storage import db
    from tests.bot.conftest import make_settings

    for extra in ({}, {"AMENDS_SCHEDULER": "off", "AMENDS_LOG_LEVEL": "DEBUG"}):
        settings = make_settings(SLACK_API_URL=fake_slack.url, **extra)
        app = build_app(settings, client=make_client(token="xoxb-test-token-0000",
                                                     base_url=fake_slack.url),
                        sessions=db.make_sessions(db.make_engine("sqlite://")),
                        library=library)
        assert any(isinstance(m, RequestVerification) for m in app._middleware_list)
    # The only switch is Socket Mode, whose payloads come over Slack's authenticated socket.
    import inspect

    from bot import settings as settings_module

    assert "VERIFICATION" not in inspect.getsource(settings_module).upper().replace(
        "REQUEST_VERIFICATION", "")
