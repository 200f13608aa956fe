"""Calendar weeks in the shop's time zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.weeks import Week, latest_due, send_time

LONDON = ZoneInfo("Europe/London")


def test_parse_and_label() -> None:
    week = Week.parse("2026-W47")
    assert str(week) == "2026-W47" and week.monday().isoformat() == "2026-11-16"
    assert week.label() == "week 47, Mon 16 Nov – Sun 22 Nov 2026"
    assert week.previous() == Week(2026, 46) and Week(2026, 53).next() == Week(2027, 1)
    for bad in ("2026-47", "2026-W54", "W47"):
        with pytest.raises(ValueError, match=r"ISO week|does not exist"):
            Week.parse(bad)


def test_weeks_across_daylight_saving_are_local_weeks() -> None:
    # Clocks go back on Sun 25 Oct 2026: that week is 169 hours long, in UTC terms.
    start, end = Week.parse("2026-W43").bounds(LONDON)
    assert start == datetime(2026, 10, 18, 23, 0, tzinfo=UTC)  # Mon 00:00 BST
    assert end == datetime(2026, 10, 26, 0, 0, tzinfo=UTC)  # Mon 00:00 GMT
    assert end - start == timedelta(hours=169)
    # Clocks go forward on Sun 29 Mar 2026: 167 hours.
    start, end = Week.parse("2026-W13").bounds(LONDON)
    assert end - start == timedelta(hours=167)
    # A moment late on Sunday local time belongs to that week, whatever UTC says.
    sunday_late = datetime(2026, 10, 25, 23, 30, tzinfo=LONDON)
    assert Week.containing(sunday_late, LONDON) == Week(2026, 43)
    assert Week.containing(datetime(2026, 3, 29, 23, 30, tzinfo=LONDON), LONDON) == Week(2026, 13)


def test_when_a_digest_is_due() -> None:
    # Monday 09:00 London of the following week; in BST that is 08:00 UTC.
    assert send_time(Week(2026, 43), day=0, hour=9, zone=LONDON) == datetime(
        2026, 10, 26, 9, 0, tzinfo=UTC)
    assert send_time(Week(2026, 42), day=0, hour=9, zone=LONDON) == datetime(
        2026, 10, 19, 8, 0, tzinfo=UTC)
    before = datetime(2026, 11, 23, 8, 59, tzinfo=UTC)
    assert latest_due(before, day=0, hour=9, zone=LONDON)[0] == Week(2026, 46)
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert latest_due(at, day=0, hour=9, zone=LONDON) == (Week(2026, 47), at)
    friday = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert latest_due(friday, day=4, hour=17, zone=LONDON)[0] == Week(2026, 46)
    assert latest_due(friday, day=4, hour=11, zone=LONDON)[0] == Week(2026, 47)
