"""Layering, one way: domain <- storage <- (jobs, delivery, listeners) <- app.

bot/domain knows nothing of Slack or the database; storage knows the domain and nothing
else of bot; listeners and the block builders never touch storage or SQL; the delivery
side and the scheduled jobs never import the listeners (and listeners never import them).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, in full ("bot.domain.lifecycle", "sqlalchemy.orm")."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _files(*parts: str) -> list[Path]:
    files = list((ROOT.joinpath(*parts)).rglob("*.py"))
    assert files, parts
    return files


def _touches(names: set[str], *prefixes: str) -> set[str]:
    return {n for n in names for p in prefixes if n == p or n.startswith(p + ".")}


def test_domain_imports_no_slack_no_database_and_nothing_above_it() -> None:
    for path in _files("bot", "domain"):
        names = _imports(path)
        assert not _touches(names, "slack_bolt", "slack_sdk", "sqlalchemy", "storage"), path
        # bot.shipped_playbooks is data (the YAML files), not code.
        above = {n for n in _touches(names, "bot")
                 if not n.startswith(("bot.domain", "bot.shipped_playbooks"))}
        assert not above, (path, above)


def test_storage_imports_only_the_domain_of_bot() -> None:
    for path in _files("storage"):
        names = _imports(path)
        assert not _touches(names, "slack_bolt", "slack_sdk"), path
        above = {n for n in _touches(names, "bot") if not n.startswith("bot.domain")}
        assert not above, (path, above)


def test_listeners_and_blocks_touch_no_storage_and_no_sql() -> None:
    for path in [*_files("bot", "listeners"), *_files("bot", "blocks")]:
        names = _imports(path)
        assert not _touches(names, "sqlalchemy", "storage"), path


def test_delivery_and_jobs_never_import_the_listeners() -> None:
    for path in [*_files("bot", "delivery"), *_files("bot", "jobs")]:
        assert not _touches(_imports(path), "bot.listeners", "slack_bolt"), path


def test_listeners_never_import_the_delivery_side_or_the_jobs() -> None:
    for path in _files("bot", "listeners"):
        assert not _touches(_imports(path), "bot.delivery", "bot.jobs"), path


def test_blocks_build_messages_from_the_domain_only() -> None:
    for path in _files("bot", "blocks"):
        names = _imports(path)
        assert not _touches(names, "bot.listeners", "bot.delivery", "bot.jobs",
                            "bot.recovery"), path
