"""YAML that remembers where each value was written, so errors can say file:line.

PyYAML's composer gives us nodes with marks; we turn them into dicts and lists that carry
the line of the node itself (`.line`) and of each key or item (`.lines`). Scalars keep
their source text too (`.raw`), so money is read as written ("4.10"), never via float.
"""

from __future__ import annotations

from typing import Any

import yaml


class LinedDict(dict[Any, Any]):
    line: int
    lines: dict[Any, int]
    raw: dict[Any, str]
    duplicates: list[tuple[str, int]]


class LinedList(list[Any]):
    line: int
    lines: list[int]
    raw: list[str | None]


class YamlSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _block_offset(node: yaml.Node) -> int:
    # A block scalar ("|" or ">") starts on the line after its indicator.
    return 1 if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">") else 0


def value_line(node: yaml.Node) -> int:
    return node.start_mark.line + 1 + _block_offset(node)


# A playbook is a few hundred nodes, nested five or six deep. These bounds are far above
# that and far below what hurts: PyYAML's composer recurses once per level (thousands deep
# is a RecursionError), and an alias re-uses a node, so ten aliases of ten aliases of… is a
# few hundred bytes that expand to billions of values (the "billion laughs").
MAX_DEPTH = 40
MAX_EVENTS = 100_000
MAX_ALIASES = 100
MAX_NODES = 20_000  # after aliases are expanded


def _bounded(text: str) -> None:
    """Walk the event stream (iterative, cheap) and refuse what would not be, with the line."""
    depth = aliases = 0
    try:
        for count, event in enumerate(yaml.parse(text, Loader=yaml.SafeLoader)):
            line = event.start_mark.line + 1 if event.start_mark else 1
            if count > MAX_EVENTS:
                raise YamlSyntaxError(line, f"too large: more than {MAX_EVENTS:,} values")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlSyntaxError(line, f"nested more than {MAX_DEPTH} levels deep")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise YamlSyntaxError(line, f"more than {MAX_ALIASES} aliases (*name)")
    except yaml.YAMLError:
        return  # compose() below reports the syntax error with its line


def load(text: str) -> Any:
    """Parse one YAML document; raises YamlSyntaxError with a 1-based line."""
    _bounded(text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or str(exc)
        if exc.context and "mapping" in (exc.context or ""):
            problem += " (check the indentation and the ':' after each key)"
        raise YamlSyntaxError(line, problem) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, str(exc)) from None
    if root is None:
        return None
    constructor = yaml.SafeLoader("")
    return _convert(root, constructor, _Budget(), ())


class _Budget:
    nodes = 0

    def spend(self, node: yaml.Node) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlSyntaxError(node.start_mark.line + 1,
                                  f"aliases expand to more than {MAX_NODES:,} values")


def _convert(node: yaml.Node, constructor: yaml.SafeLoader, budget: _Budget,
             parents: tuple[yaml.Node, ...]) -> Any:
    budget.spend(node)
    if any(node is parent for parent in parents):  # &a [*a]: an alias of its own ancestor
        raise YamlSyntaxError(node.start_mark.line + 1, "an alias refers to itself")
    parents = (*parents, node)
    if isinstance(node, yaml.MappingNode):
        result = LinedDict()
        result.line, result.lines, result.raw, result.duplicates = (
            node.start_mark.line + 1, {}, {}, [])
        for key_node, value_node in node.value:
            key = _convert(key_node, constructor, budget, parents)
            if not isinstance(key, str | int | float | bool) and key is not None:
                key = str(key)
            if key in result:
                result.duplicates.append((str(key), key_node.start_mark.line + 1))
            result[key] = _convert(value_node, constructor, budget, parents)
            result.lines[key] = value_line(value_node) if isinstance(
                value_node, yaml.ScalarNode) else key_node.start_mark.line + 1
            if isinstance(value_node, yaml.ScalarNode):
                result.raw[key] = value_node.value
        return result
    if isinstance(node, yaml.SequenceNode):
        items = LinedList()
        items.line, items.lines, items.raw = node.start_mark.line + 1, [], []
        for child in node.value:
            items.append(_convert(child, constructor, budget, parents))
            items.lines.append(value_line(child))
            items.raw.append(child.value if isinstance(child, yaml.ScalarNode) else None)
        return items
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError:
        return node.value
