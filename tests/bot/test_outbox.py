"""Nothing lost: the outbox retries, honours Retry-After, dead-letters, survives a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from sqlalchemy import event, select, text

from bot.cli import main
from bot.delivery.outbox import DELIVERY_THREADS, OutboxWorker
from bot.delivery.webhooks import sign_webhook
from bot.domain.playbook_library import PlaybookLibrary
from bot.ids import Action
from bot.jobs.context import JobContext
from storage import db, outbox
from storage.models import OutboxRow
from tests.bot.conftest import FAR_FUTURE, STAFF, Harness
from tests.bot.test_journey import open_case, thread


def hold(harness: Harness) -> OutboxWorker:
    """Stop the harness delivering by itself, so a test can step the worker in time."""
    worker = harness.outbox
    assert worker is not None
    harness.outbox = None
    return worker


def rows(harness: Harness) -> list[OutboxRow]:
    with harness.sessions() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def test_a_429_waits_for_retry_after(harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    harness.fake.fail_next["chat.update"] = [(429, {"ok": False, "error": "ratelimited",
                                                    "retry_after": 30})]
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    now = harness.clock.now
    assert worker.run_once(now) == 1
    (job,) = [r for r in rows(harness) if r.status == "pending"]
    assert job.attempts == 0 and "429" in (job.last_error or "")  # no attempt spent
    assert job.next_attempt_at == now + timedelta(seconds=30)
    assert worker.run_once(now + timedelta(seconds=29)) == 0  # still waiting
    harness.clock.advance(seconds=31)  # the client holds chat.update there until then too
    assert worker.run_once() == 1
    assert [r.status for r in rows(harness)][-1] == "sent"
    assert "Apology recorded" in str(thread(harness, card)[0].blocks)


def test_429s_spend_no_attempt_so_they_never_dead_letter_nor_lengthen_a_back_off(
        harness: Harness) -> None:
    """Slack's 429 says when to come back, not that the delivery can't succeed: a row that
    meets more of them than MAX_ATTEMPTS still waits its Retry-After each time, and the blip
    after them backs off a quarter second, not the doubling of twelve failures."""
    card = open_case(harness)
    worker = hold(harness)
    limited = 429, {"ok": False, "error": "ratelimited", "retry_after": 1}
    # (an edit meeting a 500 is sent again at once: two make one failed attempt)
    harness.fake.fail_next["chat.update"] = [limited] * (outbox.MAX_ATTEMPTS + 2) + [
        (500, {"ok": False, "error": "internal_error"})] * 2
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    for n in range(outbox.MAX_ATTEMPTS + 2):
        now = harness.clock.now
        assert worker.run_once() == 1
        row = rows(harness)[-1]
        assert (row.status, row.attempts) == ("pending", 0)
        assert row.rate_limited == n + 1  # each wait Slack asked for is counted
        assert row.next_attempt_at == now + timedelta(seconds=1)
        harness.clock.advance(seconds=1)  # the client holds chat.update there until then
    now = harness.clock.now
    assert worker.run_once() == 1
    row = rows(harness)[-1]
    assert (row.status, row.attempts) == ("pending", 1) and "internal_error" in (
        row.last_error or "")
    assert row.rate_limited == outbox.MAX_ATTEMPTS + 2  # a blip is an attempt, not a wait
    assert row.next_attempt_at == now + timedelta(seconds=outbox.backoff(1, row.id))
    assert outbox.backoff(1, row.id) <= 0.32
    assert worker.run_once(row.next_attempt_at) == 1
    assert rows(harness)[-1].status == "sent"
    assert "Apology recorded" in str(thread(harness, card)[0].blocks)


def test_server_errors_and_dropped_connections_back_off_then_deliver(harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    # The client never sleeps: an edit is sent again once at once (harmless twice), and a
    # failure that outlasts that reaches the outbox, whose row's next attempt time is the
    # back-off.
    harness.fake.fail_next["chat.update"] = [(500, {"ok": False})] * 2 + [(0, {})] * 2
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    now = harness.clock.now
    worker.run_once(now)
    first = rows(harness)[-1]
    # A blip costs a fraction of a second: 0.25 s, then 0.5 s, … (each spread ±25% by row).
    wait = timedelta(seconds=outbox.backoff(1, first.id))
    assert timedelta(seconds=0.18) <= wait <= timedelta(seconds=0.32)
    assert first.status == "pending" and first.next_attempt_at == now + wait
    assert worker.run_once(now + wait - timedelta(milliseconds=1)) == 0
    later = now + wait
    worker.run_once(later)
    second = rows(harness)[-1]
    # (failures are settled at the worker's clock, which this test leaves at `now`)
    assert second.attempts == 2 and second.next_attempt_at == now + timedelta(
        seconds=outbox.backoff(2, second.id))
    assert outbox.backoff(2, second.id) == 2 * outbox.backoff(1, second.id)
    assert "ConnectionResetError" in (second.last_error or "") or "Remote" in (
        second.last_error or "")
    worker.run_once(second.next_attempt_at)
    assert rows(harness)[-1].status == "sent"


def test_what_cannot_succeed_is_dead_lettered_and_can_be_retried(
        harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    card = open_case(harness)
    worker = hold(harness)
    harness.fake.fail_next["chat.update"] = [(200, {"ok": False, "error": "channel_not_found"})]
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    worker.run_once(harness.clock.now)
    dead = rows(harness)[-1]
    assert dead.status == "dead" and dead.attempts == 1
    assert dead.last_error == ("slack: channel_not_found (HTTP 200): no such channel, or "
                               "private without the bot")

    monkeypatch.setenv("DATABASE_URL", harness.sessions.kw["bind"].url.render_as_string(
        hide_password=False))
    assert main(["outbox", "status"]) == 0
    out = capsys.readouterr().out
    assert "1 dead" in out and f"dead #{dead.id} refresh" in out and "channel_not_found" in out
    assert main(["outbox", "retry"]) == 0
    assert "Queued 1 dead-lettered delivery again" in capsys.readouterr().out
    worker.run_once(FAR_FUTURE)
    assert rows(harness)[-1].status == "sent"


def test_status_says_how_much_is_still_to_go_out(
        harness: Harness, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    card = open_case(harness)
    hold(harness)  # nothing goes out: the click's edit stays pending
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    monkeypatch.setenv("DATABASE_URL", harness.sessions.kw["bind"].url.render_as_string(
        hide_password=False))
    assert main(["outbox", "status"]) == 0
    out = capsys.readouterr().out
    assert "Outbox: 1 pending" in out
    assert "pending: 1 due now, 0 waiting to retry" in out and "the oldest was asked for" in out


def test_keeps_failing_means_dead_after_the_last_attempt(harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    harness.fake.fail_next["chat.update"] = [(503, {"ok": False})] * 40
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    when = harness.clock.now
    for _ in range(outbox.MAX_ATTEMPTS):
        worker.run_once(when)
        when += timedelta(minutes=10)
    last = rows(harness)[-1]
    assert last.status == "dead" and last.attempts == outbox.MAX_ATTEMPTS


def test_a_restart_mid_delivery_loses_nothing(harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    now = harness.clock.now
    with harness.sessions.begin() as session:  # a worker claimed it, then the process died
        (job,) = outbox.claim(session, now)
    fresh = OutboxWorker(harness.sessions, worker.deliver, clock=harness.clock)
    assert fresh.run_once(now + timedelta(seconds=30)) == 0  # the dead worker's lease holds
    assert fresh.run_once(now + timedelta(seconds=61)) == 1
    assert rows(harness)[-1].status == "sent" and rows(harness)[-1].id == job.id


def test_a_cases_deliveries_go_out_in_order(harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    apology, fix, _ = thread(harness, card)
    harness.fake.fail_next["chat.update"] = [(200, {"ok": False, "error": "internal_error"})]
    harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
    harness.click(fix, Action.FIX_STEP, user=STAFF)
    now = harness.clock.now
    # The first refresh fails; the second waits behind it (one at a time per case) ...
    assert worker.run_once(now) == 1
    assert [r.status for r in rows(harness)[-2:]] == ["pending", "pending"]
    # ... and is then folded into it: one edit of each message shows both clicks.
    updates = len(harness.fake.called("chat.update"))
    assert worker.run_once(now + timedelta(seconds=2)) == 1
    assert [r.status for r in rows(harness)[-2:]] == ["sent", "sent"]
    edited = [c.args["ts"] for c in harness.fake.called("chat.update")[updates:]]
    assert sorted(edited) == sorted({card.ts, apology.ts, fix.ts})
    assert "Apology recorded" in str(harness.fake.messages[apology.ts].blocks)


@responses.activate
def test_webhooks_are_signed_retried_and_dead_lettered(harness: Harness, library: Any) -> None:
    from bot.app import assemble
    from bot.messaging import make_client
    from tests.bot.conftest import TrackingExecutor, make_settings

    url = "https://shop.example/amends-events"
    secret = "webhook-secret-0123456789"
    settings = make_settings(SLACK_API_URL=harness.fake.url, AMENDS_WEBHOOK_URL=url,
                             AMENDS_WEBHOOK_SECRET=secret)
    executor = TrackingExecutor()
    parts = assemble(settings, client=make_client(
        token="xoxb-test-token-0000", base_url=harness.fake.url), sessions=harness.sessions,
        library=library, executor=executor, work_executor=executor, clock=harness.clock)
    worker = parts.outbox
    hooked = Harness(app=parts.app, fake=harness.fake, sessions=harness.sessions, executor=executor,
        clock=harness.clock, settings=settings, outbox=worker)
    responses.add(responses.POST, url, status=503)
    responses.add(responses.POST, url, status=200)
    open_case(hooked)  # delivered at once; the first attempt meets a 503 and is retried
    webhook = next(r for r in rows(harness) if r.kind == "webhook")
    assert (webhook.status, webhook.attempts) == ("sent", 2)
    assert len(responses.calls) == 2
    sent = responses.calls[1].request
    body = sent.body.decode() if isinstance(sent.body, bytes) else sent.body
    stamp = int(sent.headers["X-Amends-Timestamp"])
    assert sent.headers["X-Amends-Signature"] == sign_webhook(body, secret, stamp)[
        "X-Amends-Signature"]
    assert '"event":"case.opened"' in body and '"customer":{"contact":"sam@example.com"' in body
    # A 4xx means the receiver refuses it: dead-lettered, not retried forever.
    responses.replace(responses.POST, url, status=410)
    open_case(hooked, text="another late order")
    refused = [r for r in rows(harness) if r.kind == "webhook"][-1]
    assert refused.status == "dead" and "410" in (refused.last_error or "")
    executor.shutdown(wait=True)


def test_deliveries_run_on_their_own_connections_and_claims_on_the_apps(
        harness: Harness) -> None:
    """On PostgreSQL a delivery reads, remembers and settles on connections whose commits
    don't wait for the disk (storage.db.delivery_engine); the claim, whose lease makes a
    retry look before posting again, commits on the app's, durably."""
    engine = harness.sessions.kw["bind"]
    deliveries = db.delivery_engine(engine, DELIVERY_THREADS)
    seen: dict[str, list[str]] = {"app": [], "deliveries": []}

    def listen(name: str) -> Any:
        def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
            seen[name].append(" ".join(sql.split()))
        return statement

    listeners = [(engine, listen("app")), (deliveries, listen("deliveries"))]
    if deliveries is engine:  # SQLite: one engine; nothing to tell apart
        assert engine.dialect.name == "sqlite"
        return
    for target, fn in listeners:
        event.listen(target, "before_cursor_execute", fn)
    try:
        open_case(harness)
    finally:
        for target, fn in listeners:
            event.remove(target, "before_cursor_execute", fn)
    settles = [s for s in seen["deliveries"] if s.startswith("UPDATE outbox SET status")]
    assert settles  # the card's delivery settled on a delivery connection
    assert not [s for s in seen["app"] if s.startswith("UPDATE outbox SET status")]
    assert any("FOR UPDATE" in s for s in seen["app"])  # claims: the app's connections
    assert not any("FOR UPDATE" in s for s in seen["deliveries"])
    assert [r.status for r in rows(harness)] == ["sent"] * len(rows(harness))


def test_a_claim_made_once_commits_durably_even_on_a_delivery_connection(
        harness: Harness) -> None:
    """JobContext.send claims an alert or a digest, and its process remembers the claim
    (JobContext.claimed): a claim lost to a crash of the database server would never be
    made again, so it waits for the disk even where the delivery around it doesn't."""
    engine = harness.sessions.kw["bind"]
    deliveries = db.make_sessions(db.delivery_engine(engine, DELIVERY_THREADS))
    during: list[str] = []

    def claim(session: Any) -> bool:
        if engine.dialect.name == "postgresql":
            during.append(session.execute(text("SHOW synchronous_commit")).scalar_one())
        return False  # claimed already: nothing queued

    jobs = JobContext(settings=harness.settings, sessions=harness.sessions,
                      library=PlaybookLibrary.load())
    with db.connected(deliveries) as session:
        assert jobs.send(session, claim, None, harness.clock.now) is False
    assert during == (["on"] if engine.dialect.name == "postgresql" else [])
