"""Playbook validation: every problem reported once, with its file, line and field."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.playbook import CompensationType
from bot.domain.playbook_library import PlaybookLibrary, PlaybooksInvalid
from bot.domain.playbook_loader import load_directory, parse_playbook

GOOD = textwrap.dedent("""\
    id: cold-coffee
    title: Cold coffee
    version: 2
    description: The coffee was served cold.
    applies_when:
      categories: [drinks]
      keywords: [cold coffee, lukewarm]
    severities:
      minor: Slightly cool.
      major: Stone cold.
    apology:
      guidance: Say sorry and make a new one.
      do: [Offer a fresh cup]
      dont: [Argue about the temperature]
      suggested_wording: |
        Sorry {{ customer_name }}, let me make you a fresh one.
        {% if order_ref %}Order {{ order_ref }}.{% endif %}
    fix:
      - Make a fresh cup
      - step: Check the machine's temperature
        who: Barista
        within: 1 hour
    compensation:
      ceiling: 150%
      options:
        minor:
          - type: goodwill
            label: A biscuit on us
            value: 1.20
        major:
          - type: refund
            label: Refund the drink
            percent: 100
    causes: [Machine fault, Left standing, Other]
    follow_up:
      within: 2 days
      talking_points: [Ask if the new cup was hot]
    """)


def test_shipped_playbooks_are_valid_and_cover_the_common_failures(playbooks_dir: Path) -> None:
    result = load_directory(playbooks_dir)
    assert result.errors == []
    assert result.files >= 6
    assert {"late-delivery", "wrong-or-missing-item", "billing-error", "poor-service",
            "damaged-or-faulty", "outage-or-lost-booking"} <= set(result.playbooks)
    for playbook in result.playbooks.values():
        # Compensation grows with severity: the best option at the top level is worth more.
        tops = [max(o.amount_minor(currency="USD", purchase_minor=4000) or 0
                    for o in playbook.options_for(s.key)) for s in playbook.severities]
        assert tops == sorted(tops), playbook.id
        assert playbook.ceiling_percent == Decimal(150), playbook.id
        assert "Other" in playbook.causes


def test_a_good_playbook_reads_into_typed_values() -> None:
    playbook, errors = parse_playbook(GOOD, "cold.yaml")
    assert errors == []
    assert playbook is not None
    assert playbook.version == "2"
    assert playbook.fix[0].text == "Make a fresh cup"
    assert playbook.fix[1].who == "Barista" and playbook.fix[1].within.total_seconds() == 3600
    goodwill = playbook.options_for("minor")[0]
    assert goodwill.type is CompensationType.GOODWILL
    assert goodwill.value == Decimal("1.20")  # read as written, never via float
    assert goodwill.amount_minor(currency="USD", purchase_minor=None) == 120
    refund = playbook.options_for("major")[0]
    assert refund.amount_minor(currency="USD", purchase_minor=999) == 999
    assert refund.amount_minor(currency="USD", purchase_minor=None) is None
    assert playbook.follow_up.within.total_seconds() == 48 * 3600
    assert playbook.ceiling_minor(4000) == 6000
    assert len(playbook.content_hash) == 12


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_typo_wrong_type_and_undefined_variable_each_give_one_located_error() -> None:
    broken = (GOOD.replace("  keywords: [cold coffee, lukewarm]", "  keywrods: [cold coffee]")
              .replace("    within: 1 hour", "    within: [1, hour]")
              .replace("let me make you", "let me make {{ custmer_name }}"))
    errors = [str(e) for e in parse_playbook(broken, "cold.yaml")[1]]
    assert errors == [
        f"cold.yaml:{_line_of(broken, 'keywrods')}: applies_when.keywrods: unknown key "
        "(did you mean 'keywords'?); expected one of: categories, keywords",
        f"cold.yaml:{_line_of(broken, 'custmer_name')}: apology.suggested_wording: unknown "
        "variable 'custmer_name' (known: customer_name, location, order_ref, severity, "
        "staff_name, what_happened)",
        f"cold.yaml:{_line_of(broken, 'within: [1')}: fix[2].within: expected text, got a list",
    ]


def test_bad_indentation_is_a_yaml_error_with_its_line() -> None:
    broken = GOOD.replace("  major: Stone cold.", "   major: Stone cold.")
    errors = parse_playbook(broken, "cold.yaml")[1]
    assert len(errors) == 1
    assert errors[0].field == "yaml"
    assert errors[0].line == _line_of(broken, "major: Stone cold.")


def test_templates_cannot_reach_python_internals() -> None:
    broken = GOOD.replace("let me make you a fresh one.",
                          "{{ customer_name.__class__.__mro__ }}")
    errors = parse_playbook(broken, "cold.yaml")[1]
    assert [e.field for e in errors] == ["apology.suggested_wording"] * 2
    assert all("private attribute" in e.message for e in errors)
    assert errors[0].line == _line_of(broken, "__class__")


def test_template_syntax_error_points_at_its_line() -> None:
    broken = GOOD.replace("{% if order_ref %}", "{% if order_ref %")
    (error,) = parse_playbook(broken, "cold.yaml")[1]
    assert error.field == "apology.suggested_wording"
    assert error.message.startswith("template syntax")
    assert error.line == _line_of(broken, "{% if order_ref %")


def test_missing_sections_and_wrong_values_are_all_reported() -> None:
    text = textwrap.dedent("""\
        id: Bad Id
        title: ""
        version: 1
        severities:
          minor: small
        apology:
          guidance: g
          suggested_wording: hi
        fix: []
        compensation:
          options:
            minor:
              - type: cash
                label: Money
                value: ten
            huge: []
        causes: []
        """)
    errors = {(e.line, e.field): e.message for e in parse_playbook(text, "bad.yaml")[1]}
    assert "lowercase letters" in errors[(1, "id")]
    assert errors[(2, "title")] == "must not be empty"
    assert "at least one step" in errors[(9, "fix")]
    assert "not a compensation type" in errors[(13, "compensation.options.minor[1].type")]
    assert "expected a number" in errors[(15, "compensation.options.minor[1].value")]
    assert "not one of the severities" in errors[(16, "compensation.options.huge")]
    assert errors[(17, "causes")] == "needs at least one entry"
    assert errors[(1, "follow_up")] == "missing (required)"


def test_option_needs_exactly_one_of_value_or_percent_and_respects_the_ceiling() -> None:
    text = GOOD.replace("        percent: 100", "        percent: 200").replace(
        "        value: 1.20", "        value: 1.20\n        percent: 5")
    messages = sorted(e.message for e in parse_playbook(text, "c.yaml")[1])
    assert messages == ["200% is above the playbook's ceiling of 150%",
                        "give exactly one of 'value' (an amount) or 'percent' (of the purchase)"]


def test_duplicate_keys_and_duplicate_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("title: Cold coffee",
                                                  "title: Cold coffee\ntitle: Again"))
    (tmp_path / "c.yaml").write_text(GOOD)
    errors = [str(e) for e in load_directory(tmp_path).errors]
    assert errors == [
        f"{tmp_path / 'b.yaml'}:3: title: written twice; keep one",
        f"{tmp_path / 'c.yaml'}:1: id: 'cold-coffee' is already used by {tmp_path / 'a.yaml'}",
    ]


def test_not_a_mapping_and_empty_file() -> None:
    assert "expected a set of 'key: value' lines" in parse_playbook("- a\n- b\n", "x.yaml")[1][
        0].message
    assert parse_playbook("", "x.yaml")[1][0].field == ""


def test_library_refuses_a_broken_set(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("title:", "titel:"))
    with pytest.raises(PlaybooksInvalid) as info:
        PlaybookLibrary.load(tmp_path)
    assert "a.yaml:2: titel" in str(info.value)


def test_cli_check_prints_each_error_and_exits_1(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "typo.yaml").write_text(GOOD.replace("causes:", "cuases:"))
    (tmp_path / "indent.yaml").write_text(GOOD.replace("id: cold-coffee", "id: other")
                                          .replace("\nfix:", "\n fix:"))
    (tmp_path / "template.yaml").write_text(GOOD.replace("id: cold-coffee", "id: third")
                                            .replace("{{ customer_name }}", "{{ name }}"))
    (tmp_path / "type.yaml").write_text(GOOD.replace("id: cold-coffee", "id: fourth")
                                        .replace("ceiling: 150%", "ceiling: lots"))
    assert main(["playbooks", "check", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5  # the typo gives 'unknown key' and 'causes missing'
    assert sum(":" in line and line.split(":")[1].isdigit() for line in lines) == 5
    assert any("typo.yaml" in line and "cuases: unknown key (did you mean 'causes'?)" in line
               for line in lines)
    assert any("indent.yaml" in line and ": yaml: " in line for line in lines)
    assert any("template.yaml" in line and "unknown variable 'name'" in line for line in lines)
    assert any("type.yaml" in line and "compensation.ceiling: expected a number" in line
               for line in lines)


def test_cli_check_list_and_show_on_the_shipped_playbooks(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["playbooks", "check"]) == 0
    assert "6 playbook(s)" in capsys.readouterr().out
    assert main(["playbooks", "list"]) == 0
    assert "late-delivery" in capsys.readouterr().out
    assert main(["playbooks", "show", "late-delivery", "--purchase", "40"]) == 0
    shown = capsys.readouterr().out
    assert "Sam Taylor, I'm really sorry that order A-1042 was late." in shown
    assert "Ceiling: 150% of the purchase = $60.00" in shown
    assert "Full refund of the order (refund, $40.00, 100% of the purchase)" in shown
    assert main(["playbooks", "show", "nope"]) == 1
    assert "No playbook 'nope'" in capsys.readouterr().err


def test_a_playbook_without_a_follow_up_window_uses_the_installations_default() -> None:
    from datetime import UTC, datetime, timedelta

    from bot.domain.lifecycle import Case, Customer, Outcome, Reaction

    playbook, errors = parse_playbook(GOOD.replace("  within: 2 days\n", ""), "c.yaml")
    assert errors == [] and playbook is not None and playbook.follow_up.within is None
    at = datetime(2026, 11, 16, 9, tzinfo=UTC)
    case = Case.open(playbook=playbook, severity="minor", customer=Customer(name="Jo"),
                     summary="cold", opened_by="U0STAFF1", at=at, currency="USD")
    outcome = Outcome(reaction=Reaction.SATISFIED, root_cause="Other", action_taken="New cup")
    follow_up = case.resolve(outcome=outcome, playbook=playbook, actor="U0STAFF1", at=at,
                             manager="U0MGR001", default_window=timedelta(hours=24))
    assert follow_up.due_at == at + timedelta(hours=24)


def test_shipped_playbooks_read_well_and_say_what_they_give() -> None:
    """Guidance flows as paragraphs (no hard breaks at 80 columns in Slack), and a label
    that names a percentage is the percentage the option computes."""
    import re

    from bot.domain.playbook_library import PlaybookLibrary

    for playbook in PlaybookLibrary.load().all():
        for paragraph in playbook.apology.guidance.strip().split("\n\n"):
            assert "\n" not in paragraph, f"{playbook.id}: guidance has hard line breaks"
        for options in playbook.compensation.values():
            for option in options:
                named = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)\s*%", option.label)]
                if named:
                    assert option.percent is not None and all(
                        x == float(option.percent) for x in named), (playbook.id, option.label)
                if option.percent == 100:
                    assert "full" in option.label.lower() or "refund" in option.label.lower()
