"""What every scheduled job is handed, and the one way a job sends something."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.domain.playbook_library import PlaybookLibrary
from bot.effects import Effect, Place, queue
from bot.settings import Settings
from storage import db

log = logging.getLogger("amends.jobs")


class ClaimedKeys:
    """A bounded set of claimed alert keys (each names its day, so old ones only fall out)."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        with self._lock:
            if len(self._keys) >= self.LIMIT:
                self._keys.clear()  # forgetting costs one count and one claim, not an alert
            self._keys.add(key)


@dataclass
class JobContext:
    settings: Settings
    sessions: sessionmaker[Session]
    library: PlaybookLibrary
    managers: Callable[[], frozenset[str]] = field(default=lambda: frozenset())
    notify: Callable[[], None] = field(default=lambda: None)  # wakes the outbox worker
    # Alerts this process has seen claimed (by itself or another): a claim is never undone,
    # so a later case of a hotspot's day needs neither its count nor its claim again.
    claimed: ClaimedKeys = field(default_factory=ClaimedKeys)

    def send(self, session: Session, claim: Callable[[Session], bool],
             effect: Effect | None, at: datetime) -> bool:
        """Claim the item and queue its effect in one transaction; False if another process
        (or an earlier run) already claimed it. The outbox delivers it, with retries, so a
        claimed item is never lost and never sent twice."""
        with session.begin():
            # Durable even on a delivery's connection (db.delivery_engine): `claimed`
            # remembers the claim in this process, so one lost to a crash of the database
            # server would never be made again.
            db.durable(session)
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
