"""Durations as people write them in playbooks and settings: '48 hours', '15 min', '2d'."""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(str(text).lower())
    if not match or match.group(2) not in UNITS:
        raise ValueError(f"'{text}' is not a duration (write it like '48 hours', '30 minutes' "
                         "or '2 days')")
    seconds = float(match.group(1)) * UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"'{text}' must be longer than zero")
    return timedelta(seconds=seconds)


def describe(delta: timedelta) -> str:
    """A short human form: '48 hours', '15 minutes', '2 days'."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            if unit == "day" and n <= 3:
                return f"{n * 24} hours"
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{max(seconds // 60, 1)} minutes"
