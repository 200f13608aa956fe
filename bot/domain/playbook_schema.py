"""The playbook format as a JSON Schema, for editors: completion and mistakes flagged while
typing (`amends playbooks schema`; the shipped playbooks point at it on their first line).

The loader (bot.domain.playbook_loader) stays the source of truth and says more (severity
names that match across sections, a ceiling above every percentage, templates that render
within budget, durations). This schema is built from the loader's own names and limits, and
is never stricter: tests run the shipped playbooks and a corpus of broken ones through both,
and every mistake the schema finds, the loader finds too.
"""

from __future__ import annotations

from typing import Any

from bot.domain import limits, money
from bot.domain.durations import UNITS
from bot.domain.playbook import CompensationType
from bot.domain.playbook_loader import MAX_OPTIONS, MAX_STEPS, MAX_TEXT, SLUG, TOP_REQUIRED

SCHEMA_ID = "https://amends.dev/schema/playbook.schema.json"
NOT_BLANK = r"\S"
# A number the loader reads (as text, YAML numbers included): zero or more, below 10^MAX_DIGITS.
NUMBER_TEXT = r"^\s*\d+(\.\d+)?([eE][+-]?\d+)?\s*$"
PERCENT_TEXT = r"^\s*\d+(\.\d+)?([eE][+-]?\d+)?\s*%?\s*$"



def _text(description: str, *, max_len: int = MAX_TEXT, required: bool = True
          ) -> dict[str, Any]:
    # The loader reads any scalar as text (`version: 1` is the text "1"), so numbers pass.
    kinds: list[str] = ["string", "number"] if required else ["string", "number", "null"]
    schema: dict[str, Any] = {"type": kinds, "description": description,
                              "maxLength": max_len}
    if required:
        schema["pattern"] = NOT_BLANK
    return schema


def _texts(description: str, *, max_len: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": ["array", "null"], "description": description,
            "items": {"type": ["string", "number"], "maxLength": max_len}}


def _number(description: str, *, percent: bool) -> dict[str, Any]:
    return {"description": description, "oneOf": [
        {"type": "number", "minimum": 0, "exclusiveMaximum": 10 ** money.MAX_DIGITS},
        {"type": "string", "pattern": PERCENT_TEXT if percent else NUMBER_TEXT},
    ]}


def _any_case(words: list[str]) -> str:
    """One of `words` in any case, with a space for an underscore: the loader lowercases a
    compensation type and a duration's unit before it reads them."""
    def letters(value: str) -> str:
        return "".join("[ _]" if c == "_" else f"[{c.lower()}{c.upper()}]" if c.isalpha()
                       else c for c in value)
    return "(" + "|".join(letters(word) for word in words) + ")"


def _duration(description: str) -> dict[str, Any]:
    # bot.domain.durations: a number and a unit, like '48 hours'.
    return {"type": ["string", "null"], "description": description,
            "pattern": r"^\s*\d+(\.\d+)?\s*" + _any_case(list(UNITS)) + r"\s*$"}


def _strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


def schema() -> dict[str, Any]:
    option = _strict({
        "type": {"description": "what is given",
                 # The names to complete, and what the loader also takes ("Free item").
                 "anyOf": [{"enum": [t.value for t in CompensationType]},
                           {"type": "string", "pattern": r"^\s*" + _any_case(
                               [t.value for t in CompensationType]) + r"\s*$"}]},
        "label": _text("what staff see on the button and the customer is offered",
                       max_len=limits.COMPENSATION_LABEL),
        "value": _number("an amount in the shop's currency, like 15.00", percent=False),
        "percent": _number("a percentage of the purchase, like 35 or '35%'", percent=True),
    }, ("type", "label"))
    option["oneOf"] = [{"required": ["value"], "not": {"required": ["percent"]}},
                       {"required": ["percent"], "not": {"required": ["value"]}}]
    step = {"oneOf": [
        {"type": "string", "pattern": NOT_BLANK, "maxLength": MAX_TEXT},
        _strict({"step": _text("what to do"),
                 "who": _text("who does it, like Staff or Manager", required=False),
                 "within": _duration("how soon, like '10 minutes'")}, ("step",)),
    ]}
    properties: dict[str, Any] = {
        "id": {"type": ["string", "number"], "pattern": SLUG.pattern,
               "maxLength": limits.PLAYBOOK_ID,
               "description": "lowercase letters, digits and dashes, like late-delivery"},
        "title": _text("shown to staff when they pick a playbook", max_len=150),
        "version": _text("bump it when you change the playbook; cases record it",
                         max_len=limits.PLAYBOOK_VERSION),
        "description": _text("when this playbook applies", required=False),
        "applies_when": _strict({
            "categories": _texts("categories from the new-case form"),
            "keywords": _texts("words in the summary that suggest this playbook"),
        }),
        "severities": {
            "type": "object", "minProperties": 1,
            "description": "each level's name and what it means, like 'minor: ...'",
            "propertyNames": {"pattern": SLUG.pattern, "maxLength": limits.SEVERITY_KEY},
            "additionalProperties": _text("what this severity means"),
        },
        "apology": _strict({
            "guidance": _text("how to apologise, for staff"),
            "suggested_wording": _text("a starting point in the customer's details (Jinja2: "
                                       "customer_name, staff_name, what_happened, order_ref, "
                                       "location, severity)"),
            "do": _texts("things to do"),
            "dont": _texts("things not to do"),
        }, ("guidance", "suggested_wording")),
        "fix": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": step,
                "description": "the checklist of steps to put it right"},
        "compensation": _strict({
            "ceiling": _number("the most to give, as a percentage of the purchase, like "
                               "'150%'", percent=True),
            "options": {"type": "object",
                        "description": "for each severity, a list of options (it may be [])",
                        "additionalProperties": {"type": "array", "maxItems": MAX_OPTIONS,
                                                 "items": option}},
        }, ("options",)),
        "causes": {"type": "array", "minItems": 1,
                   "items": {"type": ["string", "number"], "maxLength": limits.ROOT_CAUSE},
                   "description": "root causes offered when the case is resolved"},
        "follow_up": _strict({
            "who": _text("who follows up in person", required=False),
            "within": _duration("how soon after resolving, like '48 hours'"),
            "talking_points": _texts("what to say or ask"),
            "escalate_after": _duration("when an overdue follow-up is escalated"),
            "escalate_to": _text("a Slack user or channel id to escalate to",
                                 required=False),
        }),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Amends playbook",
        "description": "A service-recovery playbook: apology, fix and compensation. "
                       "`amends playbooks check` is the full check.",
        **_strict(properties, TOP_REQUIRED),
    }
