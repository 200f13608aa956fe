"""An edit to what a message already shows is not sent (chat.update is Tier 3, about 50 a
minute for the whole workspace), but only while Amends knows what Slack shows: after an
edit whose answer was lost, or an attempt whose worker died, it edits again. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot import effects as fx
from bot.ids import Action
from bot.ids import Message as Part
from storage import outbox
from storage.models import OutboxRow, ShownRow
from tests.bot.conftest import STAFF, Harness
from tests.bot.test_journey import case_row, open_case, thread
from tests.bot.test_outbox import hold, rows


def _refresh(harness: Harness, case_id: int, *, worker_died: bool = False) -> None:
    with harness.sessions.begin() as session:
        fx.queue(session, fx.Refresh(case_id, (Part.FIX,)), now=harness.clock.now)
    if worker_died:  # as a claim leaves a row whose worker was killed mid-delivery
        with harness.sessions.begin() as session:
            session.execute(update(OutboxRow).where(OutboxRow.status == "pending")
                            .values(sent_labels=outbox.UNKNOWN))


def test_a_refresh_that_would_show_nothing_new_edits_nothing(harness: Harness) -> None:
    card = open_case(harness)
    worker, case_id = hold(harness), case_row(harness).id
    _, fix, _ = thread(harness, card)
    before = len(harness.fake.called("chat.update"))
    _refresh(harness, case_id)
    assert worker.run_once(harness.clock.now) == 1
    assert len(harness.fake.called("chat.update")) == before
    assert rows(harness)[-1].status == "sent"

    # A real change is shown: the card (its progress) and the fix message are edited.
    harness.click(fix, Action.FIX_STEP, user=STAFF)
    worker.run_once(harness.clock.now)
    edited = [c.args["ts"] for c in harness.fake.called("chat.update")[before:]]
    assert edited == [card.ts, fix.ts]
    assert "1 of 4 done" in str(fix.blocks)


def test_after_a_worker_died_mid_delivery_every_message_is_edited(harness: Harness) -> None:
    card = open_case(harness)
    worker, case_id = hold(harness), case_row(harness).id
    _, fix, _ = thread(harness, card)
    drawn = list(card.blocks)
    # An edit of the dead worker's landed and was never recorded: Slack shows something else.
    card.blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "left by a crash"}}]
    before = len(harness.fake.called("chat.update"))
    _refresh(harness, case_id, worker_died=True)
    assert worker.run_once(harness.clock.now) == 1
    edited = [c.args["ts"] for c in harness.fake.called("chat.update")[before:]]
    assert edited == [card.ts, fix.ts]
    assert card.blocks == drawn


def test_an_edit_whose_answer_was_lost_is_made_again_even_to_what_was_shown_before(
        harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    _, fix, _ = thread(harness, card)
    unticked = list(fix.blocks)
    # The tick's card edit goes through; its fix edit lands but both answers are lost.
    harness.fake.lose_next["chat.update"] = [None, "500", "500"]  # type: ignore[list-item]
    harness.click(fix, Action.FIX_STEP, user=STAFF)
    now = harness.clock.now
    worker.run_once(now)
    row = rows(harness)[-1]
    assert row.status == "pending" and "1 of 4 done" in str(fix.blocks)  # it did land
    with harness.sessions() as session:
        shown = dict(session.execute(select(ShownRow.part, ShownRow.digest)).all())
    assert shown[Part.FIX] is None and shown["card"] is not None
    # Unticked again before the retry: the fix is drawn as it was first posted, which
    # Slack no longer shows, so it is edited, not skipped as "already shown".
    harness.click(fix, Action.FIX_STEP, user=STAFF)
    assert worker.run_once(now + timedelta(seconds=5)) == 1
    assert fix.blocks == unticked
    assert [r.status for r in rows(harness)][-2:] == ["sent", "sent"]


def test_an_edit_slack_turned_away_leaves_what_is_known_as_it_was(harness: Harness) -> None:
    card = open_case(harness)
    worker = hold(harness)
    _, fix, _ = thread(harness, card)
    with harness.sessions() as session:
        posted = dict(session.execute(select(ShownRow.part, ShownRow.digest)).all())
    # The card's edit meets a 429: Slack did nothing, so the card still shows what was posted.
    harness.fake.fail_next["chat.update"] = [(429, {"ok": False, "error": "ratelimited",
                                                    "retry_after": 1})]
    harness.click(fix, Action.FIX_STEP, user=STAFF)
    worker.run_once(harness.clock.now)
    assert rows(harness)[-1].status == "pending"
    with harness.sessions() as session:
        assert dict(session.execute(select(ShownRow.part, ShownRow.digest)).all()) == posted


def test_the_cards_digest_is_kept_when_its_walkthrough_could_not_be_posted(
        harness: Harness) -> None:
    """The card's digest is saved with its walkthrough's places, in one write: a card whose
    first walkthrough post met a 429 still has it, so a refresh that changes nothing after
    the walkthrough is posted leaves the card alone."""
    limited = 429, {"ok": False, "error": "ratelimited", "retry_after": 1}

    def limit_the_next(posted: object) -> None:
        if getattr(posted, "thread_ts", None) is None:  # the card: its apology meets a 429
            harness.fake.fail_next["chat.postMessage"] = [limited]

    harness.fake.after_post = limit_the_next
    try:
        card = open_case(harness)
    finally:
        harness.fake.after_post = None
    worker = hold(harness)
    assert thread(harness, card) == [] and rows(harness)[0].status == "pending"
    with harness.sessions() as session:
        shown = dict(session.execute(select(ShownRow.part, ShownRow.digest)).all())
    assert set(shown) == {"card"} and shown["card"] is not None
    harness.clock.advance(seconds=1)
    worker.run_once(harness.clock.now)
    assert len(thread(harness, card)) == 3
    before = len(harness.fake.called("chat.update"))
    _refresh(harness, case_row(harness).id)
    assert worker.run_once(harness.clock.now) == 1
    assert len(harness.fake.called("chat.update")) == before
