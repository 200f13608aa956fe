"""Amounts as people (and attackers) type them: bounded before any number is built."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import money


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("12,50", "USD", 1250),          # a comma that can only be a decimal separator
    ("12,5", "EUR", 1250),
    ("1,250.50", "USD", 125050),
    ("1.250,50", "EUR", 125050),
    ("1,250,000", "USD", 125000000),
    ("1.250", "JPY", 1250),          # no decimals in yen: the point can only group thousands
    ("0.250", "EUR", 25), ("1234.500", "EUR", 123450), ("1.234", "BHD", 1234),
    ("$25", "USD", 2500), ("25 USD", "USD", 2500), ("usd 25", "USD", 2500),
    ("US$ 7", "USD", 700), ("CHF 12", "CHF", 1200),
    ("9999999999.99", "USD", 999999999999),
    (Decimal("4.10"), "USD", 410),
])
def test_amounts_people_type(text: str, currency: str, minor: int) -> None:
    assert money.parse_amount(text, currency) == minor


@pytest.mark.parametrize(("text", "currency", "message"), [
    ("1e999997", "USD", "not an amount"),   # a million-digit integer, once
    ("1e18", "USD", "not an amount"),
    ("1e309", "USD", "not an amount"),
    ("NaN", "USD", "not an amount"),
    ("Infinity", "USD", "not an amount"),
    ("-Infinity", "USD", "negative"),
    ("10000000000", "USD", "below 10,000,000,000"),
    ("€25", "USD", "another currency"),
    ("£25", "USD", "another currency"),
    ("EUR 25", "USD", "in USD, not EUR"),
    ("1,234", "BHD", "ambiguous"),          # 1.234 or 1234 in a three-decimal currency
    ("1.250", "EUR", "write 1250 or 1.25"),  # 1,250 where a point groups thousands
    ("12.500", "USD", "ambiguous"),
    ("1,2345", "USD", "not an amount"),
    ("1234,567", "USD", "not an amount"),
    ("12,5", "JPY", "not an amount"),
    ("1" * 41, "USD", "not an amount"),    # longer than anyone types an amount
])
def test_amounts_refused(text: str, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        money.parse_amount(text, currency)


def test_an_unbounded_decimal_is_refused_before_arithmetic() -> None:
    with pytest.raises(ValueError, match="below"):
        money.parse_amount(Decimal("1E+999999"), "USD")
    with pytest.raises(ValueError, match="below"):
        money.parse_amount(Decimal("NaN"), "USD")


def test_the_largest_amount_fits_a_bigint() -> None:
    for currency in ("USD", "JPY", "BHD"):
        assert money.max_minor(currency) < 2 ** 63 - 1
        text = "9" * money.MAX_DIGITS
        assert money.parse_amount(text, currency) <= money.max_minor(currency)


@given(st.text(max_size=60))
def test_any_text_is_an_amount_in_range_or_a_plain_error(text: str) -> None:
    try:
        minor = money.parse_amount(text, "USD")
    except ValueError as exc:
        assert str(exc)
    else:
        assert 0 <= minor <= money.max_minor("USD")
