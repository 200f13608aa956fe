"""A plain (not editable) `pip install .` carries the playbooks and the migrations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_plain_install_finds_shipped_playbooks_and_migrations(tmp_path: Path) -> None:
    target = tmp_path / "site"
    # --no-deps/--no-build-isolation: the dependencies are already here; this checks only
    # what the wheel built from this tree contains.
    # From a copy: setuptools builds in-tree and reuses a stale build/ (a renamed migration
    # would still be packaged from an earlier build).
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.db*", ".*cache"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(source)],
                   check=True, capture_output=True, text=True)
    assert (target / "bot" / "shipped_playbooks" / "late-delivery.yaml").is_file()
    # Every module and data file of the source tree is in the installed package.
    wanted = {p.relative_to(ROOT) for top in ("bot", "storage") for p in (ROOT / top).rglob("*")
              if p.suffix in (".py", ".j2", ".mako", ".html", ".js", ".css")
              and "__pycache__" not in p.parts}
    wanted |= {Path("bot/shipped_playbooks") / p.name for p in (ROOT / "playbooks").glob("*.yaml")}
    installed = {p.relative_to(target) for p in target.rglob("*") if p.is_file()}
    assert wanted - installed == set()
    env = {**os.environ, "PYTHONPATH": str(target), "DATABASE_URL":
           f"sqlite:///{tmp_path / 'a.db'}"}
    script = ("import sys, bot; assert bot.__file__.startswith(sys.argv[1]), bot.__file__; "
              "from bot.cli import main; sys.exit(main(sys.argv[2:]))")

    def amends(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", script, str(target), *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True)

    checked = amends("playbooks", "check")
    assert checked.returncode == 0, checked.stderr
    assert "6 playbook(s)" in checked.stdout
    assert str(target) in checked.stdout
    shown = amends("playbooks", "show", "late-delivery")
    assert shown.returncode == 0 and "2. Fix" in shown.stdout
    upgraded = amends("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
