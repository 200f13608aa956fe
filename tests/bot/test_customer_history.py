"""Knowing the customer: their earlier cases on the card, the compensation message and the
manager's follow-up, and a case's History modal, through signed requests."""

from __future__ import annotations

import json
from typing import Any

from bot.ids import Action, Field
from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import Posted
from tests.bot.conftest import MANAGER, STAFF, Harness, find_element
from tests.bot.test_followthrough import resolve
from tests.bot.test_journey import block_text, open_case, thread


def history_block(card: Posted) -> str:
    found = [b["text"]["text"] for b in card.blocks
             if b["type"] == "section" and "Earlier cases" in (b.get("text") or {}).get("text", "")]
    return found[0] if found else ""


def ref(card: Posted) -> str:
    return str(card.blocks[0]["text"]["text"].split(" ")[0])  # the header: "C-0042 · …"


def test_a_returning_customer_is_known_on_the_card_the_offer_and_the_follow_up(
        harness: Harness) -> None:
    first = open_case(harness, answers={Field.CONTACT: "sam@example.com"})
    assert history_block(first) == ""  # a first case has no history to show
    _apology, _fix, offer = thread(harness, first)
    assert "Repeat customer" not in block_text(offer)
    harness.click(offer, f"{Action.COMPENSATION_OPTION}:major-2", user=STAFF)  # $15 voucher
    resolve(harness, first)

    # Thirty days later the same customer, their contact typed another way, is let down again.
    harness.clock.advance(days=30)
    second = open_case(harness, text="order A-1043 was late again, an hour this time",
                       answers={Field.CONTACT: " SAM@example.com ",
                                Field.CUSTOMER: "Sam T."})
    shown = history_block(second)
    assert "🔁 *Repeat customer*" in shown
    assert "*Earlier cases:* 1 in the last 12 months" in shown
    assert f"{ref(first)} Late delivery" in shown and "$15.00 given" in shown
    assert "satisfied" in shown  # how the customer left the earlier case
    _apology, _fix, offer = thread(harness, second)
    assert f"Repeat customer:* we let them down before, {ref(first)}" in block_text(offer)

    # The manager sees it too, when asked to follow up.
    resolve(harness, second)
    dm = harness.fake.posts_in("D" + MANAGER.lstrip("U"))[-1]
    assert "*Earlier cases:* 1 in the last 12 months" in block_text(dm)

    # The card keeps its history after later clicks redraw it (a refresh reads it again).
    assert "Repeat customer" in history_block(second)


def test_an_earlier_case_beyond_ninety_days_is_history_not_a_repeat(harness: Harness) -> None:
    first = open_case(harness, answers={Field.CONTACT: "07700 900123"})
    harness.clock.advance(days=120)
    later = open_case(harness, answers={Field.CONTACT: "07700-900-123"})
    shown = history_block(later)
    assert "*Earlier cases:* 1 in the last 12 months" in shown
    assert "Repeat customer" not in shown
    assert "still open" in shown  # the earlier case was never resolved
    harness.clock.advance(days=300)  # over a year after the first, 300 days after the second
    last = open_case(harness, answers={Field.CONTACT: "07700900123"})
    assert "*Earlier cases:* 1 in the last 12 months" in history_block(last)
    assert ref(later) in history_block(last) and ref(first) not in history_block(last)


def test_a_placeholder_contact_is_nobodys_history(harness: Harness) -> None:
    # A placeholder contact ("n/a", "-") leaves the name to decide.
    open_case(harness, answers={Field.CONTACT: "n/a", Field.CUSTOMER: "Walk-in"})
    second = open_case(harness, answers={Field.CONTACT: "n/a", Field.CUSTOMER: "Someone else"})
    assert history_block(second) == ""
    third = open_case(harness, answers={Field.CONTACT: "-", Field.CUSTOMER: "Walk-in"})
    assert history_block(third) == ""  # a placeholder name is nobody either


def test_history_text_from_customers_is_escaped(harness: Harness) -> None:
    first = open_case(harness, answers={Field.CONTACT: "x@example.com"})
    harness.click(first, Action.CANCEL, user=STAFF)
    harness.submit(harness.opened_view(), {Field.REASON: "<!channel> opened twice"}, user=STAFF)
    second = open_case(harness, answers={Field.CONTACT: "x@example.com"})
    assert "cancelled" in history_block(second)
    harness.click(first, Action.SHOW_TIMELINE, user=STAFF)
    view = json.dumps(harness.opened_view()["blocks"])
    assert "&lt;!channel&gt; opened twice" in view and "<!channel>" not in view


def test_history_shows_who_did_what_and_pages_through_a_long_case(harness: Harness) -> None:
    card = open_case(harness)
    apology, fix, _offer = thread(harness, card)
    harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
    # Ticked and unticked over and over: 24 more events, two pages of History.
    for _ in range(12):
        harness.click(fix, Action.FIX_STEP, user=STAFF, index=0)
        harness.click(fix, Action.FIX_STEP, user=STAFF, index=0)
    harness.click(card, Action.CANCEL, user=STAFF)
    harness.submit(harness.opened_view(), {Field.REASON: "Duplicate of another case"},
                   user=STAFF)

    harness.click(card, Action.SHOW_TIMELINE, user=MANAGER)
    opened = harness.fake.called("views.open")[-1]
    assert opened.args["trigger_id"] == harness.last_trigger
    view = harness.opened_view()
    text = json.dumps(view["blocks"], ensure_ascii=False)
    assert "27 events" in text and "Page 1 of 2" in text
    assert f"<@{STAFF}> opened the case (late-delivery, major)" in text
    assert "recorded the apology as given" in text
    assert "ticked fix step 1" in text
    assert "cancelled the case" not in text  # on the second page
    assert len(view["blocks"]) <= 100

    # Later: the same modal, updated in place (with its hash), showing the rest.
    later = Posted(channel="", ts="", text="", blocks=view["blocks"])
    harness.interact(_view_click(view, later, "later"))
    update = harness.fake.called("views.update")[-1]
    assert update.args["view_id"] == view["id"] and update.args["hash"] == view["hash"]
    page2 = json.dumps(harness.opened_view()["blocks"], ensure_ascii=False)
    assert "Page 2 of 2" in page2 and "cancelled the case" in page2
    assert "Duplicate of another case" in page2
    assert "opened the case" not in page2


def _view_click(view: dict[str, Any], posted: Posted, which: str) -> dict[str, Any]:
    element, block_id = find_element(posted.blocks, f"{Action.TIMELINE_PAGE}:{which}", 0)
    return sr.block_action(user=MANAGER, view=view, action={
        "action_id": element["action_id"], "block_id": block_id, "type": "button",
        "value": element["value"]})
