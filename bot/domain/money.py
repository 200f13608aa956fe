"""Money as integer minor units (cents, pence): never floats.

Amounts are typed by people (and attackers), so they are read by a small grammar before any
number is built: digits with an optional thousands separator and decimal part, the shop's
own currency symbol or code, nothing else. No exponents, no NaN or Infinity, and never more
digits than the database's BIGINT columns and a sane shop could hold.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 currencies whose minor unit is not 1/100.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3,
              "JOD": 3, "TND": 3}
_SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€", "JPY": "¥", "AUD": "A$", "CAD": "C$",
            "NZD": "NZ$", "INR": "₹"}
# Any currency marker someone might type, longest first so "NZ$" is seen before "$".
_MARKERS = sorted({*_SYMBOLS.values(), "US$", "¥", "₩", "kr", "CHF", "Fr."}, key=len,
                  reverse=True)
# A three-letter code is a currency only beside the number: "EUR 25", "25 usd".
_CODE = re.compile(r"^([A-Za-z]{3})\s*(?=\d)|(?<=\d)\s*([A-Za-z]{3})$")

MAX_DIGITS = 10  # whole units: at most 9,999,999,999 (fits BIGINT in minor units with room)
MAX_TEXT = 40  # characters; anything longer is not an amount anyone typed
_PLAIN = re.compile(r"^\d+(?:\.\d+)?$")


def exponent(currency: str) -> int:
    return int(_EXPONENTS.get(currency.upper(), 2))


def max_minor(currency: str) -> int:
    return int(10 ** (MAX_DIGITS + exponent(currency))) - 1


def _bad(text: object) -> ValueError:
    return ValueError(f"'{str(text)[:MAX_TEXT]}' is not an amount (write it like 12.50)")


def _strip_currency(raw: str, currency: str) -> str:
    code = currency.upper()
    own = _SYMBOLS.get(code)
    found = _CODE.search(raw)
    if found:
        typed = (found.group(1) or found.group(2)).upper()
        if typed != code:
            raise ValueError(f"amounts here are in {code}, not {typed}")
        raw = _CODE.sub("", raw, count=1).strip()
    for marker in _MARKERS:
        if raw.startswith(marker) or raw.endswith(marker):
            if marker != own and not (code == "USD" and marker == "US$"):
                raise ValueError(f"amounts here are in {code}; '{marker}' is another currency")
            raw = raw.removeprefix(marker).removesuffix(marker).strip()
            break
    return raw


def _normalise(raw: str, places: int) -> str:
    """Digits with separators -> '1234.50'. Raises ValueError where a separator is
    ambiguous."""
    if not raw.isascii():  # other scripts' digits, superscripts, a currency we don't know
        raise ValueError("")
    if _PLAIN.match(raw):
        whole, _, fraction = raw.partition(".")
        if len(fraction) == 3 and places < 3 and re.fullmatch(r"[1-9]\d{0,2}", whole):
            # 1.250 is 1,250 where a point groups thousands (1.250 EUR in much of Europe) and
            # 1.25 where it is the decimal point: a thousandfold apart, so ask. Where the
            # point can't be a decimal point (no decimals in yen) it groups; where the
            # decimal reading has too many decimals (1.005 USD), that error is clearer.
            if places == 0:
                return whole + fraction
            if not fraction[places:].strip("0"):
                raise ValueError(f"'{raw}' is ambiguous: write {whole}{fraction} or "
                                 f"{whole}.{fraction[:places]}")
        return raw
    has_comma, has_dot = "," in raw, "." in raw
    if has_comma and has_dot:  # the last one is the decimal separator: 1,250.50 / 1.250,50
        decimal_sep = "," if raw.rfind(",") > raw.rfind(".") else "."
        group_sep = "." if decimal_sep == "," else ","
        whole, _, fraction = raw.rpartition(decimal_sep)
        if not re.fullmatch(r"\d{1,3}(?:" + re.escape(group_sep) + r"\d{3})+", whole) \
                or not fraction.isdigit():
            raise ValueError("")
        return whole.replace(group_sep, "") + "." + fraction
    sep = "," if has_comma else "."
    parts = raw.split(sep)
    if not all(p.isdigit() for p in parts):
        raise ValueError("")
    if len(parts) > 2:  # 1,250,000 or 1.250.000: only thousands separators repeat
        if len(parts[0]) > 3 or any(len(p) != 3 for p in parts[1:]):
            raise ValueError("")
        return "".join(parts)
    # One comma (one dot is plain, handled above).
    whole, fraction = parts
    if len(fraction) == 3 and places < 3:
        if len(whole) > 3:
            raise ValueError("")
        return whole + fraction  # 1,200: a thousands separator in a 2-decimal currency
    if len(fraction) == 3:  # 1,234 in a 3-decimal currency: 1.234 or 1234?
        raise ValueError(f"'{raw}' is ambiguous: write it with a point for decimals, "
                         "like 1234.500, or without separators")
    if len(fraction) <= places:
        return whole + "." + fraction  # 12,50: a comma can only be the decimal separator here
    raise ValueError("")


def parse_amount(text: str | int | Decimal, currency: str) -> int:
    """'12.50' -> 1250 (in minor units). Raises ValueError with a plain message."""
    places = exponent(currency)
    if isinstance(text, Decimal | int) and not isinstance(text, bool):
        value = Decimal(text)
        # Bound before any arithmetic: Decimal('1E+999999') is 8 characters.
        if not value.is_finite() or value.adjusted() >= MAX_DIGITS:
            raise ValueError(f"an amount must be below {10 ** MAX_DIGITS:,}")
        digits = format(value, "f")
    else:
        raw = str(text).strip()
        if len(raw) > MAX_TEXT:
            raise _bad(text)
        raw = _strip_currency(raw.replace(" ", "").replace("\u00a0", ""), currency)
        if raw.startswith("-"):
            raise ValueError("an amount cannot be negative")
        try:
            digits = _normalise(raw, places)
        except ValueError as exc:
            raise (exc if str(exc) else _bad(text)) from None
    negative = digits.startswith("-")
    whole, _, fraction = digits.lstrip("-").partition(".")
    whole = whole.lstrip("0") or "0"
    if len(whole) > MAX_DIGITS:
        raise ValueError(f"an amount must be below {10 ** MAX_DIGITS:,}")
    if negative and (whole != "0" or fraction.strip("0")):
        raise ValueError("an amount cannot be negative")
    if len(fraction.rstrip("0")) > places:
        raise ValueError(f"'{str(text)[:MAX_TEXT]}' has more decimals than "
                         f"{currency.upper()} allows")
    return int(whole + fraction.rstrip("0").ljust(places, "0")[:places] if places else whole)


def percent_of(minor: int, percent: Decimal) -> int:
    return int((Decimal(minor) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_amount(minor: int, currency: str) -> str:
    """1250, 'GBP' -> '£12.50'; unknown symbols fall back to the code: 'CHF 12.50'."""
    exp = exponent(currency)
    value = Decimal(minor) / (Decimal(10) ** exp)
    number = f"{value:,.{exp}f}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{symbol}{number}" if symbol else f"{currency.upper()} {number}"
