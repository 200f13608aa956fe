"""The playbook model: what staff are walked through for one kind of failure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from bot.domain import money


class CompensationType(StrEnum):
    REFUND = "refund"
    VOUCHER = "voucher"
    DISCOUNT = "discount"
    FREE_ITEM = "free_item"
    GOODWILL = "goodwill"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


# The variables a suggested wording may use, with the sample values that
# `amends playbooks show` and the validator render it with.
TEMPLATE_SAMPLES: dict[str, str] = {
    "customer_name": "Sam Taylor",
    "staff_name": "Alex",
    "what_happened": "the order arrived 50 minutes late and cold",
    "order_ref": "A-1042",
    "location": "High Street",
    "severity": "major",
}


@dataclass(frozen=True, kw_only=True)
class Severity:
    key: str
    description: str


@dataclass(frozen=True, kw_only=True)
class Apology:
    guidance: str
    wording: str  # a Jinja2 template over TEMPLATE_SAMPLES' names
    do: tuple[str, ...] = ()
    dont: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FixStep:
    text: str
    who: str | None = None
    within: timedelta | None = None


@dataclass(frozen=True, kw_only=True)
class CompensationOption:
    key: str  # stable within the playbook: "<severity>-<n>"
    type: CompensationType
    label: str
    value: Decimal | None = None  # a fixed amount in major units (12.50)
    percent: Decimal | None = None  # or a share of the purchase

    def amount_minor(self, *, currency: str, purchase_minor: int | None) -> int | None:
        """The option's worth, or None when it depends on a purchase value we don't know."""
        if self.value is not None:
            return money.parse_amount(self.value, currency)
        if self.percent is not None and purchase_minor is not None:
            return money.percent_of(purchase_minor, self.percent)
        return None


@dataclass(frozen=True, kw_only=True)
class FollowUpPolicy:
    who: str
    within: timedelta | None  # None: the installation's default (AMENDS_FOLLOW_UP_HOURS)
    talking_points: tuple[str, ...] = ()
    escalate_after: timedelta | None = None
    escalate_to: str | None = None


def cause_id(cause: str) -> str:
    """A root cause's id in a form: the same for the same text, however long the text is
    (a select shows 75 characters; a cut text as the value would name no cause)."""
    return "cause-" + hashlib.sha256(cause.encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class Playbook:
    id: str
    title: str
    description: str
    version: str
    categories: tuple[str, ...]
    keywords: tuple[str, ...]
    severities: tuple[Severity, ...]
    apology: Apology
    fix: tuple[FixStep, ...]
    compensation: dict[str, tuple[CompensationOption, ...]]
    ceiling_percent: Decimal | None
    causes: tuple[str, ...]
    follow_up: FollowUpPolicy
    source: Path = field(compare=False)
    content_hash: str = field(compare=False)

    @property
    def severity_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.severities)

    def cause(self, chosen: str) -> str | None:
        """The root cause a form's choice names: by its stable id (see `cause_id`), or by
        its text (forms opened before causes had ids). None: not one of this playbook's."""
        return next((c for c in self.causes if chosen in (cause_id(c), c)), None)

    def options_for(self, severity: str) -> tuple[CompensationOption, ...]:
        return self.compensation.get(severity, ())

    def option(self, key: str) -> CompensationOption | None:
        for options in self.compensation.values():
            for option in options:
                if option.key == key:
                    return option
        return None

    def ceiling_minor(self, purchase_minor: int | None) -> int | None:
        if self.ceiling_percent is None or purchase_minor is None:
            return None
        return money.percent_of(purchase_minor, self.ceiling_percent)
