"""SQLite's planner statistics: written by `db upgrade`, refreshed hourly by the scheduler,
and nothing to do on PostgreSQL (autovacuum keeps its own)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, text

from bot.domain.lifecycle import Case, Customer
from bot.domain.playbook_library import PlaybookLibrary
from bot.jobs import SCHEDULED
from bot.jobs.maintenance import Statistics
from storage import cases, db

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _stat(engine: Engine, index: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE idx = :i"),
                            {"i": index}).scalar()


def _add_cases(engine: Engine, library: PlaybookLibrary, n: int) -> None:
    sessions = db.make_sessions(engine)
    with sessions.begin() as session:
        for i in range(n):
            cases.add(session, Case.open(
                playbook=library.get("late-delivery"), severity="major",
                customer=Customer(name=f"C{i}"), summary="late", opened_by="U0STAFF1",
                at=NOW, currency="USD"))


def test_statistics_are_written_on_upgrade_and_refreshed_hourly(
        tmp_path: Path, library: PlaybookLibrary) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'stats.db'}")
    db.upgrade(engine)
    _add_cases(engine, library, 30)
    assert _stat(engine, "ix_cases_state") is None  # nothing measured in empty tables
    ctx: Any = SimpleNamespace(sessions=db.make_sessions(engine))
    job = Statistics()

    job(ctx, NOW)
    assert (_stat(engine, "ix_cases_state") or "").startswith("30 ")  # 30 rows measured
    _add_cases(engine, library, 20)
    job(ctx, NOW + timedelta(minutes=59))  # within the hour: left as it is
    assert (_stat(engine, "ix_cases_state") or "").startswith("30 ")
    job(ctx, NOW + timedelta(hours=1))
    assert (_stat(engine, "ix_cases_state") or "").startswith("50 ")
    assert isinstance(SCHEDULED["statistics"], Statistics)  # the scheduler runs it
    engine.dispose()


def test_postgresql_keeps_its_own_statistics(engine: Engine) -> None:
    assert db.refresh_statistics(engine) is (engine.dialect.name == "sqlite")
