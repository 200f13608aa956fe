"""Follow-ups: remind the manager once it is due, then escalate if it stays undone."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from bot.effects import FollowUpEscalation, FollowUpReminder
from bot.jobs.context import JobContext
from storage import claims


def remind(ctx: JobContext, now: datetime, send_at: datetime) -> tuple[int, int]:
    """(reminders, escalations) claimed and queued."""
    reminders = escalations = 0
    default_window = timedelta(hours=ctx.settings.escalate_after_hours)
    with ctx.sessions() as session:
        with session.begin():
            due_rows = claims.overdue_follow_ups(session, now)
        for f in due_rows:
            due = max(f.due_at, f.snoozed_until) if f.snoozed_until else f.due_at
            if f.reminded_for is None or f.reminded_for < due:
                reminders += ctx.send(
                    session, partial(claims.claim_reminder, follow_up_id=f.id, due=due),
                    FollowUpReminder(case=f.case_id, number=f.number, manager=f.manager,
                                     due=due), send_at)
            playbook = ctx.library.get(f.playbook_id)
            policy = playbook.follow_up if playbook else None
            window = policy.escalate_after if policy and policy.escalate_after \
                else default_window
            if f.escalated_at is None and now >= due + window:
                to = ctx.leadership(ctx.settings.escalation_user)
                escalations += ctx.send(
                    session, partial(claims.claim_follow_up_escalation, follow_up_id=f.id,
                                     now=now),
                    FollowUpEscalation(case=f.case_id, number=f.number, manager=f.manager,
                                       due=due, escalate_to=policy.escalate_to if policy
                                       else None, to=to) if to else None, send_at)
    return reminders, escalations
