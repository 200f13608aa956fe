"""Keeping the database's query plans good: SQLite's statistics, refreshed hourly."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.jobs.context import JobContext
from storage import db

EVERY = timedelta(hours=1)


class Statistics:
    """Refreshes the planner's statistics once an hour (storage.db.refresh_statistics);
    each process keeps its own hour, and a second refresh is harmless."""

    def __init__(self) -> None:
        self.last: datetime | None = None

    def __call__(self, ctx: JobContext, now: datetime) -> None:
        if self.last is not None and now - self.last < EVERY:
            return
        self.last = now
        with ctx.sessions() as session:
            engine = session.get_bind().engine
        db.refresh_statistics(engine)
