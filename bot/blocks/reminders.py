"""Messages for reminders, escalations, nudges and hotspot alerts."""

from __future__ import annotations

from datetime import datetime

from bot.blocks.base import Message, message, section
from bot.blocks.text import channel_mention, date, escape, mention, mrkdwn
from bot.domain.lifecycle import case_reference as _ref


def follow_up_reminder(*, case_id: int, customer: str, due: datetime, contact: str | None
                       ) -> Message:
    reach = f" ({mrkdwn(contact, 200)})" if contact else ""
    return message(f"Reminder: follow up with {escape(customer)} ({_ref(case_id)})", [section(
        f"⏰ *Reminder:* please follow up in person with {mrkdwn(customer, 200)}{reach} on "
        f"{_ref(case_id)}; it was due {date(due)}. Use *Followed up* on the earlier message "
        "once you have talked to them.")])


def follow_up_escalation(*, case_id: int, customer: str, manager: str, due: datetime,
                         escalate_to: str | None) -> Message:
    role = f" (the playbook escalates to: {escape(escalate_to)})" if escalate_to else ""
    return message(f"Follow-up overdue on {_ref(case_id)}", [section(
        f"🚩 *Follow-up overdue:* {mention(manager)} was due to follow up in person with "
        f"{mrkdwn(customer, 200)} on {_ref(case_id)} by {date(due)}, and hasn't yet{role}.")])


def approval_reminder(*, case_id: int, amount: str, requester: str, since: datetime,
                      managers: str) -> Message:
    return message(f"Approval still waiting on {_ref(case_id)}", [section(
        f"{managers} ⏰ the request to give *{amount}* on {_ref(case_id)}, asked by "
        f"{mention(requester)}, has been waiting since {date(since)}. The customer is "
        "waiting too: approve or deny above.")])


def approval_escalation(*, case_id: int, amount: str, requester: str, since: datetime,
                        approver: str | None, can_decide: bool) -> Message:
    """To the escalation contact, or leadership: only a manager's click decides, so anyone
    else is asked to get one to."""
    who = mention(approver) if approver else "Leadership:"
    ask = ("Please approve or deny it in the case thread." if can_decide else
           "Only a manager can decide: please get one to approve or deny it in the case "
           "thread.")
    return message(f"Approval needed on {_ref(case_id)}", [section(
        f"{who} 🚩 nobody has decided on *{amount}* for {_ref(case_id)} (asked by "
        f"{mention(requester)} {date(since)}). {ask}")])


def approval_passed_up(*, case_id: int, amount: str, requester: str, since: datetime,
                       who: str, level: str) -> Message:
    """An undecided request escalated one level up the ladder, in the thread it waits in."""
    return message(f"Approval escalated on {_ref(case_id)}", [section(
        f"{who} 🚩 nobody has decided on *{amount}* for {_ref(case_id)} (asked by "
        f"{mention(requester)} {date(since)}), so it goes up to *{escape(level)}*: please "
        "approve or deny it above.")])


def open_case_nudge(*, case_id: int, staff: str, opened: datetime) -> Message:
    return message(f"{_ref(case_id)} is still open", [section(
        f"{mention(staff)} {_ref(case_id)} has been open since {date(opened)}. If the customer "
        "is sorted, *Mark resolved* on the case card; if something is in the way, say so in "
        "this thread.")])


def hotspot(*, location: str, count: int, day: str) -> Message:
    return message(f"{count} cases at {escape(location)} today", [section(
        f"🔥 *{count} recovery cases at {mrkdwn(location, 100)} today* ({day}). Something may "
        "be going wrong there right now: worth a look before the end of the day.")])


def undelivered_card(*, case_id: int, channel: str | None, reason: str) -> Message:
    return message(f"Slack refused to post {_ref(case_id)}", [section(
        f"⚠️ *{_ref(case_id)} is saved, but Slack refused to post its case card* in "
        f"{channel_mention(channel)} ({escape(reason)}). Carry on from your Amends Home tab, and "
        "please tell whoever runs Amends so they can fix it.")])


def undelivered_approval(*, case_id: int, amount: str, reason: str) -> Message:
    return message(f"Your approval request on {_ref(case_id)} wasn't posted", [section(
        f"⚠️ *Your request to give {amount} on {_ref(case_id)} is saved, but Slack refused to "
        f"post it in the case thread* ({escape(reason)}). Managers see it on their Amends "
        "Home tab; you may want to ask one directly.")])


def chart_missing(*, week: str, reason: str) -> Message:
    scope = "missing_scope" in reason
    fix = ("Amends needs the `files:write` scope: add it from `manifest.yml` and reinstall "
           "the app, or set `AMENDS_DIGEST_CHART=off`." if scope else
           f"`amends digest preview --week {week} --chart chart.png` draws it.")
    return message("This digest's chart couldn't be shared", [section(
        f"📉 *The trend chart for this digest couldn't be shared* ({escape(reason[:300])}). The "
        f"figures above are complete. {fix}")])
