"""Real Slack's refusals: the fake refuses as Slack's docs say, and Amends does the right thing.

Each test shows both halves: the fake answering the documented error (its call's `error`),
and what Amends then does (another place, a note to the person, a dead letter with its
reason, a retry that doesn't double a post).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse
from sqlalchemy import Engine

from bot import effects as fx
from bot import slack_errors
from bot.blocks.base import CUT_NOTE, message, section, text_size
from bot.delivery.outbox import OutboxWorker
from bot.ids import Action, Field
from bot.listeners.commands import readable
from bot.messaging import Attempt, Slack
from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import FakeSlack, Posted
from bot.values import CaseRef
from storage import cases, db, outbox
from tests.bot.conftest import FAR_FUTURE, MANAGER, RECOVERY, SHOP_FLOOR, STAFF, STRANGER, Harness
from tests.bot.test_journey import block_text, case_row, ephemerals, open_case, thread
from tests.bot.test_outbox import hold, rows

ROOT = Path(__file__).parents[2]


def errors_of(harness: Harness, method: str) -> list[str | None]:
    return [c.error for c in harness.fake.called(method)]


def resolve(harness: Harness, card: Posted, **answers: str) -> None:
    harness.click(card, Action.RESOLVE, user=STAFF)
    harness.submit(harness.opened_view(), {
        Field.REACTION: "satisfied", Field.ROOT_CAUSE: "Courier delay",
        Field.ACTION_TAKEN: "Sent a fresh order by taxi", **answers}, user=STAFF)


# -- the table of errors --------------------------------------------------------------------

def test_each_error_in_the_table_is_retried_or_dead_lettered_as_it_says(
        harness: Harness) -> None:
    worker, now = hold(harness), harness.clock.now
    table = [*slack_errors.ERRORS.items(), ("an_error_slack_adds_later", slack_errors.UNKNOWN)]
    for code, rule in table:
        harness.fake.fail_next["chat.postMessage"] = [(200, {"ok": False, "error": code})]
        with harness.sessions.begin() as session:
            fx.queue(session, fx.HotspotAlert(location="High Street", count=3, day="Mon",
                                              to=fx.Place.thread("C0LEADERS")), now=now)
        assert worker.run_once(now) == 1
        row = rows(harness)[-1]
        # By the time a delivery fails, its other places were tried: only RETRY retries.
        expected = "pending" if rule.kind is slack_errors.Kind.RETRY else "dead"
        assert (row.status, f"slack: {code} " in (row.last_error or "")) == (expected, True), code
        assert rule.means in (row.last_error or "")


def test_only_a_429_or_a_refusal_is_known_to_have_done_nothing() -> None:
    """A retry looks for a post only where the call may have been done (bot.messaging)."""
    def answer(status: int, code: str) -> SlackApiError:
        return SlackApiError("x", SlackResponse(  # type: ignore[no-untyped-call]
            client=None, http_verb="POST", api_url="", req_args={}, headers={},
            data={"ok": False, "error": code}, status_code=status))

    assert slack_errors.nothing_done(answer(429, "ratelimited"))
    assert slack_errors.nothing_done(answer(200, "channel_not_found"))
    assert slack_errors.nothing_done(answer(200, "msg_too_long"))
    for status, code in ((200, "fatal_error"), (200, "internal_error"), (500, "internal_error"),
                         (200, "an_error_slack_adds_later"), (503, "channel_not_found")):
        assert not slack_errors.nothing_done(answer(status, code)), code
    assert not slack_errors.nothing_done(TimeoutError("timed out"))
    assert not slack_errors.nothing_done(ConnectionResetError())


def test_retry_after_is_honoured_and_bounded(harness: Harness) -> None:
    worker, now = hold(harness), harness.clock.now
    # (each in a channel of its own: a 429 holds posting in its channel, see test_pacing)
    for header, wait, channel in (("7", 7, "C0LEADERS"), ("86400", 900, "C0RECOVERY"),
                                  ("soon", 1, "C0SHOPFLOOR")):
        harness.fake.fail_next["chat.postMessage"] = [
            (429, {"ok": False, "error": "ratelimited", "retry_after": header})]
        with harness.sessions.begin() as session:
            fx.queue(session, fx.HotspotAlert(location="Mall", count=3, day="Mon",
                                              to=fx.Place.thread(channel)), now=now)
        worker.run_once(now)
        row = rows(harness)[-1]
        assert row.status == "pending" and row.next_attempt_at == now + timedelta(seconds=wait)


# -- chat.postMessage -------------------------------------------------------------------------

@pytest.mark.parametrize(("corner", "error"), [
    ("archived", "is_archived"), ("read_only", "restricted_action_read_only_channel"),
    ("thread_only", "restricted_action_thread_only_channel"), ("private", "channel_not_found"),
    ("cannot_post_in", "not_in_channel")])
def test_a_card_slack_refuses_in_its_channel_goes_to_the_recovery_channel(
        harness: Harness, corner: str, error: str) -> None:
    getattr(harness.fake, corner).add(SHOP_FLOOR)
    card = open_case(harness)
    assert errors_of(harness, "chat.postMessage")[0] == error
    assert card.channel == RECOVERY and len(thread(harness, card)) == 3
    assert case_row(harness).channel_id == RECOVERY


def test_a_card_nowhere_to_post_goes_to_the_staff_members_dm(harness: Harness) -> None:
    harness.fake.archived |= {SHOP_FLOOR, RECOVERY}
    card = open_case(harness)
    assert errors_of(harness, "chat.postMessage")[:2] == ["is_archived", "is_archived"]
    assert card.channel == "D0STAFF1" and len(thread(harness, card)) == 3


def test_the_manifests_messages_tab_lets_every_dm_through(harness: Harness) -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    harness.fake.messages_tab_enabled = manifest["features"]["app_home"]["messages_tab_enabled"]
    resolve(harness, open_case(harness))
    (dm,) = harness.fake.posts_in("D0MGR001")
    assert "Follow up in person" in block_text(dm)


def test_dms_slack_refuses_reach_the_manager_in_the_recovery_channel(harness: Harness) -> None:
    harness.fake.messages_tab_enabled = False  # a manifest with the Messages tab off
    card = open_case(harness)
    resolve(harness, card)
    assert "messages_tab_disabled" in errors_of(harness, "chat.postMessage")
    assert harness.fake.posts_in("D0MGR001") == []
    (request,) = [m for m in harness.fake.posts_in(RECOVERY) if "Follow up in person"
                  in block_text(m)]
    assert f"For <@{MANAGER}>" in block_text(request)
    # It works from there: the follow-up is recorded and that message edited.
    harness.click(request, Action.FOLLOWED_UP, user=MANAGER)
    harness.submit(harness.opened_view(), {Field.REACTION: "delighted"}, user=MANAGER)
    assert case_row(harness).state == "closed" and "Followed up by" in block_text(request)


def test_a_card_slack_refuses_for_good_is_told_to_the_staff_member(harness: Harness) -> None:
    harness.fake.fail_next["chat.postMessage"] = [(200, {"ok": False, "error": "invalid_blocks"})]
    harness.command("order late")
    harness.submit(harness.opened_view(), {
        Field.CUSTOMER: "Sam", Field.WHAT_HAPPENED: "order late",
        "severity:late-delivery": "major"}, user=STAFF)
    assert case_row(harness).state == "opened"  # the case is safe
    assert [r.status for r in rows(harness) if r.kind == "start_thread"] == ["dead"]
    (told,) = harness.fake.posts_in("D0STAFF1")
    assert re.search(r"C-\d+ is saved, but Slack refused to post its case card",
                     block_text(told))
    assert "invalid_blocks" in block_text(told)


def test_an_approval_request_slack_refuses_is_told_to_the_requester(harness: Harness) -> None:
    card = open_case(harness)
    compensation = thread(harness, card)[2]
    harness.click(compensation, Action.COMPENSATION_CUSTOM, user=STAFF)
    harness.fake.fail_next["chat.postMessage"] = [
        (200, {"ok": False, "error": "msg_blocks_too_long"})]
    harness.submit(harness.opened_view(), {Field.COMP_TYPE: "refund",
                                           Field.COMP_LABEL: "Refund", Field.AMOUNT: "40"},
                   user=STAFF)
    (told,) = harness.fake.posts_in("D0STAFF1")
    assert re.search(r"request to give \$40\.00 on C-\d+ is saved", block_text(told))
    assert "Home tab" in block_text(told)


def test_text_and_block_budgets_are_refused_by_the_fake_and_kept_by_amends(
        harness: Harness) -> None:
    client = harness.app.client
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=SHOP_FLOOR, text="x" * 40_001)
    assert caught.value.response["error"] == "msg_too_long"
    long_prose = [section("word " * 580) for _ in range(6)]  # 6 x 2,900 characters
    raw = [b.to_dict() for b in long_prose]
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=SHOP_FLOOR, text="long", blocks=raw)
    assert caught.value.response["error"] == "msg_blocks_too_long"
    fitted = message("long", long_prose)  # what Amends sends: cut visibly, with a note
    assert text_size(fitted.blocks) <= 11_000 and CUT_NOTE in str(fitted.blocks)
    assert client.chat_postMessage(channel=SHOP_FLOOR, **fitted.kwargs())["ok"]


# -- chat.update -------------------------------------------------------------------------------

def test_editing_in_an_archived_channel_is_dead_lettered_with_its_reason(
        harness: Harness) -> None:
    card = open_case(harness)
    harness.fake.archived.add(SHOP_FLOOR)
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    assert "is_inactive" in errors_of(harness, "chat.update")
    (dead,) = [r for r in rows(harness) if r.status == "dead"]
    assert dead.kind == "refresh" and "is_inactive" in (dead.last_error or "")
    assert case_row(harness).apology_given_at is not None  # recorded all the same


def test_chat_update_refuses_a_persons_message_and_a_missing_one(harness: Harness) -> None:
    ts = harness.fake.new_ts()
    harness.fake.messages[ts] = Posted(channel=SHOP_FLOOR, ts=ts, text="hi", blocks=[],
                                       user=STAFF)
    for target, error in ((ts, "cant_update_message"), ("1.000001", "message_not_found")):
        with pytest.raises(SlackApiError) as caught:
            harness.app.client.chat_update(channel=SHOP_FLOOR, ts=target, text="edited")
        assert caught.value.response["error"] == error
        assert slack_errors.kind(caught.value) is slack_errors.Kind.PERMANENT


# -- chat.postEphemeral -----------------------------------------------------------------------

def test_a_refusal_that_cannot_be_ephemeral_arrives_as_a_dm(harness: Harness) -> None:
    card = open_case(harness)
    harness.fake.members[SHOP_FLOOR] = {STAFF}  # STRANGER isn't in the channel
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STRANGER)
    assert errors_of(harness, "chat.postEphemeral") == ["user_not_in_channel"]
    (told,) = harness.fake.posts_in("D0NOBODY")
    assert "Only a manager or the staff member who opened" in block_text(told)
    harness.fake.private.add(SHOP_FLOOR)
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STRANGER)
    assert errors_of(harness, "chat.postEphemeral")[-1] == "channel_not_found"
    assert len(harness.fake.posts_in("D0NOBODY")) == 2


# -- views.open, views.update -----------------------------------------------------------------

def test_a_modal_slack_wont_open_asks_for_another_click(harness: Harness) -> None:
    card = open_case(harness)
    opened = len(harness.fake.called("views.open"))
    late = harness.fake.trigger(STAFF)
    harness.clock.advance(seconds=4)  # the click waited: Slack's trigger lasts 3 s
    harness.click(card, Action.RESOLVE, user=STAFF, trigger=late)
    assert errors_of(harness, "views.open")[opened:] == ["expired_trigger_id"]
    assert "Please click the button again" in ephemerals(harness, STAFF)[-1]
    used = harness.fake.trigger(STAFF)
    harness.click(card, Action.RESOLVE, user=STAFF, trigger=used)
    harness.click(card, Action.RESOLVE, user=STAFF, trigger=used)  # the same trigger again
    assert errors_of(harness, "views.open")[opened + 1:] == [None, "exchanged_trigger_id"]
    assert len(ephemerals(harness, STAFF)) == 2
    assert case_row(harness).state == "opened"  # nothing changed


def test_a_form_whose_reply_from_slack_is_lost_is_told_not_crashed(harness: Harness) -> None:
    # The connection drops on the way back from views.open: a form may or may not be open,
    # and its trigger can't be used again. The person is told; nothing is left unhandled.
    harness.fake.lose_next["views.open"] = ["drop"]
    assert harness.command("order 7 arrived late").status == 200
    assert "Slack couldn't open the form just now" in ephemerals(harness, STAFF)[-1]
    card = open_case(harness)
    harness.fake.lose_next["views.open"] = ["drop"]
    harness.click(card, Action.RESOLVE, user=STAFF, trigger=harness.fake.trigger(STAFF))
    assert "Slack didn't answer just now" in ephemerals(harness, STAFF)[-1]
    assert case_row(harness).state == "opened"


def test_a_form_from_home_slack_wont_open_is_told_by_dm(harness: Harness) -> None:
    body = sr.event_body({"type": "app_home_opened", "user": STAFF, "tab": "home",
                          "channel": "D0STAFF1", "event_ts": "1.1"})
    harness.send(body, {"content-type": "application/json", **sr.sign(body)})
    home = harness.fake.homes[STAFF]
    button = next(e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == Action.OPEN_CASE)
    late = harness.fake.trigger(STAFF)
    harness.clock.advance(seconds=4)
    harness.interact(sr.block_action(user=STAFF, view=home, action={
        "action_id": button["action_id"], "block_id": "", "type": "button",
        "value": button.get("value")}), trigger=late)
    assert errors_of(harness, "views.open") == ["expired_trigger_id"]
    (told,) = harness.fake.posts_in("D0STAFF1")
    assert "Please click the button again" in block_text(told)


def test_views_update_refuses_a_stale_hash(harness: Harness) -> None:
    client = harness.app.client
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Test"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "one"}}]}
    opened = client.views_open(trigger_id=harness.fake.trigger(STAFF), view=view)["view"]
    client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)
    with pytest.raises(SlackApiError) as caught:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)
    assert caught.value.response["error"] == "hash_conflict"


# -- conversations.open -----------------------------------------------------------------------

def test_dms_to_people_slack_cant_reach_are_refused(harness: Harness) -> None:
    fake = harness.fake
    fake.missing_users.add("U0GONE")
    fake.disabled_users.add("U0LEFT")
    for user, error in (("U0GONE", "user_not_found"), ("U0LEFT", "user_disabled"),
                        ("U0AMENDSBOT", "cannot_dm_bot")):
        with pytest.raises(SlackApiError) as caught:
            harness.app.client.conversations_open(users=user)
        assert caught.value.response["error"] == error


def test_a_follow_up_for_a_deactivated_manager_is_dead_lettered_with_why(
        harness: Harness) -> None:
    harness.fake.disabled_users.add(MANAGER)
    resolve(harness, open_case(harness))
    (dead,) = [r for r in rows(harness) if r.status == "dead"]
    assert dead.kind == "follow_up_dm" and "user_disabled" in (dead.last_error or "")
    assert case_row(harness).state == "follow_up_due"  # the overdue escalation still runs


# -- rate limits --------------------------------------------------------------------------------

def test_rate_limits_by_tier_and_per_channel(harness: Harness) -> None:
    fake, client = harness.fake, harness.app.client
    fake.rate_limits = True
    ts = client.chat_postMessage(channel=SHOP_FLOOR, text="x")["ts"]
    for _ in range(50):  # chat.update is Tier 3: about 50 a minute
        client.chat_update(channel=SHOP_FLOOR, ts=ts, text="y")
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel=SHOP_FLOOR, ts=ts, text="z")
    assert caught.value.response.status_code == 429
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    for _ in range(4):  # a burst of posts in one channel, then one a second
        client.chat_postMessage(channel=SHOP_FLOOR, text="x")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=SHOP_FLOOR, text="x")
    assert client.chat_postMessage(channel=RECOVERY, text="x")["ok"]  # another channel
    harness.clock.advance(seconds=1)
    assert client.chat_postMessage(channel=SHOP_FLOOR, text="x")["ok"]


def test_the_outbox_rides_out_rate_limits_without_losing_or_doubling(
        harness: Harness) -> None:
    harness.fake.rate_limits = True
    worker = hold(harness)
    for _ in range(3):  # three cases at once in one channel: 12 posts
        harness.command("order late")
        harness.submit(harness.opened_view(), {
            Field.CUSTOMER: "Sam", Field.WHAT_HAPPENED: "order late",
            "severity:late-delivery": "major"}, user=STAFF)
    for _ in range(40):
        worker.run_once(harness.clock.now)
        harness.clock.advance(seconds=1)
    assert "ratelimited" in errors_of(harness, "chat.postMessage")
    assert {r.status for r in rows(harness)} == {"sent"}
    cards = [m for m in harness.fake.posts_in(SHOP_FLOOR) if m.blocks[0]["type"] == "header"]
    assert len(cards) == 3 and all(len(thread(harness, c)) == 3 for c in cards)


# -- slash commands as Slack sends them ----------------------------------------------------------

def test_slash_command_text_is_unescaped_once_with_names(harness: Harness) -> None:
    harness.command("fish & chips <late> for @Morgan in #recovery")
    (call,) = harness.fake.called("views.open")
    sent = call.args["view"]
    what = next(b for b in sent["blocks"] if b.get("block_id") == Field.WHAT_HAPPENED)
    assert what["element"]["initial_value"] == \
        "fish & chips <late> for @morgan in #recovery"


@pytest.mark.parametrize(("sent", "typed"), [
    ("fish &amp; chips", "fish & chips"),
    ("&lt;!channel&gt; help", "<!channel> help"),  # typed literally: plain text again
    ("&amp;lt; stays", "&lt; stays"),  # unescaped once, not twice
    ("ask <@U0MGR001|morgan>", "ask @morgan"), ("ask <@U0MGR001>", "ask @U0MGR001"),
    ("in <#C0RECOVERY|recovery>", "in #recovery"), ("<!here> now", "@here now"),
    ("<!subteam^S0MGRS|@managers>", "@managers"),
    ("see <https://shop.example/o/1|order 1>", "see order 1 (https://shop.example/o/1)"),
    ("see <https://shop.example/o/1>", "see https://shop.example/o/1"),
])
def test_readable_command_text(sent: str, typed: str) -> None:
    assert readable(sent) == typed


def test_readable_is_bounded() -> None:
    assert len(readable("<" * 100_000)) <= 4000
    assert readable("&amp;" * 10) == "&" * 10


# -- replies lost after Slack did the work ------------------------------------------------------

def journey(harness: Harness, card: Posted | None = None) -> Posted:
    """A case from start to close: card, walkthrough, approval, decision, resolve, follow-up
    (from its card, when the case is already open)."""
    card = card or open_case(harness)
    apology, _fix, compensation = thread(harness, card)[:3]
    harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
    harness.click(compensation, Action.COMPENSATION_CUSTOM, user=STAFF)
    harness.submit(harness.opened_view(), {Field.COMP_TYPE: "refund",
                                           Field.COMP_LABEL: "Refund", Field.AMOUNT: "40"},
                   user=STAFF)
    (request,) = [m for m in thread(harness, card) if "Approval needed" in block_text(m)]
    harness.click(request, Action.APPROVE, user=MANAGER)
    resolve(harness, card)
    (dm,) = harness.fake.posts_in("D0MGR001")
    harness.click(dm, Action.FOLLOWED_UP, user=MANAGER)
    harness.submit(harness.opened_view(), {Field.REACTION: "delighted"}, user=MANAGER)
    assert case_row(harness).state == "closed"
    return card


def assert_one_of_each(harness: Harness) -> None:
    cards = [m for m in harness.fake.posts_in(SHOP_FLOOR) if m.blocks[0]["type"] == "header"]
    assert len(cards) == 1
    texts = [block_text(m) for m in thread(harness, cards[0])]
    for marker in ("1. Apology", "2. Fix", "3. Compensation", "*Approved* by",
                   "your request", "Resolved by", "is closed"):
        assert sum(marker in t for t in texts) == 1, (marker, texts)
    assert len(harness.fake.posts_in("D0MGR001")) == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lost_replies_leave_one_copy_of_everything(harness: Harness, seed: int) -> None:
    harness.fake.random.seed(seed)
    harness.fake.lose_rate = 0.35  # a third of posts and edits: done, but the reply lost
    journey(harness)
    assert {r.status for r in rows(harness)} == {"sent"}
    lost = [c for c in harness.fake.calls if c.lost and c.method == "chat.postMessage"]
    assert lost, "no post's reply was lost: the test proves nothing"
    assert_one_of_each(harness)


def test_the_fakes_report_counts_calls_by_method_and_edits_that_changed_nothing(
        harness: Harness) -> None:
    """What the benchmarks read from a fake in a process of its own (GET /)."""
    card = open_case(harness)
    # The card's edit is done but its reply lost: the client sends the same edit again.
    harness.fake.lose_next["chat.update"] = ["500"]
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    status, _, body = harness.fake.get_page("/")
    report = json.loads(body)
    assert status == 200 and report["calls"] == len(harness.fake.calls)
    assert report["methods"] == dict(Counter(c.method for c in harness.fake.calls))
    assert report["methods"]["chat.update"] == 3  # the card twice, then the apology
    assert report["unchanged_edits"] == 1


def _queue_case(harness: Harness) -> None:
    """A case submitted, its card and walkthrough queued and not yet delivered."""
    harness.command("order late")
    harness.submit(harness.opened_view(), {Field.CUSTOMER: "Sam", Field.WHAT_HAPPENED: "late",
                                           "severity:late-delivery": "major"}, user=STAFF)


def lookups(harness: Harness) -> list[str]:
    return [c.method for c in harness.fake.calls
            if c.method in ("conversations.history", "conversations.replies")]


def _half_posted(harness: Harness) -> OutboxWorker:
    """A case whose card lands, and the apology under it too, but the apology's reply is
    lost and Slack fails the look for it made at once (and the look's one resend): the
    walkthrough waits for the outbox. Returns the worker, held to be stepped by the test."""
    worker = hold(harness)
    _queue_case(harness)
    harness.fake.lose_next["chat.postMessage"] = [None, "500"]
    harness.fake.fail_next["conversations.replies"] = [
        (500, {"ok": False, "error": "internal_error"})] * 2
    worker.run_once(harness.clock.now)
    return worker


def test_a_retry_looks_only_for_the_post_whose_reply_was_lost(harness: Harness) -> None:
    worker = _half_posted(harness)
    (start,) = [r for r in rows(harness) if r.kind == "start_thread"]
    assert start.status == "pending" and start.sent_labels == ["apology", "card"]

    worker.drain(now=FAR_FUTURE)
    # The card's place was saved: not looked for (conversations.history). The apology was:
    # found, not posted again. The fix and compensation parts were never sent: posted
    # without a look.
    assert lookups(harness) == ["conversations.replies"] * 3
    (card,) = harness.fake.posts_in(SHOP_FLOOR)
    assert len(thread(harness, card)) == 3  # one of each part
    assert {r.status for r in rows(harness)} == {"sent"}


@pytest.mark.parametrize("blip", ["failed", "reply lost"])
def test_a_post_that_meets_a_blip_is_looked_for_and_sent_again_at_once(
        harness: Harness, blip: str) -> None:
    worker = hold(harness)
    _queue_case(harness)
    if blip == "failed":  # Slack did nothing: the look finds nothing, the post goes again
        harness.fake.fail_next["chat.postMessage"] = [
            (500, {"ok": False, "error": "internal_error"})]
    else:  # the card landed and its connection dropped: the look finds it
        harness.fake.lose_next["chat.postMessage"] = ["drop"]
    worker.run_once(harness.clock.now)
    # One attempt, delivered: no round of the outbox's back-off for one blip.
    (start,) = [r for r in rows(harness) if r.kind == "start_thread"]
    assert (start.status, start.attempts) == ("sent", 1)
    assert lookups(harness) == ["conversations.history"]  # the card, in its channel
    (card,) = harness.fake.posts_in(SHOP_FLOOR)
    assert len(thread(harness, card)) == 3
    posts = harness.fake.called("chat.postMessage")
    assert len(posts) == (5 if blip == "failed" else 4)
    assert case_row(harness).message_ts == card.ts  # the thread is the card that landed


def test_a_post_that_fails_twice_waits_for_the_outbox(harness: Harness) -> None:
    worker = hold(harness)
    _queue_case(harness)
    harness.fake.fail_next["chat.postMessage"] = [
        (500, {"ok": False, "error": "internal_error"})] * 2
    worker.run_once(harness.clock.now)
    (start,) = [r for r in rows(harness) if r.kind == "start_thread"]
    assert start.status == "pending" and start.attempts == 1
    assert start.next_attempt_at > harness.clock.now  # its back-off
    assert start.sent_labels == ["card"]  # it may be there: the retry looks again
    assert harness.fake.posts_in(SHOP_FLOOR) == []
    worker.drain(now=FAR_FUTURE)
    (card,) = harness.fake.posts_in(SHOP_FLOOR)
    assert len(thread(harness, card)) == 3
    assert lookups(harness) == ["conversations.history"] * 2


def _card_refused_once(harness: Harness) -> OutboxWorker:
    """A case queued and its card's first post refused with a 429 (Retry-After 1 s): the
    worker, held, with the card still to go."""
    worker = hold(harness)
    _queue_case(harness)
    harness.fake.fail_next["chat.postMessage"] = [
        (429, {"ok": False, "error": "ratelimited", "retry_after": 1})]
    worker.run_once(harness.clock.now)
    return worker


def test_a_post_slack_refused_is_not_looked_for(harness: Harness) -> None:
    worker = _card_refused_once(harness)
    (start,) = [r for r in rows(harness) if r.kind == "start_thread"]
    assert start.status == "pending" and start.sent_labels == []
    harness.clock.advance(seconds=2)  # the client holds posting there until Retry-After
    worker.drain(now=FAR_FUTURE)
    assert lookups(harness) == []  # a 429 posted nothing: nothing to look for
    (card,) = harness.fake.posts_in(SHOP_FLOOR)
    assert len(thread(harness, card)) == 3


def _give_apology(harness: Harness) -> None:
    """The apology given while the case's posts are not all out (the click names its case)."""
    action = {"action_id": Action.APOLOGY_GIVEN, "block_id": "b", "type": "button",
              "value": CaseRef(case_row(harness).id).encode(),
              "text": {"type": "plain_text", "text": "Apology given"}}
    harness.interact(sr.block_action(user=STAFF, action=action, channel=SHOP_FLOOR,
                                     message={"type": "message", "ts": "1.0", "blocks": []}))


def test_edits_queued_behind_a_card_slack_refused_go_with_its_retry(harness: Harness) -> None:
    worker = _card_refused_once(harness)
    assert harness.fake.posts_in(SHOP_FLOOR) == []
    _give_apology(harness)  # its edit waits behind the card, in the same case
    assert [r.kind for r in rows(harness) if r.status == "pending"] == ["start_thread",
                                                                        "refresh"]
    harness.clock.advance(seconds=2)  # the client holds posting there until Retry-After
    assert worker.run_once(FAR_FUTURE) == 1  # one delivery, the edit folded into it
    assert {r.status for r in rows(harness)} == {"sent"}
    # The card and walkthrough are drawn after the apology: nothing needs an edit.
    assert harness.fake.called("chat.update") == []
    (card,) = harness.fake.posts_in(SHOP_FLOOR)
    apology, _fix, _compensation = thread(harness, card)
    assert "Apology ✓" in block_text(card) and "Apology recorded" in block_text(apology)


def test_edits_behind_a_card_an_earlier_attempt_posted_go_on_their_own(
        harness: Harness) -> None:
    worker = _half_posted(harness)
    _give_apology(harness)
    # Folded in, the edit of what is posted would hold the case's thread behind it: the
    # walkthrough goes first, then the edit in its own lane.
    assert worker.run_once(FAR_FUTURE) == 1
    assert [r.kind for r in rows(harness) if r.status == "pending"] == ["refresh"]
    assert harness.fake.called("chat.update") == []
    assert worker.run_once(FAR_FUTURE) == 1
    assert {r.status for r in rows(harness)} == {"sent"}
    (card,) = harness.fake.posts_in(SHOP_FLOOR)
    apology, _fix, _compensation = thread(harness, card)
    assert "Apology ✓" in block_text(card) and "Apology recorded" in block_text(apology)


def test_a_card_carrying_edits_edits_what_an_earlier_attempt_posted(harness: Harness) -> None:
    # The claim folds edits only into a card that has posted nothing; should one that posted
    # part of itself carry them, the part already in Slack is edited, the rest drawn anew.
    worker = _half_posted(harness)
    (start,) = [r for r in rows(harness) if r.kind == "start_thread"]
    _give_apology(harness)
    effect = fx.fold(fx.decode(start.kind, start.payload, start.case_id),
                     [fx.Refresh(start.case_id, ("apology",))])
    attempt = Attempt(key=f"o{start.id}", since=start.created_at,
                      sent_before=frozenset(start.sent_labels or ()))
    with db.connected(harness.sessions) as session:
        worker.deliver(effect, attempt, session)
    (card,) = harness.fake.posts_in(SHOP_FLOOR)
    apology, _fix, _compensation = thread(harness, card)  # the apology found, not posted again
    assert {c.args["ts"] for c in harness.fake.called("chat.update")} == {card.ts, apology.ts}
    assert "Apology ✓" in block_text(card) and "Apology recorded" in block_text(apology)


def test_a_delivery_that_moves_on_starts_its_back_off_again(harness: Harness) -> None:
    worker, now = hold(harness), harness.clock.now
    _queue_case(harness)
    # Each attempt lands one post more and loses the reply of the next; the look for it
    # made at once fails too (with its one resend), so the outbox takes it up.
    harness.fake.lose_next["chat.postMessage"] = [None, "500", None, "500"]
    harness.fake.lose_next["conversations.replies"] = ["500", "500", None, "500", "500"]
    worker.run_once(now)
    worker.run_once(now + timedelta(seconds=10))
    (start,) = [r for r in rows(harness) if r.kind == "start_thread"]
    # Two failed attempts, each after a post that landed: a first attempt's back-off again,
    # not the second's (which doubles it).
    assert start.status == "pending" and start.attempts == 1
    assert start.next_attempt_at - now == timedelta(seconds=outbox.backoff(1, start.id))
    assert start.sent_labels == ["apology", "card", "compensation", "fix"]

    # An attempt that lands nothing new backs off as before.
    harness.fake.fail_next["conversations.replies"] = [(500, {"ok": False,
                                                             "error": "internal_error"})] * 2
    worker.run_once(now + timedelta(seconds=20))
    (start,) = [r for r in rows(harness) if r.kind == "start_thread"]
    assert start.attempts == 2
    assert start.next_attempt_at - now == timedelta(seconds=outbox.backoff(2, start.id))
    worker.drain(now=FAR_FUTURE)
    (card,) = harness.fake.posts_in(SHOP_FLOOR)
    assert len(thread(harness, card)) == 3


def _apology_clicked(harness: Harness) -> tuple[OutboxWorker, int]:
    """A case's apology clicked, its refresh (edits) queued: the worker, and the Slack calls
    made so far."""
    card = open_case(harness)
    worker = hold(harness)
    harness.click(thread(harness, card)[0], Action.APOLOGY_GIVEN, user=STAFF)
    return worker, len(harness.fake.calls)


@pytest.mark.parametrize("blip", ["500", "drop"])
def test_an_edit_that_meets_a_blip_is_sent_again_at_once(harness: Harness, blip: str) -> None:
    worker, before = _apology_clicked(harness)
    if blip == "500":  # Slack failed it
        harness.fake.fail_next["chat.update"] = [(500, {"ok": False,
                                                        "error": "internal_error"})]
    else:  # Slack made it, and the connection dropped before its reply
        harness.fake.lose_next["chat.update"] = ["drop"]
    worker.run_once(harness.clock.now)
    edits = [c for c in harness.fake.calls[before:] if c.method == "chat.update"]
    assert edits[0].args == edits[1].args  # the same edit, sent again at once
    # One attempt, delivered: no round of back-off for a blip.
    assert [(r.status, r.attempts) for r in rows(harness) if r.kind == "refresh"] == [
        ("sent", 1)]


def test_an_edit_failing_twice_and_a_post_failing_once_wait_for_the_outbox(
        harness: Harness) -> None:
    worker, before = _apology_clicked(harness)
    harness.fake.fail_next["chat.update"] = [(500, {"ok": False, "error": "internal_error"})] * 2
    worker.run_once(harness.clock.now)
    assert len([c for c in harness.fake.calls[before:] if c.method == "chat.update"]) == 2
    (refresh,) = [r for r in rows(harness) if r.kind == "refresh"]
    assert (refresh.status, refresh.attempts) == ("pending", 1)

    # A post is never sent twice by the client: its reply may be lost after it landed.
    harness.fake.lose_next["chat.postMessage"] = ["500"]
    with harness.sessions.begin() as session:
        fx.queue(session, fx.HotspotAlert(location="Mall", count=3, day="Mon",
                                          to=fx.Place.thread("C0LEADERS")),
                 now=harness.clock.now)
    posts = len(harness.fake.called("chat.postMessage"))
    worker.run_once(harness.clock.now)
    assert len(harness.fake.called("chat.postMessage")) == posts + 1
    worker.drain(now=FAR_FUTURE)
    assert len(harness.fake.posts_in("C0LEADERS")) == 1  # found on the retry, not doubled
    assert {r.status for r in rows(harness)} == {"sent"}


def test_a_persons_dm_channel_is_opened_once(harness: Harness) -> None:
    slack = Slack(harness.app.client, recovery_channel=RECOVERY)
    (channel,) = {slack.dm(MANAGER, message("hello", [section("hello")]))[0]
                  for _ in range(3)}
    assert len(harness.fake.called("conversations.open")) == 1
    assert len(harness.fake.posts_in(channel)) == 3


def test_a_reply_that_times_out_is_found_not_posted_again(harness: Harness) -> None:
    harness.app.client.timeout = 0.3
    harness.fake.timeout_seconds = 0.6
    harness.fake.lose_next["chat.postMessage"] = ["timeout", "500", "drop"]
    journey(harness)
    assert_one_of_each(harness)


def test_without_history_scopes_a_lost_reply_can_double_a_post(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """What the README says remains when the history scopes aren't granted."""
    harness.fake.scopes = {"chat:write", "im:write", "users:read"}
    harness.fake.lose_next["chat.postMessage"] = ["500"]
    caplog.set_level(logging.WARNING, "amends.messaging")
    open_case(harness)
    assert errors_of(harness, "conversations.history") == ["missing_scope"]
    cards = [m for m in harness.fake.posts_in(SHOP_FLOOR) if m.blocks[0]["type"] == "header"]
    assert len(cards) == 2
    assert "which may show it twice" in caplog.text


def test_every_post_names_its_delivery(harness: Harness) -> None:
    journey(harness)
    posts = harness.fake.called("chat.postMessage")
    keys = [c.args.get("metadata", {}).get("event_payload", {}).get("delivery") for c in posts]
    assert all(keys) and len(set(keys)) == len(keys)
    assert all(c.args["metadata"]["event_type"] == "amends_delivery" for c in posts)


# -- a worker killed mid-delivery ---------------------------------------------------------------

@pytest.mark.parametrize("killed_after", ["card", "second walkthrough post"])
def test_a_worker_killed_between_slacks_post_and_saving_its_ts_leaves_one_card(
        harness: Harness, engine: Engine, tmp_path: Path, killed_after: str) -> None:
    """Killed once Slack has made a post and before its reply arrives: after the card, or
    after the second of the walkthrough's posts in its thread (whose places are saved
    together once they are all made), the next worker finds what was posted and posts only
    what wasn't."""
    worker = hold(harness)
    harness.command("order late")
    harness.submit(harness.opened_view(), {Field.CUSTOMER: "Sam", Field.WHAT_HAPPENED: "late",
                                           "severity:late-delivery": "major"}, user=STAFF)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AMENDS_"))}
    env = {**keep, "DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "SLACK_BOT_TOKEN": "xoxb-test-token-0000", "SLACK_SIGNING_SECRET": sr.SECRET,
           "SLACK_API_URL": harness.fake.url, "AMENDS_RECOVERY_CHANNEL": RECOVERY,
           "AMENDS_MANAGERS": MANAGER, "AMENDS_CURRENCY": "USD",
           "PYTHONPATH": str(ROOT)}
    # `amends outbox run` in a process of its own, killed (SIGKILL: no cleanup of any kind)
    # once Slack has posted the card and before the reply reaches it.
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "outbox", "run"], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = threading.Event()
    replies: list[Posted] = []

    def kill(posted: Posted) -> None:
        if posted.thread_ts is not None:
            replies.append(posted)
        if posted.channel == SHOP_FLOOR and (
                posted.thread_ts is None if killed_after == "card" else len(replies) == 2):
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed.set()

    harness.fake.after_post = kill
    try:
        process.wait(timeout=60)
    finally:
        harness.fake.after_post = None
        if process.poll() is None:
            process.kill()
    assert killed.is_set() and process.returncode == -signal.SIGKILL
    (card,) = harness.fake.posts_in(SHOP_FLOOR)
    if killed_after == "card":
        assert case_row(harness).message_ts is None  # the ts never reached the database
    else:
        assert case_row(harness).message_ts == card.ts and len(thread(harness, card)) == 2
        with harness.sessions() as session:  # nor did the two posts' places
            assert cases.messages(session, case_row(harness).id) == {}

    # The next worker takes the delivery up once the dead one's lease is over.
    worker.drain(now=FAR_FUTURE)
    assert harness.fake.posts_in(SHOP_FLOOR) == [card]  # still one card
    assert case_row(harness).message_ts == card.ts and len(thread(harness, card)) == 3
    assert {r.status for r in rows(harness)} == {"sent"}

    # The rest of the case with a third of Slack's replies lost: still one of everything.
    harness.outbox, harness.fake.lose_rate = worker, 0.35
    journey(harness, card)
    assert {r.status for r in rows(harness)} == {"sent"}
    assert_one_of_each(harness)


# -- the fake itself -------------------------------------------------------------------------

def test_the_fake_takes_many_connections_at_once_as_slack_does() -> None:
    """A listen backlog of 5 (socketserver's default) made the kernel drop connections under
    load, and each cost a second: a stall of the fake's, not Slack's. Before the fake
    accepts any, 100 connections still complete at once."""
    fake = FakeSlack()  # not started: nothing accepts, so all wait in the backlog
    host, port = fake._server.server_address[:2]
    opened = []
    try:
        for _ in range(100):
            opened.append(socket.create_connection((str(host), int(port)), timeout=5))
        assert len(opened) == 100
    finally:
        for connection in opened:
            connection.close()
        fake._server.server_close()


def test_modals_go_through_the_apps_own_client(harness: Harness) -> None:
    """Bolt gives each listener a new plain WebClient; Amends' listeners use the app's own,
    so a 429 on views.open holds it as any other call is held: the next /recover within
    Retry-After is told to try again without asking Slack (which would refuse it too)."""
    harness.fake.fail_next["views.open"] = [
        (429, {"ok": False, "error": "ratelimited", "retry_after": 30})]
    harness.command("order arrived late")
    assert len(harness.fake.called("views.open")) == 1
    harness.clock.advance(seconds=10)
    harness.command("order arrived late")
    assert len(harness.fake.called("views.open")) == 1  # held: Slack not asked again
    told = ephemerals(harness, STAFF)
    assert len(told) == 2 and all("couldn't open the form" in text for text in told)
    harness.clock.advance(seconds=21)  # the hold is over
    harness.command("order arrived late")
    assert len(harness.fake.called("views.open")) == 2
    assert harness.fake.last_view()["callback_id"] == "new_case"
