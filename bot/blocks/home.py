"""The App Home tab: staff see their open cases; managers their approvals and follow-ups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.base import actions, button, context, divider, header, section
from bot.blocks.case_messages import Style
from bot.blocks.text import date, escape, mention, mrkdwn
from bot.domain.worklists import CaseLine, DueFollowUp, WaitingApproval
from bot.ids import Action


def _link(row: CaseLine) -> str:
    ref = row.reference
    if row.channel_id and row.message_ts:
        ts = row.message_ts.replace(".", "")
        return f"<https://slack.com/archives/{row.channel_id}/p{ts}|{ref}>"
    return ref


def home(*, is_manager: bool, cases: Sequence[CaseLine],
         approvals: Sequence[WaitingApproval], follow_ups: Sequence[DueFollowUp],
         style: Style) -> dict[str, Any]:
    """`approvals`: those this manager may decide (never their own requests)."""
    blocks: list[Block] = [
        header("Amends: put it right"),
        section("When a customer has been let down, type `/recover` in any channel (or press "
                "the button) and Amends walks you through the apology, the fix and the "
                "compensation."),
        actions(button("New case", Action.OPEN_CASE, "home", style="primary")),
        divider(),
        section(f"*Your open cases* ({len(cases)})"),
    ]
    if not cases:
        blocks.append(context("Nothing open. 🎉"))
    for row in cases[:20]:
        blocks.append(section(f"{_link(row)} · {mrkdwn(row.customer, 100)} · "
                              f"{escape(row.playbook_id)} · {row.state.label} · "
                              f"opened {date(row.opened_at)}"))
    if is_manager:
        blocks += [divider(), section(f"*Approvals waiting for you* ({len(approvals)})")]
        if not approvals:
            blocks.append(context("No compensation is waiting for a decision."))
        for comp in approvals[:20]:
            blocks.append(section(
                f"{_link(comp.case)} · {style.amount(comp.amount_minor)} {escape(comp.type)} for "
                f"{mrkdwn(comp.case.customer, 100)}, asked by {mention(comp.requested_by)} "
                f"{date(comp.requested_at)}. Decide in the case thread."))
        blocks += [divider(), section(f"*Your follow-ups* ({len(follow_ups)})")]
        if not follow_ups:
            blocks.append(context("No customer is waiting to hear from you."))
        for fu in follow_ups[:20]:
            blocks.append(section(
                f"{_link(fu.case)} · {mrkdwn(fu.case.customer, 100)} · due "
                f"{date(fu.due_at)}" + (f" (snoozed until {date(fu.snoozed_until)})"
                                         if fu.snoozed_until else "")))
    return View(type="home", blocks=blocks[:100]).to_dict()
