"""Alerts: a nudge on a case left alone, and a hotspot when one location has a bad day."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import partial

from sqlalchemy.orm import Session

from bot.effects import HotspotAlert, OpenCaseNudge, Place
from bot.jobs.context import JobContext
from storage import claims, db


def nudge(ctx: JobContext, now: datetime, send_at: datetime) -> int:
    """Nudges claimed and queued: in the case thread, else to the staff member."""
    window = timedelta(hours=ctx.settings.open_nudge_hours)
    sent = 0
    with ctx.sessions() as session:
        with session.begin():
            quiet = claims.cases_to_nudge(session, now - window)
        for c in quiet:
            to = (Place.thread(c.channel_id, c.message_ts) if c.channel_id and c.message_ts
                  else Place.dm(c.opened_by))
            sent += ctx.send(session, partial(claims.claim_nudge, case_id=c.id, now=now),
                             OpenCaseNudge(case=c.id, staff=c.opened_by, opened=c.opened_at,
                                           to=to), send_at)
    return sent


def check_hotspot(ctx: JobContext, location: str | None, now: datetime,
                  session: Session | None = None) -> bool:
    """Alert the location's manager the moment it reaches the day's threshold (once).
    `session`: a delivery's own (db.connected), so a check costs no connection of its own."""
    if not location:
        return False
    if session is None:
        with ctx.sessions() as own:
            return check_hotspot(ctx, location, now, own)
    zone = ctx.settings.timezone
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone)
    key = f"{location.strip().lower()}|{day}"
    if key in ctx.claimed:
        return False  # alerted already today: nothing to count or claim
    with db.standalone(session):  # one read: no transaction round trips on PostgreSQL
        count = claims.cases_today(session, location, start, start + timedelta(days=1))
    if count < ctx.settings.hotspot_threshold:
        return False
    to = ctx.leadership(ctx.settings.location_managers.get(location.strip().lower()))
    sent = ctx.send(session, lambda s: claims.claim_alert(s, "hotspot", key, now),
                    HotspotAlert(location=location, count=count, day=f"{day:%a %d %b}",
                                 to=to) if to else None, now)
    ctx.claimed.add(key)  # committed, by this check or an earlier one
    return sent
