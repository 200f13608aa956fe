"""The playbook JSON Schema for editors, against the loader (the source of truth).

Every shipped playbook passes both; a corpus of broken playbooks goes through both, and every
mistake the schema reports, the loader reports at the same place (it may say more, never
less). The shipped schema file is what `amends playbooks schema` writes.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.domain.playbook_loader import load_directory, parse_playbook
from bot.domain.playbook_schema import schema
from bot.domain.playbook_starter import MODELINE, SCHEMA_FILE, starter

SHIPPED = Path(__file__).resolve().parents[2] / "playbooks"
VALIDATOR = jsonschema.Draft202012Validator(schema())


def _field(path: Any) -> str:
    """A schema error's place, written as the loader writes fields: a.b[1].c (1-based)."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_fields(document: Any) -> set[str]:
    found = set()
    for error in VALIDATOR.iter_errors(document):
        where = _field(error.absolute_path)
        if error.validator == "required":
            found |= {f"{where}.{k}" if where else k for k in error.validator_value
                      if k not in error.instance}
        elif error.validator == "additionalProperties" and error.validator_value is False:
            known = error.schema.get("properties", {})
            found |= {f"{where}.{k}" if where else k for k in error.instance if k not in known}
        else:
            found.add(where)
    return found


def _related(a: str, b: str) -> bool:
    """The same place, or one inside the other."""
    return a == b or any(x.startswith(y) and x[len(y)] in ".[" for x, y in ((a, b), (b, a))
                         if len(x) > len(y) and y)


def both(text: str) -> tuple[set[str], set[str]]:
    """(what the schema finds, what the loader finds) for one playbook's text."""
    _, errors = parse_playbook(text, "p.yaml")
    return schema_fields(yaml.safe_load(text)), {e.field for e in errors}


def test_the_shipped_schema_is_what_the_command_writes_and_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert json.loads((SHIPPED / SCHEMA_FILE).read_text()) == schema()
    done = subprocess.run([sys.executable, "-m", "bot.cli", "playbooks", "schema"],
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == schema()


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_playbook_passes_the_schema_and_points_editors_at_it(path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == MODELINE
    assert both(text) == (set(), set())


def _base() -> dict[str, Any]:
    loaded = yaml.safe_load((SHIPPED / "late-delivery.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return change


DELETE = object()
LONG = "x" * 300
OPTION = {"type": "refund", "label": "Refund", "percent": 10}

# Broken playbooks: (name, change to late-delivery). The schema sees each of these.
BOTH_SEE = [
    ("missing title", _set("title", DELETE)),
    ("unknown top key", _set("titel", "Late")),
    ("id not a slug", _set("id", "Late Delivery")),
    ("title too long", _set("title", "t" * 151)),
    ("version too long", _set("version", "v" * 40)),
    ("blank title", _set("title", "   ")),
    ("no severities", _set("severities", {})),
    ("severity name", _set("severities.Very Bad", "worse")),
    ("severity name too long", _set("severities." + "s" * 33, "worse")),
    ("no suggested wording", _set("apology.suggested_wording", DELETE)),
    ("do is text", _set("apology.do", "be kind")),
    ("unknown apology key", _set("apology.tone", "warm")),
    ("no steps", _set("fix", [])),
    ("too many steps", _set("fix", ["Do it"] * 21)),
    ("blank step", _set("fix.0", "  ")),
    ("step without step", _set("fix.0", {"who": "Staff"})),
    ("step with unknown key", _set("fix.0.when", "now")),
    ("step within not a duration", _set("fix.0.within", "soon")),
    ("step too long", _set("fix.1.step", "s" * 2001)),
    ("unknown compensation type", _set("compensation.options.minor.0.type", "cash")),
    ("value and percent", _set("compensation.options.minor.0.value", 5)),
    ("neither value nor percent", _set("compensation.options.minor.1.value", DELETE)),
    ("negative value", _set("compensation.options.minor.1.value", -5)),
    ("value not a number", _set("compensation.options.minor.1.value", "five")),
    ("percent not a number", _set("compensation.options.minor.0.percent", "a lot")),
    ("label too long", _set("compensation.options.minor.0.label", LONG)),
    ("option without label", _set("compensation.options.minor.0.label", DELETE)),
    ("too many options", _set("compensation.options.minor", [OPTION] * 11)),
    ("options not a list", _set("compensation.options.minor", "none")),
    ("no options", _set("compensation.options", DELETE)),
    ("no causes", _set("causes", [])),
    ("cause too long", _set("causes.0", "c" * 151)),
    ("follow-up unknown key", _set("follow_up.when", "later")),
    ("follow-up within", _set("follow_up.within", "tomorrow")),
    ("escalate after", _set("follow_up.escalate_after", "2 fortnights")),
    ("keywords a mapping", _set("applies_when.keywords", {"late": True})),
    ("follow-up missing", _set("follow_up", DELETE)),
]

# Mistakes only the loader can see (across sections, or in a template).
LOADER_ONLY = [
    ("option for an unknown severity", _set("compensation.options.tiny", [OPTION])),
    ("percent above the ceiling", _set("compensation.options.minor.0.percent", 200)),
    ("a severity without options", _set("severities.critical", "worst")),
    ("a template that does not parse", _set("apology.suggested_wording", "{% if x %}")),
]


def _text(change: Callable[[dict[str, Any]], None]) -> str:
    doc = copy.deepcopy(_base())
    change(doc)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@pytest.mark.parametrize(("name", "change"), BOTH_SEE, ids=[n for n, _ in BOTH_SEE])
def test_a_mistake_the_schema_sees_the_loader_reports_at_the_same_place(
        name: str, change: Callable[[dict[str, Any]], None]) -> None:
    seen_by_schema, seen_by_loader = both(_text(change))
    assert seen_by_schema, f"the schema missed: {name}"
    for where in seen_by_schema:
        assert any(_related(where, field) for field in seen_by_loader), (
            name, where, seen_by_loader)


@pytest.mark.parametrize(("name", "change"), LOADER_ONLY, ids=[n for n, _ in LOADER_ONLY])
def test_the_loader_says_more_than_the_schema(name: str,
                                              change: Callable[[dict[str, Any]], None]) -> None:
    seen_by_schema, seen_by_loader = both(_text(change))
    assert seen_by_loader and not seen_by_schema, name


@pytest.mark.parametrize("accepted", [
    _set("version", 2), _set("id", "late-2"), _set("compensation.options.minor.0.type",
                                                    " Free item "),
    _set("compensation.ceiling", "120 %"), _set("compensation.options.minor.1.value", "4.5"),
    _set("applies_when.keywords", None), _set("fix.0", "Find the order"),
    _set("follow_up.escalate_to", None), _set("follow_up.within", "2 Days"),
])
def test_what_the_loader_accepts_the_schema_accepts(
        accepted: Callable[[dict[str, Any]], None]) -> None:
    assert both(_text(accepted)) == (set(), set())


def test_a_new_playbook_passes_the_check_and_the_schema(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "bot.cli", "playbooks", "new", "gift-cards", "--dir",
           str(tmp_path)]
    done = subprocess.run(run, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = tmp_path / "gift-cards.yaml"
    assert json.loads((tmp_path / SCHEMA_FILE).read_text()) == schema()
    result = load_directory(tmp_path)
    assert result.errors == [] and list(result.playbooks) == ["gift-cards"]
    assert both(written.read_text()) == (set(), set())
    again = subprocess.run(run, capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert written.read_text() == starter("gift-cards")  # not overwritten
    bad = subprocess.run([*run[:5], "Gift Cards", "--dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "lowercase letters" in bad.stderr
