"""Modal submissions: validate, record, acknowledge, then tell Slack.

A bad field goes back as Slack's inline error (`response_action: errors`) with the modal
still open, so nothing typed is lost. The database is written before the acknowledgement
where a failure must keep the form open; Slack messages go out after it.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import effects as fx
from bot.blocks import case_messages, modals
from bot.blocks.text import mention, mrkdwn
from bot.domain import money
from bot.domain.errors import AlreadyDecided, DomainError
from bot.domain.lifecycle import Case, CaseState, Customer, EventKind, Outcome, Reaction
from bot.domain.playbook import CompensationType
from bot.ids import Field
from bot.ids import Message as Part
from bot.ids import View as ViewId
from bot.listeners.actions import decision_effects, give
from bot.listeners.common import Deps, meta
from bot.recovery import StorageUnavailable

Errors = dict[str, str]


def _reject(ack: Ack, errors: Errors) -> None:
    ack(response_action="errors", errors=errors)


def new_case(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient,
             deps: Deps) -> None:
    values = modals.values(view)
    user = body["user"]["id"]
    errors: Errors = {}
    customer = values.get(Field.CUSTOMER) or ""
    if not customer:
        errors[Field.CUSTOMER] = "Enter the customer's name (a first name is fine)."
    summary = values.get(Field.WHAT_HAPPENED) or ""
    if not summary:
        errors[Field.WHAT_HAPPENED] = "Say what went wrong, in a sentence or two."
    playbook = deps.library.get(values.get(Field.PLAYBOOK) or "")
    severity_block = modals.severity_block_id(playbook.id) if playbook else None
    severity = values.get(severity_block) if severity_block else None
    if playbook is None:
        errors[Field.PLAYBOOK] = "Pick the playbook that fits best."
    elif severity not in playbook.severity_keys:
        errors[severity_block or Field.PLAYBOOK] = "Pick how bad it is."
    purchase = None
    if values.get(Field.PURCHASE):
        try:
            purchase = money.parse_amount(values[Field.PURCHASE] or "", deps.style.currency)
        except ValueError as exc:
            errors[Field.PURCHASE] = f"{str(exc).capitalize()}."
    if errors:
        _reject(ack, errors)
        return
    assert playbook is not None and severity is not None
    channel = meta(view).get("channel") or ""
    try:
        deps.service.open_case(
            origin_key=view.get("id"), playbook_id=playbook.id, severity=severity,
            customer=Customer(name=customer, contact=values.get(Field.CONTACT) or None),
            summary=summary, opened_by=user, currency=deps.style.currency,
            order_ref=values.get(Field.ORDER_REF) or None,
            location=values.get(Field.LOCATION) or None, purchase_minor=purchase,
            effects=lambda c: [fx.start_thread(c.id or 0, channel, user),
                               fx.hotspot(c.location, c.opened_at.isoformat())])
    except StorageUnavailable:
        _reject(ack, {Field.CUSTOMER: "Amends can't reach its database right now, so the case "
                                      "isn't saved yet. Your entries are still here: submit "
                                      "again in a minute."})
        return
    ack()


def custom_compensation(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps
                        ) -> None:
    values, data = modals.values(view), meta(view)
    errors: Errors = {}
    try:
        kind = CompensationType(values.get(Field.COMP_TYPE) or "")
    except ValueError:
        errors[Field.COMP_TYPE] = "Pick a type."
    label = values.get(Field.COMP_LABEL) or ""
    if not label:
        errors[Field.COMP_LABEL] = "Say what the customer gets."
    amount = 0
    try:
        amount = money.parse_amount(values.get(Field.AMOUNT) or "", deps.style.currency)
    except ValueError as exc:
        errors[Field.AMOUNT] = f"{str(exc).capitalize()}."
    if errors:
        _reject(ack, errors)
        return
    try:
        give(deps, int(data["case"]), user=body["user"]["id"], type=kind, label=label,
             amount=amount, option_key=data.get("option"))
    except (DomainError, StorageUnavailable) as exc:  # over the ceiling, a request waiting…
        _reject(ack, {Field.AMOUNT: str(exc)})
        return
    ack()


def deny(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps) -> None:
    values, data = modals.values(view), meta(view)
    reason = values.get(Field.REASON) or ""
    if not reason:
        _reject(ack, {Field.REASON: "Say why, so the requester knows."})
        return
    try:
        deps.service.change(int(data["case"]), lambda c, ctx: c.decide_compensation(
            number=int(data["number"]), approve=False, actor=body["user"]["id"], at=ctx.now,
            policy=ctx.policy, reason=reason),
            actor=body["user"]["id"], action=EventKind.COMPENSATION_DENIED,
            effects=lambda c, comp: decision_effects(deps, c, comp))
    except AlreadyDecided as exc:
        who = getattr(exc.compensation, "decided_by", None) or ""
        # Modal errors are plain text: a name, not a mention.
        _reject(ack, {Field.REASON: f"{exc} (by {deps.staff_name(who) or who})."})
        return
    except (DomainError, StorageUnavailable) as exc:
        _reject(ack, {Field.REASON: str(exc)})
        return
    ack()


def resolve(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps) -> None:
    values, data = modals.values(view), meta(view)
    errors: Errors = {}
    reaction = values.get(Field.REACTION)
    if reaction not in {r.value for r in Reaction}:
        errors[Field.REACTION] = "Pick how the customer left."
    if not values.get(Field.ROOT_CAUSE):
        errors[Field.ROOT_CAUSE] = "Pick the root cause (or Other)."
    action_taken = values.get(Field.ACTION_TAKEN) or ""
    if not action_taken:
        errors[Field.ACTION_TAKEN] = "Say what was done to put it right."
    manager = values.get(Field.MANAGER)
    managers = deps.managers.all()
    if not manager:
        errors[Field.MANAGER] = "Choose who follows up with the customer."
    elif managers and manager not in managers:
        errors[Field.MANAGER] = "Choose one of the managers (AMENDS_MANAGERS)."
    if errors:
        _reject(ack, errors)
        return
    outcome = Outcome(reaction=Reaction(reaction), root_cause=values[Field.ROOT_CAUSE] or "",
                      action_taken=action_taken, notes=values.get(Field.NOTES) or "")
    try:
        user = body["user"]["id"]
        deps.service.change(int(data["case"]), lambda c, ctx: c.resolve(
            outcome=outcome, playbook=ctx.playbook, actor=user, at=ctx.now,
            manager=manager or "", default_window=ctx.follow_up_window),
            actor=user, action=EventKind.RESOLVED,
            effects=lambda c, follow_up: resolved_effects(c, follow_up, user))
    except (DomainError, StorageUnavailable) as exc:
        _reject(ack, {Field.ACTION_TAKEN: str(exc)})
        return
    ack()


def resolved_effects(case: Case, follow_up: Any, user: str) -> list[fx.Effect]:
    """Update the thread, and ask the manager to follow up in person."""
    assert case.id is not None
    recovered = case.time_to_recover
    seconds = recovered.total_seconds() if recovered else 0
    text = (f"✅ Resolved by {mention(user)} in {case_messages.describe_short(seconds)}. "
            f"{mention(follow_up.manager)} will follow up with the customer in person.")
    return [fx.refresh(case.id, Part.APOLOGY, Part.FIX, Part.COMPENSATION),
            fx.reply(case.id, case_messages.thread_note(text, f"{case.reference} resolved")),
            fx.follow_up_dm(case.id, follow_up.number)]


def follow_up(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps) -> None:
    values, data = modals.values(view), meta(view)
    reaction = values.get(Field.REACTION)
    if reaction not in {r.value for r in Reaction}:
        _reject(ack, {Field.REACTION: "Pick how the customer feels now."})
        return
    user = body["user"]["id"]
    try:
        deps.service.change(int(data["case"]), lambda c, ctx: c.record_follow_up(
            reaction=Reaction(reaction), note=values.get(Field.NOTES) or "", actor=user,
            at=ctx.now, policy=ctx.policy), actor=user, action=EventKind.FOLLOWED_UP,
            effects=lambda c, done: followed_up_effects(c, done, user))
    except (DomainError, StorageUnavailable) as exc:
        _reject(ack, {Field.REACTION: str(exc)})
        return
    ack()


def followed_up_effects(case: Case, done: Any, user: str) -> list[fx.Effect]:
    assert case.id is not None
    if case.state is CaseState.CLOSED:
        felt = done.reaction.label.lower() if done.reaction else ""
        text = (f"🤝 {mention(user)} followed up in person: the customer feels *{felt}*. "
                f"{case.reference} is closed.")
        parts: tuple[str, ...] = ()
        fallback = f"{case.reference} closed"
    else:
        quoted = f"\n>{mrkdwn(done.note, 500)}" if done.note else ""
        text = (f"{mention(case.opened_by)} the customer is *still unhappy* after "
                f"{mention(user)}'s follow-up, so {case.reference} is reopened. Please pick it "
                f"up again.{quoted}")
        parts = (Part.APOLOGY, Part.FIX, Part.COMPENSATION)
        fallback = f"{case.reference} reopened"
    return [fx.follow_up_dm_update(case.id, done.number),
            fx.reply(case.id, case_messages.thread_note(text, fallback)),
            fx.refresh(case.id, *parts)]


def cancel(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps) -> None:
    values, data = modals.values(view), meta(view)
    reason = values.get(Field.REASON) or ""
    if not reason:
        _reject(ack, {Field.REASON: "Say why the case is cancelled."})
        return
    user = body["user"]["id"]
    try:
        deps.service.change(int(data["case"]), lambda c, ctx: c.cancel(
            reason=reason, actor=user, at=ctx.now), actor=user, action=EventKind.CANCELLED,
            effects=lambda c, _: [
                fx.reply(c.id or 0, case_messages.thread_note(
                    f"Cancelled by {mention(user)}: {mrkdwn(reason, 300)}",
                    f"{c.reference} cancelled")),
                fx.refresh(c.id or 0, Part.APOLOGY, Part.FIX, Part.COMPENSATION),
                fx.withdraw_approvals(c.id or 0)])
    except (DomainError, StorageUnavailable) as exc:
        _reject(ack, {Field.REASON: str(exc)})
        return
    ack()


def register(app: App) -> None:
    app.view(ViewId.NEW_CASE)(new_case)
    app.view(ViewId.CUSTOM_COMPENSATION)(custom_compensation)
    app.view(ViewId.DENY)(deny)
    app.view(ViewId.RESOLVE)(resolve)
    app.view(ViewId.FOLLOW_UP)(follow_up)
    app.view(ViewId.CANCEL)(cancel)
