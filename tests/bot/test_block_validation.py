"""slack_sdk's validators still run on every block we build, through bot.blocks.base's
per-class list of them (its own validate_json looked them up anew on every object), and
blocks serialise exactly as slack_sdk's own get_non_null_attributes would (bot.blocks.base
keeps each class's sorted keys instead of rebuilding them per object)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    RichTextBlock,
    RichTextSectionElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks import base
from tests.bot import test_journey  # its journey, run here too (not collected twice)
from tests.bot.conftest import Harness


def _library_lookup(obj: JsonObject) -> set[str]:
    """How slack_sdk's own validate_json finds an object's validators."""
    return {name for name in dir(obj) if not name.startswith("__")
            and callable(getattr(obj, name, None)) and hasattr(getattr(obj, name), "validator")}


def _every(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _every(sub)
    return found


def test_the_same_validators_as_slack_sdk_finds_for_objects_we_build() -> None:
    button = ButtonElement(text="Approve", action_id="approve", value="1")
    objects: list[Any] = [
        HeaderBlock(text="Case #12"), SectionBlock(text=MarkdownTextObject(text="*hi*")),
        ContextBlock(elements=[MarkdownTextObject(text="ctx")]),
        ActionsBlock(elements=[button]), button,
        StaticSelectElement(action_id="pick", options=[]),
        PlainTextInputElement(action_id="text"),
        View(type="modal", title="New case", blocks=[])]
    for obj in objects:
        assert set(base._validators(type(obj))) == _library_lookup(obj), type(obj).__name__
        assert base._validators(type(obj)), f"{type(obj).__name__} has validators to run"


def test_every_model_class_lists_each_validator_its_classes_define() -> None:
    for cls in _every(JsonObject):
        defined = {name for klass in cls.__mro__ for name, value in vars(klass).items()
                   if callable(value) and hasattr(value, "validator")}
        assert set(base._validators(cls)) == defined, cls.__name__


@pytest.mark.parametrize("build", [
    lambda: HeaderBlock(text="x" * 151),  # a header's text: at most 150 characters
    lambda: ButtonElement(text="x" * 76, action_id="a"),  # a button's: at most 75
    lambda: SectionBlock(text=MarkdownTextObject(text="x" * 3001)),  # a section's: 3000
    lambda: ActionsBlock(elements=[ButtonElement(text=str(n), action_id=str(n))
                                   for n in range(26)]),  # an actions block: 25 elements
])
def test_a_block_slack_would_refuse_still_fails_to_serialise(build: Any) -> None:
    with pytest.raises(SlackObjectFormationError):
        build().to_dict()


def _same_as_slack_sdk(seen: Counter[str]) -> Any:
    def both(self: JsonObject) -> dict[str, Any]:
        ours, theirs = base._non_null_attributes(self), base.library_non_null_attributes(self)
        assert json.dumps(ours) == json.dumps(theirs), type(self).__name__  # order too
        seen[type(self).__name__] += 1
        return ours
    return both


def test_every_block_of_a_whole_journey_serialises_as_slack_sdk_would(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: Counter[str] = Counter()
    monkeypatch.setattr(JsonObject, "get_non_null_attributes", _same_as_slack_sdk(seen))
    test_journey.test_the_whole_journey(harness)  # cards, walkthrough, approvals, modals, the DM...
    assert {"View", "HeaderBlock", "SectionBlock", "ContextBlock", "ActionsBlock",
            "ButtonElement", "MarkdownTextObject", "PlainTextObject", "InputBlock",
            "StaticSelectElement", "DividerBlock"} <= set(seen), seen


def test_empty_values_are_left_out_unless_slack_allows_them_empty(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: Counter[str] = Counter()
    monkeypatch.setattr(JsonObject, "get_non_null_attributes", _same_as_slack_sdk(seen))
    section = RichTextSectionElement(elements=[])  # Slack allows this one empty
    assert section.to_dict() == {"type": "rich_text_section", "elements": []}
    assert RichTextBlock(elements=[section]).to_dict()["elements"] == [
        {"type": "rich_text_section", "elements": []}]
    assert "elements" not in ContextBlock(elements=[]).get_non_null_attributes()
    assert "options" not in StaticSelectElement(action_id="pick", options=[]).to_dict()
    assert SectionBlock(text=MarkdownTextObject(text="*hi*"), fields=()).to_dict() == {
        "type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}
