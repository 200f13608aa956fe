"""The weekly digest's figures: what leadership sees, and how this week compares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Count:
    name: str
    count: int


@dataclass(frozen=True)
class CompensationTotal:
    type: str
    count: int
    amount_minor: int


@dataclass(frozen=True)
class CaseLine:
    """One case worth naming: the oldest open ones, the largest compensation, the unhappy."""

    case_id: int
    customer: str
    at: datetime
    detail: str = ""
    amount_minor: int = 0
    person: str | None = None  # whose it is


@dataclass(frozen=True)
class WeekFigures:
    opened: int = 0
    resolved: int = 0
    median_recovery_s: int | None = None
    p90_recovery_s: int | None = None
    by_playbook: list[Count] = field(default_factory=list)
    by_location: list[Count] = field(default_factory=list)
    compensation: list[CompensationTotal] = field(default_factory=list)
    approvals: int = 0
    denials: int = 0
    outcomes: list[Count] = field(default_factory=list)
    follow_ups_due: int = 0
    follow_ups_on_time: int = 0
    follow_ups_late: int = 0
    follow_ups_open: int = 0
    overdue_by_manager: list[Count] = field(default_factory=list)
    follow_ups_done: int = 0
    recovered_at_follow_up: int = 0
    repeat_customers: int = 0
    apologies: int = 0
    top_causes: list[Count] = field(default_factory=list)
    oldest_open: list[CaseLine] = field(default_factory=list)
    largest_compensation: list[CaseLine] = field(default_factory=list)
    denied: list[CaseLine] = field(default_factory=list)  # decided this week; detail: why
    still_unhappy: list[CaseLine] = field(default_factory=list)
    # The customers' own view (the survey): links sent this week and how many of those
    # are answered so far; answers received this week and how many said it was put right.
    surveys_sent: int = 0
    surveys_answered: int = 0
    survey_answers: int = 0
    survey_put_right: int = 0
    low_scores: list[CaseLine] = field(default_factory=list)  # detail: "2/5: comment"

    @property
    def compensation_minor(self) -> int:
        return sum(c.amount_minor for c in self.compensation)

    @property
    def on_time_rate(self) -> float | None:
        """Of the follow-ups due this week, the share done by their due time."""
        return self.follow_ups_on_time / self.follow_ups_due if self.follow_ups_due else None

    @property
    def recovery_rate(self) -> float | None:
        """Of the cases followed up this week, the share whose latest follow-up found the
        customer satisfied or better (each case once, however often it was followed up)."""
        return (self.recovered_at_follow_up / self.follow_ups_done
                if self.follow_ups_done else None)

    @property
    def response_rate(self) -> float | None:
        """Of the surveys sent this week, the share the customer has answered."""
        return self.surveys_answered / self.surveys_sent if self.surveys_sent else None

    @property
    def customer_recovery_rate(self) -> float | None:
        """Of the survey answers received this week, the share saying 4 or 5: recovery as
        the customers reported it, beside the managers' view (recovery_rate)."""
        return self.survey_put_right / self.survey_answers if self.survey_answers else None

    @property
    def apology_share(self) -> float | None:
        """Of the cases resolved this week, the share with an apology recorded."""
        return self.apologies / self.resolved if self.resolved else None


@dataclass(frozen=True)
class WeekSoFar:
    """The current week up to now, and the same stretch of the week before."""

    since: datetime
    this: WeekFigures
    last: WeekFigures


@dataclass(frozen=True)
class TrendPoint:
    """One week of the digest's chart: the headline figures that show a trend."""

    start: datetime
    opened: int
    median_recovery_s: int | None
    followed_up: int
    recovered: int
    compensation_minor: int

    @property
    def recovery_rate(self) -> float | None:
        return self.recovered / self.followed_up if self.followed_up else None


HEADLINES = ("opened", "resolved", "median_recovery_s", "compensation_minor", "on_time_rate",
             "recovery_rate", "customer_recovery_rate", "response_rate", "apology_share",
             "repeat_customers")


def change(this: float | int | None, last: float | int | None) -> float | None:
    """Difference against last week, or None when either week has no figure."""
    if this is None or last is None:
        return None
    return this - last
