"""Logs: one JSON line per event with the case and the Slack request; never a secret."""

from __future__ import annotations

import io
import json
import logging

from bot import logs
from bot.ids import Action
from bot.sandbox import slack_requests as sr
from tests.bot.conftest import STAFF, Harness
from tests.bot.test_journey import open_case, thread


def test_json_lines_carry_the_case_and_the_request() -> None:
    stream = io.StringIO()
    handler = logs.make_handler(json_lines=True, secrets=["xoxb-secret-token-1234"],
                                stream=stream)
    logger = logging.getLogger("amends.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logs.request_id.set("trig-42")
        logs.case_id.set(7)
        logger.info("refreshed the card with token %s", "xoxb-secret-token-1234")
        logs.case_id.set(None)
        logger.warning("no case here")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["case_id"] == "C-0007" and first["request_id"] == "trig-42"
    assert first["message"] == "refreshed the card with token [redacted]"
    assert first["level"] == "INFO" and first["logger"] == "amends.test"
    assert "case_id" not in second


def test_a_whole_journey_logs_no_secret(harness: Harness) -> None:
    stream = io.StringIO()
    handler = logs.make_handler(json_lines=False, secrets=[], stream=stream)  # no redaction
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # everything, slack_sdk's and SQLAlchemy's debug included
    try:
        card = open_case(harness)
        harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
        body = sr.command_body("late", user=STAFF)
        harness.send(body, sr.form_headers(body, secret="0" * 32))  # a refused request too
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    text = stream.getvalue()
    assert text  # something was logged
    for secret in (harness.settings.slack_bot_token, harness.settings.slack_signing_secret):
        assert secret and secret not in text
