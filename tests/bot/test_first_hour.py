"""The operator's first hour: quiet output, plain errors for a taken port, an unreachable
database or Slack, the URLs hosts hand out, and sandbox reminders that show at once."""

from __future__ import annotations

import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import run_reminders
from bot.sandbox.fake_slack import FakeSlack
from bot.settings import SettingsError, load_settings
from storage import db
from tests.bot.conftest import MANAGER, Harness
from tests.bot.test_followthrough import dms, jobs_for, resolve
from tests.bot.test_journey import open_case
from tests.bot.test_serve import _amends, _env, _free_port


def test_postgres_urls_as_hosts_hand_them_out_mean_psycopg() -> None:
    for given in ("postgres://u:pw@db.example:5432/amends",
                  "postgresql://u:pw@db.example:5432/amends"):
        settings = load_settings({"DATABASE_URL": given}, dotenv_path=None)
        assert settings.database_url == "postgresql+psycopg://u:pw@db.example:5432/amends"
    kept = "postgresql+psycopg://u@h/db"
    assert load_settings({"DATABASE_URL": kept}, dotenv_path=None).database_url == kept


def test_a_cut_or_wrong_token_is_described_as_what_it_is() -> None:
    with pytest.raises(SettingsError) as short:
        load_settings({"SLACK_BOT_TOKEN": "xoxb-123-abc"}, dotenv_path=None)
    assert "only 12 characters long, so part of it is missing" in str(short.value)
    with pytest.raises(SettingsError) as user_token:
        load_settings({"SLACK_BOT_TOKEN": "xoxp-1234567890-1234567890-abcdef"},
                      dotenv_path=None)
    assert "it starts 'xoxp-'" in str(user_token.value)
    assert "1234567890" not in str(user_token.value)  # never echoed beyond its prefix


def test_cli_commands_say_only_what_amends_has_to_say(tmp_path: Path,
                                                      fake_slack: FakeSlack) -> None:
    env = _env(tmp_path, fake_slack)
    upgrade = _amends("db", "upgrade", env=env, cwd=tmp_path)
    status = _amends("db", "status", env=env, cwd=tmp_path)
    check = _amends("playbooks", "check", env=env, cwd=tmp_path)
    analyze = _amends("db", "analyze", env=env, cwd=tmp_path)
    assert analyze.stdout.strip() == "Refreshed SQLite's query-planner statistics."
    for done in (upgrade, status, check, analyze):
        assert done.returncode == 0, done.stderr
        assert "alembic" not in done.stdout + done.stderr  # libraries speak at WARNING
    assert (upgrade.stdout + upgrade.stderr).strip() == (
        f"Database is at revision {db.head_revision()} (latest).")
    debug = _amends("db", "status", env={**env, "AMENDS_LOG_LEVEL": "DEBUG"}, cwd=tmp_path)
    assert "alembic" in debug.stderr  # and everything, when asked for


def test_an_unreachable_postgresql_is_one_line_with_the_host_and_next_step(
        tmp_path: Path, fake_slack: FakeSlack) -> None:
    port = _free_port()  # nothing listens there
    env = _env(tmp_path, fake_slack, DATABASE_URL=f"postgres://amends:s3cret@127.0.0.1:{port}/x")
    done = _amends("db", "status", env=env, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert f"Can't connect to the database at 127.0.0.1:{port}" in lines[0]
    assert "Is PostgreSQL running there" in lines[0] and "s3cret" not in lines[0]


def _listening() -> tuple[socket.socket, int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, int(holder.getsockname()[1])


def test_a_taken_port_names_the_port_its_holder_and_the_flag(tmp_path: Path,
                                                             fake_slack: FakeSlack) -> None:
    holder, port = _listening()
    try:
        keep = {k: v for k, v in _env(tmp_path, fake_slack).items()
                if not k.startswith("SLACK_")}
        sandbox = _amends("start", "--port", str(port), env=keep, cwd=tmp_path)
        serve_env = _env(tmp_path, fake_slack)
        assert _amends("db", "upgrade", env=serve_env, cwd=tmp_path).returncode == 0
        serve = _amends("serve", "--host", "127.0.0.1", "--port", str(port), env=serve_env,
                        cwd=tmp_path)
    finally:
        holder.close()
    for done, flag in ((sandbox, "amends start --port"), (serve, "amends serve --port")):
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"Port {port} is already in use" in done.stderr
        if sys.platform == "linux":  # found through /proc: this test's own process
            assert "by process " in done.stderr
        assert f"{flag} {port + 1}" in done.stderr


def test_an_unreachable_slack_api_is_not_called_a_refused_token(tmp_path: Path,
                                                                fake_slack: FakeSlack) -> None:
    closed = f"http://127.0.0.1:{_free_port()}/api/"
    env = _env(tmp_path, fake_slack, SLACK_API_URL=closed, PORT=str(_free_port()))
    assert _amends("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    done = _amends("serve", "--host", "127.0.0.1", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert f"Can't reach Slack's API at {closed}" in done.stderr
    assert "refused the bot token" not in done.stderr and "SLACK_API_URL" in done.stderr


def test_the_sandbox_reminders_button_sends_what_three_days_would_bring_at_once(
        harness: Harness, library: Any) -> None:
    jobs = jobs_for(harness, library)
    resolve(harness, open_case(harness))
    jobs.notify = lambda: None  # delivered below, at the real (not the pretend) time
    before = len(dms(harness, MANAGER))
    now = harness.clock.now
    report = run_reminders(jobs, now + timedelta(days=3), send_at=now)
    assert report.reminders == 1
    assert harness.outbox is not None
    harness.outbox.drain(now=now)  # due now, not in three days
    assert len(dms(harness, MANAGER)) == before + 1
    assert "Reminder: follow up with" in dms(harness, MANAGER)[-1]
