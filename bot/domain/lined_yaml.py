"""YAML that remembers where each value was written, so errors can say file:line.

PyYAML's composer gives us nodes with marks; we turn them into dicts and lists that carry
the line of the node itself (`.line`) and of each key or item (`.lines`). Scalars keep
their source text too (`.raw`), so money is read as written ("4.10"), never via float.
"""

from __future__ import annotations

from typing import Any

import yaml


class LinedDict(dict):
    line: int
    lines: dict[Any, int]
    raw: dict[Any, str]
    duplicates: list[tuple[str, int]]


class LinedList(list):
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


def load(text: str) -> Any:
    """Parse one YAML document; raises YamlSyntaxError with a 1-based line."""
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
    return _convert(root, constructor)


def _convert(node: yaml.Node, constructor: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        result = LinedDict()
        result.line, result.lines, result.raw, result.duplicates = (
            node.start_mark.line + 1, {}, {}, [])
        for key_node, value_node in node.value:
            key = _convert(key_node, constructor)
            if not isinstance(key, str | int | float | bool) and key is not None:
                key = str(key)
            if key in result:
                result.duplicates.append((str(key), key_node.start_mark.line + 1))
            result[key] = _convert(value_node, constructor)
            result.lines[key] = value_line(value_node) if isinstance(
                value_node, yaml.ScalarNode) else key_node.start_mark.line + 1
            if isinstance(value_node, yaml.ScalarNode):
                result.raw[key] = value_node.value
        return result
    if isinstance(node, yaml.SequenceNode):
        items = LinedList()
        items.line, items.lines, items.raw = node.start_mark.line + 1, [], []
        for child in node.value:
            items.append(_convert(child, constructor))
            items.lines.append(value_line(child))
            items.raw.append(child.value if isinstance(child, yaml.ScalarNode) else None)
        return items
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError:
        return node.value
