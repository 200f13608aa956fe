"""`amends serve`: HTTP under gunicorn (production-grade, concurrent), or Socket Mode.

One request URL, /slack/events, takes slash commands, interactivity and events; /healthz
says whether the database answers. Each gunicorn worker builds its own App, engine and
client after the fork, so nothing is shared between processes but the database.
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text

from bot.app import assemble
from bot.domain.playbook_library import PlaybookLibrary, PlaybooksInvalid
from bot.messaging import make_client
from bot.recovery import utc_now
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.surveys.page import SurveyPage
from bot.web_body import read_body
from bot.work import RequestGate
from storage import db

log = logging.getLogger("amends.server")
MANIFEST_HINT = ("Create the Slack app from manifest.yml (api.slack.com/apps > Create New App > "
                 "From a manifest), install it to your workspace, then put its tokens in .env. "
                 "The README's 'Connecting to Slack' walks through it.")

StartResponse = Callable[..., Any]


class StartupError(Exception):
    """Something the operator must fix before Amends can serve; the message says what."""


class Prepared(NamedTuple):
    app: App
    engine: Any
    survey: SurveyPage | None  # the customer survey's page, when AMENDS_PUBLIC_URL is set


def prepare(settings: Settings, *, socket_mode: bool = False, gate: RequestGate | None = None,
            background: bool = True) -> Prepared:
    """Check everything an operator can get wrong, then build the App.

    With `background`, this process also runs the outbox worker (delivering what changes
    queued) and, with AMENDS_SCHEDULER on, the reminders and the weekly digest.
    """
    missing = settings.missing_for_slack()
    if missing:
        raise StartupError("Amends needs its Slack credentials:\n" + "\n".join(
            f"  - {m}" for m in missing) + "\n" + MANIFEST_HINT)
    engine = db.make_engine(settings.database_url)
    try:
        db.check_schema(engine)
    except db.SchemaOutOfDate as exc:
        raise StartupError(str(exc)) from None
    except Exception as exc:  # the database is not reachable at all
        raise StartupError(db.unreachable(settings.database_url, exc)) from None
    try:
        library = PlaybookLibrary.load(settings.playbooks_dir)
    except PlaybooksInvalid as exc:
        raise StartupError(f"The playbooks have errors:\n{exc}\n"
                           "Fix them (amends playbooks check) and start again.") from None
    client = make_client(token=settings.slack_bot_token or "", base_url=settings.slack_api_url)
    sessions = db.make_sessions(engine)
    try:
        parts = assemble(settings, client=client, sessions=sessions, library=library,
                         socket_mode=socket_mode, gate=gate)
    except Exception as exc:  # Bolt checks the token with auth.test at construction
        raise StartupError(_auth_failure(exc, settings)) from None
    if settings.surveys:
        log.info("customer surveys are on: links point at %s/r/…", settings.public_url)
    else:
        log.info("customer surveys are off: set AMENDS_PUBLIC_URL (an address customers can "
                 "reach) and AMENDS_SURVEY_SECRET to ask customers whether it was put right")
    if background:
        parts.outbox.start()
        # On shutdown, finish the delivery in hand; the rest waits safely in the database.
        atexit.register(parts.outbox.stop)
        parts.inbox.start()  # clicks a dead process acknowledged but never finished
        atexit.register(parts.inbox.stop)
        if settings.scheduler:
            scheduler = Scheduler(parts.jobs, clock=utc_now).start()
            atexit.register(scheduler.stop)
    return Prepared(parts.app, engine, parts.survey)


def _auth_failure(exc: Exception, settings: Settings) -> str:
    """What went wrong when Bolt checked the token: Slack said no, or Slack wasn't reached."""
    from slack_sdk.errors import SlackApiError

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, SlackApiError | OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, SlackApiError):
        error = cause.response.get("error") if cause.response else None
        return (f"Slack refused the bot token ({error or cause}). Check SLACK_BOT_TOKEN, and "
                "that the app is installed to the workspace.")
    if isinstance(cause, OSError):
        reason = getattr(cause, "reason", None) or cause.strerror or cause
        from bot.settings import DEFAULT_SLACK_API_URL

        where = settings.slack_api_url
        return (f"Can't reach Slack's API at {where} ({reason}), so the bot token could not "
                "be checked. Check this machine's network and any proxy (HTTPS_PROXY)"
                + ("." if where == DEFAULT_SLACK_API_URL else ", and SLACK_API_URL."))
    return f"Slack could not check the bot token ({type(exc).__name__}: {exc})."


def wsgi_app(app: App, engine: Any, survey: SurveyPage | None = None,
             gate: RequestGate | None = None
             ) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    handler = SlackRequestHandler(app)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if survey is not None and survey.handles(path):
            return survey(environ, start_response)
        if path == "/slack/events" and method == "POST":
            refused = read_body(environ, start_response)
            if refused is not None:
                return refused
            if gate is None:
                return handler(environ, start_response)
            gate.enter()  # background work waits while requests are being acknowledged
            try:
                return handler(environ, start_response)
            finally:
                gate.leave()
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _health(engine, start_response)
        body = b'{"error": "not found; Slack sends everything to POST /slack/events"}'
        start_response("404 Not Found", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]

    return application


def _health(engine: Any, start_response: StartResponse) -> Iterable[bytes]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        status, report = "200 OK", {"status": "ok", "database": "ok"}
    except Exception as exc:
        status, report = "503 Service Unavailable", {"status": "unavailable",
                                                     "database": type(exc).__name__}
    body = json.dumps(report).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def serve(settings: Settings, *, host: str = "0.0.0.0", threads: int = 16) -> int:
    from bot.ports import PortTaken, check_free

    try:
        # Before anything else: gunicorn would retry for five seconds, then print a trace.
        check_free("0.0.0.0" if settings.slack_app_token else host, settings.port,
                   flag="amends serve --port")
    except PortTaken as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.slack_app_token:
        return _socket_mode(settings)
    try:
        # Fail fast, with a clear message, before any worker starts; workers schedule.
        prepare(settings, background=False)
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 2
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc,unused-ignore]  # untyped in some versions
        def load_config(self) -> None:
            # Workers come from WEB_CONCURRENCY (gunicorn's own convention), default 1.
            for key, value in {"bind": f"{host}:{settings.port}", "worker_class": "gthread",
                               "threads": threads, "timeout": 30, "graceful_timeout": 20,
                               "keepalive": 5,
                               # gunicorn is a library here: its start-up lines only at DEBUG
                               "loglevel": "debug" if settings.log_level == "DEBUG"
                               else "warning",
                               "accesslog": None, "proc_name": "amends"}.items():
                self.cfg.set(key, value)

        def load(self) -> Callable[..., Any]:
            gate = RequestGate()
            application = wsgi_app(*prepare(settings, gate=gate), gate=gate)
            # Everything built at start lives as long as the process: keep it out of the
            # garbage collector's full passes, which otherwise stall a burst of requests.
            gc.collect()
            gc.freeze()
            return application

    log.info("serving Slack requests on http://%s:%s/slack/events", host, settings.port)
    Server().run()
    return 0


SOCKET_PING_SECONDS = 2.0


def _socket_mode(settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    try:
        app, engine, survey = prepare(settings, socket_mode=True)
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 2
    # Health checks still need an address: serve /healthz and the survey page alone (the
    # events come over the socket, unsigned, so /slack/events must not be reachable over
    # HTTP in this mode).
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Quiet(WSGIRequestHandler):
        timeout = 5  # a client that stalls holds only its own thread, and not for long

        def log_message(self, *args: Any) -> None:
            pass

    class Threaded(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    health = make_server("0.0.0.0", settings.port, health_app(engine, survey),
                         server_class=Threaded, handler_class=Quiet)
    threading.Thread(target=health.serve_forever, name="amends-health", daemon=True).start()
    log.info("connecting to Slack in Socket Mode; health check on :%s/healthz", settings.port)
    # slack_sdk's built-in socket client notices a connection dropped without a close frame
    # (a network blip, a NAT timeout) only when pongs stop: stale after four ping intervals.
    # Its default of 10 s leaves the bot deaf for about 40 s; at 2 s, under 10 s.
    SocketModeHandler(app, settings.slack_app_token,  # type: ignore[no-untyped-call]
                      ping_interval=SOCKET_PING_SECONDS).start()
    return 0


def health_app(engine: Any, survey: SurveyPage | None = None
               ) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if survey is not None and survey.handles(environ.get("PATH_INFO", "")):
            return survey(environ, start_response)
        if environ.get("PATH_INFO") == "/healthz":
            return _health(engine, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return application
