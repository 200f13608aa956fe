"""Buttons and selects: in the case thread, in the manager's DM, in modals and on Home."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import effects as fx
from bot import logs, slack_errors
from bot.blocks import modals
from bot.blocks.text import mention
from bot.domain import authority
from bot.domain.errors import AlreadyDecided, DomainError
from bot.domain.lifecycle import Case, CompensationStatus, EventKind, case_reference
from bot.ids import Action, Field
from bot.ids import Message as Part
from bot.listeners.commands import open_new_case_modal
from bot.listeners.common import Deps, Malformed, log, meta
from bot.recovery import AlreadyHandled, StorageError, Unit
from bot.values import (
    CaseRef,
    CompensationRef,
    FollowUpRef,
    MessageRef,
    OptionPick,
    Snooze,
    StepTick,
    TimelinePage,
)

Handler = Callable[..., None]


def _where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id")
    message = body.get("message") or {}
    return channel, message.get("thread_ts") or message.get("ts")


# Clicks whose work changes a case: written to the inbox before the ack, so a process that
# dies just after acknowledging doesn't lose what the person was told had happened.
DURABLE: dict[str, Handler] = {}


def on_click(*, opens_modal: bool, durable: bool = False) -> Callable[[Handler], Handler]:
    """Acknowledge at once, then run the handler after the ack; refusals go to the clicker.

    A handler that opens a modal goes to the urgent pool: its trigger_id expires three
    seconds after the click. Everything else goes to the work pool. A durable handler's
    click is in the inbox before it is acknowledged.
    """

    def decorate(handler: Handler) -> Handler:
        # Not functools.wraps: Bolt unwraps listeners to see which arguments to inject.
        def wrapper(ack: Ack, body: dict[str, Any], client: WebClient, deps: Deps) -> None:
            entry = deps.inbox.record(handler.__name__, _essentials(body)) if durable else None
            ack()

            def run() -> None:
                try:
                    run_click(handler, deps, body, client)
                except BaseException:
                    deps.inbox.release(entry)  # unfinished: run again once its lease ends
                    raise
                deps.inbox.done(entry)

            (deps.soon if opens_modal else deps.later)(run)

        wrapper.__name__ = wrapper.__qualname__ = handler.__name__
        if durable:
            DURABLE[handler.__name__] = handler
        return wrapper

    return decorate


def _essentials(body: dict[str, Any]) -> dict[str, Any]:
    """What a stored click needs to run again: not the message's blocks (kilobytes of them,
    written in the acknowledgement's path)."""
    message = body.get("message")
    kept = {k: v for k, v in body.items() if k not in ("message", "view", "state")}
    if isinstance(message, dict):
        kept["message"] = {k: message[k] for k in ("ts", "thread_ts") if k in message}
    return kept


def run_click(handler: Handler, deps: Deps, body: dict[str, Any], client: WebClient) -> None:
    """One click's work, after its ack, in one unit of work."""
    with deps.unit() as unit:
        reporting(deps, body, lambda: handler(body=body, client=client, deps=deps, unit=unit,
                                              user=_user(body), action=_action(body)))


def rerun(deps: Deps, kind: str, body: dict[str, Any]) -> None:
    """Run a stored click again, after its first process died (the inbox's recovery)."""
    run_click(DURABLE[kind], deps, body, deps.slack.client)


def _user(body: dict[str, Any]) -> str:
    user = (body.get("user") or {}).get("id") if isinstance(body.get("user"), dict) else None
    if not isinstance(user, str) or not user:
        raise Malformed()
    return user


def _action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise Malformed()
    return actions[0]


def _selected(action: dict[str, Any]) -> Any:
    selected = action.get("selected_option")
    return selected.get("value") if isinstance(selected, dict) else None


def click_key(body: dict[str, Any]) -> str | None:
    """One click, however often it is delivered: Slack stamps each click with action_ts."""
    try:
        action = body["actions"][0]
        return f"click:{action['action_ts']}:{body['user']['id']}:{action['action_id']}"
    except (KeyError, IndexError, TypeError):
        return None


def reporting(deps: Deps, body: dict[str, Any], work: Callable[[], None]) -> None:
    try:
        work()
    except AlreadyHandled:
        pass  # the same click delivered again: the first delivery did the work
    except AlreadyDecided as exc:
        who = mention(getattr(exc.compensation, "decided_by", None))
        _tell(deps, body, f"{exc} (by {who}). Nothing was changed.")
    except (DomainError, LookupError) as exc:  # LookupError: no such case or playbook
        _tell(deps, body, f"{exc} Nothing was changed.")
    except StorageError as exc:
        _tell(deps, body, str(exc))
    except SlackApiError as exc:
        # Opening a modal is the one Slack call a click makes itself (everything else goes
        # through the outbox). Its trigger_id lasts 3 s and opens one modal: only a new
        # click can try again, so the person is asked to, privately; nothing was changed.
        error = slack_errors.error_of(exc)
        log.warning("a click's Slack call failed: %s", error)
        if slack_errors.click_again(exc):
            _tell(deps, body, "Slack took too long to open that form (it allows three "
                              "seconds). Please click the button again.")
        else:
            _tell(deps, body, f"Slack couldn't open that just now ({error}). Please try "
                              "again in a moment; nothing was changed.")
    except OSError as exc:  # the connection to Slack dropped or timed out opening a form
        log.warning("a click's Slack call did not get through: %s", exc)
        _tell(deps, body, "Slack didn't answer just now. Please try again in a moment; "
                          "nothing was changed.")


def _tell(deps: Deps, body: dict[str, Any], text: str) -> None:
    channel, thread_ts = _where(body)
    user = body["user"]["id"]
    # A DM arrives away from the click: it names the case the click was about.
    case_id = logs.case_id.get()
    about = case_reference(case_id) if isinstance(case_id, int) and case_id else None
    if channel:
        deps.slack.tell(channel, user, text, thread_ts, about=about)
    else:  # a modal or the Home tab: a direct message instead
        deps.slack.tell_directly(user, text, about=about)


def _open_modal(deps: Deps, unit: Unit, body: dict[str, Any], client: WebClient, *,
                case_id: int, user: str, kind: EventKind | None,
                view: Callable[[Case], dict[str, Any]]) -> tuple[Case, Any]:
    """Load the case, refuse before the form if `user` may not do `kind` (nobody fills in a
    form only to be told no), then open the form (`view` may refuse too)."""
    case = deps.service.get(unit, case_id)
    if kind is not None:
        authority.check(case, kind, user, deps.service.policy())
    return case, client.views_open(trigger_id=body["trigger_id"], view=view(case))


@on_click(opens_modal=False, durable=True)
def apology_given(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit,
                  user: str, action: dict[str, Any]) -> None:
    case_id = CaseRef.decode(action.get("value")).case
    deps.service.change(unit, case_id, lambda c, ctx: c.give_apology(actor=user, at=ctx.now),
                        actor=user, action=EventKind.APOLOGY_GIVEN,
                        effects=lambda c, _: [fx.Refresh(case_id, (Part.APOLOGY,))],
                        key=click_key(body))


@on_click(opens_modal=False, durable=True)
def fix_step(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit, user: str,
             action: dict[str, Any]) -> None:
    tick = StepTick.decode(action.get("value"), (action.get("text") or {}).get("text"))
    deps.service.change(unit, tick.case, lambda c, ctx: c.mark_step(
        step=tick.step, done=tick.done, playbook=ctx.playbook, actor=user, at=ctx.now),
        actor=user, action=EventKind.STEP_DONE if tick.done else EventKind.STEP_UNDONE,
        effects=lambda c, _: [fx.Refresh(tick.case, (Part.FIX,))], key=click_key(body))


@on_click(opens_modal=True, durable=True)
def compensation_option(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit,
                        user: str, action: dict[str, Any]) -> None:
    pick = OptionPick.decode(action.get("value"))
    case = deps.service.get(unit, pick.case)
    choice = deps.service.playbook(case.playbook_id).option(pick.key)
    if choice is None:
        raise LookupError("That option is no longer in the playbook.")
    amount = choice.amount_minor(currency=deps.style.currency,
                                 purchase_minor=case.purchase_minor)
    authority.check(case, EventKind.COMPENSATION_PROPOSED, user, deps.service.policy())
    if amount is None:  # a percentage of an unknown purchase: ask for the amount
        client.views_open(trigger_id=body["trigger_id"], view=modals.custom_compensation(
            case, deps.style, choice, None))
        return

    # Here, not on the work pool: the click's inbox entry is cleared when this returns.
    give(deps, unit, pick.case, user=user, type=choice.type, label=choice.label,
         amount=amount, option_key=choice.key, key=click_key(body))


def give(deps: Deps, unit: Unit, case_id: int, *, user: str, type: Any, label: str,
         amount: int, option_key: str | None, key: str | None = None) -> tuple[Case, Any]:
    """Record a compensation (approved at once within the staff limit); above the limit the
    managers are asked in the thread. Raises domain errors."""
    return deps.service.change(unit, case_id, lambda c, ctx: c.propose_compensation(
        type=type, label=label, amount_minor=amount, option_key=option_key, actor=user,
        at=ctx.now, policy=ctx.policy, playbook=ctx.playbook),
        actor=user, action=EventKind.COMPENSATION_PROPOSED,
        effects=lambda c, comp: [fx.Refresh(case_id, (Part.COMPENSATION,))] + (
            [fx.ApprovalRequest(case_id, comp.number)]
            if comp.status is CompensationStatus.PENDING else []), key=key)


@on_click(opens_modal=True)
def compensation_custom(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit,
                        user: str, action: dict[str, Any]) -> None:
    _open_modal(deps, unit, body, client, case_id=CaseRef.decode(action.get("value")).case,
                user=user, kind=EventKind.COMPENSATION_PROPOSED,
                view=lambda case: modals.custom_compensation(case, deps.style, None, None))


@on_click(opens_modal=False, durable=True)
def approve(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit, user: str,
            action: dict[str, Any]) -> None:
    ref = CompensationRef.decode(action.get("value"))
    deps.service.change(unit, ref.case, lambda c, ctx: c.decide_compensation(
        number=ref.number, approve=True, actor=user, at=ctx.now, policy=ctx.policy),
        actor=user, action=EventKind.COMPENSATION_APPROVED,
        effects=lambda c, comp: decision_effects(c, comp), key=click_key(body))


@on_click(opens_modal=False, durable=True)
def endorse(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit, user: str,
            action: dict[str, Any]) -> None:
    ref = CompensationRef.decode(action.get("value"))
    deps.service.change(unit, ref.case, lambda c, ctx: c.endorse_compensation(
        number=ref.number, actor=user, at=ctx.now, policy=ctx.policy),
        actor=user, action=EventKind.COMPENSATION_ENDORSED,
        effects=lambda c, comp: [fx.Endorsed(ref.case, comp.number, user)],
        key=click_key(body))


def decision_effects(case: Case, comp: Any) -> list[fx.Effect]:
    """The request edited in place, the requester told, the compensation list updated."""
    assert case.id is not None
    return [fx.Decision(case.id, comp.number), fx.Refresh(case.id, (Part.COMPENSATION,))]


@on_click(opens_modal=True)
def deny(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit, user: str,
         action: dict[str, Any]) -> None:
    ref = CompensationRef.decode(action.get("value"))

    def form(case: Case) -> dict[str, Any]:
        comp = case.compensation(ref.number)
        if comp.status is not CompensationStatus.PENDING:
            raise AlreadyDecided(comp, f"Compensation #{ref.number} on {case.reference} was "
                                       f"already {comp.status.value}.")
        # Refuse before the modal: a non-manager or the requester never gets the form.
        deps.service.policy().check_decider(decider=user, requester=comp.requested_by,
                                            amount_minor=comp.amount_minor,
                                            location=case.location)
        return modals.deny(case, comp, deps.style)

    _open_modal(deps, unit, body, client, case_id=ref.case, user=user, kind=None, view=form)


@on_click(opens_modal=True)
def resolve(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit, user: str,
            action: dict[str, Any]) -> None:
    # Staff pick a manager by name. The form opens at once with the names already known
    # (users.info would eat into the trigger_id's 3 seconds); the rest follow in an update.
    people = sorted(deps.managers.all())[:100]
    known = [(m, deps.slack.known_name(m) or "") for m in people]

    def form(case: Case, named: list[tuple[str, str]] = known) -> dict[str, Any]:
        return modals.resolve(case, deps.service.playbook(case.playbook_id),
                              default_manager(deps, case), named)

    case, opened = _open_modal(deps, unit, body, client, case_id=CaseRef.decode(
        action.get("value")).case, user=user, kind=EventKind.RESOLVED, view=form)
    if all(name for _m, name in known):
        return
    named = [(m, deps.staff_name(m)) for m in people]
    if named != known:
        view = opened["view"]
        _update_view(client, view, form(case, named))


def _update_view(client: WebClient, view: dict[str, Any], new: dict[str, Any]) -> None:
    """Redraw an open form, unless the person changed it meanwhile (hash_conflict): then it
    stays as they have it, rather than losing what they chose."""
    try:
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)
    except SlackApiError as exc:
        log.info("form %s left as it is: %s", view.get("id"), slack_errors.error_of(exc))


def default_manager(deps: Deps, case: Case) -> str | None:
    """Whoever already knows the case best: its manager, the approver, else the first listed."""
    if case.manager:
        return case.manager
    for comp in reversed(case.compensations):
        if comp.status is CompensationStatus.APPROVED and not comp.auto_approved:
            return comp.decided_by
    managers = sorted(deps.settings.managers)
    return managers[0] if managers else None


@on_click(opens_modal=True)
def cancel(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit, user: str,
           action: dict[str, Any]) -> None:
    _open_modal(deps, unit, body, client, case_id=CaseRef.decode(action.get("value")).case,
                user=user, kind=EventKind.CANCELLED, view=modals.cancel)


@on_click(opens_modal=True)
def followed_up(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit, user: str,
                action: dict[str, Any]) -> None:
    ref = FollowUpRef.decode(action.get("value"))

    def form(case: Case) -> dict[str, Any]:
        follow_up = case.open_follow_up
        if follow_up is None or follow_up.number != ref.number:
            raise DomainError(f"The follow-up for {case.reference} is already recorded.")
        authority.check(case, EventKind.FOLLOWED_UP, user, deps.service.policy())
        return modals.follow_up(case, ref.number)

    _open_modal(deps, unit, body, client, case_id=ref.case, user=user, kind=None, view=form)


@on_click(opens_modal=False, durable=True)
def snooze(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit, user: str,
           action: dict[str, Any]) -> None:
    asked = Snooze.decode(_selected(action))
    deps.service.change(unit, asked.case, lambda c, ctx: c.snooze_follow_up(
        until=ctx.now + timedelta(hours=asked.hours), actor=user, at=ctx.now,
        policy=ctx.policy), actor=user, action=EventKind.FOLLOW_UP_SNOOZED,
        effects=lambda c, follow_up: [fx.FollowUpDMUpdate(asked.case, follow_up.number)],
        key=click_key(body))


def playbook_picked(ack: Ack, body: dict[str, Any], client: WebClient, deps: Deps) -> None:
    """In the new-case modal: show the severities of the playbook just picked."""
    ack()
    view = body["view"]
    values = modals.values(view)
    chosen = deps.library.get(values.get(Field.PLAYBOOK) or "")
    source = MessageRef.maybe(meta(view).get("source"))
    deps.soon(lambda: _update_view(client, view, modals.new_case(
        deps.library, chosen=chosen, text=values.get(Field.WHAT_HAPPENED) or "",
        channel=meta(view).get("channel", ""), unmatched=False, style=deps.style,
        source=source)))


@on_click(opens_modal=True)
def show_summary(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit,
                 user: str, action: dict[str, Any]) -> None:
    """Everything the person wrote, when the card shows only its start."""
    _open_modal(deps, unit, body, client, case_id=CaseRef.decode(action.get("value")).case,
                user=user, kind=None, view=modals.summary)


@on_click(opens_modal=True)
def show_timeline(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit,
                  user: str, action: dict[str, Any]) -> None:
    """The case's History: who did what and when, from its append-only timeline."""
    case_id = CaseRef.decode(action.get("value")).case
    client.views_open(trigger_id=body["trigger_id"],
                      view=modals.timeline(*deps.service.timeline(unit, case_id)))


@on_click(opens_modal=True)
def timeline_page(*, body: dict[str, Any], client: WebClient, deps: Deps, unit: Unit,
                  user: str, action: dict[str, Any]) -> None:
    """Earlier or Later in the History modal: the same modal, another page."""
    wanted = TimelinePage.decode(action.get("value"))
    view = body.get("view") or {}
    if not isinstance(view, dict) or not isinstance(view.get("id"), str):
        raise Malformed()
    # The hash makes Slack refuse the update if the modal changed since this click was made.
    client.views_update(view_id=view["id"], hash=view.get("hash"),
                        view=modals.timeline(*deps.service.timeline(unit, wanted.case,
                                                                    wanted.page)))


def open_case_from_home(ack: Ack, body: dict[str, Any], client: WebClient, deps: Deps) -> None:
    ack()
    # From the Home tab: a form Slack won't open is told by DM (there's no channel).
    deps.soon(lambda: reporting(deps, body, lambda: open_new_case_modal(
        client, deps, trigger_id=body["trigger_id"], text="", channel="")))


def register(app: App) -> None:
    app.action(Action.APOLOGY_GIVEN.pattern())(apology_given)
    app.action(Action.FIX_STEP.pattern())(fix_step)
    app.action(Action.COMPENSATION_OPTION.pattern())(compensation_option)
    app.action(Action.COMPENSATION_CUSTOM.pattern())(compensation_custom)
    app.action(Action.APPROVE.pattern())(approve)
    app.action(Action.ENDORSE.pattern())(endorse)
    app.action(Action.DENY.pattern())(deny)
    app.action(Action.RESOLVE.pattern())(resolve)
    app.action(Action.CANCEL.pattern())(cancel)
    app.action(Action.FOLLOWED_UP.pattern())(followed_up)
    app.action(Action.SNOOZE.pattern())(snooze)
    app.action(Action.PLAYBOOK_PICKED.pattern())(playbook_picked)
    app.action(Action.OPEN_CASE.pattern())(open_case_from_home)
    app.action(Action.SHOW_SUMMARY.pattern())(show_summary)
    app.action(Action.SHOW_TIMELINE.pattern())(show_timeline)
    app.action(Action.TIMELINE_PAGE.pattern())(timeline_page)
