"""A complaint pasted into a channel becomes a case: the message shortcut "Open a recovery
case", through signed requests, to a card that links back to the message."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from bot.ids import Field, Shortcut
from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import Posted
from storage.models import CaseRow
from tests.bot.conftest import MANAGER, SHOP_FLOOR, STAFF, STAFF2, Harness
from tests.bot.test_journey import block_text

# As Slack sends a message's text: &, < and > escaped, a mention in its <@…> form.
COMPLAINT = ("From a customer: order A-2001 arrived two hours late &amp; cold, "
             "&lt;really&gt; not good. cc <@U0MGR001>")


def shortcut(harness: Harness, posted: Posted, *, user: str = STAFF) -> dict[str, Any]:
    message = {"type": "message", "ts": posted.ts, "text": posted.text, "user": posted.user}
    harness.interact(sr.message_action(user=user, callback_id=Shortcut.OPEN_FROM_MESSAGE,
                                       channel=posted.channel, message=message))
    return harness.opened_view()


def fill(view: dict[str, Any]) -> dict[str, str | None]:
    return {Field.CUSTOMER: "Robin", "severity:late-delivery": "major"}


def cards(harness: Harness) -> list[Posted]:
    return [m for m in harness.fake.messages.values() if m.thread_ts is None and m.blocks
            and m.blocks[0]["type"] == "header"]


def test_a_message_opens_the_form_filled_in_and_the_card_links_back(harness: Harness) -> None:
    complaint = harness.fake.say(STAFF2, SHOP_FLOOR, COMPLAINT)
    view = shortcut(harness, complaint)
    assert harness.fake.called("views.open")[-1].args["trigger_id"] == harness.last_trigger
    what = next(b for b in view["blocks"] if b.get("block_id") == Field.WHAT_HAPPENED)
    # Unescaped once, as /recover reads its text: what the person wrote, not Slack's markup.
    assert what["element"]["initial_value"] == (
        "From a customer: order A-2001 arrived two hours late & cold, <really> not good. "
        "cc @U0MGR001")
    playbook = next(b for b in view["blocks"] if b.get("block_id") == Field.PLAYBOOK)
    assert playbook["element"]["initial_option"]["value"] == "late-delivery"
    reference = next(b for b in view["blocks"] if b.get("block_id") == Field.ORDER_REF)
    assert reference["element"]["initial_value"] == "A-2001"
    assert f"From a message by <@{STAFF2}> in <#{SHOP_FLOOR}>" in json.dumps(view["blocks"])

    response = harness.submit(view, fill(view), user=STAFF)
    assert response.body == "", response.body
    (card,) = cards(harness)
    assert card.channel == SHOP_FLOOR  # the case lives where the complaint was
    link = f"https://shop.slack.com/archives/{SHOP_FLOOR}/p{complaint.ts.replace('.', '')}"
    assert f"<{link}|a message> in <#{SHOP_FLOOR}>" in block_text(card)
    with harness.sessions() as session:
        row = session.scalars(select(CaseRow)).one()
        assert (row.source_channel, row.source_ts, row.source_link) == (
            SHOP_FLOOR, complaint.ts, link)
        assert row.opened_by == STAFF

    # Asked of Slack once: later changes redraw the card from the stored link.
    apology = harness.fake.posts_in(card.channel, card.ts)[0]
    harness.click(apology, "apology_given", user=STAFF)
    harness.click(card, "cancel_case", user=STAFF)
    harness.submit(harness.opened_view(), {Field.REASON: "test"}, user=STAFF)
    assert len(harness.fake.called("chat.getPermalink")) == 1
    assert link in block_text(card)


def test_the_same_form_submitted_twice_opens_one_case(harness: Harness) -> None:
    view = shortcut(harness, harness.fake.say(STAFF2, SHOP_FLOOR, COMPLAINT))
    harness.submit(view, fill(view), user=STAFF)
    harness.submit(view, fill(view), user=STAFF)
    with harness.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == 1
    assert len(cards(harness)) == 1


def test_a_message_deleted_before_the_card_gives_a_card_without_a_link(
        harness: Harness) -> None:
    complaint = harness.fake.say(STAFF2, SHOP_FLOOR, COMPLAINT)
    view = shortcut(harness, complaint)
    del harness.fake.messages[complaint.ts]  # deleted while the form was open
    harness.submit(view, fill(view), user=STAFF)
    (card,) = cards(harness)
    assert f"a message in <#{SHOP_FLOOR}>" in block_text(card)
    assert harness.fake.called("chat.getPermalink")[0].error == "message_not_found"
    with harness.sessions() as session:
        assert session.scalars(select(CaseRow.source_link)).one() is None


def test_a_message_without_text_still_opens_the_form(harness: Harness) -> None:
    posted = harness.fake.say(MANAGER, SHOP_FLOOR, "")  # a file or an image only
    view = shortcut(harness, posted, user=STAFF)
    what = next(b for b in view["blocks"] if b.get("block_id") == Field.WHAT_HAPPENED)
    assert "initial_value" not in what["element"]
    assert f"in <#{SHOP_FLOOR}>" in json.dumps(view["blocks"])


def test_forged_source_metadata_opens_the_case_without_a_source(harness: Harness) -> None:
    view = shortcut(harness, harness.fake.say(STAFF2, SHOP_FLOOR, COMPLAINT))
    meta = json.loads(view["private_metadata"])
    forged = {**view, "private_metadata": json.dumps({**meta, "source": "C1:<!channel>:x"})}
    harness.submit(forged, {**fill(view), Field.WHAT_HAPPENED: "late"}, user=STAFF)
    with harness.sessions() as session:
        row = session.scalars(select(CaseRow)).one()
        assert row.source_channel is None and row.source_link is None
    assert harness.fake.called("chat.getPermalink") == []
