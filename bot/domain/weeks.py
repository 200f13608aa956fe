"""Calendar weeks in the shop's time zone, and when each week's digest is due.

A week is Monday 00:00 to the next Monday 00:00 *local* time, so across a daylight-saving
change it is 167 or 169 hours long; its bounds are converted to UTC for the queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        match = _WEEK.match(text.strip())
        if not match:
            raise ValueError(f"'{text}' is not an ISO week; write it like 2026-W47")
        week = cls(int(match.group(1)), int(match.group(2)))
        try:
            week.monday()
        except ValueError:
            raise ValueError(f"{text} does not exist") from None
        return week

    @classmethod
    def containing(cls, moment: datetime, zone: ZoneInfo) -> Week:
        iso = moment.astimezone(zone).isocalendar()
        return cls(iso.year, iso.week)

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) in UTC of this local calendar week."""
        start = datetime.combine(self.monday(), time(0), tzinfo=zone)
        end = datetime.combine(self.monday() + timedelta(days=7), time(0), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def previous(self) -> Week:
        iso = (self.monday() - timedelta(days=7)).isocalendar()
        return Week(iso.year, iso.week)

    def next(self) -> Week:
        iso = (self.monday() + timedelta(days=7)).isocalendar()
        return Week(iso.year, iso.week)

    def label(self) -> str:
        first, last = self.monday(), self.monday() + timedelta(days=6)
        return f"week {self.number}, {first:%a %d %b} – {last:%a %d %b %Y}"


def send_time(week: Week, *, day: int, hour: int, zone: ZoneInfo) -> datetime:
    """When the digest of `week` is due: the given weekday and hour of the following week."""
    local_day = week.next().monday() + timedelta(days=day)
    return datetime.combine(local_day, time(hour), tzinfo=zone).astimezone(UTC)


def latest_due(now: datetime, *, day: int, hour: int, zone: ZoneInfo) -> tuple[Week, datetime]:
    """The most recent week whose digest is due at or before `now`, and when it was due."""
    week = Week.containing(now, zone).previous()
    due = send_time(week, day=day, hour=hour, zone=zone)
    if due > now:
        week = week.previous()
        due = send_time(week, day=day, hour=hour, zone=zone)
    return week, due
