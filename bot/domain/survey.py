"""The customer's own verdict: one question, "Did we put it right?", on a 1 to 5 scale.

Plain rules, no web and no Slack: what an answer may be, what a score means, when one
reopens a case. The link and the page live in bot/surveys; the rows in storage/surveys.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from bot.domain import limits

QUESTION = "Did we put it right?"
SCALE: dict[int, str] = {1: "Not at all", 2: "Not really", 3: "Partly", 4: "Mostly",
                         5: "Completely"}
LOW = 2  # a score at or below this reopens a closed case, as "still unhappy" does
PUT_RIGHT = 4  # a score at or above this counts as put right in the digest
CUSTOMER = "customer"  # the actor of what a customer did, on the case's timeline


class InvalidAnswer(ValueError):
    """What the customer sent is not an answer; the message says what to change."""


@dataclass(frozen=True)
class Answer:
    score: int
    comment: str

    @property
    def low(self) -> bool:
        return self.score <= LOW

    @property
    def label(self) -> str:
        return f"{self.score}/5 ({SCALE[self.score]})"


def read_answer(score: str | None, comment: str | None) -> Answer:
    """An answer from the form's two fields, bounded before anything else is done."""
    text = (score or "").strip()
    if not text:
        raise InvalidAnswer("Choose a number from 1 to 5.")
    if len(text) > 1 or text not in "12345":
        raise InvalidAnswer("Choose one of the numbers from 1 to 5.")
    words = clean_comment(comment or "")
    if len(words) > limits.SURVEY_COMMENT:
        raise InvalidAnswer(f"Please keep the comment under {limits.SURVEY_COMMENT} "
                            f"characters (it has {len(words)}).")
    return Answer(score=int(text), comment=words)


def clean_comment(text: str) -> str:
    """Line breaks kept, other control and format characters (bidi overrides, zero-width
    joiners used to hide text) dropped, surrounding space trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in text if c == "\n" or unicodedata.category(c)[0] != "C").strip()


@dataclass(frozen=True, kw_only=True)
class Survey:
    """One survey sent for a case: answerable once, until it expires."""

    id: int
    case_id: int
    nonce: str
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None = None
    score: int | None = None
    comment: str | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    @property
    def answer(self) -> Answer | None:
        if self.score is None:
            return None
        return Answer(score=self.score, comment=self.comment or "")
