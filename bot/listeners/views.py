"""Modal submissions: validate, record, acknowledge, then tell Slack.

A bad field goes back as Slack's inline error (`response_action: errors`) with the modal
still open, so nothing typed is lost. The database is written before the acknowledgement
where a failure must keep the form open; Slack messages go out after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import effects as fx
from bot.blocks import modals
from bot.domain import money
from bot.domain.errors import AlreadyDecided, DomainError
from bot.domain.lifecycle import (
    Case,
    CaseState,
    Customer,
    EventKind,
    Outcome,
    Reaction,
    Source,
)
from bot.domain.playbook import CompensationType
from bot.ids import Field
from bot.ids import View as ViewId
from bot.listeners.actions import decision_effects, give
from bot.listeners.common import Deps, Malformed, meta, meta_int
from bot.recovery import AlreadyHandled, StorageError, StorageUnavailable, Unit
from bot.values import MessageRef

Errors = dict[str, str]


def _reject(ack: Ack, errors: Errors) -> None:
    ack(response_action="errors", errors=errors)


def _key(view: dict[str, Any]) -> str | None:
    """A form's own id: the same submission delivered twice is acted on once."""
    view_id = view.get("id")
    return f"view:{view_id}" if isinstance(view_id, str) and view_id else None


def _record(ack: Ack, field: str, work: Callable[[], Any],
            already: Callable[[AlreadyDecided], str] | None = None) -> None:
    """Run the change, then close the form; a refusal goes back under `field`, form open."""
    try:
        work()
    except AlreadyHandled:
        pass  # this very submission was recorded already: close the form as the first did
    except AlreadyDecided as exc:
        _reject(ack, {field: already(exc) if already else str(exc)})
        return
    except (DomainError, LookupError, StorageError) as exc:
        _reject(ack, {field: str(exc)})
        return
    ack()


def new_case(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient,
             deps: Deps, unit: Unit) -> None:
    values = modals.values(view)
    user = body["user"]["id"]
    errors: Errors = modals.too_long(values)
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
    if values.get(Field.PURCHASE) and Field.PURCHASE not in errors:
        try:
            purchase = money.parse_amount(values[Field.PURCHASE] or "", deps.style.currency)
        except ValueError as exc:
            errors[Field.PURCHASE] = _sentence(exc)
        else:
            if purchase == 0:
                errors[Field.PURCHASE] = "Leave it empty when there was no purchase."
    if errors:
        _reject(ack, errors)
        return
    assert playbook is not None and severity is not None
    channel = meta(view).get("channel") or ""
    ref = MessageRef.maybe(meta(view).get("source"))
    source = Source(ref.channel, ref.ts) if ref else None
    try:
        deps.service.open_case(
            unit, origin_key=view.get("id"), playbook_id=playbook.id, severity=severity,
            customer=Customer(name=customer, contact=values.get(Field.CONTACT) or None),
            summary=summary, opened_by=user, currency=deps.style.currency,
            order_ref=values.get(Field.ORDER_REF) or None,
            location=values.get(Field.LOCATION) or None, purchase_minor=purchase,
            source=source, effects=lambda c: fx.case_opened(c, channel, user))
    except StorageUnavailable:
        _reject(ack, {Field.CUSTOMER: "Amends can't reach its database right now, so the case "
                                      "isn't saved yet. Your entries are still here: submit "
                                      "again in a minute."})
        return
    except StorageError as exc:
        _reject(ack, {Field.CUSTOMER: str(exc)})
        return
    ack()


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def custom_compensation(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps,
                        unit: Unit) -> None:
    values, data = modals.values(view), meta(view)
    errors: Errors = modals.too_long(values)
    try:
        kind = CompensationType(values.get(Field.COMP_TYPE) or "")
    except ValueError:
        errors[Field.COMP_TYPE] = "Pick a type."
    label = values.get(Field.COMP_LABEL) or ""
    if not label:
        errors[Field.COMP_LABEL] = "Say what the customer gets."
    amount = 0
    if Field.AMOUNT not in errors:
        try:
            amount = money.parse_amount(values.get(Field.AMOUNT) or "", deps.style.currency)
        except ValueError as exc:
            errors[Field.AMOUNT] = _sentence(exc)
    if errors:
        _reject(ack, errors)
        return
    option = data.get("option")
    # Over the ceiling, a request already waiting, a zero amount: said under the amount.
    _record(ack, Field.AMOUNT, lambda: give(
        deps, unit, meta_int(data, "case"), user=body["user"]["id"], type=kind, label=label,
        amount=amount, option_key=option if isinstance(option, str) else None,
        key=_key(view)))


def deny(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps,
         unit: Unit) -> None:
    values, data = modals.values(view), meta(view)
    reason = values.get(Field.REASON) or ""
    errors = modals.too_long(values)
    if not reason:
        errors[Field.REASON] = "Say why, so the requester knows."
    if errors:
        _reject(ack, errors)
        return

    def by_whom(exc: AlreadyDecided) -> str:
        who = getattr(exc.compensation, "decided_by", None) or ""
        # Modal errors are plain text: a name, not a mention.
        return f"{exc} (by {deps.staff_name(who) or who})."

    _record(ack, Field.REASON, lambda: deps.service.change(
        unit, meta_int(data, "case"), lambda c, ctx: c.decide_compensation(
            number=meta_int(data, "number"), approve=False, actor=body["user"]["id"],
            at=ctx.now, policy=ctx.policy, reason=reason),
        actor=body["user"]["id"], action=EventKind.COMPENSATION_DENIED,
        effects=decision_effects, key=_key(view)),
        already=by_whom)


def resolve(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps,
            unit: Unit) -> None:
    values, data = modals.values(view), meta(view)
    errors: Errors = modals.too_long(values)
    reaction = values.get(Field.REACTION)
    if reaction not in {r.value for r in Reaction}:
        errors[Field.REACTION] = "Pick how the customer left."
    cause = _chosen_cause(deps, unit, data, values.get(Field.ROOT_CAUSE) or "")
    if not values.get(Field.ROOT_CAUSE):
        errors[Field.ROOT_CAUSE] = "Pick the root cause (or Other)."
    elif cause is None:
        errors[Field.ROOT_CAUSE] = "Pick one of the root causes listed."
    action_taken = values.get(Field.ACTION_TAKEN) or ""
    if not action_taken:
        errors[Field.ACTION_TAKEN] = "Say what was done to put it right."
    manager = values.get(Field.MANAGER)
    managers = deps.managers.all()
    if not manager:
        errors[Field.MANAGER] = "Choose who follows up with the customer."
    elif managers and manager not in managers:
        errors[Field.MANAGER] = "Choose one of the managers in the list."
    if errors:
        _reject(ack, errors)
        return
    outcome = Outcome(reaction=Reaction(reaction or ""), root_cause=cause or "",
                      action_taken=action_taken, notes=values.get(Field.NOTES) or "")
    user = body["user"]["id"]
    _record(ack, Field.ACTION_TAKEN, lambda: deps.service.change(
        unit, meta_int(data, "case"), lambda c, ctx: c.resolve(
            outcome=outcome, playbook=ctx.playbook, actor=user, at=ctx.now,
            manager=manager or "", default_window=ctx.follow_up_window),
        actor=user, action=EventKind.RESOLVED,
        effects=lambda c, follow_up: resolved_effects(c, follow_up, user), key=_key(view)))


def _chosen_cause(deps: Deps, unit: Unit, data: dict[str, Any], chosen: str) -> str | None:
    """The root cause the form offered under this id (the playbook's), not any text sent
    to us; None when it names none."""
    if not chosen:
        return None
    try:
        case = deps.service.get(unit, meta_int(data, "case"))
        playbook = deps.service.playbook(case.playbook_id)
    except (LookupError, Malformed, StorageError):
        return chosen  # the change itself reports a missing case or playbook
    return playbook.cause(chosen)


def resolved_effects(case: Case, follow_up: Any, user: str) -> list[fx.Effect]:
    """Update the thread, and ask the manager to follow up in person."""
    assert case.id is not None
    recovered = case.time_to_recover
    return [fx.opened_or_shut(case),
            fx.ResolvedNote(case.id, by=user, manager=follow_up.manager,
                            seconds=recovered.total_seconds() if recovered else 0.0),
            fx.FollowUpDM(case.id, follow_up.number)]


def follow_up(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps,
              unit: Unit) -> None:
    values, data = modals.values(view), meta(view)
    reaction = values.get(Field.REACTION)
    errors = modals.too_long(values)
    if reaction not in {r.value for r in Reaction}:
        errors[Field.REACTION] = "Pick how the customer feels now."
    if errors:
        _reject(ack, errors)
        return
    user = body["user"]["id"]
    _record(ack, Field.REACTION, lambda: deps.service.change(
        unit, meta_int(data, "case"), lambda c, ctx: c.record_follow_up(
            reaction=Reaction(reaction or ""), note=values.get(Field.NOTES) or "", actor=user,
            at=ctx.now, policy=ctx.policy), actor=user, action=EventKind.FOLLOWED_UP,
        effects=lambda c, done: followed_up_effects(c, done, user), key=_key(view)))


def followed_up_effects(case: Case, done: Any, user: str) -> list[fx.Effect]:
    """The DM shows it done; the thread hears the case closed, or reopened (every message
    live again)."""
    assert case.id is not None
    refresh = fx.Refresh(case.id) if case.state is CaseState.CLOSED else fx.opened_or_shut(
        case)
    return [fx.FollowUpDMUpdate(case.id, done.number),
            fx.FollowUpNote(case.id, done.number, by=user), refresh]


def cancel(ack: Ack, body: dict[str, Any], view: dict[str, Any], deps: Deps,
           unit: Unit) -> None:
    values, data = modals.values(view), meta(view)
    reason = values.get(Field.REASON) or ""
    errors = modals.too_long(values)
    if not reason:
        errors[Field.REASON] = "Say why the case is cancelled."
    if errors:
        _reject(ack, errors)
        return
    user = body["user"]["id"]
    _record(ack, Field.REASON, lambda: deps.service.change(
        unit, meta_int(data, "case"), lambda c, ctx: c.cancel(
            reason=reason, actor=user, at=ctx.now), actor=user, action=EventKind.CANCELLED,
        effects=lambda c, _: [
            fx.CancelledNote(c.id or 0, by=user, reason=reason),
            fx.opened_or_shut(c), fx.WithdrawApprovals(c.id or 0)], key=_key(view)))


def register(app: App) -> None:
    app.view(ViewId.NEW_CASE)(new_case)
    app.view(ViewId.CUSTOM_COMPENSATION)(custom_compensation)
    app.view(ViewId.DENY)(deny)
    app.view(ViewId.RESOLVE)(resolve)
    app.view(ViewId.FOLLOW_UP)(follow_up)
    app.view(ViewId.CANCEL)(cancel)
