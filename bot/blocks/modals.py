"""The modals: opening a case and each decision that needs more than a click."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    PlainTextInputElement,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks.base import actions, button, context, metadata, option, section
from bot.blocks.case_messages import Style
from bot.blocks.text import channel_mention, cut, date, escape, mention, mrkdwn, plain, quote
from bot.domain import intake, limits
from bot.domain.lifecycle import Case, Compensation, Reaction
from bot.domain.playbook import CompensationOption, CompensationType, Playbook, cause_id
from bot.domain.playbook_library import PlaybookLibrary
from bot.domain.timeline import Entry, pages
from bot.ids import Action, Field
from bot.ids import View as ViewId
from bot.values import MessageRef, TimelinePage

VALUE = "value"  # the action_id of every input: values are keyed by block_id (Field)
MAX_VIEW_BLOCKS = 100
# Each text input's limit. Slack enforces max_length in its own forms, and the handlers check
# it again (a payload is untrusted input), so what is accepted always fits its column.
MAX_LENGTH: dict[str, int] = {
    Field.CUSTOMER: limits.CUSTOMER_NAME, Field.CONTACT: limits.CONTACT,
    Field.WHAT_HAPPENED: limits.SUMMARY, Field.ORDER_REF: limits.ORDER_REF,
    Field.LOCATION: limits.LOCATION, Field.PURCHASE: limits.PURCHASE_TEXT,
    Field.COMP_LABEL: limits.COMPENSATION_LABEL, Field.AMOUNT: limits.AMOUNT_TEXT,
    Field.REASON: limits.REASON, Field.ACTION_TAKEN: limits.ACTION_TAKEN,
    Field.NOTES: limits.NOTES,
}


def _view(callback_id: ViewId, title: str, submit: str, blocks: list[Block],
          meta: dict[str, Any]) -> dict[str, Any]:
    if len(blocks) > MAX_VIEW_BLOCKS:
        raise ValueError("a modal may have at most 100 blocks")
    return View(type="modal", callback_id=callback_id, title=plain(title, 24),
                submit=plain(submit, 24), close="Cancel", blocks=blocks,
                private_metadata=metadata(**meta)).to_dict()


def _text(block: str, label: str, *, optional: bool = False, multiline: bool = False,
          initial: str | None = None, hint: str | None = None,
          placeholder: str | None = None) -> InputBlock:
    max_length = MAX_LENGTH[block]
    element = PlainTextInputElement(
        action_id=VALUE, multiline=multiline or None, max_length=max_length,
        initial_value=(initial or "")[:max_length] or None,
        placeholder=plain(placeholder, 150) if placeholder else None)
    return InputBlock(block_id=block, label=plain(label, 2000), element=element,
                      optional=optional or None, hint=plain(hint, 2000) if hint else None)


def _select(block: str, label: str, choices: list[tuple[str, str]], *,
            initial: str | None = None, dispatch: bool = False,
            action_id: str = VALUE, hint: str | None = None) -> InputBlock:
    options = [option(text, value) for text, value in choices[:100]]
    chosen = next((o for o in options if o.value == initial), None)
    element = StaticSelectElement(action_id=action_id, placeholder="Choose…", options=options,
                                  initial_option=chosen)
    return InputBlock(block_id=block, label=plain(label, 2000), element=element,
                      dispatch_action=dispatch or None, hint=plain(hint, 2000) if hint else None)


def severity_block_id(playbook_id: str) -> str:
    # Tied to the playbook, so switching playbooks never keeps a severity it doesn't have.
    return f"{Field.SEVERITY}:{playbook_id}"


def new_case(library: PlaybookLibrary, *, chosen: Playbook | None, text: str, channel: str,
             unmatched: bool, style: Style, source: MessageRef | None = None
             ) -> dict[str, Any]:
    """The new-case form. Its blocks (validated by slack_sdk's models) are built once per
    playbook chosen; what the person typed and where they typed it are filled into a copy.
    Building and validating the whole form for every `/recover` was most of its cost.
    `source`: the message the form was opened from (the shortcut), kept with the case."""
    view = copy.deepcopy(_new_case_form(library, chosen.id if chosen else None,
                                        style.currency))
    reference = intake.order_reference(text) if text else None
    for block in view["blocks"]:
        if block.get("block_id") == Field.WHAT_HAPPENED and text:
            block["element"]["initial_value"] = text[:MAX_LENGTH[Field.WHAT_HAPPENED]]
        if block.get("block_id") == Field.ORDER_REF and reference:
            block["element"]["initial_value"] = reference[:MAX_LENGTH[Field.ORDER_REF]]
    if unmatched and text:
        view["blocks"].insert(0, context(
            f"No playbook matched “{mrkdwn(text, 200)}”: pick the closest one below.").to_dict())
    if source is not None:
        author = f" by {mention(source.author)}" if source.author else ""
        view["blocks"].insert(0, context(
            f"From a message{author} in {channel_mention(source.channel)}: the case will "
            "link back to it.").to_dict())
        view["private_metadata"] = metadata(channel=channel, source=source.encode())
    else:
        view["private_metadata"] = metadata(channel=channel)
    return view


@lru_cache(maxsize=64)
def _new_case_form(library: PlaybookLibrary, chosen: str | None, currency: str
                   ) -> dict[str, Any]:
    playbook = library.get(chosen) if chosen else None
    blocks: list[Block] = [
        _text(Field.CUSTOMER, "Customer's name", placeholder="e.g. Sam Taylor"),
        _text(Field.CONTACT, "Contact", optional=True,
              hint="Phone or email, so a manager can follow up in person. It also shows when "
                   "the same customer comes back."),
        _text(Field.WHAT_HAPPENED, "What happened", multiline=True,
              placeholder="What went wrong, in a sentence or two"),
        _select(Field.PLAYBOOK, "Playbook", [(p.title, p.id) for p in library.all()],
                initial=chosen, dispatch=True, action_id=Action.PLAYBOOK_PICKED,
                hint="Suggested from what you typed; change it if another fits better."),
    ]
    if playbook is not None:
        blocks.append(_select(severity_block_id(playbook.id), "How bad is it?",
                              [(f"{s.key}: {s.description}", s.key)
                               for s in playbook.severities]))
    blocks += [
        _text(Field.ORDER_REF, "Order or booking reference", optional=True),
        _text(Field.LOCATION, "Location", optional=True,
              placeholder="Branch, site or team"),
        _text(Field.PURCHASE, f"Purchase value ({currency})", optional=True,
              hint="Lets Amends work out percentage options and the compensation ceiling."),
    ]
    return _view(ViewId.NEW_CASE, "Recover a customer", "Open case", blocks, {"channel": ""})


def custom_compensation(case: Case, style: Style, preset: CompensationOption | None,
                        amount_minor: int | None) -> dict[str, Any]:
    types = [(t.label.capitalize(), t.value) for t in CompensationType]
    blocks: list[Block] = [
        section(f"Compensation for {escape(case.customer.name)} ({case.reference}). Up to "
                f"{style.amount(style.staff_limit_minor)} is approved at once; above that a "
                "manager decides."),
        _select(Field.COMP_TYPE, "Type", types, initial=preset.type.value if preset else None),
        _text(Field.COMP_LABEL, "What the customer gets", initial=preset.label if preset else None),
        _text(Field.AMOUNT, f"Value ({style.currency})",
              initial=_plain_amount(amount_minor, style) if amount_minor is not None else None,
              placeholder="e.g. 12.50"),
    ]
    return _view(ViewId.CUSTOM_COMPENSATION, "Compensation", "Give", blocks,
                 {"case": case.id, "option": preset.key if preset else None})


def _plain_amount(minor: int, style: Style) -> str:
    return style.amount(minor).lstrip("$£€¥").replace(",", "").split(" ")[-1]


def deny(case: Case, comp: Compensation, style: Style) -> dict[str, Any]:
    blocks: list[Block] = [
        section(f"Deny {style.amount(comp.amount_minor)} ({escape(comp.label)}) on "
                f"{case.reference}? The requester sees your reason."),
        _text(Field.REASON, "Reason", multiline=True,
              placeholder="e.g. A voucher fits better than a full refund here"),
    ]
    return _view(ViewId.DENY, "Deny compensation", "Deny", blocks,
                 {"case": case.id, "number": comp.number})


def resolve(case: Case, playbook: Playbook, manager: str | None,
            managers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """`managers`: (user id, name) of who may follow up, offered by name; without a list
    (no managers configured) any person in the workspace can be picked."""
    reactions = [(r.label, r.value) for r in Reaction]
    hint = (f"{playbook.follow_up.who} is asked to talk to the customer within the "
            "follow-up window.")
    picker: Block
    if managers:
        picker = _select(Field.MANAGER, "Manager to follow up in person",
                         [(name or user, user) for user, name in managers], initial=manager,
                         hint=hint)
    else:
        picker = InputBlock(block_id=Field.MANAGER, label="Manager to follow up in person",
                            element=UserSelectElement(action_id=VALUE, initial_user=manager,
                                                      placeholder="Choose a manager"),
                            hint=plain(hint, 2000))
    blocks: list[Block] = []
    unfinished = _unfinished(case, playbook)
    if unfinished:
        blocks.append(context(f"⚠️ *Before you resolve:* {unfinished}. You can still resolve "
                              "if it wasn't needed; the manager following up will see it."))
    blocks += [
        _select(Field.REACTION, "How did the customer leave?", reactions),
        _select(Field.ROOT_CAUSE, "Root cause", [(c, cause_id(c)) for c in playbook.causes],
                hint="What really went wrong, so the weekly digest shows what keeps happening."),
        _text(Field.ACTION_TAKEN, "Action taken", multiline=True,
              placeholder="What you did to put it right"),
        _text(Field.NOTES, "Notes", optional=True, multiline=True),
        picker,
    ]
    return _view(ViewId.RESOLVE, "Resolve case", "Resolve", blocks, {"case": case.id})


def _unfinished(case: Case, playbook: Playbook) -> str:
    """What the walkthrough still shows as not done, in words; empty when all is done."""
    parts = []
    if case.apology_given_at is None:
        parts.append("no apology is recorded")
    undone = len(playbook.fix) - len(case.steps_done)
    if undone > 0:
        parts.append(f"{undone} of {len(playbook.fix)} fix steps aren't ticked")
    return " and ".join(parts)


def follow_up(case: Case, number: int) -> dict[str, Any]:
    reactions = [(r.label, r.value) for r in Reaction]
    blocks: list[Block] = [
        section(f"How did {escape(case.customer.name)} feel when you talked to them? "
                "Still unhappy reopens the case for the staff member who opened it."),
        _select(Field.REACTION, "The customer now feels", reactions),
        _text(Field.NOTES, "Note", optional=True, multiline=True),
    ]
    return _view(ViewId.FOLLOW_UP, "Follow-up", "Save", blocks,
                 {"case": case.id, "number": number})


def summary(case: Case) -> dict[str, Any]:
    """The whole of "What happened", read-only (no submit button)."""
    text = escape(case.summary)
    chunks = [text[i:i + 2900] for i in range(0, len(text), 2900)] or ["-"]
    blocks: list[Block] = [section(f"*{case.reference}* · {escape(case.customer.name)}")]
    blocks += [section(chunk) for chunk in chunks[:MAX_VIEW_BLOCKS - 1]]
    return View(type="modal", callback_id=ViewId.SUMMARY, title=plain("What happened", 24),
                close="Close", blocks=blocks,
                private_metadata=metadata(case=case.id)).to_dict()


def cancel(case: Case) -> dict[str, Any]:
    blocks: list[Block] = [
        section(f"Cancel {case.reference} for {escape(case.customer.name)}? Use this for a "
                "case opened by mistake; a recovery that's done should be resolved instead."),
        _text(Field.REASON, "Why cancel it?"),
    ]
    return _view(ViewId.CANCEL, "Cancel case", "Cancel case", blocks, {"case": case.id})


def values(view: dict[str, Any]) -> dict[str, str | None]:
    """A submitted view's inputs by block_id: text, the selected option, or the user.

    The payload is untrusted: anything not shaped as Slack sends it reads as empty, which
    the handlers then report as a missing field.
    """
    out: dict[str, str | None] = {}
    state_values = (view.get("state") or {}).get("values") if isinstance(view, dict) else None
    if not isinstance(state_values, dict):
        return out
    for block_id, inputs in state_values.items():
        if not isinstance(inputs, dict):
            continue
        for state in inputs.values():
            if not isinstance(state, dict):
                continue
            if "selected_option" in state:
                selected = state["selected_option"]
                value = selected.get("value") if isinstance(selected, dict) else None
            elif "selected_user" in state:
                value = state["selected_user"]
            else:
                value = state.get("value")
            out[str(block_id)] = value.strip() if isinstance(value, str) else None
    return out


def too_long(submitted: dict[str, str | None]) -> dict[str, str]:
    """Inline errors for values longer than their field allows (Slack's own check, again)."""
    return {field: f"At most {limit:,} characters, please (this is {len(text):,})."
            for field, limit in MAX_LENGTH.items()
            if (text := submitted.get(field)) is not None and len(text) > limit}


def timeline(case: Case, total: int, page: int, entries: list[Entry]) -> dict[str, Any]:
    """The case's History, read-only: who did what and when, a page of events at a time,
    oldest first, with Earlier and Later to move through it."""
    last = pages(total)
    blocks: list[Block] = [section(f"*{case.reference}* · {escape(case.customer.name)} · "
                                   f"{total} event{'s' if total != 1 else ''}")]
    for item in entries:
        text = f"{date(item.at)} · {mention(item.actor)} {escape(item.what)}"
        if item.detail:
            text += "\n" + quote(mrkdwn(item.detail, 600))
        blocks.append(section(cut(text, 3000)))
    if last > 1:
        moves = ([button("‹ Earlier", Action.TIMELINE_PAGE.with_suffix("earlier"),
                         TimelinePage(case.id or 0, page - 1).encode())] if page > 1 else []) \
            + ([button("Later ›", Action.TIMELINE_PAGE.with_suffix("later"),
                       TimelinePage(case.id or 0, page + 1).encode())] if page < last else [])
        blocks.append(context(f"Page {page} of {last}"))
        blocks.append(actions(*moves))
    return View(type="modal", callback_id=ViewId.TIMELINE, title=plain("History", 24),
                close="Close", blocks=blocks,
                private_metadata=metadata(case=case.id, page=page)).to_dict()
