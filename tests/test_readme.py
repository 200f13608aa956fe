"""The README a newcomer follows: its links land on its sections, and every setting the code
reads is documented there (an earlier edit dropped whole sections, Settings among them, and
nothing noticed)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_within_the_readme_lands_on_a_section() -> None:
    headings = {_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", README, re.MULTILINE)}
    links = set(re.findall(r"\]\(#([^)]+)\)", README))
    assert links, "the README links to its own sections"
    assert sorted(links - headings) == []


def test_every_setting_the_code_reads_is_in_the_settings_table() -> None:
    read: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        read |= set(re.findall(r'"((?:AMENDS|SLACK)_[A-Z_]+|DATABASE_URL)"',
                               path.read_text(encoding="utf-8")))
    assert "AMENDS_STAFF_LIMIT" in read and "DATABASE_URL" in read
    table = README.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`((?:AMENDS|SLACK)_[A-Z_]+|DATABASE_URL)`", table))
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert sorted(read - documented) == []
    assert sorted(name for name in read if name not in example) == []
