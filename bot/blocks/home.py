"""The App Home tab: staff see their open cases; managers their approvals and follow-ups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.base import actions, button, context, divider, fields, header, section
from bot.blocks.case_messages import Style, describe_short
from bot.blocks.text import date, escape, mention, mrkdwn
from bot.domain.digest import WeekSoFar
from bot.domain.lifecycle import case_reference
from bot.domain.worklists import CaseLine, DueFollowUp, WaitingApproval
from bot.ids import Action


def _link(row: CaseLine) -> str:
    ref = row.reference
    if row.channel_id and row.message_ts:
        ts = row.message_ts.replace(".", "")
        return f"<https://slack.com/archives/{row.channel_id}/p{ts}|{ref}>"
    return ref


def _against(this: float | None, last: float | None, shown: Callable[[float], str]) -> str:
    if this is None:
        return "–"
    return shown(this) + (f" (last week {shown(last)})" if last is not None else "")


def _percent(value: float) -> str:
    return f"{value:.0%}"


def leadership(week: WeekSoFar, style: Style, on_time_goal: int) -> list[Block]:
    """The week's picture so far, from the digest's own figures: headlines against the same
    stretch of last week, whose follow-ups are overdue, and the oldest open cases."""
    this, last = week.this, week.last

    def count(n: float) -> str:
        return f"{int(n)}"

    def amount(n: float) -> str:
        return style.amount(int(n))

    blocks: list[Block] = [
        section(f"*This week so far* (since {date(week.since)}), against the same part of "
                "last week"),
        fields(("Cases opened", _against(this.opened, last.opened, count)),
               ("Resolved", _against(this.resolved, last.resolved, count)),
               ("Median time to recover", _against(this.median_recovery_s,
                                                   last.median_recovery_s, describe_short)),
               ("Compensation given", _against(this.compensation_minor,
                                               last.compensation_minor, amount)),
               (f"Follow-ups on time (goal {on_time_goal}%)",
                _against(this.on_time_rate, last.on_time_rate, _percent)),
               ("Recovered at follow-up", _against(this.recovery_rate, last.recovery_rate,
                                                   _percent))),
    ]
    overdue = this.overdue_by_manager
    blocks.append(section("*Overdue follow-ups* " + (
        ", ".join(f"{mention(c.name)} {c.count}" for c in overdue[:15]) if overdue
        else "none: every customer due a follow-up has had one.")))
    oldest = this.oldest_open
    blocks.append(section("*Oldest open cases*\n" + ("\n".join(
        f"• {case_reference(c.case_id)} · {mrkdwn(c.customer, 100)} · opened {date(c.at)}"
        + (f" · {mention(c.person)}" if c.person else "") for c in oldest)
        if oldest else "None open.")))
    return blocks


def home(*, is_manager: bool, cases: Sequence[CaseLine],
         approvals: Sequence[WaitingApproval], follow_ups: Sequence[DueFollowUp],
         style: Style, week: list[Block] | None = None) -> dict[str, Any]:
    """`approvals`: those this manager may decide (never their own requests); `week`: the
    leadership section, for those who lead."""
    blocks: list[Block] = [
        header("Amends: put it right"),
        section("When a customer has been let down, type `/recover` in any channel (or press "
                "the button) and Amends walks you through the apology, the fix and the "
                "compensation."),
        actions(button("New case", Action.OPEN_CASE, "home", style="primary")),
        *([divider(), *week] if week else []),
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
