"""Shared fixtures: real databases (SQLite and PostgreSQL), each test in its own transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.domain.playbook_library import PlaybookLibrary, shipped_directory
from storage import db

POSTGRES_URL = os.environ.get("AMENDS_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday morning


@pytest.fixture(scope="session")
def library() -> PlaybookLibrary:
    return PlaybookLibrary.load(shipped_directory())


@pytest.fixture(scope="session")
def playbooks_dir() -> Path:
    return shipped_directory()


def _postgres_admin() -> Engine:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        # In CI a missing PostgreSQL is always a failure, never a silent skip.
        if os.environ.get("AMENDS_TEST_SKIP_POSTGRES") == "1" and not os.environ.get("CI"):
            pytest.skip("PostgreSQL skipped: AMENDS_TEST_SKIP_POSTGRES=1")
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc.orig}). Start it "
                    "(see README, 'Running the tests') or set AMENDS_TEST_POSTGRES_URL.",
                    pytrace=False)
    return engine


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database of its own on the PostgreSQL server, dropped at the end."""
    admin = _postgres_admin()
    name = f"amends_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:
    """A migrated database of each kind. Tests that take it run once per database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'amends.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = db.make_engine(url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back: the code under test may commit."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint",
                      expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()
