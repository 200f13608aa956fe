"""Block Kit and mrkdwn to HTML, for the sandbox page.

Everything a person typed reaches the page through html.escape: user text can be shown,
never run. Formatting is applied only to escaped text, so the only tags in the output are
the ones written here. A block this renderer doesn't know is shown as its JSON.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import escape
from typing import Any

_TOKEN = re.compile(r"<([^<>]*)>")
_FORMATS = [(re.compile(r"\*([^*\n]+)\*"), "b"), (re.compile(r"(?<![\w])_([^_\n]+)_(?![\w])"), "i"),
            (re.compile(r"~([^~\n]+)~"), "s"), (re.compile(r"`([^`\n]+)`"), "code")]


def _unslack(text: str) -> str:
    """Slack's own escapes back to characters (then html.escape makes them safe again)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _format(text: str) -> str:
    html = escape(_unslack(text))
    for pattern, tag in _FORMATS:
        html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
    return html


def _token(body: str, users: dict[str, str]) -> str:
    if body.startswith("@"):
        user = body[1:].split("|")[0]
        return f'<span class="mention">@{escape(users.get(user, user))}</span>'
    if body.startswith("#"):
        return f'<span class="mention">#{escape(body[1:].split("|")[-1])}</span>'
    if body.startswith("!date^"):
        parts = body.split("|", 1)
        try:
            stamp = int(parts[0].split("^")[1])
            shown = datetime.fromtimestamp(stamp, UTC).strftime("%a %d %b %H:%M UTC")
        except (IndexError, ValueError):
            shown = parts[-1]
        return f'<span class="date">{escape(shown)}</span>'
    if body.startswith("!subteam^"):
        return f'<span class="mention">@{escape(body.split("|")[-1].lstrip("@") or "group")}</span>'
    if body.startswith("!"):
        return f'<span class="mention">@{escape(body[1:].split("|")[0])}</span>'
    target, _, label = body.partition("|")
    message = re.fullmatch(r"https://slack\.com/archives/([A-Z0-9]+)/p(\d{10})(\d{6})", target)
    if message:  # a link to a message: opened in the sandbox (the page's script goes there)
        channel, ts = message.group(1), f"{message.group(2)}.{message.group(3)}"
        return (f'<a href="#" data-conversation="{escape(channel)}" data-ts="{escape(ts)}">'
                f"{escape(_unslack(label or target))}</a>")
    if re.match(r"^https?://", target):
        return (f'<a href="{escape(target)}" target="_blank" rel="noopener noreferrer">'
                f"{escape(_unslack(label or target))}</a>")
    return escape(_unslack(body))


def mrkdwn(text: str, users: dict[str, str]) -> str:
    lines = []
    for line in text.split("\n"):
        quoted = line.startswith(">")
        if quoted:
            line = line[1:]
        parts, last = [], 0
        for match in _TOKEN.finditer(line):
            parts.append(_format(line[last:match.start()]))
            parts.append(_token(match.group(1), users))
            last = match.end()
        parts.append(_format(line[last:]))
        html = "".join(parts)
        lines.append(f'<span class="quote">{html}</span>' if quoted else html)
    return "<br>".join(lines)


def text_object(obj: dict[str, Any] | None, users: dict[str, str]) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(obj.get("text", ""), users)
    return escape(obj.get("text", ""))


def _data(payload: dict[str, Any]) -> str:
    return escape(json.dumps(payload), quote=True)


def element(el: dict[str, Any], block_id: str, users: dict[str, str]) -> str:
    kind = el.get("type")
    if kind == "button":
        payload = {"action_id": el.get("action_id"), "block_id": block_id, "type": "button",
                   "value": el.get("value"), "text": el.get("text")}
        confirm = el.get("confirm")
        ask = (f' data-confirm="{escape(confirm["text"]["text"], quote=True)}"'
               if confirm else "")
        style = f" {el['style']}" if el.get("style") in ("primary", "danger") else ""
        return (f'<button class="btn{style}" data-action="{_data(payload)}"{ask}>'
                f"{escape(el['text']['text'])}</button>")
    if kind == "static_select":
        payload = {"action_id": el.get("action_id"), "block_id": block_id,
                   "type": "static_select"}
        options = "".join(f'<option value="{escape(o["value"], quote=True)}" '
                          f'data-text="{escape(o["text"]["text"], quote=True)}">'
                          f'{escape(o["text"]["text"])}</option>' for o in el.get("options", []))
        placeholder = escape((el.get("placeholder") or {}).get("text", "Choose…"))
        return (f'<select class="select" data-action="{_data(payload)}">'
                f'<option value="">{placeholder}</option>{options}</select>')
    return f'<pre class="unknown">{escape(json.dumps(el, indent=1))}</pre>'


def block(b: dict[str, Any], users: dict[str, str], *, values: dict[str, Any] | None = None,
          errors: dict[str, str] | None = None) -> str:
    kind, block_id = b.get("type"), b.get("block_id", "")
    if kind == "header":
        return f"<h3>{escape(b['text']['text'])}</h3>"
    if kind == "divider":
        return "<hr>"
    if kind == "section":
        html = text_object(b.get("text"), users)
        if b.get("fields"):
            html += '<div class="fields">' + "".join(
                f"<div>{text_object(f, users)}</div>" for f in b["fields"]) + "</div>"
        html = f'<div class="text">{html}</div>'
        accessory = b.get("accessory")
        side = f'<div class="accessory">{element(accessory, block_id, users)}</div>' \
            if accessory else ""
        return f'<div class="section">{html}{side}</div>'
    if kind == "context":
        return '<div class="context">' + " ".join(
            text_object(e, users) if "text" in e else escape(json.dumps(e))
            for e in b.get("elements", [])) + "</div>"
    if kind == "actions":
        return '<div class="actions">' + "".join(
            element(e, block_id, users) for e in b.get("elements", [])) + "</div>"
    if kind == "input":
        return _input(b, users, (values or {}).get(block_id), (errors or {}).get(block_id))
    return f'<pre class="unknown">{escape(json.dumps(b, indent=1))}</pre>'


def _input(b: dict[str, Any], users: dict[str, str], value: Any, error: str | None) -> str:
    el, block_id = b["element"], b["block_id"]
    label = escape(b["label"]["text"]) + ("" if not b.get("optional") else
                                          ' <span class="optional">(optional)</span>')
    name = escape(block_id, quote=True)
    # Block and action id: what a redraw of the form (views.update) must match to keep a value.
    ids = escape(f"{block_id} {el.get('action_id', '')}", quote=True)
    keep = f' data-keep="{ids}"'
    dispatch = ' data-dispatch="1"' if b.get("dispatch_action") else ""
    kind = el.get("type")
    if kind == "plain_text_input":
        current = value if value is not None else el.get("initial_value", "")
        if el.get("multiline"):
            field = f'<textarea name="{name}"{keep} rows="3">{escape(current or "")}</textarea>'
        else:
            field = f'<input name="{name}"{keep} value="{escape(current or "", quote=True)}">'
    elif kind in ("static_select", "users_select"):
        if kind == "static_select":
            choices = [(o["value"], o["text"]["text"]) for o in el.get("options", [])]
            initial = (el.get("initial_option") or {}).get("value")
        else:
            choices = list(users.items())
            initial = el.get("initial_user")
        chosen = value if value is not None else initial
        options = "".join(
            f'<option value="{escape(v, quote=True)}"{" selected" if v == chosen else ""}>'
            f"{escape(t)}</option>" for v, t in choices)
        payload = {"action_id": el.get("action_id"), "block_id": block_id, "type": kind}
        field = (f'<select name="{name}"{keep} data-input-action="{_data(payload)}"{dispatch}>'
                 f'<option value="">Choose…</option>{options}</select>')
    else:
        field = f'<pre class="unknown">{escape(json.dumps(el, indent=1))}</pre>'
    hint = f'<div class="hint">{escape(b["hint"]["text"])}</div>' if b.get("hint") else ""
    problem = f'<div class="error">{escape(error)}</div>' if error else ""
    return f'<label class="input" data-block="{name}">{label}{field}{hint}{problem}</label>'


def blocks(items: list[dict[str, Any]], users: dict[str, str], **kwargs: Any) -> str:
    return "".join(block(b, users, **kwargs) for b in items)
