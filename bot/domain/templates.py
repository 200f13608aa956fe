"""Playbook wording templates: Jinja2, sandboxed, strict about undefined names.

The environment is built once. Templates come from playbook authors, not programmers, so
they are checked before use: undefined variables and reaching into Python internals
(`{{ x.__class__ }}`) are errors at `amends playbooks check`, not in front of a customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.domain.playbook import TEMPLATE_SAMPLES


@dataclass(frozen=True)
class TemplateProblem:
    line: int  # 1-based, within the template
    message: str


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    # Wording is plain text, not HTML: no autoescape here. Slack escaping happens where the
    # text is put into mrkdwn.
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


def check(source: str, allowed: Mapping[str, str] = TEMPLATE_SAMPLES) -> list[TemplateProblem]:
    """Every problem in one template: syntax, unknown names, private attributes, render errors."""
    env = environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno or 1, f"template syntax: {exc.message}")]
    problems: list[TemplateProblem] = []
    undeclared = meta.find_undeclared_variables(tree) - set(allowed)
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name in undeclared:
            known = ", ".join(sorted(allowed))
            problems.append(TemplateProblem(
                node.lineno, f"unknown variable '{node.name}' (known: {known})"))
            undeclared.discard(node.name)  # report each name once, at its first use
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(name, str) and name.startswith("_"):
            problems.append(TemplateProblem(
                node.lineno, f"'{name}' is not allowed in a template (private attribute)"))
    if problems:
        return problems
    try:
        env.from_string(source).render(**allowed)
    except SecurityError as exc:
        problems.append(TemplateProblem(1, f"not allowed in a template: {exc}"))
    except TemplateError as exc:
        problems.append(TemplateProblem(getattr(exc, "lineno", None) or 1, f"template: {exc}"))
    except Exception as exc:  # a filter or operator failing on sample values
        problems.append(TemplateProblem(1, f"template fails to render: {exc}"))
    return problems


def render(source: str, variables: Mapping[str, str | None]) -> str:
    """Render a checked template. Missing optional values render as empty text."""
    values = {name: (variables.get(name) or "") for name in TEMPLATE_SAMPLES}
    return environment().from_string(source).render(**values).strip()
