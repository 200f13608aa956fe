"""Layering: the domain knows nothing of Slack or the database; listeners no SQL."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_domain_imports_no_slack_and_no_database() -> None:
    files = list((ROOT / "bot" / "domain").glob("*.py"))
    assert files
    for path in files:
        assert not _imports(path) & {"slack_bolt", "slack_sdk", "sqlalchemy", "storage"}, path


def test_listeners_and_blocks_do_not_touch_sql() -> None:
    files = [*(ROOT / "bot" / "listeners").glob("*.py"), *(ROOT / "bot" / "blocks").glob("*.py")]
    assert files
    for path in files:
        assert "sqlalchemy" not in _imports(path), path


def test_storage_imports_no_slack() -> None:
    for path in (ROOT / "storage").rglob("*.py"):
        assert not _imports(path) & {"slack_bolt", "slack_sdk"}, path
