"""Money, durations and playbook suggestion."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from bot.domain import money
from bot.domain.durations import describe, parse_duration
from bot.domain.playbook_library import PlaybookLibrary


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("12.50", "USD", 1250), ("£1,200", "GBP", 120000), ("500", "JPY", 500), ("0", "EUR", 0),
    ("1.234", "BHD", 1234),
])
def test_parse_amount(text: str, currency: str, minor: int) -> None:
    assert money.parse_amount(text, currency) == minor


@pytest.mark.parametrize(("text", "message"), [
    ("ten", "not an amount"), ("-5", "negative"), ("1.005", "more decimals"), ("nan", "not an"),
])
def test_parse_amount_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        money.parse_amount(text, "USD")


def test_format_and_percent() -> None:
    assert money.format_amount(123456, "GBP") == "£1,234.56"
    assert money.format_amount(500, "JPY") == "¥500"
    assert money.format_amount(1000, "CHF") == "CHF 10.00"
    assert money.percent_of(3333, Decimal(150)) == 5000  # rounds half up


def test_durations() -> None:
    assert parse_duration("48 hours") == timedelta(hours=48)
    assert parse_duration("15 min") == timedelta(minutes=15)
    assert parse_duration("2d") == timedelta(days=2)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration("0 hours")
    assert describe(timedelta(days=2)) == "48 hours"
    assert describe(timedelta(days=7)) == "7 days"
    assert describe(timedelta(minutes=90)) == "90 minutes"


@pytest.mark.parametrize(("text", "expected"), [
    ("order 1234 is 40 minutes late, customer still waiting", "late-delivery"),
    ("She was charged twice for the same lunch", "billing-error"),
    ("the waiter was really rude to him", "poor-service"),
    ("wrong item in the bag, no fries", "wrong-or-missing-item"),
    ("blender arrived cracked and doesn't work", "damaged-or-faulty"),
    ("we lost their booking for the anniversary", "outage-or-lost-booking"),
])
def test_suggest_from_free_text(library: PlaybookLibrary, text: str, expected: str) -> None:
    suggested = library.suggest(text)
    assert suggested is not None and suggested.id == expected


def test_suggest_nothing_for_unrelated_text(library: PlaybookLibrary) -> None:
    assert library.suggest("hello there") is None
    assert library.suggest("   ") is None


def test_obvious_order_references_are_picked_out_of_free_text() -> None:
    from bot.domain.intake import order_reference

    assert order_reference("order 1042 arrived an hour late") == "1042"
    assert order_reference("Order #A-7 was cold") == "A-7"
    assert order_reference("booking no. 55X lost") == "55X"
    assert order_reference("wrong item, ref: 9981") == "9981"
    assert order_reference("they waited on #3310 for ages") == "3310"
    # Words after "order" that aren't references, and HTML entities, are left alone.
    assert order_reference("the order arrived late") is None
    assert order_reference("booking was lost &#39;again&#39;") is None
    assert order_reference("x" * 5000 + " order 12") is None  # beyond the form's limit
