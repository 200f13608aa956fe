"""Small constructors over slack_sdk's models, and the Message a builder returns."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.basic_objects import EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST, JsonObject
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
)

from bot.blocks.text import cut, plain, shorten
from bot.domain.limits import MESSAGE_TEXT

MAX_MESSAGE_BLOCKS = 50
CUT_NOTE = ("✂️ Part of this message was cut to fit Slack's message size; "
            "`amends playbooks show` prints a playbook in full.")


@functools.cache
def _validators(cls: type) -> tuple[str, ...]:
    """The names of a slack_sdk model class's validators (methods its @JsonValidator marked),
    found once per class."""
    return tuple(name for name in dir(cls) if not name.startswith("__")
                 and callable(getattr(cls, name, None))
                 and hasattr(getattr(cls, name), "validator"))


def _validate_json(self: JsonObject) -> None:
    """slack_sdk's JsonObject.validate_json, running the same validators: its own looks them
    up with dir() and getattr over every attribute of every object on every to_dict, which
    was a tenth of the outbox's CPU. tests/bot/test_block_validation.py checks both find the
    same."""
    for name in _validators(type(self)):
        getattr(self, name)()


JsonObject.validate_json = _validate_json  # type: ignore[method-assign]

# An object's keys, sorted, per class: slack_sdk's get_non_null_attributes rebuilt the set
# (a property unioning its classes' sets) and sorted it on every call, and made its helper
# closures anew: a tenth of the outbox's CPU went to serialising blocks.
_KEYS: dict[type, tuple[str, ...]] = {}
_PLAIN = (str, int, float, bool, dict, type(None))
# Properties slack_sdk keeps even when empty (its EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST).
_EMPTY_ALLOWED = frozenset((entry["type"], entry["property"])
                           for entry in EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST)


def _compatible(value: Any) -> Any:
    """slack_sdk's to_dict_compatible: lists item by item, objects through their to_dict."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, list | tuple):
        return [_compatible(item) for item in value]
    to_dict = getattr(value, "to_dict", None)
    if to_dict is not None and callable(to_dict):
        return {key: _compatible(item) for key, item in to_dict().items()}
    return value


def _non_null_attributes(self: JsonObject) -> dict[str, Any]:
    """slack_sdk's JsonObject.get_non_null_attributes, the same keys and values (an empty
    list or string left out unless Slack allows it empty), with the sorted keys kept per
    class. tests/bot/test_block_validation.py checks both give the same."""
    cls = type(self)
    keys = _KEYS.get(cls)
    if keys is None:
        keys = _KEYS[cls] = tuple(sorted(self.attributes))
    kind = getattr(self, "type", None)
    out: dict[str, Any] = {}
    for key in keys:
        value = self.get_object_attribute(key)
        if value is None:
            continue
        if hasattr(value, "__len__") and not len(value) and not (
                isinstance(kind, str) and (kind, key) in _EMPTY_ALLOWED):
            continue
        out[key] = _compatible(value)
    return out


library_non_null_attributes = JsonObject.get_non_null_attributes  # for the tests
JsonObject.get_non_null_attributes = _non_null_attributes  # type: ignore[method-assign]


@dataclass(frozen=True)
class Message:
    text: str  # the notification fallback, always set
    blocks: list[dict[str, Any]]

    def kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}

    def digest(self) -> str:
        """What the message shows, in 32 hex digits: the same for the same text and blocks."""
        shown = json.dumps(self.kwargs(), sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(shown.encode(), digest_size=16).hexdigest()


def message(fallback: str, blocks: list[Block]) -> Message:
    """Serialise (which runs slack_sdk's validators) and hold Slack's 50-block limit and
    its budget for the text of all blocks together (cut visibly, never refused)."""
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise ValueError(f"a message may have at most {MAX_MESSAGE_BLOCKS} blocks")
    return Message(text=cut(fallback, 3000), blocks=fit([b.to_dict() for b in blocks]))


def _texts(blocks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every text object the blocks hold (section text and fields, context, headers,
    buttons, options...), depth first."""
    stack: list[Any] = list(blocks)
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if item.get("type") in ("mrkdwn", "plain_text") and isinstance(item.get("text"), str):
                yield item
            else:
                stack.extend(item.values())


def text_size(blocks: list[dict[str, Any]]) -> int:
    return sum(len(t["text"]) for t in _texts(blocks))


def fit(blocks: list[dict[str, Any]], budget: int = MESSAGE_TEXT) -> list[dict[str, Any]]:
    """Blocks whose text stays within `budget`: the longest prose (mrkdwn in sections and
    context) is cut first, each with a visible marker, and a note says so. Buttons, options
    and headings are never cut: they are short, and their text is what people click."""
    total = text_size(blocks)
    if total <= budget:
        return blocks
    blocks = json.loads(json.dumps(blocks))  # a copy: the caller's dicts stay as they were
    prose = sorted((t for t in _texts(blocks) if t["type"] == "mrkdwn"),
                   key=lambda t: len(t["text"]), reverse=True)
    excess = total - budget + len(CUT_NOTE)
    for floor in (300, 40):  # first spare the short texts; cut them too only if needed
        for item in prose:
            if excess <= 0:
                break
            before = len(item["text"])
            keep = max(before - excess, floor)
            if keep < before:
                item["text"] = cut(item["text"], keep)
                excess -= before - len(item["text"])
    note = {"type": "context", "elements": [{"type": "mrkdwn", "text": CUT_NOTE}]}
    return [*blocks, note] if len(blocks) < MAX_MESSAGE_BLOCKS else blocks


def section(text: str, *, accessory: Any = None, block_id: str | None = None) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=cut(text, 3000)), accessory=accessory,
                        block_id=block_id)


def fields(*pairs: tuple[str, str]) -> SectionBlock:
    return SectionBlock(fields=[MarkdownTextObject(text=cut(f"*{k}*\n{v}", 2000))
                                for k, v in pairs[:10]])


def context(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=cut(t, 3000)) for t in texts[:10]])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=plain(text, 150)))


def divider() -> DividerBlock:
    return DividerBlock()


def button(text: str, action_id: str, value: str, *, style: str | None = None,
           confirm: tuple[str, str, str] | None = None) -> ButtonElement:
    confirm_object = None
    if confirm:
        title, body, yes = confirm
        confirm_object = ConfirmObject(title=plain(title, 100), text=plain(body, 300),
                                       confirm=plain(yes, 30), deny="Go back")
    return ButtonElement(text=PlainTextObject(text=plain(text, 75)), action_id=action_id,
                         value=value[:2000], style=style, confirm=confirm_object)


def actions(*elements: Any, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=list(elements)[:25], block_id=block_id)


def option(text: str, value: str) -> Option:
    # Slack shows 75 characters of an option: a longer one ends at a word, with "…".
    return Option(text=PlainTextObject(text=shorten((text or "").strip() or "-", 75)),
                  value=value[:150])


def metadata(**values: Any) -> str:
    """A view's private_metadata (at most 3000 characters)."""
    encoded = json.dumps(values, separators=(",", ":"))
    if len(encoded) > 3000:
        raise ValueError("private_metadata is over Slack's 3000 characters")
    return encoded
