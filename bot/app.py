"""build_app: the Bolt App with its collaborators handed in. Nothing is created at import."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import approvers, logs
from bot.blocks.case_messages import Style
from bot.delivery.handlers import Deliverer, WebhookTarget
from bot.delivery.outbox import DELIVERY_THREADS, OutboxWorker
from bot.delivery.render import Renderer
from bot.domain.compensation import CompensationPolicy
from bot.domain.playbook_library import PlaybookLibrary
from bot.inbox import Inbox
from bot.jobs import JobContext
from bot.listeners import actions, commands, events, views
from bot.listeners.common import Deps
from bot.managers import ManagerDirectory
from bot.messaging import Slack
from bot.recovery import RecoveryService, SurveyPlan, utc_now
from bot.settings import Settings
from bot.slack_pacing import PacedClient
from bot.surveys.links import SurveyLinks
from bot.surveys.page import SurveyPage
from bot.work import Background, RequestGate
from storage import db

log = logging.getLogger("amends.app")

# Listeners (and so their ack) run on this pool; Bolt waits 3 s for an ack. Sized so a burst
# of slow handlers (each a few Slack calls) can't starve a new /recover of its acknowledgement.
LISTENER_THREADS = 32
# Database changes and Slack updates that may wait run here, after the ack. Few threads:
# under a burst they queue instead of taking the interpreter from the next acknowledgement.
WORK_THREADS = 2
URGENT_THREADS = 2


def make_jobs(settings: Settings, *, sessions: sessionmaker[Session],
              library: PlaybookLibrary, managers: ManagerDirectory,
              notify: Callable[[], None] = lambda: None) -> JobContext:
    return JobContext(settings=settings, sessions=sessions, library=library,
                      managers=managers.all, notify=notify)


def _engine_of(sessions: sessionmaker[Session]) -> Engine | None:
    """The engine `sessions` are bound to; None when bound to one connection (tests in a
    transaction), whose sessions the inbox and the outbox then use as they are."""
    bind = getattr(sessions, "kw", {}).get("bind")
    return bind if isinstance(bind, Engine) else None


def _inbox_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    engine = _engine_of(sessions)
    return db.make_sessions(db.inbox_engine(engine)) if engine is not None else sessions


def _delivery_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The outbox's delivery connections (db.delivery_engine)."""
    engine = _engine_of(sessions)
    return (db.make_sessions(db.delivery_engine(engine, DELIVERY_THREADS))
            if engine is not None else sessions)


@dataclass(frozen=True)
class Assembly:
    """The App and what runs beside it: the outbox worker and the follow-through jobs."""

    app: App
    deps: Deps
    outbox: OutboxWorker
    jobs: JobContext
    survey: SurveyPage | None = None  # served at /r/<token> when surveys are on

    @property
    def inbox(self) -> Inbox:
        return self.deps.inbox


def build_app(settings: Settings, **kwargs: Any) -> App:
    return assemble(settings, **kwargs).app


def assemble(settings: Settings, *, client: WebClient, sessions: sessionmaker[Session],
             library: PlaybookLibrary, executor: Executor | None = None,
             work_executor: Executor | None = None, gate: RequestGate | None = None,
             clock: Callable[[], datetime] = utc_now, socket_mode: bool = False) -> Assembly:
    """Everything built once, in dependency order: nothing is wired in afterwards."""
    managers = ManagerDirectory(managers=settings.managers, group=settings.manager_group,
                                client=client, ladder=settings.approval_ladder)

    def policy() -> CompensationPolicy:
        return approvers.policy(settings, managers)

    if isinstance(client, PacedClient):  # its holds keep the app's time (tests drive it)
        client.holds.clock = lambda: clock().timestamp()
    slack = Slack(client, recovery_channel=settings.recovery_channel)
    style = Style(currency=settings.currency, staff_limit_minor=settings.staff_limit_minor,
                  timezone=settings.timezone)
    links = (SurveyLinks(settings.public_url or "", settings.survey_secret or "")
             if settings.surveys else None)
    wake = threading.Event()  # set after a commit that queued deliveries
    jobs = make_jobs(settings, sessions=sessions, library=library, managers=managers,
                     notify=wake.set)
    deliver = Deliverer(
        sessions=sessions, slack=slack, jobs=jobs, clock=clock,
        render=Renderer(library=library, style=style, names=slack.name,
                        approvers=lambda case, comp, higher: approvers.asked(
                            settings, managers, case, comp, higher=higher),
                        links=links),
        webhook=WebhookTarget(settings.webhook_url, settings.webhook_secret or "")
        if settings.webhook_url else None)
    # What changes write to the outbox is delivered by this worker (started by the server;
    # tests drive it by hand).
    worker = OutboxWorker(sessions, deliver, clock=clock, gate=gate, wake=wake,
                          gave_up=deliver.gave_up, deliveries=_delivery_sessions(sessions))

    def _rerun(kind: str, body: dict[str, Any]) -> None:
        # A stored click runs again through `deps` (the inbox's recovery, after a crash).
        actions.rerun(deps, kind, body)

    deps = Deps(settings=settings,
                service=RecoveryService(
                    library=library, policy=policy, clock=clock,
                    follow_up_window=timedelta(hours=settings.follow_up_hours),
                    notify=wake.set, webhooks=bool(settings.webhook_url),
                    surveys=SurveyPlan(links, timedelta(days=settings.survey_days),
                                       on_resolve=settings.survey_on_resolve)
                    if links is not None else None),
                sessions=sessions, slack=slack, style=style, managers=managers,
                library=library,
                work=Background(executor=work_executor, threads=WORK_THREADS,
                                name="amends-work", gate=gate, patience=1.0),
                urgent=Background(executor=work_executor, threads=URGENT_THREADS,
                                  name="amends-modal", gate=gate, patience=0.2),
                inbox=Inbox(_inbox_sessions(sessions), clock=clock, handlers={
                    kind: partial(_rerun, kind) for kind in actions.DURABLE}))
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        # Socket Mode payloads arrive over an authenticated socket and carry no signature;
        # over HTTP every request is verified, and there is no setting to turn that off.
        request_verification_enabled=not socket_mode,
        listener_executor=executor or logs.ContextExecutor(
            max_workers=LISTENER_THREADS, thread_name_prefix="amends-listener"),
        raise_error_for_unhandled_request=False,
        # Every listener acknowledges and hands its slow work to the pools above itself, so
        # it may run on the request's own thread: Bolt's default would run it on another
        # thread and poll every 10 ms for the ack, a hand-off and a wait in every response.
        process_before_response=True,
    )

    @app.middleware
    def inject(context: dict[str, Any], body: dict[str, Any],
               next: Callable[[], BoltResponse]) -> BoltResponse:
        # Bolt hands every context key to listeners by name: `deps` is their collaborator,
        # `unit` the request's unit of work (a session: lazy, so a request that never
        # touches the database never connects).
        context["deps"] = deps
        # Bolt hands each listener a new plain WebClient of its own (since 1.15): the modals
        # and the Home tab would then go without the app's client, its holds after a 429 and
        # its kept connection (a TCP and TLS handshake per call, inside a trigger_id's 3 s).
        # The app's token is fixed, so its one client serves every request.
        context["client"] = client
        # Slack's own id for the request, for the logs: the event id, else the trigger id.
        logs.request_id.set(body.get("event_id") or body.get("trigger_id")
                            or uuid.uuid4().hex[:12])
        logs.request_at.set(clock())
        logs.case_id.set(None)
        with sessions() as unit:
            context["unit"] = unit
            return next()

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("command") or "request"
        log.error("unhandled error in %s: %s", kind, error, exc_info=error)

    for module in (commands, actions, views, events):
        module.register(app)
    survey = (SurveyPage(deps.service, sessions, shop=settings.shop_name,
                         proxies=settings.trusted_proxies)
              if links is not None else None)
    return Assembly(app=app, deps=deps, outbox=worker, jobs=jobs, survey=survey)
