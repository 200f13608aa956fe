"""The schema comes only from Alembic migrations, and the app refuses an out-of-date one."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from bot.cli import main
from storage import db, outbox
from storage.models import Base, OutboxRow


def test_migrations_match_the_models(engine: Engine) -> None:
    """A model changed without a migration shows up here as a difference."""
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert db.current_revision(engine) == db.head_revision()
    db.check_schema(engine)  # does not raise


def test_empty_database_is_refused_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(db.SchemaOutOfDate, match=r"is empty.*Run `amends db upgrade`"):
        db.check_schema(engine)


def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'cycle.db'}")
    db.upgrade(engine)
    command.downgrade(db.alembic_config(engine), "base")
    assert inspect(engine).get_table_names() == ["alembic_version"]
    with pytest.raises(db.SchemaOutOfDate):
        db.check_schema(engine)
    db.upgrade(engine)
    assert {"cases", "case_events", "compensations", "approvals", "follow_ups",
            "sent_digests"} <= set(inspect(engine).get_table_names())


def test_cli_db_upgrade_creates_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'amends.db'}")
    assert main(["db", "status"]) == 1
    assert "amends db upgrade" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "status"]) == 0
    assert "(latest)" in capsys.readouterr().out
    assert (tmp_path / "data" / "amends.db").is_file()


def test_cli_db_upgrade_on_postgres(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The session's PostgreSQL database is already migrated: upgrade again is a no-op.
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "status"]) == 0


def test_a_delivery_tried_before_the_upgrade_looks_for_every_post(tmp_path: Path) -> None:
    """0008 keeps which posts a failed attempt sent; rows tried before it can't say, so their
    retry looks for every post, as retries did before."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'sent.db'}")
    db.upgrade(engine, "0007")
    with engine.begin() as connection:
        for id_, attempts, status in ((1, 0, "pending"), (2, 2, "pending"), (3, 1, "dead"),
                                      (4, 1, "sent")):
            connection.execute(text(
                "INSERT INTO outbox (id, kind, payload, status, attempts, next_attempt_at, "
                "created_at) VALUES (:id, 'refresh', '{}', :status, :attempts, "
                "'2026-11-24 00:00:00', '2026-11-24 00:00:00')"),
                {"id": id_, "attempts": attempts, "status": status})
    db.upgrade(engine)
    with db.make_sessions(engine)() as session:
        labels = dict(session.execute(select(OutboxRow.id, OutboxRow.sent_labels)).all())
    assert labels == {1: None, 2: ["*"], 3: ["*"], 4: None}
    assert outbox.UNKNOWN == ["*"]
