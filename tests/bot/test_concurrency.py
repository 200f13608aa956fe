"""Two processes, one database: two managers deciding the same approval at the same moment."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from bot.app import assemble
from bot.delivery.outbox import OutboxWorker
from bot.ids import Action, Field
from bot.messaging import make_client
from bot.sandbox.fake_slack import FakeSlack
from storage import db
from storage.models import CompensationRow, EventRow
from tests.bot.conftest import MANAGER, MANAGER2, STAFF, Clock, Harness, TrackingExecutor
from tests.bot.test_journey import ephemerals, open_case, thread


def second_process(engine: Engine, harness: Harness, library: Any) -> Harness:
    """Another App with its own engine (its own connection pool), as a second replica has."""
    own_engine = db.make_engine(str(engine.url.render_as_string(hide_password=False)))
    client = make_client(token="xoxb-test-token-0000", base_url=harness.fake.url)
    executor = TrackingExecutor()
    parts = assemble(harness.settings, client=client, sessions=sessionmaker(own_engine),
                     library=library, executor=executor, work_executor=executor,
                     clock=harness.clock)
    app, worker = parts.app, parts.outbox
    return Harness(app=app, fake=harness.fake, sessions=sessionmaker(own_engine),
                   executor=executor, clock=Clock(harness.clock.now), settings=harness.settings,
                   outbox=worker)


def test_two_managers_approve_at_once_and_one_decision_stands(
        engine: Engine, harness: Harness, fake_slack: FakeSlack, library: Any) -> None:
    card = open_case(harness)
    harness.click(thread(harness, card)[2], Action.COMPENSATION_CUSTOM, user=STAFF)
    harness.submit(harness.opened_view(), {Field.COMP_TYPE: "refund", Field.COMP_LABEL: "Refund",
                                           Field.AMOUNT: "30"}, user=STAFF)
    request = thread(harness, card)[-1]
    other = second_process(engine, harness, library)
    start = threading.Barrier(2)

    def decide(process: Harness, who: str) -> None:
        start.wait()
        process.click(request, Action.APPROVE, user=who)

    threads = [threading.Thread(target=decide, args=(harness, MANAGER)),
               threading.Thread(target=decide, args=(other, MANAGER2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    other.executor.shutdown(wait=True)

    with harness.sessions() as session:
        comp = session.scalars(select(CompensationRow)).one()
        decisions = session.scalar(select(func.count()).where(
            EventRow.kind == "compensation_approved").select_from(EventRow))
    assert comp.status == "approved" and comp.decided_by in (MANAGER, MANAGER2)
    assert decisions == 1
    loser = MANAGER2 if comp.decided_by == MANAGER else MANAGER
    (told,) = ephemerals(harness, loser)
    assert "already approved" in told and f"<@{comp.decided_by}>" in told


class Switchable:
    """A session factory that can be pointed at a dead database and back, mid-test."""

    def __init__(self, real: sessionmaker) -> None:
        self.real, self.current = real, real

    def __call__(self, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.current(**kwargs)

    def begin(self):  # type: ignore[no-untyped-def]
        return self.current.begin()


def test_database_unreachable_is_told_plainly_and_the_app_recovers(
        engine: Engine, fake_slack: FakeSlack, library: Any) -> None:
    from tests.bot.conftest import make_settings

    settings = make_settings(SLACK_API_URL=fake_slack.url)
    sessions = Switchable(sessionmaker(engine, expire_on_commit=False))
    executor = TrackingExecutor()
    parts = assemble(settings, client=make_client(token="xoxb-test-token-0000",
                                                  base_url=fake_slack.url),
                     sessions=sessions, library=library, executor=executor,  # type: ignore[arg-type]
                     work_executor=executor, clock=Clock())
    # The worker claims and settles on the real database (deliveries read through the
    # switchable one, and are retried while it is away).
    app, worker = parts.app, OutboxWorker(sessionmaker(engine), parts.outbox.deliver,
                                          clock=Clock())
    h = Harness(app=app, fake=fake_slack, sessions=sessionmaker(engine), executor=executor,
                clock=Clock(), settings=settings, outbox=worker)
    try:
        card = open_case(h)
        apology = thread(h, card)[0]
        dead = db.make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                              connect_args={"connect_timeout": 1})
        sessions.current = sessionmaker(dead)
        h.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
        assert "can't reach its database" in ephemerals(h, STAFF)[-1]
        response = h.command("mine")
        assert "can't reach its database" in response.body
        h.command("late again")
        h.submit(h.opened_view(), {Field.CUSTOMER: "Jo", Field.WHAT_HAPPENED: "late",
                                   "severity:late-delivery": "minor"}, user=STAFF)
        assert "Your entries are still here" in h.responses[-1].body
        # The database is back: the same process carries on.
        sessions.current = sessions.real
        h.click(apology, Action.APOLOGY_GIVEN, user=STAFF)
        with h.sessions() as session:
            from storage.models import CaseRow

            rows = session.scalars(select(CaseRow)).all()
        assert len(rows) == 1 and rows[0].apology_given_at is not None
    finally:
        executor.shutdown(wait=True)
        from storage.models import Base

        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
