"""Scheduled follow-through, one module per domain: follow-ups, approvals, alerts, digest.

Each job finds what is due with one query, then claims each item with a conditional UPDATE
(so two schedulers never both take it) and queues its effect in the same transaction; the
outbox delivers it, with retries, rendering the message at delivery time. Time is passed
in: tests control it. `SCHEDULED` is what the in-process scheduler runs every minute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.jobs import alerts, approvals, digest, follow_ups, maintenance
from bot.jobs.context import JobContext


@dataclass
class Report:
    reminders: int = 0
    escalations: int = 0
    approval_reminders: int = 0
    approval_escalations: int = 0
    nudges: int = 0

    def __bool__(self) -> bool:
        return any(vars(self).values())

    def __str__(self) -> str:
        return (f"{self.reminders} follow-up reminder(s), {self.escalations} escalation(s), "
                f"{self.approval_reminders} approval reminder(s), {self.approval_escalations} "
                f"approval escalation(s), {self.nudges} open-case nudge(s)")


def run_reminders(ctx: JobContext, now: datetime, *, send_at: datetime | None = None
                  ) -> Report:
    """Everything due at `now`, each claimed once. Its messages go out from `send_at`
    (default `now`): the sandbox asks what would be due in three days, but wants the
    messages at once."""
    at = send_at or now
    report = Report()
    report.reminders, report.escalations = follow_ups.remind(ctx, now, at)
    report.approval_reminders, report.approval_escalations = approvals.remind(ctx, now, at)
    report.nudges = alerts.nudge(ctx, now, at)
    return report


# What the scheduler runs each minute, by name (the CLI runs the same: `amends reminders run`
# and `amends digest send`).
SCHEDULED: dict[str, Callable[[JobContext, datetime], Any]] = {
    "reminders": run_reminders,
    "digest": digest.run,
    "statistics": maintenance.Statistics(),
}

__all__ = ["SCHEDULED", "JobContext", "Report", "alerts", "approvals", "digest",
           "follow_ups", "run_reminders"]
