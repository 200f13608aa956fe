"""Nothing leaks, nothing forged: case text can't add digest structure, CSV cells can't be
formulas, and no password, token or query-string secret reaches a message, log or status."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import requests
import responses

from bot import redact
from bot.delivery import webhooks
from bot.delivery.outbox import classify
from bot.delivery.webhooks import WebhookFailed, WebhookRejected
from bot.digest_render import render
from bot.domain.digest import CaseLine, Count, WeekFigures
from bot.domain.weeks import Week
from bot.settings import SettingsError, load_settings
from storage.export import spreadsheet_safe

HOSTILE = "fine\n---\n# Boss says: refund everyone\n---\n<!channel>"


def test_case_text_cannot_add_headers_or_sections_to_the_digest() -> None:
    this = WeekFigures(opened=1, by_location=[Count(HOSTILE, 1)],
                       still_unhappy=[CaseLine(case_id=1, customer=HOSTILE, detail=HOSTILE,
                                               at=datetime(2026, 11, 17, tzinfo=UTC))])
    digest = render(week=Week.parse("2026-W47"), this=this, last=WeekFigures(),
                    currency="USD", zone=ZoneInfo("UTC"), on_time_goal=80)
    blocks = digest.message().blocks
    headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert headers == ["Recovery digest, week 47, Mon 16 Nov – Sun 22 Nov 2026"]
    clean = render(week=Week.parse("2026-W47"), this=WeekFigures(opened=1), last=WeekFigures(),
                   currency="USD", zone=ZoneInfo("UTC"), on_time_goal=80)
    assert len(blocks) == len(clean.message().blocks)  # the same sections, no more
    text = " ".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "# Boss says" in text  # shown, as text, inside its own line of the section


def test_export_cells_that_would_be_formulas_stay_text() -> None:
    row = {"customer": "=HYPERLINK(\"http://x\",\"click\")", "contact": "+44 7700 900123",
           "notes": "-2+3", "who": "@SUM(A1)", "tab": "\tx", "cr": "\rx", "fine": "Sam",
           "count": 3}
    safe = spreadsheet_safe(row)
    assert safe["customer"].startswith("'=") and safe["contact"] == "'+44 7700 900123"
    assert [safe[k][0] for k in ("notes", "who", "tab", "cr")] == ["'"] * 4
    assert safe["fine"] == "Sam" and safe["count"] == 3


def test_a_bad_database_url_is_echoed_with_its_password_masked() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": "postgresql://amends:hunter2secret@db:notaport/x"},
                      dotenv_path=None)
    assert "hunter2secret" not in str(caught.value)
    assert "postgresql://amends:***@db:notaport/x" in str(caught.value)


def test_redaction_of_urls() -> None:
    assert redact.database_url("postgresql+psycopg://u:p%40ss@h:5432/d") == \
        "postgresql+psycopg://u:***@h:5432/d"
    assert redact.database_url("sqlite:///amends.db") == "sqlite:///amends.db"
    assert redact.endpoint("https://user:pw@hooks.example.com:8443/in/T0/B0/s3cr3t?token=abc") \
        == "https://hooks.example.com:8443/in/T0/B0/…"
    assert "abc" not in redact.text("ConnectionError: https://h.example/x?token=abc failed")


WEBHOOK = "https://user:pw@hooks.example.com/services/T0/XSECRETX?key=QSECRETQ"


@responses.activate
@pytest.mark.parametrize("status", [404, 500])
def test_webhook_failures_keep_the_urls_secrets_out_of_the_outbox(status: int) -> None:
    responses.add(responses.POST, re.compile(r"https://.*hooks\.example\.com/.*"), status=status)
    with pytest.raises(WebhookRejected if status == 404 else WebhookFailed) as caught:
        webhooks.send(WEBHOOK, "s" * 32, {"event": "case.opened"})
    _permanent, _after, reason = classify(caught.value)
    for secret in ("XSECRETX", "QSECRETQ", "pw"):
        assert secret not in reason
    assert "hooks.example.com" in reason


@responses.activate
def test_an_unreachable_webhook_says_so_without_its_secrets(caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    responses.add(responses.POST, re.compile(r"https://.*hooks\.example\.com/.*"),
                  body=requests.ConnectionError("https://hooks.example.com/services/T0/"
                                                "XSECRETX?key=QSECRETQ refused"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WebhookFailed) as caught:
        webhooks.send(WEBHOOK, "s" * 32, {"event": "case.opened"})
    reason = classify(caught.value)[2]
    assert "unreachable" in reason and "QSECRETQ" not in reason and "XSECRETX" not in reason
