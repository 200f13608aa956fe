"""Money as integer minor units (cents, pence): never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 1/100.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3,
              "JOD": 3, "TND": 3}
_SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€", "JPY": "¥", "AUD": "A$", "CAD": "C$",
            "NZD": "NZ$", "INR": "₹"}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def parse_amount(text: str | int | Decimal, currency: str) -> int:
    """'12.50' -> 1250 (in minor units). Raises ValueError with a plain message."""
    raw = str(text).strip().replace(",", "")
    for symbol in (*_SYMBOLS.values(), currency.upper()):
        raw = raw.removeprefix(symbol).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"'{text}' is not an amount (write it like 12.50)") from None
    if not value.is_finite():
        raise ValueError(f"'{text}' is not an amount (write it like 12.50)")
    if value < 0:
        raise ValueError("an amount cannot be negative")
    scale = Decimal(10) ** exponent(currency)
    minor = value * scale
    if minor != minor.to_integral_value():
        raise ValueError(f"'{text}' has more decimals than {currency.upper()} allows")
    return int(minor)


def percent_of(minor: int, percent: Decimal) -> int:
    return int((Decimal(minor) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_amount(minor: int, currency: str) -> str:
    """1250, 'GBP' -> '£12.50'; unknown symbols fall back to the code: 'CHF 12.50'."""
    exp = exponent(currency)
    value = Decimal(minor) / (Decimal(10) ** exp)
    number = f"{value:,.{exp}f}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{symbol}{number}" if symbol else f"{currency.upper()} {number}"
