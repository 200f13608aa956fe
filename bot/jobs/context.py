"""What every scheduled job is handed, and the one way a job sends something."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.domain.playbook_library import PlaybookLibrary
from bot.effects import Effect, Place, queue
from bot.settings import Settings

log = logging.getLogger("amends.jobs")


@dataclass
class JobContext:
    settings: Settings
    sessions: sessionmaker[Session]
    library: PlaybookLibrary
    managers: Callable[[], frozenset[str]] = field(default=lambda: frozenset())
    notify: Callable[[], None] = field(default=lambda: None)  # wakes the outbox worker

    def send(self, session: Session, claim: Callable[[Session], bool],
             effect: Effect | None, at: datetime) -> bool:
        """Claim the item and queue its effect in one transaction; False if another process
        (or an earlier run) already claimed it. The outbox delivers it, with retries, so a
        claimed item is never lost and never sent twice."""
        with session.begin():
            if not claim(session):
                return False
            if effect is not None:
                queue(session, effect, now=at)
        self.notify()
        return True

    def leadership(self, person: str | None = None) -> Place | None:
        """Where an escalation goes: the person named, else the leadership channel."""
        if person:
            return Place.dm(person)
        if self.settings.leadership_channel:
            return Place.thread(self.settings.leadership_channel)
        log.warning("nowhere to escalate (set AMENDS_ESCALATION_USER or "
                    "AMENDS_LEADERSHIP_CHANNEL)")
        return None
