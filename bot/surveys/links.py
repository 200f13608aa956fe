"""Survey links: /r/<token>, where the token is the survey's (id, nonce, expiry) signed with
HMAC-SHA256 under AMENDS_SURVEY_SECRET.

A token is checked before the database is asked anything: a guessed or altered token, or
an expired one, is refused by arithmetic alone, so flooding the page with them costs no
query. The same survey always gives the same token (no timestamp is signed), so the link
in a manager's message does not change each time the message is redrawn.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

from bot.domain.survey import Survey

PATH = "/r/"
# A real token is about 70 characters of the URL-safe alphabet; anything else is refused
# before it is decoded.
MAX_TOKEN = 160
_TOKEN = re.compile(rf"[A-Za-z0-9_\-.]{{20,{MAX_TOKEN}}}")


class LinkRefused(Exception):
    """Not a link Amends made, or one past its time. `expired` tells the two apart."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


@dataclass(frozen=True)
class Ticket:
    """What a valid link names: the survey, and the nonce its row must still have."""

    survey_id: int
    nonce: str
    expires_at: datetime


class SurveyLinks:
    def __init__(self, public_url: str, secret: str) -> None:
        self.base = public_url.rstrip("/")
        self._serializer = URLSafeSerializer(
            secret, salt="amends.survey.v1",
            signer_kwargs={"digest_method": hashlib.sha256})

    def token(self, survey: Survey) -> str:
        return str(self._serializer.dumps(
            [survey.id, survey.nonce, int(survey.expires_at.timestamp())]))

    def url(self, survey: Survey) -> str:
        return f"{self.base}{PATH}{self.token(survey)}"

    def read(self, token: str, now: datetime) -> Ticket:
        if not _TOKEN.fullmatch(token):
            raise LinkRefused()
        try:
            value = self._serializer.loads(token)
        except (BadSignature, ValueError, UnicodeDecodeError):
            raise LinkRefused() from None
        if (not isinstance(value, list) or len(value) != 3
                or not all(isinstance(v, t) and not isinstance(v, bool)
                           for v, t in zip(value, (int, str, int), strict=True))
                or not 0 < value[0] < 2**62 or not 0 < value[2] < 2**40):
            raise LinkRefused()  # signed by us, yet not our shape: refuse all the same
        expires = datetime.fromtimestamp(value[2], UTC)
        if now >= expires:
            raise LinkRefused(expired=True)
        return Ticket(survey_id=value[0], nonce=value[1], expires_at=expires)
