"""`/recover`: open the new-case modal, or answer `help` and `mine`."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import slack_errors
from bot.blocks import modals
from bot.blocks.text import date, escape, mrkdwn
from bot.ids import Shortcut
from bot.listeners.common import Deps, log
from bot.recovery import StorageUnavailable, Unit
from bot.values import MessageRef

COMMAND = "/recover"

HELP = (
    "*/recover* — when a customer has been let down, Amends walks you through putting it "
    "right: apology, fix, compensation, and a manager's follow-up in person.\n"
    "• `/recover` opens the form\n"
    "• `/recover order 1042 arrived an hour late` opens it with that text, and suggests the "
    "playbook that fits\n"
    "• `/recover mine` lists your open cases\n"
    "• `/recover help` shows this"
)


# Slack's angle-bracket forms in a command's text: <@U1|name>, <#C1|name>, <!here>,
# <!subteam^S1|@group>, <https://x|label>.
_LINK = re.compile(r"<([@#!]?)([^<>|]{0,500})(?:\|([^<>]{0,500}))?>")
MAX_COMMAND_TEXT = 4000  # more than the form takes (what happened: limits.SUMMARY)


def readable(text: str) -> str:
    """A slash command's text as the person typed it. Slack sends it escaped (&amp; &lt;
    &gt;) and, with should_escape, mentions as <@U123|name> and channels as <#C123|name>
    (https://docs.slack.dev/interactivity/implementing-slash-commands): unescape it once,
    names instead of ids, so `/recover fish & chips late` fills the form with just that.
    The result is plain text: it is escaped again wherever it goes into mrkdwn."""

    def one(match: re.Match[str]) -> str:
        sigil, target, label = match.groups()
        if sigil == "!":  # <!here>, <!subteam^S1|@group>, <!date^…|fallback>
            return label or "@" + target.split("^")[0]
        if sigil:  # a person or a channel: its name when Slack sent one
            return sigil + (label or target)
        return f"{label} ({target})" if label and label != target else target

    readable_text = _LINK.sub(one, text[:MAX_COMMAND_TEXT])
    return readable_text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def open_new_case_modal(client: WebClient, deps: Deps, *, trigger_id: str, text: str,
                        channel: str, source: MessageRef | None = None) -> None:
    chosen = deps.library.suggest(text) if text else None
    view = modals.new_case(deps.library, chosen=chosen, text=text, channel=channel,
                           unmatched=bool(text) and chosen is None, style=deps.style,
                           source=source)
    client.views_open(trigger_id=trigger_id, view=view)


def recover(ack: Ack, command: dict[str, Any], client: WebClient, deps: Deps, unit: Unit
            ) -> None:
    text = readable(str(command.get("text") or "")).strip()
    word = text.lower()
    if word in ("help", "?", "-h", "--help"):
        ack(text=HELP, response_type="ephemeral")
        return
    if word == "mine":
        try:
            ack(text=_mine(deps, unit, command["user_id"]), response_type="ephemeral")
        except StorageUnavailable as exc:
            ack(text=str(exc), response_type="ephemeral")
        return
    ack()
    channel, user = command.get("channel_id") or "", command["user_id"]

    def open_modal() -> None:
        try:
            open_new_case_modal(client, deps, trigger_id=command["trigger_id"],
                                text=text[:2000], channel=channel)
        except (SlackApiError, OSError) as exc:
            # The trigger_id can't be retried later (nor can a call whose connection dropped:
            # the form may have opened): say so, and nothing is lost.
            log.warning("could not open the new-case form: %s",
                        slack_errors.error_of(exc) or exc)
            deps.slack.tell(channel, user, "Slack couldn't open the form just now; please "
                                           "type `/recover` again.")

    # The trigger_id lives 3 seconds: the modal opens first, on the urgent pool.
    deps.soon(open_modal)


def open_from_message(ack: Ack, shortcut: dict[str, Any], client: WebClient, deps: Deps
                      ) -> None:
    """A message's "Open a recovery case": the new-case form, filled in with the message's
    text (read as /recover reads its text) and the playbook it suggests. The case opens in
    the message's channel, and its card links back to the message."""
    ack()

    def part(name: str) -> dict[str, Any]:  # the payload is untrusted: shapes are checked
        found = shortcut.get(name)
        return found if isinstance(found, dict) else {}

    message, channel, user = part("message"), part("channel").get("id"), part("user").get("id")
    # Not a message we can link to: the form opens all the same, without the link.
    source = MessageRef.maybe(f"{channel}:{message.get('ts')}:{message.get('user') or ''}")
    text = readable(str(message.get("text") or "")).strip()

    def open_modal() -> None:
        try:
            open_new_case_modal(client, deps, trigger_id=str(shortcut.get("trigger_id")),
                                text=text[:2000], channel=channel or "", source=source)
        except (SlackApiError, OSError) as exc:
            log.warning("could not open the new-case form from a message: %s",
                        slack_errors.error_of(exc) or exc)
            if isinstance(user, str):
                deps.slack.tell_directly(user, "Slack couldn't open the form just now; please "
                                               "use the shortcut on the message again.")

    deps.soon(open_modal)


def _mine(deps: Deps, unit: Unit, user: str) -> str:
    rows = deps.service.open_cases_for(unit, user)
    if not rows:
        return "You have no open cases. Type `/recover` when a customer needs putting right."
    lines = [f"*Your open cases* ({len(rows)})"]
    for row in rows:
        lines.append(f"• {row.reference} · {mrkdwn(row.customer, 100)} · "
                     f"{escape(row.playbook_id)} · {row.state.label} · opened "
                     f"{date(row.opened_at)}")
    return "\n".join(lines)


def register(app: App) -> None:
    app.command(COMMAND)(recover)
    app.shortcut(Shortcut.OPEN_FROM_MESSAGE.value)(open_from_message)
