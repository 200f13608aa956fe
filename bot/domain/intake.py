"""What a staff member's free text already says: the order or booking it is about."""

from __future__ import annotations

import re

from bot.domain import limits

# "order 1042", "order #A-7", "booking no. 55X", "ref: 9981", or a bare "#1042". A reference
# has a digit in it, so "order arrived" or "booking was" never count.
_NAMED = re.compile(
    r"\b(?:order|booking|reservation|invoice|ticket|ref(?:erence)?)\s*"
    r"(?:no\.?|number|num\.?|#|:)?\s*#?\s*([A-Za-z0-9][A-Za-z0-9-]{0,30})", re.IGNORECASE)
_HASHED = re.compile(r"(?<![\w&])#([A-Za-z0-9][A-Za-z0-9-]{0,30})")


def order_reference(text: str) -> str | None:
    """The first obvious order or booking reference in `text`, else None."""
    text = text[:limits.SUMMARY]  # bounded input: the regexes are linear, the text short
    for pattern in (_NAMED, _HASHED):
        for match in pattern.finditer(text):
            ref = match.group(1).strip("-")
            if any(ch.isdigit() for ch in ref) and len(ref) <= limits.ORDER_REF:
                return ref
    return None
