"""Playbook wording templates: Jinja2, sandboxed, strict about undefined names, and bounded.

The environment is built once. Templates come from playbook authors, not programmers, so
they are checked before use: undefined variables, reaching into Python internals
(`{{ x.__class__ }}`) and anything outside the small language a wording needs are errors at
`amends playbooks check`, not in front of a customer.

Jinja2's sandbox stops a template reaching Python; it does not stop one from taking the
machine (`'a' * 10**9`, `9 ** 999999999`, nested loops, a string doubled in a loop). So every
render runs under a budget, the same at check time and for a real customer:
- values: no string or list longer than MAX_VALUE, no integer beyond MAX_INT_BITS, checked on
  every `*`, `**`, `+`, `~`, filter and method call before or as it is made;
- loops: `range` gives at most MAX_RANGE items, and the whole render may run at most
  MAX_STEPS lines of template code (counted by a trace hook active only during the render)
  and at most MAX_SECONDS;
- output: at most MAX_OUTPUT characters.
The check renders each template with every variable at its form's longest, so a template that
passes renders within the budget for any customer text the forms accept.
"""

from __future__ import annotations

import operator
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.domain import limits
from bot.domain.playbook import TEMPLATE_SAMPLES

MAX_VALUE = 10_000  # characters or items in any one value
MAX_OUTPUT = 5_000  # characters of wording (a section holds 3,000; the rest is margin)
MAX_INT_BITS = 128
MAX_ARG = 10_000  # the largest number a filter or method may be given (widths, counts)
MAX_RANGE = 1_000
MAX_STEPS = 50_000  # lines of template code in one render
MAX_SECONDS = 0.5

# The longest each variable can be, from the forms that fill them.
LONGEST: dict[str, int] = {
    "customer_name": limits.CUSTOMER_NAME, "staff_name": 80, "what_happened": limits.SUMMARY,
    "order_ref": limits.ORDER_REF, "location": limits.LOCATION,
    "severity": limits.SEVERITY_KEY,
}

# What a wording needs, and nothing that can amplify: no `format`, `center`, `indent`,
# `wordwrap`, `filesizeformat`, `tojson`, `urlize`…
FILTERS = frozenset({
    "capitalize", "default", "d", "first", "last", "length", "count", "lower", "upper",
    "title", "trim", "replace", "truncate", "join", "wordcount", "list", "reverse",
    "string", "int", "round", "abs", "striptags",
})
STR_METHODS = frozenset({"split", "strip", "lstrip", "rstrip", "upper", "lower", "title",
                         "capitalize", "startswith", "endswith", "replace"})
GLOBALS = frozenset({"range", "namespace"})


class BudgetExceeded(SecurityError):
    """A render that would take more time, memory or output than a wording ever needs."""


@dataclass(frozen=True)
class TemplateProblem:
    line: int  # 1-based, within the template
    message: str


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict | set) else 0


def _bounded(value: Any) -> Any:
    if _size(value) > MAX_VALUE:
        raise BudgetExceeded(f"a value longer than {MAX_VALUE:,} characters or items")
    if isinstance(value, int) and not isinstance(value, bool) \
            and value.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded("a number too large for a wording")
    return value


def _check_args(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_ARG:
            raise BudgetExceeded(f"a number above {MAX_ARG:,} as an argument")
        _bounded(arg)


def _binop(op: Callable[[Any, Any], Any], name: str) -> Callable[[Any, Any], Any]:
    def checked(left: Any, right: Any) -> Any:
        # Refuse before computing what would be huge: sizes and exponents are known first.
        if name == "*":
            count = right if isinstance(left, str | list | tuple) else left
            item = left if isinstance(left, str | list | tuple) else right
            if isinstance(item, str | list | tuple) and isinstance(count, int) \
                    and len(item) * max(count, 0) > MAX_VALUE:
                raise BudgetExceeded(f"a repeated value longer than {MAX_VALUE:,}")
        if name == "**" and isinstance(left, int | float) and isinstance(right, int | float) \
                and (abs(right) > 64 or abs(left) > 2 ** 32):
            raise BudgetExceeded("a power too large for a wording")
        if name == "+" and _size(left) + _size(right) > MAX_VALUE:
            raise BudgetExceeded(f"a value longer than {MAX_VALUE:,}")
        if name == "%" and isinstance(left, str):
            raise SecurityError("'%' formatting is not allowed in a template; use ~")
        return _bounded(op(left, right))

    return checked


_BINOPS = {"*": operator.mul, "**": operator.pow, "+": operator.add, "%": operator.mod,
           "//": operator.floordiv, "/": operator.truediv, "-": operator.sub}


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # `a ~ b` joins without any sandbox hook; bound its result like every other value.
        self.write("environment.bounded_value(")
        super().visit_Concat(node, frame)
        self.write(")")


class WordingEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset(_BINOPS)

    def __init__(self) -> None:
        # Wording is plain text, not HTML: no autoescape here. Slack escaping happens where
        # the text is put into mrkdwn.
        super().__init__(undefined=StrictUndefined, autoescape=False,
                         keep_trailing_newline=False)
        self.filters = {name: self._bounded_filter(f) for name, f in self.filters.items()
                        if name in FILTERS}
        self.globals = {name: value for name, value in self.globals.items()
                        if name in GLOBALS}
        self.globals["range"] = _range
        self.binop_table = {name: _binop(op, name) for name, op in _BINOPS.items()}

    @staticmethod
    def bounded_value(value: Any) -> Any:
        return _bounded(value)

    @staticmethod
    def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
        def bounded(*args: Any, **kwargs: Any) -> Any:
            _check_args(args, kwargs)
            return _bounded(function(*args, **kwargs))

        for attribute in ("jinja_pass_arg",):  # keep Jinja's context/env markers
            if hasattr(function, attribute):
                setattr(bounded, attribute, getattr(function, attribute))
        return bounded

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        return self.binop_table[operator](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        allowed = __obj is _range or getattr(__obj, "__name__", None) == "Namespace" or (
            isinstance(getattr(__obj, "__self__", None), str)
            and getattr(__obj, "__name__", "") in STR_METHODS)
        if not allowed:
            name = getattr(__obj, "__name__", type(__obj).__name__)
            raise SecurityError(f"calling '{name}' is not allowed in a wording template")
        _check_args(args, kwargs)
        return _bounded(super().call(__context, __obj, *args, **kwargs))


def _range(*args: int) -> range:
    _check_args(args, {})
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise BudgetExceeded(f"a range of more than {MAX_RANGE:,} items")
    return numbers


@lru_cache(maxsize=1)
def environment() -> WordingEnvironment:
    return WordingEnvironment()


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    # Compiling costs ten times the render; a playbook's few wordings are compiled once.
    return environment().from_string(source)


def _run(source: str, values: Mapping[str, str]) -> str:
    """Render under the step, time and output budget (the same at check time and live)."""
    template = _compiled(source)
    steps = 0
    deadline = time.monotonic() + MAX_SECONDS

    def tracer(frame: FrameType, event: str, _arg: Any) -> Any:
        nonlocal steps
        if frame.f_code.co_filename != "<template>":
            return None  # only template code is counted (and slowed)
        if event == "line":
            steps += 1
            if steps > MAX_STEPS or (steps % 1000 == 0 and time.monotonic() > deadline):
                raise BudgetExceeded(f"the template runs too long (over {MAX_STEPS:,} steps)")
        return tracer

    previous = sys.gettrace()
    out: list[str] = []
    size = 0
    sys.settrace(tracer)
    try:
        for chunk in template.generate(**values):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise BudgetExceeded(f"the wording is longer than {MAX_OUTPUT:,} characters")
            out.append(chunk)
    finally:
        sys.settrace(previous)
    return "".join(out)


def check(source: str, allowed: Mapping[str, str] = TEMPLATE_SAMPLES) -> list[TemplateProblem]:
    """Every problem in one template: syntax, unknown names, private attributes, what the
    wording language leaves out, render errors, and the render budget at the longest input."""
    env = environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno or 1, f"template syntax: {exc.message}")]
    problems: list[TemplateProblem] = []
    for used in tree.find_all(nodes.Filter):
        if used.name not in FILTERS:
            problems.append(TemplateProblem(
                used.lineno, f"the filter '{used.name}' is not available in a wording "
                             f"(use: {', '.join(sorted(FILTERS))})"))
    for node in tree.find_all((nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Import,
                               nodes.FromImport, nodes.Extends)):
        problems.append(TemplateProblem(
            node.lineno, f"'{type(node).__name__.lower()}' is not available in a wording"))
    if problems:  # the names below can't be worked out with an unknown filter
        return problems
    undeclared = meta.find_undeclared_variables(tree) - set(allowed) - GLOBALS
    for variable in tree.find_all(nodes.Name):
        if variable.ctx == "load" and variable.name in undeclared:
            known = ", ".join(sorted(allowed))
            problems.append(TemplateProblem(
                variable.lineno, f"unknown variable '{variable.name}' (known: {known})"))
            undeclared.discard(variable.name)  # report each name once, at its first use
    for lookup in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = (lookup.attr if isinstance(lookup, nodes.Getattr)
                else getattr(getattr(lookup, "arg", None), "value", None))
        if isinstance(name, str) and name.startswith("_"):
            problems.append(TemplateProblem(
                lookup.lineno, f"'{name}' is not allowed in a template (private attribute)"))
    if problems:
        return problems
    samples = [dict(allowed)] + [
        {name: (pattern * limit)[:limit] for name, limit in LONGEST.items()}
        for pattern in ("x", "x ", "Ab, ")]
    for values in samples:
        try:
            _run(source, values)
        except BudgetExceeded as exc:
            return [TemplateProblem(1, f"too costly to render for the longest customer "
                                       f"details: {exc}")]
        except SecurityError as exc:
            return [TemplateProblem(1, f"not allowed in a template: {exc}")]
        except TemplateError as exc:
            return [TemplateProblem(getattr(exc, "lineno", None) or 1, f"template: {exc}")]
        except Exception as exc:  # a filter or operator failing on sample values
            return [TemplateProblem(1, f"template fails to render: {exc}")]
    return problems


def render(source: str, variables: Mapping[str, str | None]) -> str:
    """Render a checked template. Missing optional values render as empty text.

    Raises BudgetExceeded (a TemplateError) if this customer's details still make it too
    costly; callers show the guidance without the suggested wording then."""
    values = {name: (variables.get(name) or "") for name in TEMPLATE_SAMPLES}
    return _run(source, values).strip()
