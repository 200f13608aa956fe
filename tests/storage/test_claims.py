"""One-off alerts are claimed once, whoever asks and however often (storage.claims)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from storage import claims
from storage.models import AlertRow

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_an_alert_is_claimed_by_the_first_to_ask_and_by_nobody_after(session: Session
                                                                     ) -> None:
    key = "high street|2026-11-24"
    assert claims.claim_alert(session, "hotspot", key, NOW)
    # Asked again (the day's next case at a hotspot): no, without an error that would undo
    # the caller's transaction.
    assert not claims.claim_alert(session, "hotspot", key, NOW)
    assert not claims.claim_alert(session, "hotspot", key, NOW)
    assert claims.claim_alert(session, "hotspot", "high street|2026-11-25", NOW)
    assert claims.claim_alert(session, "other", key, NOW)  # another kind of alert
    assert session.scalar(select(func.count()).select_from(AlertRow)) == 3


def test_processes_asking_at_once_claim_an_alert_once(engine: Engine) -> None:
    key = "market square|2026-11-24"
    start = threading.Barrier(8)
    won: list[bool] = []

    def ask() -> None:
        with Session(engine) as session, session.begin():
            start.wait()
            won.append(claims.claim_alert(session, "hotspot", key, NOW))

    askers = [threading.Thread(target=ask) for _ in range(8)]
    try:
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join(timeout=30)
        assert sorted(won) == [False] * 7 + [True]
    finally:
        with Session(engine) as session, session.begin():
            session.execute(delete(AlertRow).where(AlertRow.key == key))
