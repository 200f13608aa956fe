"""The messages of a case: the card heading its thread and the walkthrough inside it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from jinja2.exceptions import TemplateError
from slack_sdk.models.blocks import Block, StaticSelectElement

from bot.blocks.base import (
    Message,
    actions,
    button,
    context,
    divider,
    fields,
    header,
    message,
    option,
    section,
)
from bot.blocks.text import channel_mention, cut, date, escape, mention, mrkdwn, quote, shorten
from bot.domain import money, templates
from bot.domain.durations import describe
from bot.domain.history import CustomerHistory
from bot.domain.lifecycle import (
    Case,
    CaseState,
    Compensation,
    CompensationStatus,
    FollowUp,
    Reaction,
)
from bot.domain.playbook import Playbook
from bot.domain.survey import QUESTION, Survey
from bot.ids import Action
from bot.values import CaseRef, CompensationRef, FollowUpRef, OptionPick, Snooze, StepTick

log = logging.getLogger("amends.blocks")


@dataclass(frozen=True)
class Style:
    """What the builders need to know about the installation."""

    currency: str
    staff_limit_minor: int
    timezone: ZoneInfo

    def amount(self, minor: int) -> str:
        return money.format_amount(minor, self.currency)


def _ref(case: Case) -> str:
    return case.reference


def _customer(case: Case) -> str:
    return mrkdwn(case.customer.name, 200)


SUMMARY_SHOWN = 400  # characters of "What happened" on the card


def history_text(history: CustomerHistory, title: Callable[[str], str]) -> str:
    """The customer's earlier cases: how many in a year, and the latest few."""
    count = history.count
    head = ("🔁 *Repeat customer* · " if history.repeat else "") + \
        f"*Earlier cases:* {count} in the last 12 months"
    lines = [head]
    for past in history.recent:
        given = (money.format_amount(past.given_minor, past.currency) + " given"
                 if past.given_minor else "nothing given")
        lines.append(f"• {past.reference} {escape(title(past.playbook_id))}, "
                     f"{date(past.opened_at)}: {given}, {escape(past.left)}")
    return "\n".join(lines)


def case_card(case: Case, playbook: Playbook, style: Style,
              history: CustomerHistory | None = None,
              title: Callable[[str], str] = str) -> Message:
    """The message that heads the case's thread: who, what, and where it stands, and the
    customer's earlier cases (`title` names a playbook from its id)."""
    facts = [("Customer", _customer(case) + (f"\n{mrkdwn(case.customer.contact, 200)}"
                                             if case.customer.contact else "")),
             ("Playbook", f"{escape(playbook.title)} ({escape(case.severity)})"),
             ("Status", _status(case, style)),
             ("Opened by", f"{mention(case.opened_by)} {date(case.opened_at)}")]
    if case.order_ref:
        facts.append(("Order", mrkdwn(case.order_ref, 100)))
    if case.location:
        facts.append(("Location", mrkdwn(case.location, 100)))
    if case.purchase_minor is not None:
        facts.append(("Purchase", style.amount(case.purchase_minor)))
    if case.source is not None:  # opened from a message: a link back to it
        where = channel_mention(case.source.channel)
        facts.append(("From", f"<{case.source.link}|a message> in {where}"
                      if case.source.link else f"a message in {where}"))
    # Reopened: the customer was still unhappy when a manager followed up.
    reopened = [f.done_at for f in case.follow_ups
                if f.reaction is Reaction.STILL_UNHAPPY and f.done_at is not None]
    if reopened:
        facts.append(("Reopened", date(reopened[-1])
                      + (f" ({len(reopened)} times)" if len(reopened) > 1 else "")))
    # What happened, at a length that reads at a glance; all of it is one click away.
    summary = section(f"*What happened*\n{quote(shorten(escape(case.summary), SUMMARY_SHOWN))}",
                      accessory=button("Read all", Action.SHOW_SUMMARY,
                                       CaseRef(case.id or 0).encode())
                      if len(escape(case.summary)) > SUMMARY_SHOWN else None)
    blocks = [header(f"{_ref(case)} · {playbook.title}"), fields(*facts), summary]
    if history is not None and not history.empty:
        blocks.append(section(history_text(history, title)))
    blocks.append(context(_progress(case, playbook, style)))
    ref = CaseRef(case.id or 0).encode()
    timeline = button("History", Action.SHOW_TIMELINE, ref)
    if case.state in (CaseState.OPENED, CaseState.APOLOGISED, CaseState.FIXING):
        blocks.append(actions(
            button("Mark resolved", Action.RESOLVE, ref, style="primary"),
            button("Cancel case", Action.CANCEL, ref), timeline))
    else:
        if case.state is CaseState.AWAITING_APPROVAL:
            blocks.append(context("Waiting for a manager to decide on the compensation."))
        blocks.append(actions(timeline))
    fallback = f"{_ref(case)} {playbook.title}: {escape(case.customer.name)} ({case.state.label})"
    return message(fallback, blocks)


CLOSED_STATUS = "Closed: the customer was followed up"  # a closed case's status on its card


def _status(case: Case, style: Style) -> str:
    if case.state is CaseState.FOLLOW_UP_DUE and case.open_follow_up:
        follow_up = case.open_follow_up
        return (f"Resolved; {mention(follow_up.manager)} follows up by "
                f"{date(follow_up.due_at)}")
    if case.state is CaseState.CLOSED:
        return CLOSED_STATUS
    return case.state.label.capitalize()


def _progress(case: Case, playbook: Playbook, style: Style) -> str:
    apology = "Apology ✓" if case.apology_given_at else "Apology –"
    fix = f"Fix {len(case.steps_done)}/{len(playbook.fix)}"
    given = style.amount(case.approved_minor)
    parts = [apology, fix, f"Compensation {given}"]
    if case.time_to_recover is not None:
        parts.append(f"Recovered in {describe_short(case.time_to_recover.total_seconds())}")
    return " · ".join(parts)


def describe_short(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 90:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def apology(case: Case, playbook: Playbook, staff_name: str) -> Message:
    guide = playbook.apology
    try:
        wording = templates.render(guide.wording, {
            "customer_name": case.customer.name, "staff_name": staff_name,
            "what_happened": case.summary, "order_ref": case.order_ref,
            "location": case.location, "severity": case.severity})
    except TemplateError as exc:  # over the render budget for this customer's details
        log.warning("suggested wording not rendered for %s: %s", case.reference, exc)
        wording = "(No suggested wording for this case: say it in your own words.)"
    blocks: list[Block] = [section(f"*1. Apology* — say sorry first, in your own words\n"
                      f"{escape(guide.guidance)}")]
    # Labelled as well as marked: where emoji don't render, Do and Don't still differ.
    points = (["*Do*\n" + "\n".join(f"✅ {escape(p)}" for p in guide.do)] if guide.do
              else []) + (["*Don't*\n" + "\n".join(f"🚫 {escape(p)}" for p in guide.dont)]
                          if guide.dont else [])
    if points:
        blocks.append(section("\n".join(points)))
    blocks.append(section("*A starting point* (adapt it; don't read it out)\n"
                          + quote(mrkdwn(wording, 2700))))
    if case.apology_given_at is None:
        if case.state.is_open:
            blocks.append(actions(button("Apology given", Action.APOLOGY_GIVEN,
                                         CaseRef(case.id or 0).encode(), style="primary")))
    else:
        blocks.append(context(f"✓ Apology recorded {date(case.apology_given_at)}"))
    return message(f"{_ref(case)}: apology", blocks)


def fix(case: Case, playbook: Playbook) -> Message:
    done = len(case.steps_done)
    blocks: list[Block] = [section(f"*2. Fix* — {done} of {len(playbook.fix)} done")]
    can_change = case.state.is_open
    for index, step in enumerate(playbook.fix):
        ticked = index in case.steps_done
        extra = ", ".join(x for x in (step.who and escape(step.who),
                                      step.within and f"within {describe(step.within)}") if x)
        text = f"{'✅' if ticked else '⬜'} {index + 1}. {escape(step.text)}"
        if extra:
            text += f"  _({extra})_"
        accessory = button("Undo" if ticked else "Done", Action.FIX_STEP.with_suffix(index),
                           StepTick(case.id or 0, index, not ticked).encode()
                           ) if can_change else None
        blocks.append(section(text, accessory=accessory))
    return message(f"{_ref(case)}: fix checklist, {done} of {len(playbook.fix)} done", blocks)


def compensation(case: Case, playbook: Playbook, style: Style,
                 history: CustomerHistory | None = None) -> Message:
    limit = style.amount(style.staff_limit_minor)
    intro = (f"*3. Compensation* for a *{escape(case.severity)}* case — make it fit the "
             f"failure. Up to {limit} is yours to give; above that a manager approves.")
    if history is not None and history.repeat:
        latest = history.recent[0]
        intro += (f"\n🔁 *Repeat customer:* we let them down before, {latest.reference} "
                  f"{date(latest.opened_at)}. A second failure deserves more care: think "
                  "about a higher tier, and tell them you know it has happened before.")
    ceiling = playbook.ceiling_minor(case.purchase_minor)
    if ceiling is not None:
        intro += (f"\nCeiling for this case: {style.amount(ceiling)} "
                  f"({playbook.ceiling_percent}% of the purchase)")
    blocks: list[Block] = [section(intro)]
    can_give = case.state in (CaseState.OPENED, CaseState.APOLOGISED, CaseState.FIXING)
    for choice in playbook.options_for(case.severity):
        amount = choice.amount_minor(currency=style.currency,
                                     purchase_minor=case.purchase_minor)
        if amount is None:
            shown = f"{choice.percent}% of the purchase (enter the amount)"
        else:
            shown = style.amount(amount)
            if amount > style.staff_limit_minor:
                shown += " · needs approval"
        accessory = button("Give" if amount is not None and amount <= style.staff_limit_minor
                           else "Request", Action.COMPENSATION_OPTION.with_suffix(choice.key),
                           OptionPick(case.id or 0, choice.key).encode()) if can_give else None
        blocks.append(section(f"*{escape(choice.label)}*\n{choice.type.label} · {shown}",
                              accessory=accessory))
    if can_give:
        blocks.append(actions(button("Other amount…", Action.COMPENSATION_CUSTOM,
                                            CaseRef(case.id or 0).encode())))
    if case.compensations:
        blocks.append(divider())
        blocks.append(section("\n".join(_compensation_line(c, style)
                                        for c in case.compensations[-15:])))
    return message(f"{_ref(case)}: compensation options", blocks)


def _compensation_line(comp: Compensation, style: Style) -> str:
    what = f"{style.amount(comp.amount_minor)} {comp.type.label}: {escape(comp.label)}"
    if comp.status is CompensationStatus.APPROVED:
        how = "within the staff limit" if comp.auto_approved else \
            f"approved by {mention(comp.decided_by)}"
        return f"✅ {what} — {how}"
    if comp.status is CompensationStatus.PENDING:
        return f"⏳ {what} — waiting for a manager"
    reason = f": {mrkdwn(comp.reason, 300)}" if comp.reason else ""
    return f"✖️ {what} — denied by {mention(comp.decided_by)}{reason}"


def approval_request(case: Case, comp: Compensation, style: Style, who: str, *,
                     level: str | None = None, endorsable: bool = False,
                     own_limit_minor: int | None = None) -> Message:
    """Asks the managers (`who`: their mentions) to decide, in the case thread; with a
    ladder, names the `level` asked and shows who endorsed it on the way up. A requester
    with a raised limit of their own is shown that limit, not the staff one."""
    asked = f"*Approval needed from {escape(level)}*" if level else "*Approval needed*"
    over = (f"over their own limit of {style.amount(own_limit_minor)}"
            if own_limit_minor is not None
            else f"over the staff limit of {style.amount(style.staff_limit_minor)}")
    text = (f"{who} {asked} on {_ref(case)} ({_customer(case)}): "
            f"{mention(comp.requested_by)} asks to give *{style.amount(comp.amount_minor)}* "
            f"({comp.type.label}: {escape(comp.label)}), {over}.")
    value = CompensationRef(case.id or 0, comp.number).encode()
    buttons = [button("Approve", Action.APPROVE, value, style="primary"),
               button("Deny", Action.DENY, value, style="danger")]
    if endorsable:
        buttons.append(button("Endorse and pass up", Action.ENDORSE, value))
    blocks: list[Block] = [section(text)]
    chain = endorsement_chain(comp)
    if chain:
        blocks.append(context(chain))
    blocks.append(actions(*buttons))
    return message(f"Approval needed on {_ref(case)}: {style.amount(comp.amount_minor)}", blocks)


def endorsement_chain(comp: Compensation) -> str:
    """Who passed the request up, in order: "⬆️ Endorsed by @A (Shift managers) → @B (…)"."""
    links = [f"{mention(e.by)} ({escape(e.level)}) {date(e.at)}"
             for e in comp.endorsements[:10]]
    return ("⬆️ Endorsed by " + " → ".join(links)) if links else ""


def endorsed_note(case: Case, comp: Compensation, style: Style, *, by: str, who: str,
                  level: str | None) -> Message:
    to = f" to {escape(level)}" if level else ""
    return thread_note(
        f"⬆️ {mention(by)} endorsed {style.amount(comp.amount_minor)} for "
        f"{_customer(case)} and passed it up{to}: {who} please approve or deny it above.",
        f"{_ref(case)}: compensation endorsed and passed up")


def approval_decided(case: Case, comp: Compensation, style: Style) -> Message:
    what = (f"{style.amount(comp.amount_minor)} ({comp.type.label}: {escape(comp.label)}) "
            f"for {_customer(case)} on {_ref(case)}, asked by {mention(comp.requested_by)}")
    if comp.status is CompensationStatus.APPROVED:
        outcome = f"✅ *Approved* by {mention(comp.decided_by)}"
    else:
        reason = f"\n>{mrkdwn(comp.reason, 500)}" if comp.reason else ""
        outcome = f"✖️ *Denied* by {mention(comp.decided_by)}{reason}"
    when = date(comp.decided_at) if comp.decided_at else ""
    blocks: list[Block] = [section(f"{outcome} {when}\n{what}")]
    chain = endorsement_chain(comp)
    if chain:
        blocks.append(context(chain))
    return message(f"{_ref(case)}: compensation {comp.status.value}", blocks)


def decision_notice(case: Case, comp: Compensation, style: Style) -> Message:
    verb = "approved" if comp.status is CompensationStatus.APPROVED else "denied"
    text = (f"{mention(comp.requested_by)} your request to give "
            f"{style.amount(comp.amount_minor)} on {_ref(case)} was *{verb}* by "
            f"{mention(comp.decided_by)}.")
    if comp.status is CompensationStatus.DENIED and comp.reason:
        text += f"\n>{mrkdwn(comp.reason, 500)}"
    return message(f"Compensation {verb} on {_ref(case)}", [section(text)])


def thread_note(text: str, fallback: str) -> Message:
    return message(fallback, [section(text)])


def resolved_note(case: Case, *, by: str, manager: str, seconds: float) -> Message:
    return thread_note(f"✅ Resolved by {mention(by)} in {describe_short(seconds)}. "
                       f"{mention(manager)} will follow up with the customer in person.",
                       f"{_ref(case)} resolved")


def follow_up_note(case: Case, follow_up: FollowUp, *, by: str) -> Message:
    """The follow-up told in the thread: closed, or reopened when still unhappy."""
    if follow_up.reaction is not Reaction.STILL_UNHAPPY:
        felt = follow_up.reaction.label.lower() if follow_up.reaction else ""
        return thread_note(f"🤝 {mention(by)} followed up in person: the customer feels "
                           f"*{felt}*. {_ref(case)} is closed.", f"{_ref(case)} closed")
    quoted = f"\n>{mrkdwn(follow_up.note, 500)}" if follow_up.note else ""
    return thread_note(f"{mention(case.opened_by)} the customer is *still unhappy* after "
                       f"{mention(by)}'s follow-up, so {_ref(case)} is reopened. Please pick "
                       f"it up again.{quoted}", f"{_ref(case)} reopened")


@dataclass(frozen=True)
class SurveyLink:
    """A case's survey as its messages show it, with the link a manager may send."""

    survey: Survey
    url: str
    expired: bool = False


def survey_note(case: Case, survey: Survey, *, reopened: bool) -> Message:
    """The customer's answer told in the thread; a low one names who must act."""
    answer = survey.answer
    if answer is None:
        raise ValueError(f"survey {survey.id} has no answer")
    said = f"the customer answered “{QUESTION}” with *{answer.label}*"
    quoted = "\n" + quote(mrkdwn(answer.comment, 500)) if answer.comment else ""
    manager = case.follow_ups[-1].manager if case.follow_ups else case.manager
    if not answer.low:
        return thread_note(f"📝 On {_ref(case)}, {said}.{quoted}",
                           f"{_ref(case)}: the customer answered {answer.label}")
    people = " ".join(mention(u) for u in dict.fromkeys(
        u for u in (case.opened_by, manager) if u))
    if reopened:
        then = f"so {_ref(case)} is reopened. Please pick it up again."
    elif case.state is CaseState.FOLLOW_UP_DUE:
        then = "and the follow-up in person is still due: hear them out."
    else:
        then = "please look at it again."
    return thread_note(f"{people} {said}, {then}{quoted}",
                       f"{_ref(case)}: the customer answered {answer.label}")


def _survey_text(link: SurveyLink) -> str:
    answer = link.survey.answer
    if answer is not None:
        words = "\n" + quote(mrkdwn(answer.comment, 500)) if answer.comment else ""
        return f"*The customer answered “{QUESTION}”:* {answer.label}{words}"
    if link.expired:
        return f"*Survey:* the link expired on {date(link.survey.expires_at)} unanswered."
    return (f"*Ask the customer: {QUESTION}* Send them this link in your own words; it "
            f"works once, until {date(link.survey.expires_at)}:\n<{link.url}>")


def cancelled_note(case: Case, *, by: str, reason: str) -> Message:
    return thread_note(f"Cancelled by {mention(by)}: {mrkdwn(reason, 300)}",
                       f"{_ref(case)} cancelled")


def follow_up_dm(case: Case, playbook: Playbook, follow_up: FollowUp, style: Style,
                 history: CustomerHistory | None = None,
                 title: Callable[[str], str] = str, survey: SurveyLink | None = None
                 ) -> Message:
    """The manager's nudge to close the loop with the customer in person."""
    outcome = case.outcome
    given = [f"{style.amount(c.amount_minor)} {c.type.label} ({escape(c.label)})"
             for c in case.compensations if c.status is CompensationStatus.APPROVED]
    done = [escape(playbook.fix[i].text) for i in sorted(case.steps_done)
            if i < len(playbook.fix)]
    facts = [("Customer", _customer(case) + (f"\n{mrkdwn(case.customer.contact, 200)}"
                                             if case.customer.contact else "")),
             ("Due", date(follow_up.due_at))]
    if outcome:
        facts.append(("Customer felt", outcome.reaction.label))
        facts.append(("Root cause", escape(outcome.root_cause)))
    blocks = [header(f"Follow up in person: {case.reference}"),
              section(f"{mention(case.opened_by)} resolved {_ref(case)} "
                      f"({escape(playbook.title)}). Please talk to the customer yourself, "
                      f"by {date(follow_up.due_at)}: it tells them we care, and it shows "
                      "whether the recovery worked."),
              fields(*facts),
              section(f"*What happened*\n{quote(mrkdwn(case.summary, 1200))}")]
    skipped = [escape(step.text) for i, step in enumerate(playbook.fix)
               if i not in case.steps_done]
    did = []
    if outcome:
        did.append(f"*Action taken:* {mrkdwn(outcome.action_taken, 800)}")
        if outcome.notes:
            did.append(f"*Notes from {mention(case.opened_by)}:* {mrkdwn(outcome.notes, 800)}")
    if done:
        did.append("*Steps done:* " + cut("; ".join(done), 800))
    if skipped:  # resolved without them: the manager may want to ask why
        did.append("*Steps not ticked:* " + cut("; ".join(skipped), 600))
    if case.apology_given_at is None:
        did.append("*Apology:* none recorded")
    did.append("*Given:* " + ("; ".join(given) if given else "no compensation"))
    blocks.append(section("\n".join(did)))
    if history is not None and not history.empty:
        blocks.append(section(history_text(history, title)))
    if playbook.follow_up.talking_points:
        blocks.append(section("*Talking points*\n" + "\n".join(
            f"• {escape(p)}" for p in playbook.follow_up.talking_points)))
    value = FollowUpRef(case.id or 0, follow_up.number).encode()
    if follow_up.done_at is None:
        snooze = StaticSelectElement(
            placeholder="Snooze", action_id=Action.SNOOZE,
            options=[option(label, Snooze(case.id or 0, follow_up.number, hours).encode())
                     for label, hours in (("Snooze 4 hours", 4), ("Snooze 1 day", 24),
                                          ("Snooze 2 days", 48))])
        blocks.append(actions(button("Followed up", Action.FOLLOWED_UP, value, style="primary"),
                              snooze))
        if follow_up.snoozed_until:
            blocks.append(context(f"Snoozed until {date(follow_up.snoozed_until)}"))
    else:
        felt = follow_up.reaction.label if follow_up.reaction else ""
        note = f": {mrkdwn(follow_up.note, 500)}" if follow_up.note else ""
        blocks.append(context(f"✓ Followed up by {mention(follow_up.done_by)} "
                              f"{date(follow_up.done_at)}. Customer: {felt}{note}"))
    if survey is not None:
        blocks.append(section(_survey_text(survey)))
    return message(f"Follow up in person with {escape(case.customer.name)} ({_ref(case)}) by "
                   f"{follow_up.due_at.astimezone(style.timezone):%a %d %b %H:%M}", blocks)
