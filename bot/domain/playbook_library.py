"""The loaded playbooks, kept in memory, and how one is suggested from free text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.domain.playbook import Playbook
from bot.domain.playbook_loader import PlaybookError, load_directory


class PlaybooksInvalid(Exception):
    def __init__(self, errors: list[PlaybookError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def shipped_directory() -> Path:
    """The playbooks that ship with the package (the repository's playbooks/ folder)."""
    import bot.shipped_playbooks as shipped  # a data-only package: see pyproject.toml

    return Path(shipped.__file__).parent


# Compared and hashed by identity: a loaded library is one fixed set, and callers cache
# what they build from it per instance.
@dataclass(frozen=True, eq=False)
class PlaybookLibrary:
    playbooks: dict[str, Playbook]

    @classmethod
    def load(cls, directory: Path | None = None) -> PlaybookLibrary:
        """Load and validate; any error refuses the whole set, so nobody runs half a library."""
        result = load_directory(directory or shipped_directory())
        if result.errors:
            raise PlaybooksInvalid(result.errors)
        return cls(result.playbooks)

    def __len__(self) -> int:
        return len(self.playbooks)

    def get(self, playbook_id: str) -> Playbook | None:
        return self.playbooks.get(playbook_id)

    def all(self) -> list[Playbook]:
        return sorted(self.playbooks.values(), key=lambda p: p.title.lower())

    def suggest(self, text: str) -> Playbook | None:
        """The playbook whose keywords and categories best match free text, if any match."""
        words = _normalise(text)
        if not words.strip():
            return None
        best: tuple[int, str] | None = None
        for playbook in self.playbooks.values():
            score = sum(3 for k in playbook.keywords if _contains(words, k))
            score += sum(2 for c in playbook.categories if _contains(words, c))
            score += 1 if _contains(words, playbook.id.replace("-", " ")) else 0
            if score and (best is None or (score, playbook.id) > best):
                best = (score, playbook.id)
        return self.playbooks[best[1]] if best else None


def _normalise(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9']+", " ", text.lower()).strip() + " "


def _contains(haystack: str, phrase: str) -> bool:
    needle = _normalise(phrase)
    return needle.strip() != "" and needle in haystack
