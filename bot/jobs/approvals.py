"""Approvals: remind the managers in the thread, then escalate a request nobody decides."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from bot.effects import ApprovalEscalation, ApprovalReminder, Place
from bot.jobs.context import JobContext
from storage import claims


def remind(ctx: JobContext, now: datetime, send_at: datetime) -> tuple[int, int]:
    """(reminders, escalations) claimed and queued."""
    remind_after = timedelta(minutes=ctx.settings.approval_remind_minutes)
    escalate_after = timedelta(minutes=ctx.settings.approval_escalate_minutes)
    approver = ctx.settings.escalation_user
    reminders = escalations = 0
    with ctx.sessions() as session:
        with session.begin():
            stalled = claims.stalled_approvals(session, now - remind_after,
                                               now - escalate_after)
        for a in stalled:
            thread = (Place.thread(a.channel_id, a.message_ts)
                      if a.channel_id and a.message_ts else None)
            if a.reminded_at is None and now >= a.requested_at + remind_after and thread:
                reminders += ctx.send(
                    session, partial(claims.claim_approval, approval_id=a.id,
                                     column="reminded_at", now=now),
                    ApprovalReminder(case=a.case_id, number=a.number, since=a.requested_at,
                                     to=thread), send_at)
            if a.escalated_at is None and now >= a.requested_at + escalate_after:
                # The next approver is asked in the thread, where the buttons are.
                to = thread if approver and thread else ctx.leadership()
                if to is None and ctx.settings.approval_ladder:
                    to = thread  # the ladder's next level is asked there (at delivery)
                escalations += ctx.send(
                    session, partial(claims.claim_approval, approval_id=a.id,
                                     column="escalated_at", now=now),
                    ApprovalEscalation(case=a.case_id, number=a.number, since=a.requested_at,
                                       approver=approver, to=to) if to else None, send_at)
    return reminders, escalations
