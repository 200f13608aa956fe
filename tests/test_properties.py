"""Properties over arbitrary input: escaping can't be beaten, the loader can't be crashed."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.blocks.text import cut, escape, mrkdwn
from bot.domain.playbook_loader import parse_playbook

# In mrkdwn, anything between < and > is a mention, a link or a special command.
CONTROL = re.compile(r"<[^>]*>")


@given(st.text())
def test_no_user_text_produces_a_mention_or_a_link(typed: str) -> None:
    for out in (escape(typed), mrkdwn(typed), mrkdwn(typed, 50), cut(escape(typed), 40)):
        assert "<" not in out and ">" not in out
        assert not CONTROL.search(out)
        # Every & starts one of the three entities, so nothing can be smuggled in as one.
        assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*(?:… \(cut\))?", out, re.S)


yaml_scalars = st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=True),
                         st.booleans(), st.none())
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=12), children, max_size=5)),
    max_leaves=20)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_loader_reports_errors_for_any_text_and_never_crashes(text: str) -> None:
    playbook, errors = parse_playbook(text, "any.yaml")
    assert (playbook is None) == bool(errors)
    for error in errors:
        assert error.file == "any.yaml" and error.line >= 0 and error.message


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["id", "title", "version", "severities", "apology",
                                        "fix", "compensation", "causes", "follow_up",
                                        "applies_when", "description", "extra"]),
                       yaml_values, max_size=10))
def test_loader_handles_any_structure_with_the_right_keys(document: dict) -> None:
    import yaml

    text = yaml.safe_dump(document, allow_unicode=True)
    playbook, errors = parse_playbook(text, "shaped.yaml")
    assert playbook is None and errors  # random shapes are never a valid playbook
    assert all(str(e).startswith("shaped.yaml:") for e in errors)
