"""Small constructors over slack_sdk's models, and the Message a builder returns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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

MAX_MESSAGE_BLOCKS = 50


@dataclass(frozen=True)
class Message:
    text: str  # the notification fallback, always set
    blocks: list[dict[str, Any]]

    def kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def message(fallback: str, blocks: list[Block]) -> Message:
    """Serialise (which runs slack_sdk's validators) and hold Slack's 50-block limit."""
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise ValueError(f"a message may have at most {MAX_MESSAGE_BLOCKS} blocks")
    return Message(text=cut(fallback, 3000), blocks=[b.to_dict() for b in blocks])


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
