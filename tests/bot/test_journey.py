"""The whole journey through the real Bolt App: /recover to the manager's follow-up."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.ids import Action, Field
from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import Posted
from storage.models import CaseRow, CompensationRow, EventRow, FollowUpRow
from tests.bot.conftest import MANAGER, MANAGER2, SHOP_FLOOR, STAFF, STAFF2, STRANGER, Harness


def texts(harness: Harness) -> str:
    """Everything the bot wrote anywhere, as one string, for escaping checks."""
    return json.dumps([c.args for c in harness.fake.calls], ensure_ascii=False)


def open_case(harness: Harness, *, text: str = "order A-1042 was 50 minutes late and cold",
              user: str = STAFF, answers: dict[str, str | None] | None = None) -> Posted:
    response = harness.command(text, user=user)
    assert response.status == 200
    view = harness.opened_view()
    filled = {Field.CUSTOMER: "Sam <!channel> Taylor", Field.CONTACT: "sam@example.com",
              Field.WHAT_HAPPENED: text, "severity:late-delivery": "major",
              Field.ORDER_REF: "A-1042", Field.LOCATION: "High Street",
              Field.PURCHASE: "40.00", **(answers or {})}
    response = harness.submit(view, filled, user=user)
    assert response.status == 200 and response.body == ""
    cards = [m for m in harness.fake.messages.values() if m.thread_ts is None
             and m.blocks and m.blocks[0]["type"] == "header"]
    return cards[-1]


def thread(harness: Harness, card: Posted) -> list[Posted]:
    return harness.fake.posts_in(card.channel, card.ts)


def case_row(harness: Harness) -> CaseRow:
    with harness.sessions() as session:
        return session.scalars(select(CaseRow).order_by(CaseRow.id.desc())).first()


def ephemerals(harness: Harness, user: str) -> list[str]:
    return [c.args["text"] for c in harness.fake.called("chat.postEphemeral")
            if c.args["user"] == user]


def block_text(posted: Posted) -> str:
    return json.dumps(posted.blocks, ensure_ascii=False)


def test_recover_opens_a_modal_with_the_suggested_playbook(harness: Harness) -> None:
    response = harness.command("order A-1042 was 50 minutes late")
    assert response.status == 200
    (call,) = harness.fake.called("views.open")
    assert call.args["trigger_id"] == harness.last_trigger
    view = call.args["view"]
    playbook = next(b for b in view["blocks"] if b.get("block_id") == Field.PLAYBOOK)
    assert playbook["element"]["initial_option"]["value"] == "late-delivery"
    severity = next(b for b in view["blocks"] if b.get("block_id") == "severity:late-delivery")
    assert [o["value"] for o in severity["element"]["options"]] == ["minor", "major", "severe"]
    what = next(b for b in view["blocks"] if b.get("block_id") == Field.WHAT_HAPPENED)
    assert what["element"]["initial_value"] == "order A-1042 was 50 minutes late"
    reference = next(b for b in view["blocks"] if b.get("block_id") == Field.ORDER_REF)
    assert reference["element"]["initial_value"] == "A-1042"  # picked out of the text
    assert json.loads(view["private_metadata"]) == {"channel": SHOP_FLOOR}

    # The form is built once per playbook: another person's text never leaks into it.
    harness.command("the soup was cold")
    other = harness.fake.called("views.open")[-1].args["view"]
    assert all("initial_value" not in (b.get("element") or {}) for b in other["blocks"]
               if b.get("block_id") in (Field.ORDER_REF,))
    assert next(b for b in other["blocks"] if b.get("block_id") == Field.WHAT_HAPPENED
                )["element"]["initial_value"] == "the soup was cold"


def test_the_whole_journey(harness: Harness) -> None:
    card = open_case(harness)
    row = case_row(harness)
    assert (row.state, row.playbook_id, row.severity, row.purchase_minor) == (
        "opened", "late-delivery", "major", 4000)
    assert row.channel_id == SHOP_FLOOR and row.message_ts == card.ts
    assert len(row.playbook_hash) == 12
    # The card in the channel, the walkthrough in its thread.
    apology, fix, compensation = thread(harness, card)
    assert "Apology" in block_text(apology) and "Sam &lt;!channel&gt; Taylor" in block_text(apology)
    assert "Alex" in block_text(apology)  # the suggested wording is signed by the staff member
    assert "<!channel>" not in texts(harness)  # the customer's name pings nobody

    # 1. The apology.
    harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
    assert "Apology recorded" in block_text(apology)
    assert not any(b["type"] == "actions" for b in apology.blocks)

    # 2. The fix, ticked in place; a double click has one effect.
    stale_fix = Posted(**{**fix.__dict__, "blocks": list(fix.blocks), "history": []})
    harness.click(fix, Action.FIX_STEP, user=STAFF, index=0)
    assert "2. Fix* — 1 of 4 done" in block_text(fix)
    assert block_text(fix).count("✅") == 1
    harness.click(stale_fix, Action.FIX_STEP, user=STAFF, index=0)
    assert "already done" in ephemerals(harness, STAFF)[-1]
    assert case_row(harness).steps_done == [0]

    # 3. Compensation within the staff limit is approved at once.
    harness.click(compensation, f"{Action.COMPENSATION_OPTION}:major-2", user=STAFF)
    assert "✅ $15.00 voucher" in block_text(compensation)
    # Above the limit: a custom amount waits for a manager.
    harness.click(compensation, Action.COMPENSATION_CUSTOM, user=STAFF)
    harness.submit(harness.opened_view(), {Field.COMP_TYPE: "refund",
                                           Field.COMP_LABEL: "Refund of the order",
                                           Field.AMOUNT: "40"}, user=STAFF)
    assert "⏳ $40.00 refund" in block_text(compensation)
    request = thread(harness, card)[-1]
    assert "Approval needed" in block_text(request)
    assert f"<@{MANAGER}>" in request.blocks[0]["text"]["text"]
    assert f"<@{MANAGER2}>" in request.blocks[0]["text"]["text"]

    # Nobody but a manager may decide; nothing changes when they try.
    harness.click(request, Action.APPROVE, user=STRANGER)
    harness.click(request, Action.APPROVE, user=STAFF)
    assert "Only a manager" in ephemerals(harness, STRANGER)[-1]
    assert "Only a manager" in ephemerals(harness, STAFF)[-1]
    harness.click(request, Action.DENY, user=STRANGER)
    assert len(ephemerals(harness, STRANGER)) == 2
    with harness.sessions() as session:
        statuses = session.scalars(select(CompensationRow.status).order_by(
            CompensationRow.number)).all()
    assert statuses == ["approved", "pending"]

    harness.click(request, Action.APPROVE, user=MANAGER)
    assert "*Approved* by <@U0MGR001>" in block_text(request)
    assert not any(b["type"] == "actions" for b in request.blocks)
    notice = thread(harness, card)[-1]
    assert f"<@{STAFF}> your request" in block_text(notice) and "*approved*" in block_text(notice)
    # A second manager clicking the old buttons is told who decided.
    harness.click(Posted(**{**request.__dict__, "blocks": request.history[0]}), Action.APPROVE,
                  user=MANAGER2)
    assert "already approved" in ephemerals(harness, MANAGER2)[-1]
    assert f"<@{MANAGER}>" in ephemerals(harness, MANAGER2)[-1]

    # 4. Resolve: reaction, root cause, action taken; the manager defaults to the approver.
    harness.clock.advance(minutes=40)
    harness.click(card, Action.RESOLVE, user=STAFF)
    view = harness.opened_view()
    manager_block = next(b for b in view["blocks"] if b.get("block_id") == Field.MANAGER)
    # The managers themselves are offered (not every person in the workspace).
    assert manager_block["element"]["type"] == "static_select"
    assert manager_block["element"]["initial_option"]["value"] == MANAGER
    assert [o["value"] for o in manager_block["element"]["options"]] == [MANAGER, MANAGER2]
    assert "AMENDS_" not in json.dumps(view)  # no setting's name is shown to staff
    harness.submit(view, {Field.REACTION: "satisfied", Field.ROOT_CAUSE: "Courier delay",
                          Field.ACTION_TAKEN: "Sent a fresh order by taxi",
                          Field.NOTES: "Customer was gracious"}, user=STAFF)
    row = case_row(harness)
    assert row.state == "follow_up_due" and row.recovery_seconds == 40 * 60
    assert row.root_cause == "Courier delay" and row.reaction == "satisfied"

    # 5. The manager is asked, in a direct message, to follow up in person.
    (dm,) = harness.fake.posts_in("D0MGR001")
    dm_text = block_text(dm)
    assert "Follow up in person" in dm_text and "Sam &lt;!channel&gt; Taylor" in dm_text
    assert "Sent a fresh order by taxi" in dm_text and "$15.00 voucher" in dm_text
    assert "$40.00 refund" in dm_text and "Talking points" in dm_text
    harness.choose(dm, Action.SNOOZE, ":24", user=MANAGER)
    assert "Snoozed until" in block_text(dm)
    with harness.sessions() as session:
        follow_up = session.scalars(select(FollowUpRow)).one()
        assert follow_up.snoozed_until is not None

    # Still unhappy at the follow-up reopens the case and tells the staff member.
    harness.clock.advance(hours=20)
    harness.click(dm, Action.FOLLOWED_UP, user=MANAGER)
    harness.submit(harness.opened_view(), {Field.REACTION: "still_unhappy",
                                           Field.NOTES: "Wants <!here> a full refund"},
                   user=MANAGER)
    reopened = thread(harness, card)[-1]
    assert f"<@{STAFF}> the customer is *still unhappy*" in block_text(reopened)
    assert "&lt;!here&gt;" in block_text(reopened)
    assert case_row(harness).state == "fixing"
    assert "Followed up by <@U0MGR001>" in block_text(dm)

    # Resolved again, followed up again: the customer is happy and the case closes.
    harness.click(card, Action.RESOLVE, user=STAFF)
    harness.submit(harness.opened_view(), {Field.REACTION: "satisfied",
                                           Field.ROOT_CAUSE: "Courier delay",
                                           Field.ACTION_TAKEN: "Refunded the order"},
                   user=STAFF)
    second_dm = harness.fake.posts_in("D0MGR001")[-1]
    harness.click(second_dm, Action.FOLLOWED_UP, user=MANAGER)
    harness.submit(harness.opened_view(), {Field.REACTION: "delighted"}, user=MANAGER)
    row = case_row(harness)
    assert row.state == "closed" and row.closed_at is not None
    assert "is closed" in block_text(thread(harness, card)[-1])
    with harness.sessions() as session:
        kinds = session.scalars(select(EventRow.kind).order_by(EventRow.id)).all()
    assert kinds == ["opened", "apology_given", "step_done", "compensation_approved",
                     "compensation_proposed", "compensation_approved", "resolved",
                     "follow_up_snoozed", "reopened", "resolved", "followed_up"]


@pytest.mark.parametrize("given", [True, False])
def test_resolving_and_reopening_edit_the_apology_only_when_its_button_comes_or_goes(
        harness: Harness, given: bool) -> None:
    """A given apology reads the same whether the case is open or not: resolving and
    reopening leave it alone (chat.update is Tier 3, workspace-wide); one not yet given
    loses its button at resolution and gets it back when the case reopens."""
    card = open_case(harness)
    apology, fix, compensation = thread(harness, card)[:3]
    if given:
        harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF)

    def edited_by(change: Callable[[], None]) -> list[str]:
        before = len(harness.fake.called("chat.update"))
        change()
        return [c.args["ts"] for c in harness.fake.called("chat.update")[before:]]

    def resolve() -> None:
        harness.click(card, Action.RESOLVE, user=STAFF)
        harness.submit(harness.opened_view(), {
            Field.REACTION: "satisfied", Field.ROOT_CAUSE: "Courier delay",
            Field.ACTION_TAKEN: "Refunded"}, user=STAFF)

    def reopen() -> None:
        harness.click(harness.fake.posts_in("D0MGR001")[-1], Action.FOLLOWED_UP, user=MANAGER)
        harness.submit(harness.opened_view(), {Field.REACTION: "still_unhappy"}, user=MANAGER)

    for change, button_shown in ((resolve, False), (reopen, not given)):
        edited = edited_by(change)
        assert {card.ts, fix.ts, compensation.ts} <= set(edited)
        assert (apology.ts in edited) is (not given)
        assert (Action.APOLOGY_GIVEN in json.dumps(apology.blocks)) is button_shown
    assert case_row(harness).state == "fixing"


def test_requester_who_is_a_manager_cannot_approve_their_own(harness: Harness) -> None:
    card = open_case(harness, user=MANAGER)
    compensation = thread(harness, card)[2]
    harness.click(compensation, f"{Action.COMPENSATION_OPTION}:major-2", user=MANAGER)
    harness.click(compensation, Action.COMPENSATION_CUSTOM, user=MANAGER)
    harness.submit(harness.opened_view(), {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund",
                                           Field.AMOUNT: "30"}, user=MANAGER)
    request = thread(harness, card)[-1]
    harness.click(request, Action.APPROVE, user=MANAGER)
    assert "another manager" in ephemerals(harness, MANAGER)[-1]
    harness.click(request, Action.DENY, user=MANAGER)
    assert "another manager" in ephemerals(harness, MANAGER)[-1]
    assert not any(c.args["view"].get("callback_id") == "deny_compensation"
                   for c in harness.fake.called("views.open"))
    # Another manager denies, with a reason the requester sees.
    harness.click(request, Action.DENY, user=MANAGER2)
    harness.submit(harness.opened_view(), {Field.REASON: ""}, user=MANAGER2)
    assert harness.responses[-1].status == 200
    assert json.loads(harness.responses[-1].body)["errors"] == {
        Field.REASON: "Say why, so the requester knows."}
    harness.submit(harness.opened_view(), {Field.REASON: "A voucher fits better"},
                   user=MANAGER2)
    assert "*Denied* by <@U0MGR002>" in block_text(request)
    assert "A voucher fits better" in block_text(thread(harness, card)[-1])
    assert case_row(harness).state == "fixing"


def _errors(harness: Harness) -> dict[str, Any]:
    body = json.loads(harness.responses[-1].body)
    assert body["response_action"] == "errors"
    return body["errors"]


def test_modal_fields_come_back_as_inline_errors(harness: Harness) -> None:
    harness.command("late order")
    view = harness.opened_view()
    harness.submit(view, {Field.CUSTOMER: None, Field.WHAT_HAPPENED: "late order",
                          Field.PURCHASE: "ten pounds"}, user=STAFF)
    errors = _errors(harness)
    assert set(errors) == {Field.CUSTOMER, "severity:late-delivery", Field.PURCHASE}
    assert "not an amount" in errors[Field.PURCHASE]
    assert case_row(harness) is None


def test_unknown_keyword_asks_for_a_playbook(harness: Harness) -> None:
    harness.command("the thing with the stuff")
    view = harness.opened_view()
    assert "No playbook matched" in json.dumps(view["blocks"][0])
    playbook = next(b for b in view["blocks"] if b.get("block_id") == Field.PLAYBOOK)
    assert "initial_option" not in playbook["element"]
    assert not any(b.get("block_id", "").startswith("severity") for b in view["blocks"])
    harness.submit(view, {Field.CUSTOMER: "Jo", Field.WHAT_HAPPENED: "x"}, user=STAFF)
    assert _errors(harness) == {Field.PLAYBOOK: "Pick the playbook that fits best."}
    # Picking a playbook shows its severities (views.update on the same modal).
    picked = next(o for o in playbook["element"]["options"] if o["value"] == "billing-error")
    harness.interact({**sr.block_action(
        user=STAFF, view={**view, "state": {"values": {Field.PLAYBOOK: {
            Action.PLAYBOOK_PICKED: {"type": "static_select", "selected_option": picked}}}}},
        action={"action_id": Action.PLAYBOOK_PICKED, "block_id": Field.PLAYBOOK,
                "type": "static_select", "selected_option": picked})})
    (update,) = harness.fake.called("views.update")
    assert update.args["view_id"] == view["id"]
    assert any(b.get("block_id") == "severity:billing-error" for b in update.args["view"]["blocks"])


def test_falls_back_to_the_recovery_channel(harness: Harness) -> None:
    harness.fake.cannot_post_in.add(SHOP_FLOOR)
    card = open_case(harness)
    assert card.channel == "C0RECOVERY"
    assert case_row(harness).channel_id == "C0RECOVERY"
    assert len(thread(harness, card)) == 3


def test_a_modal_submitted_twice_opens_one_case(harness: Harness) -> None:
    harness.command("late")
    view = harness.opened_view()
    answers = {Field.CUSTOMER: "Jo", Field.WHAT_HAPPENED: "late",
               "severity:late-delivery": "minor"}
    harness.submit(view, answers, user=STAFF)
    harness.submit(view, answers, user=STAFF)
    with harness.sessions() as session:
        assert len(session.scalars(select(CaseRow)).all()) == 1
    assert len([m for m in harness.fake.messages.values() if m.thread_ts is None]) == 1


def test_ceiling_is_an_inline_error_on_the_amount(harness: Harness) -> None:
    card = open_case(harness)
    compensation = thread(harness, card)[2]
    harness.click(compensation, Action.COMPENSATION_CUSTOM, user=STAFF)
    harness.submit(harness.opened_view(), {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "All",
                                           Field.AMOUNT: "75"}, user=STAFF)
    assert "above the ceiling of $60.00" in _errors(harness)[Field.AMOUNT]
    with harness.sessions() as session:
        assert session.scalars(select(CompensationRow)).all() == []


def test_help_and_mine(harness: Harness) -> None:
    response = harness.command("help")
    assert json.loads(response.body)["response_type"] == "ephemeral"
    assert "/recover mine" in json.loads(response.body)["text"]
    assert harness.fake.called("views.open") == []
    response = harness.command("mine")
    assert "no open cases" in json.loads(response.body)["text"]
    open_case(harness)
    response = harness.command("mine")
    text = json.loads(response.body)["text"]
    assert "C-" in text and "Sam &lt;!channel&gt; Taylor" in text


def test_cancel_a_case_opened_by_mistake(harness: Harness) -> None:
    card = open_case(harness)
    harness.click(card, Action.CANCEL, user=STAFF)
    harness.submit(harness.opened_view(), {Field.REASON: "Opened twice"}, user=STAFF)
    assert case_row(harness).state == "cancelled"
    # Nothing left to do on a cancelled case but read its history.
    buttons = [e["action_id"] for b in card.blocks if b["type"] == "actions"
               for e in b["elements"]]
    assert buttons == [Action.SHOW_TIMELINE]
    assert "Cancelled by" in block_text(thread(harness, card)[-1])


def test_only_the_opener_or_a_manager_works_a_case(harness: Harness) -> None:
    card = open_case(harness)
    apology, _fix, compensation = thread(harness, card)
    harness.fake.reset_calls()
    harness.click(apology, Action.APOLOGY_GIVEN, user=STAFF2)
    harness.click(card, Action.RESOLVE, user=STAFF2)
    harness.click(compensation, Action.COMPENSATION_CUSTOM, user=STAFF2)
    refusals = ephemerals(harness, STAFF2)
    assert len(refusals) == 3 and all("Only a manager or the staff member who opened" in r
                                      for r in refusals)
    assert harness.fake.called("views.open") == [] and harness.fake.called("chat.update") == []
    assert case_row(harness).apology_given_at is None
    # A manager may step in.
    harness.click(apology, Action.APOLOGY_GIVEN, user=MANAGER)
    assert case_row(harness).apology_given_at is not None


def test_a_form_slack_could_not_open_is_explained(harness: Harness) -> None:
    harness.fake.fail_next["views.open"] = [(200, {"ok": False, "error": "expired_trigger_id"})]
    harness.command("order late")
    assert "type `/recover` again" in ephemerals(harness, STAFF)[-1]


def test_the_card_reads_at_a_glance_and_shows_a_reopened_case(harness: Harness) -> None:
    long = "order A-1042 was late. " + "The driver could not find the door, " * 40 + "THE END"
    card = open_case(harness, answers={Field.WHAT_HAPPENED: long})
    summary = next(b for b in card.blocks if "What happened" in json.dumps(b))
    assert "THE END" not in summary["text"]["text"] and summary["text"]["text"].endswith("…")
    assert "(cut)" not in summary["text"]["text"]
    # The rest is one click away, in a read-only modal.
    harness.click(card, Action.SHOW_SUMMARY, user=STAFF2)
    whole = json.dumps(harness.opened_view()["blocks"])
    assert "THE END" in whole and "Sam &lt;!channel&gt; Taylor" in whole

    # Still unhappy at the follow-up: the card says the case was reopened, and when.
    harness.click(card, Action.RESOLVE, user=STAFF)
    harness.submit(harness.opened_view(), {Field.REACTION: "satisfied",
                                           Field.ROOT_CAUSE: "Courier delay",
                                           Field.ACTION_TAKEN: "Sent a fresh order",
                                           Field.MANAGER: MANAGER}, user=STAFF)
    (dm,) = harness.fake.posts_in("D" + MANAGER.lstrip("U"))
    harness.click(dm, Action.FOLLOWED_UP, user=MANAGER)
    harness.submit(harness.opened_view(), {Field.REACTION: "still_unhappy",
                                           Field.NOTES: "Wants a call"}, user=MANAGER)
    card = harness.fake.messages[card.ts]
    assert "*Reopened*" in json.dumps(card.blocks)


def test_dropdown_options_end_at_a_word() -> None:
    from bot.blocks.base import option

    made = option("Refund the delivery charge and a quarter of the order, " * 3, "x")
    shown = made.to_dict()["text"]["text"]
    assert len(shown) <= 75 and shown.endswith("…") and "(cut)" not in shown
    assert not shown[:-1].endswith(" ")
