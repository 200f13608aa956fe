"""The weekly digest: queued once per week and channel, rendered when it is posted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot import digest_render
from bot.domain.weeks import Week, latest_due, send_time
from bot.effects import DigestChart, WeeklyDigest, queue
from bot.jobs.context import JobContext
from bot.messaging import Slack
from storage import claims
from storage.digest import trend, week_against_last

LATE_AFTER = timedelta(hours=1)  # a digest sent later than this after its slot says so
CHART_WEEKS = 12  # the chart's span: a quarter, long enough to see a trend


def compose(ctx: JobContext, session: Session, week: Week, *, late: bool = False,
            due: datetime | None = None, plain: bool = False,
            names: Callable[[str], str] | None = None) -> digest_render.Digest:
    """The week's digest from the database as it is now, against the week before."""
    zone = ctx.settings.timezone
    with session.begin():
        this, last = week_against_last(session, week.bounds(zone),
                                       week.previous().bounds(zone))
    return digest_render.render(
        week=week, this=this, last=last, currency=ctx.settings.currency, zone=zone,
        on_time_goal=ctx.settings.on_time_goal, late=late, due=due,
        template=ctx.settings.digest_template, plain=plain, names=names,
        titles={p.id: p.title for p in ctx.library.all()})


@dataclass(frozen=True)
class Chart:
    png: bytes
    title: str
    alt: str  # the chart in words, for screen readers


def chart(ctx: JobContext, session: Session, week: Week, weeks: int = CHART_WEEKS) -> Chart:
    """The digest's chart: `weeks` weeks ending with `week`, drawn from storage.digest.trend."""
    from bot import digest_chart

    s = ctx.settings
    span = [week]
    while len(span) < weeks:
        span.insert(0, span[0].previous())
    with session.begin():
        points = trend(session, [w.bounds(s.timezone) for w in span])
    title = digest_chart.title(points, s.timezone)
    return Chart(png=digest_chart.draw(points, currency=s.currency, zone=s.timezone,
                                       title=title), title=title,
                 alt=digest_chart.describe(points, currency=s.currency, zone=s.timezone))


def share_chart(ctx: JobContext, session: Session, slack: Slack, week: Week,
                channel: str) -> None:
    """Draw the week's chart and share it in `channel` (once per delivery: Slack.share_file)."""
    drawn = chart(ctx, session, week)
    slack.share_file(channel, drawn.png, filename=f"amends-trend-{week}.png", title=drawn.title,
                     alt=drawn.alt,
                     comment=f"📈 {drawn.title}: the digest's headline figures, week by week.")


def due_week(ctx: JobContext, now: datetime) -> tuple[Week, datetime]:
    s = ctx.settings
    return latest_due(now, day=s.digest_day, hour=s.digest_hour, zone=s.timezone)


def send(ctx: JobContext, week: Week, now: datetime) -> bool:
    """Queue `week`'s digest, once per week and channel. False: it already went."""
    channel = ctx.settings.leadership_channel
    if not channel:
        raise ValueError("AMENDS_LEADERSHIP_CHANNEL is not set: there is nowhere to post "
                         "the digest.")
    s = ctx.settings
    due = send_time(week, day=s.digest_day, hour=s.digest_hour, zone=s.timezone)
    late = now > due + LATE_AFTER
    with ctx.sessions() as session:
        return ctx.send(session, lambda t: claims.claim_digest(t, str(week), channel, now,
                                                               late=late),
                        WeeklyDigest(week=str(week), channel=channel, late=late, due=due), now)


def mark_sent(session: Session, week: str, channel: str, now: datetime, *,
              chart_after: str | None = None) -> None:
    """The digest is posted; with `chart_after` (its message's ts), its chart is queued in
    the same transaction, once however often the post is retried."""
    with session.begin():
        if claims.digest_sent(session, week, channel, now) and chart_after is not None:
            queue(session, DigestChart(week=week, channel=channel, digest_ts=chart_after),
                  now=now)


def run(ctx: JobContext, now: datetime) -> bool:
    """The scheduler's job: send the latest week that is due, if it hasn't gone yet."""
    if not ctx.settings.leadership_channel:
        return False
    week, _due = due_week(ctx, now)
    # Nothing to report for weeks before Amends' first case (a fresh install doesn't
    # post an empty "late" digest for last week).
    with ctx.sessions() as session, session.begin():
        first = claims.first_case_opened(session)
    if first is None or week.bounds(ctx.settings.timezone)[1] <= first:
        return False
    return send(ctx, week, now)
