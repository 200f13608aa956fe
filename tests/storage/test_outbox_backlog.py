"""What `amends outbox status` says is still to go out (storage.outbox.backlog)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from storage import outbox

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_the_backlog_counts_what_is_due_and_what_waits_and_dates_the_oldest(session: Session
                                                                            ) -> None:
    assert outbox.backlog(session, NOW) == outbox.Backlog(due=0, waiting=0, oldest=None)
    # Asked for 30 s ago (its request), queued 29 s ago: the request is when it was asked.
    outbox.add(session, "refresh", {"case_id": 1}, case_id=None, now=NOW - timedelta(seconds=29),
               requested_at=NOW - timedelta(seconds=30))
    outbox.add(session, "refresh", {"case_id": 2}, case_id=None, now=NOW - timedelta(seconds=5))
    outbox.add(session, "refresh", {"case_id": 3}, case_id=None, now=NOW - timedelta(hours=1))
    session.flush()
    jobs = outbox.claim(session, NOW, limit=10)
    by_case = {job.payload["case_id"]: job for job in jobs}
    # One put off by Slack's Retry-After, one delivered: neither is due now.
    outbox.failed(session, by_case[2], NOW, "rate limited (429)", permanent=False,
                  retry_after=30.0)
    outbox.sent(session, by_case[3], NOW)
    outbox.release(session, [by_case[1]])  # handed back untried: due now
    session.flush()
    found = outbox.backlog(session, NOW)
    assert (found.due, found.waiting) == (1, 1)
    assert found.oldest is not None and found.oldest == NOW - timedelta(seconds=30)
