"""The customer's own verdict, end to end: signed Slack requests close a case, the survey
link reaches the manager and the webhook, and the page is answered over real HTTP, on
SQLite and PostgreSQL. Guessing, replay, expiry and flooding are refused with nothing
recorded."""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import responses
from sqlalchemy import func, select

from bot.domain.weeks import Week
from bot.ids import Action, Field
from bot.jobs import digest
from bot.sandbox.fake_slack import FakeSlack, Posted
from bot.server import health_app, wsgi_app
from bot.surveys.links import SurveyLinks
from storage import db
from storage.models import CaseRow, EventRow, SurveyRow
from tests.bot.conftest import MANAGER, STAFF, Harness, make_settings, reassembled
from tests.bot.test_followthrough import jobs_for
from tests.bot.test_journey import block_text, open_case, thread

HOOK = "https://shop.example/amends-events"
SECRET = "survey-secret-0123456789abcdef"
SHOP = "Corner Bistro"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class _Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass
class Surveyed:
    harness: Harness
    base: str
    library: Any
    page: Any  # the SurveyPage the server routes /r/ to
    hooks: responses.RequestsMock  # what the shop's own systems were sent

    def webhooks(self) -> list[dict[str, Any]]:
        return [json.loads(c.request.body) for c in self.hooks.calls
                if c.request.url == HOOK]


def _harness(harness: Harness, library: Any, **settings: str) -> tuple[Harness, Any]:
    return reassembled(harness, library, AMENDS_WEBHOOK_URL=HOOK,
                       AMENDS_WEBHOOK_SECRET="webhook-secret-0123456789",
                       AMENDS_SHOP_NAME=SHOP, **settings)


@pytest.fixture
def surveyed(harness: Harness, library: Any) -> Iterator[Surveyed]:
    """Amends with surveys on, served over real HTTP (the server's own WSGI app)."""
    server = make_server("127.0.0.1", 0, lambda e, s: application(e, s),
                         server_class=_Threaded, handler_class=_Quiet)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    hooked, parts = _harness(harness, library, AMENDS_PUBLIC_URL=base,
                             AMENDS_SURVEY_SECRET=SECRET)
    engine = harness.sessions.kw["bind"]
    application = wsgi_app(parts.app, engine, parts.survey)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as hooks:
        hooks.add_passthru(base)
        hooks.add(responses.POST, HOOK, status=200)
        yield Surveyed(hooked, base, library, parts.survey, hooks)
    server.shutdown()
    server.server_close()
    hooked.executor.shutdown(wait=True)


def _get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode(), dict(refused.headers)


def _post(url: str, form: dict[str, str] | bytes,
          content_type: str = "application/x-www-form-urlencoded") -> tuple[int, str]:
    data = form if isinstance(form, bytes) else urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def _closed_case(h: Harness, **answers: str) -> tuple[Posted, Posted]:
    """A case opened, resolved and followed up (the customer delighted): card and DM."""
    card = open_case(h)
    h.click(card, Action.RESOLVE, user=STAFF)
    h.submit(h.opened_view(), {Field.REACTION: "satisfied", Field.ROOT_CAUSE: "Courier delay",
                               Field.ACTION_TAKEN: "Sent a fresh order", **answers},
             user=STAFF)
    dm = h.fake.posts_in("D0MGR001")[-1]
    h.clock.advance(hours=2)
    h.click(dm, Action.FOLLOWED_UP, user=MANAGER)
    h.submit(h.opened_view(), {Field.REACTION: "delighted"}, user=MANAGER)
    return card, dm


def _link(dm: Posted) -> str:
    found = re.findall(r"<(http://127\.0\.0\.1:\d+/r/[^>|]+)>", block_text(dm))
    assert len(found) == 1, block_text(dm)
    return found[0]


def _recorded(h: Harness) -> tuple[int, int]:
    """(surveys answered, survey events on any timeline): what a refusal must not move."""
    with h.sessions() as session:
        answered = session.scalar(select(func.count()).select_from(SurveyRow).where(
            SurveyRow.answered_at.is_not(None))) or 0
        events = session.scalar(select(func.count()).select_from(EventRow).where(
            EventRow.actor == "customer")) or 0
    return answered, events


def test_the_follow_up_asks_the_customer_and_their_answer_is_noted(
        surveyed: Surveyed) -> None:
    h = surveyed.harness
    card, dm = _closed_case(h)
    url = _link(dm)
    assert "Ask the customer: Did we put it right?" in block_text(dm)
    # The shop's own systems get the same link with the follow-up.
    followed = next(w for w in surveyed.webhooks() if w["event"] == "case.followed_up")
    assert followed["survey"]["url"] == url
    assert not any("survey" in w for w in surveyed.webhooks() if w["event"] != "case.followed_up")
    # Nothing in the thread gives the link away: it goes to the manager alone.
    assert "/r/" not in json.dumps([p.blocks for p in thread(h, card)])

    status, page, headers = _get(url)
    assert status == 200
    assert f"<h1>{SHOP}</h1>" in page and "Did we put it right?" in page
    # Nothing about the case, nothing that runs, nothing loaded from elsewhere.
    for secretive in ("Sam", "Taylor", "A-1042", "late", "High Street", "C-0"):
        assert secretive not in page
    assert "<script" not in page and "src=" not in page and "http" not in page
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert page.count('type="radio"') == 5 and '<label for="comment">' in page

    status, page = _post(url, {"score": "4", "comment": "Quick fix <!channel> *thanks*"})
    assert status == 200 and "Thank you" in page
    h.deliver()
    with h.sessions() as session:
        survey = session.scalars(select(SurveyRow)).one()
        assert (survey.score, survey.comment) == (4, "Quick fix <!channel> *thanks*")
        row = session.scalars(select(CaseRow)).one()
        assert row.state == "closed"
        last = session.scalars(select(EventRow).order_by(EventRow.id.desc())).first()
        assert last is not None and (last.kind, last.actor, last.data["score"]) == (
            "survey_answered", "customer", 4)
    note = block_text(thread(h, card)[-1])
    assert "*4/5 (Mostly)*" in note and "&lt;!channel&gt;" in note and "<!channel>" not in note
    assert "The customer answered" in block_text(h.fake.posts_in("D0MGR001")[-1])
    answered = next(w for w in surveyed.webhooks() if w["event"] == "case.survey_answered")
    assert answered["data"]["score"] == 4

    # Replayed, or opened again: a plain refusal, and nothing more recorded.
    before = _recorded(h)
    assert _post(url, {"score": "1"})[0] == 409
    assert _get(url)[0] == 409
    h.deliver()
    assert _recorded(h) == before == (1, 1)
    with h.sessions() as session:
        assert session.scalars(select(SurveyRow.score)).one() == 4


def test_a_low_answer_reopens_the_case_and_tells_the_staff_member_and_manager(
        surveyed: Surveyed) -> None:
    h = surveyed.harness
    card, dm = _closed_case(h)
    status, _page = _post(_link(dm), {"score": "2", "comment": "Still cold.\nNo call back."})
    assert status == 200
    h.deliver()
    with h.sessions() as session:
        row = session.scalars(select(CaseRow)).one()
        assert (row.state, row.closed_at, row.resolved_at) == ("fixing", None, None)
        kinds = session.scalars(select(EventRow.kind).where(EventRow.actor == "customer")
                                .order_by(EventRow.id)).all()
    assert kinds == ["survey_answered", "reopened"]
    note = block_text(thread(h, card)[-1])
    assert f"<@{STAFF}> <@{MANAGER}>" in note and "*2/5 (Not really)*" in note
    assert "is reopened" in note and ">Still cold.\\n>No call back." in note
    # The card and walkthrough are live again, and the shop's systems hear it.
    assert "being fixed" in h.fake.messages[card.ts].text
    assert [w["event"] for w in surveyed.webhooks()][-2:] == [
        "case.survey_answered", "case.reopened"]

    # The week's digest shows the customers' view beside the managers', and the low score.
    with h.sessions() as session:
        text = digest.compose(jobs_for(h, surveyed.library, h.settings), session,
                              Week.containing(h.clock(), h.settings.timezone)).text
    assert "As the customers said it: *0%* put right (4 or 5 of 5) in 1 answer(s)" in text
    assert "1 of the 1 survey(s) sent this week answered so far (100%)" in text
    assert "The customer answered 2/5 (Not really): Still cold." in text


def test_guessed_altered_and_expired_links_are_refused_with_nothing_recorded(
        surveyed: Surveyed) -> None:
    h = surveyed.harness
    _card, dm = _closed_case(h)
    url = _link(dm)
    token = url.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    altered = f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with h.sessions() as session:
        survey_id = session.scalars(select(SurveyRow.id)).one()
    # A link for another survey, made with another secret: the signature gives it away.
    from bot.domain.survey import Survey

    forged = SurveyLinks(surveyed.base, "another-secret-0123456789").token(Survey(
        id=survey_id, case_id=1, nonce="guessed", created_at=h.clock(),
        expires_at=h.clock() + timedelta(days=14)))
    for bad in (altered, forged, "x" * 40, "x" * 400, token + "/extra", "../healthz"):
        assert _get(f"{surveyed.base}/r/{bad}")[0] == 404, bad
        assert _post(f"{surveyed.base}/r/{bad}", {"score": "5"})[0] == 404, bad
    assert _recorded(h) == (0, 0)

    # Past its 14 days the real link is refused too, and says why.
    h.clock.advance(days=14, seconds=1)
    status, page, _headers = _get(url)
    assert status == 410 and "expired" in page
    assert _post(url, {"score": "5"})[0] == 410
    assert _recorded(h) == (0, 0)


def test_floods_bad_forms_and_racing_answers_record_one_answer_at_most(
        surveyed: Surveyed) -> None:
    h = surveyed.harness
    _card, dm = _closed_case(h)
    url = _link(dm)
    # Not the form: wrong type, too large, no score, a score off the scale.
    assert _post(url, b"score=5", "application/json")[0] == 415
    assert _post(url, {"score": "5", "comment": "x" * 20_000})[0] == 413
    status, page = _post(url, {"comment": "kept <b>as typed</b>"})
    assert status == 422 and "Choose a number from 1 to 5." in page
    assert "kept &lt;b&gt;as typed&lt;/b&gt;" in page  # the comment stays, escaped
    assert _post(url, {"score": "9"})[0] == 422
    assert _post(url, {"score": "5", "comment": "y" * 1001})[0] == 422
    assert _recorded(h) == (0, 0)

    # Eight answers at once: exactly one is recorded, the rest are told it is answered.
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda n: _post(url, {"score": str(n % 5 + 1)})[0],
                                   range(8)))
    assert statuses == [200] + [409] * 7
    h.deliver()
    assert _recorded(h)[0] == 1

    # One address asking again and again is told to wait, before any work is done.
    codes = [_get(f"{surveyed.base}/r/{'z' * 40}")[0] for _ in range(40)]
    assert 429 in codes and codes[-1] == 429


def test_asked_at_resolving_too_when_set_with_one_link_throughout(
        harness: Harness, library: Any) -> None:
    hooked, _parts = _harness(harness, library, AMENDS_PUBLIC_URL="https://amends.example",
                              AMENDS_SURVEY_SECRET=SECRET, AMENDS_SURVEY_ON_RESOLVE="on")
    with responses.RequestsMock() as hooks:
        hooks.add(responses.POST, HOOK, status=200)
        card = open_case(hooked)
        hooked.click(card, Action.RESOLVE, user=STAFF)
        hooked.submit(hooked.opened_view(), {
            Field.REACTION: "satisfied", Field.ROOT_CAUSE: "Courier delay",
            Field.ACTION_TAKEN: "Sent a fresh order"}, user=STAFF)
        dm = hooked.fake.posts_in("D0MGR001")[-1]
        first = re.findall(r"<(https://amends\.example/r/[^>|]+)>", block_text(dm))
        assert len(first) == 1
        hooked.click(dm, Action.FOLLOWED_UP, user=MANAGER)
        hooked.submit(hooked.opened_view(), {Field.REACTION: "delighted"}, user=MANAGER)
        assert re.findall(r"<(https://amends\.example/r/[^>|]+)>",
                          block_text(hooked.fake.posts_in("D0MGR001")[-1])) == first
        events = [json.loads(c.request.body) for c in hooks.calls]
    assert [e["survey"]["url"] for e in events if "survey" in e] == first * 2
    with hooked.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SurveyRow)) == 1
    hooked.executor.shutdown(wait=True)


def test_without_a_public_url_no_one_is_asked_and_there_is_no_page(
        harness: Harness, library: Any) -> None:
    _card, dm = _closed_case(harness)
    assert "Ask the customer" not in block_text(dm)
    with harness.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SurveyRow)) == 0
    engine = harness.sessions.kw["bind"]
    statuses: list[str] = []
    for app in (wsgi_app(harness.app, engine), health_app(engine)):
        app({"PATH_INFO": "/r/" + "x" * 40, "REQUEST_METHOD": "GET"},
            lambda status, headers: statuses.append(status))
    assert statuses == ["404 Not Found"] * 2


def test_socket_modes_health_server_serves_the_survey_page(surveyed: Surveyed) -> None:
    h = surveyed.harness
    _card, dm = _closed_case(h)
    token = _link(dm).rsplit("/", 1)[1]
    app = health_app(h.sessions.kw["bind"], surveyed.page)
    statuses: list[str] = []
    body = b"".join(app({"PATH_INFO": f"/r/{token}", "REQUEST_METHOD": "GET",
                         "REMOTE_ADDR": "10.0.0.1"},
                        lambda status, headers: statuses.append(status)))
    assert statuses == ["200 OK"] and b"Did we put it right?" in body
    head = app({"PATH_INFO": f"/r/{token}", "REQUEST_METHOD": "HEAD",
                "REMOTE_ADDR": "10.0.0.1"}, lambda status, headers: statuses.append(status))
    assert statuses[-1] == "200 OK" and b"".join(head) == b""


def test_survey_settings_are_checked_and_serve_says_whether_surveys_are_on(
        tmp_path: Path, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    from bot.server import prepare
    from bot.settings import SettingsError, load_settings

    caplog.set_level(logging.INFO, logger="amends.server")
    database = f"sqlite:///{tmp_path / 'amends.db'}"
    db.upgrade(db.make_engine(database))
    prepare(make_settings(SLACK_API_URL=fake_slack.url, DATABASE_URL=database),
            background=False)
    assert "customer surveys are off: set AMENDS_PUBLIC_URL" in caplog.text
    prepared = prepare(make_settings(SLACK_API_URL=fake_slack.url, DATABASE_URL=database,
                                     AMENDS_PUBLIC_URL="https://amends.example",
                                     AMENDS_SURVEY_SECRET=SECRET), background=False)
    assert prepared.survey is not None
    assert "customer surveys are on: links point at https://amends.example/r/" in caplog.text
    assert SECRET not in caplog.text
    with pytest.raises(SettingsError, match="AMENDS_SURVEY_SECRET is not set"):
        load_settings({"AMENDS_PUBLIC_URL": "https://amends.example"}, dotenv_path=None)
    with pytest.raises(SettingsError, match="AMENDS_PUBLIC_URL"):
        load_settings({"AMENDS_PUBLIC_URL": "https://amends.example/?x=<y>",
                       "AMENDS_SURVEY_SECRET": SECRET}, dotenv_path=None)
    on = load_settings({"AMENDS_PUBLIC_URL": "https://amends.example/",
                        "AMENDS_SURVEY_SECRET": SECRET}, dotenv_path=None)
    assert on.surveys and on.public_url == "https://amends.example"
    assert SECRET not in repr(on) and SECRET in on.secrets()
    for wrong in ("-1", "6", "one"):
        with pytest.raises(SettingsError, match="AMENDS_TRUSTED_PROXIES"):
            load_settings({"AMENDS_TRUSTED_PROXIES": wrong}, dotenv_path=None)


def test_behind_a_proxy_each_customer_has_their_own_limit(harness: Harness,
                                                          library: Any) -> None:
    # Behind a proxy every request comes from the proxy's address: the limit would be one
    # for all customers, and one flooding client would lock the rest out. With the proxy
    # counted (AMENDS_TRUSTED_PROXIES), the address it saw is limited instead, and what a
    # client writes into X-Forwarded-For itself is not believed.
    hooked, parts = _harness(harness, library, AMENDS_PUBLIC_URL="https://amends.example",
                             AMENDS_SURVEY_SECRET=SECRET, AMENDS_TRUSTED_PROXIES="1")
    page = parts.survey
    assert page is not None

    def ask(forwarded: str) -> str:
        statuses: list[str] = []
        page({"PATH_INFO": "/r/" + "z" * 40, "REQUEST_METHOD": "GET",
              "REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded},
             lambda status, headers: statuses.append(status))
        return statuses[0]

    flood = [ask(f"198.51.100.{n}, 203.0.113.9") for n in range(40)]  # spoofed, varied
    assert flood[-1].startswith("429")
    assert not ask("203.0.113.10").startswith("429")  # another customer, same proxy
    hooked.executor.shutdown(wait=True)


@pytest.mark.parametrize(("forwarded", "proxies", "address"), [
    ("203.0.113.9", 0, "10.0.0.1"),                  # no proxy counted: the header is a claim
    ("203.0.113.9", 1, "203.0.113.9"),
    ("198.51.100.7, 203.0.113.9", 1, "203.0.113.9"),  # the client's own entry is ignored
    ("198.51.100.7, 203.0.113.9, 10.0.0.2", 2, "203.0.113.9"),
    ("203.0.113.9", 2, "10.0.0.1"),                  # fewer entries than proxies
    ("", 1, "10.0.0.1"),
    ("1.1.1.1, " * 500 + "203.0.113.9", 1, "10.0.0.1"),  # padded past the bound
])
def test_the_address_a_trusted_proxy_saw(forwarded: str, proxies: int, address: str) -> None:
    from bot.surveys.page import client_address

    environ = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address(environ, proxies) == address
