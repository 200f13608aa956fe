"""`amends sandbox`: start the stand-in, start the real bot against it, print the address."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

from bot.app import make_jobs
from bot.domain.playbook_library import PlaybookLibrary
from bot.domain.weeks import Week
from bot.jobs import digest, run_reminders
from bot.managers import ManagerDirectory
from bot.messaging import Slack, make_client
from bot.recovery import utc_now
from bot.sandbox.workspace import PEOPLE, Sandbox
from bot.settings import load_settings
from storage import db

DEFAULT_DATABASE = "sqlite:///amends-sandbox.db"


def _cli() -> str:
    """How to type `amends` here: by name when it is on the PATH, else its path (a fresh
    clone's .venv/bin/amends)."""
    import shutil
    from pathlib import Path

    installed = Path(sys.executable).with_name("amends")
    on_path = shutil.which("amends")
    if not installed.exists() or (on_path and Path(on_path).resolve() == installed.resolve()):
        return "amends"
    try:
        return str(installed.relative_to(Path.cwd()))
    except ValueError:
        return str(installed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_environment(*, api_url: str, secret: str, port: int, database_url: str
                    ) -> dict[str, str]:
    managers = ",".join(p.id for p in PEOPLE if p.role == "manager")
    return {**os.environ, "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": "xoxb-sandbox-0000000000", "SLACK_SIGNING_SECRET": secret,
            "SLACK_APP_TOKEN": "", "SLACK_API_URL": api_url, "PORT": str(port),
            "AMENDS_MANAGERS": managers, "AMENDS_MANAGER_GROUP": "",
            "AMENDS_LEADERS": managers,  # the sandbox's managers see the week on Home too
            "AMENDS_RECOVERY_CHANNEL": "C0RECOVERY", "AMENDS_LEADERSHIP_CHANNEL": "C0LEADERS",
            "AMENDS_ESCALATION_USER": "", "AMENDS_SCHEDULER": "off",
            # The customer survey, served by the bot itself: its link in the manager's DM
            # opens the page in the browser, so the whole loop can be tried here.
            "AMENDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "AMENDS_SURVEY_SECRET": secrets.token_urlsafe(32),
            "AMENDS_SHOP_NAME": os.environ.get("AMENDS_SHOP_NAME", "Sandbox Bistro"),
            # The sandbox prints what matters itself; the bot speaks up only about problems.
            "AMENDS_LOG_LEVEL": os.environ.get("AMENDS_LOG_LEVEL", "WARNING")}


def wait_for(url: str, child: subprocess.Popen[Any], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"The bot stopped while starting (exit {child.returncode}); "
                             "see its messages above.")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise SystemExit("The bot did not start within a minute.")


def run(*, port: int, bot_port: int, database_url: str | None) -> int:
    from bot.ports import PortTaken, check_free

    try:
        check_free("127.0.0.1", port, flag="amends start --port")
    except PortTaken as exc:
        print(exc, file=sys.stderr)
        return 2
    database_url = database_url or DEFAULT_DATABASE
    db.upgrade(db.make_engine(database_url))
    secret = secrets.token_hex(16)
    sandbox = Sandbox(secret=secret, port=port)
    sandbox.start()
    bot_port = bot_port or free_port()
    env = bot_environment(api_url=sandbox.url, secret=secret, port=bot_port,
                          database_url=database_url)
    child = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1"],
                             env=env)
    try:
        wait_for(f"http://127.0.0.1:{bot_port}/healthz", child)
        sandbox.bot_url = f"http://127.0.0.1:{bot_port}/slack/events"
        sandbox.actions = follow_through_buttons(env, sandbox.url)
        page = sandbox.url.removesuffix("api/")
        print(f"\nAmends sandbox is running: open {page} in your browser.\n"
              f"Act as Alex (staff), Morgan or Sam (managers) or Lee (leadership). "
              f"Press Ctrl-C to stop.\n"
              f"Its cases are kept in {database_url}, apart from your real data; to see them "
              f"with the CLI, give it that database:\n"
              f"  DATABASE_URL={database_url} {_cli()} digest preview", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.is_set() and child.poll() is None:
                stop.wait(0.5)
        except KeyboardInterrupt:
            pass
        return 0 if child.poll() in (None, 0) else 1
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        sandbox.stop()


def follow_through_buttons(env: dict[str, str], api_url: str) -> list[tuple[str, Any]]:
    """The page's buttons: run the reminders as if time had passed, send a digest now."""
    settings = load_settings(env, dotenv_path=None)
    engine = db.make_engine(settings.database_url)
    client = make_client(token=settings.slack_bot_token or "", base_url=api_url)
    jobs = make_jobs(
        settings, sessions=db.make_sessions(engine),
        library=PlaybookLibrary.load(settings.playbooks_dir),
        managers=ManagerDirectory(managers=settings.managers, group=None, client=client,
                                  ladder=settings.approval_ladder))

    def reminders() -> dict[str, Any]:
        # What would be due in three days, sent now: the bot's outbox delivers it at once.
        now = utc_now()
        report = run_reminders(jobs, now + timedelta(days=3), send_at=now)
        if not report:
            return {"ok": True, "report": "Nothing more is due: each reminder, escalation and "
                                          "nudge goes out once."}
        return {"ok": True, "report": f"Sent {report}."}

    def post_digest() -> dict[str, Any]:
        # This week so far: a demo shows today's cases (the scheduled digest is last week's).
        week = Week.containing(utc_now(), settings.timezone)
        channel = settings.leadership_channel or "C0LEADERS"
        with jobs.sessions() as session:
            message = digest.compose(jobs, session, week).message()
            client.chat_postMessage(channel=channel, **message.kwargs())
            # The chart follows the text, as the scheduled digest's does (files.uploadV2).
            digest.share_chart(jobs, session, Slack(client, recovery_channel=None), week,
                               channel)
        return {"ok": True}

    return [("reminders", reminders), ("digest", post_digest)]
