"""The survey page customers open: GET /r/<token> asks, POST /r/<token> records.

Small on purpose: one HTML page with its own few lines of CSS, no JavaScript, nothing
loaded from elsewhere, the shop's name and the question and nothing about the case. Every
refusal is plain and records nothing: a link Amends did not make (guessed or altered), one
past its time, one answered already, a body too large or too slow, or one address asking
too often.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from bot.domain import limits
from bot.domain.survey import QUESTION, SCALE, InvalidAnswer, read_answer
from bot.recovery import RecoveryService, StorageError, SurveyAnswer
from bot.surveys.links import MAX_TOKEN, PATH
from bot.web_body import read_body

log = logging.getLogger("amends.survey")
StartResponse = Callable[..., Any]

# A form post: a score and up to 1,000 characters of comment, each character at most
# 12 bytes once percent-encoded. Anything bigger is not our form.
MAX_FORM_BYTES = 16 * 1024
# X-Forwarded-For longer than this is not trusted (a client may pad the header).
MAX_FORWARDED = 2048

HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    # Nothing runs and nothing loads: no scripts, no images, no fonts; only this page's
    # own style, and the form posts back here alone.
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    # The token is in the address: never send it on as a Referer, never keep the page.
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Robots-Tag", "noindex, nofollow"),
]

_STYLE = """
body{font:1.125rem/1.5 system-ui,sans-serif;margin:0;padding:1.5rem;color:#1d1c1d;
background:#f8f8f8}main{max-width:32rem;margin:0 auto;background:#fff;padding:1.5rem;
border-radius:.5rem;border:1px solid #ddd}h1{font-size:1.25rem;margin:0 0 1rem}
fieldset{border:0;padding:0;margin:0 0 1rem}legend{font-weight:600;margin-bottom:.5rem}
label{display:block;padding:.25rem 0}input[type=radio]{width:1.25rem;height:1.25rem;
vertical-align:middle;margin-right:.5rem}textarea{width:100%;box-sizing:border-box;
font:inherit;min-height:6rem}button{font:inherit;padding:.5rem 1.5rem;margin-top:1rem;
background:#1264a3;color:#fff;border:0;border-radius:.25rem;cursor:pointer}
button:focus,input:focus,textarea:focus{outline:3px solid #f2c744;outline-offset:2px}
.error{color:#b00020;font-weight:600}
"""


def _page(title: str, body: str, shop: str | None) -> bytes:
    heading = f"<h1>{html.escape(shop)}</h1>" if shop else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{heading}{body}</main></body></html>").encode()


def question_page(shop: str | None, error: str = "", score: str = "",
                  comment: str = "") -> bytes:
    alert = (f'<p class="error" role="alert" id="problem">{html.escape(error)}</p>'
             if error else "")
    described = ' aria-describedby="problem"' if error else ""
    choices = "".join(
        f'<label><input type="radio" name="score" value="{n}" required'
        f'{" checked" if score == str(n) else ""}> {n} – {html.escape(words)}</label>'
        for n, words in SCALE.items())
    body = (f'{alert}<form method="post"><fieldset{described}>'
            f"<legend>{html.escape(QUESTION)}</legend>{choices}</fieldset>"
            f'<label for="comment">Anything you would like to tell us? (optional)</label>'
            f'<textarea id="comment" name="comment" maxlength="{limits.SURVEY_COMMENT}">'
            f"{html.escape(comment)}</textarea>"
            f'<button type="submit">Send</button></form>')
    return _page(QUESTION, body, shop)


_REFUSALS = {
    SurveyAnswer.INVALID: ("404 Not Found", "This link isn't valid",
                           "This link isn't one we sent, or it was copied incompletely."),
    SurveyAnswer.EXPIRED: ("410 Gone", "This link has expired",
                           "This link has expired. Thank you for your time all the same."),
    SurveyAnswer.ALREADY: ("409 Conflict", "Already answered",
                           "We already have your answer. Thank you."),
}
_THANKS = ("Thank you", "Thank you. We have your answer, and it will be read.")


class Limiter:
    """At most `per_minute` requests a minute from one address (a token bucket each),
    remembering at most `addresses` of them, so a flood can't grow memory."""

    def __init__(self, per_minute: int = 30, addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.capacity, self.clock = per_minute / 60.0, float(per_minute), clock
        self.addresses = addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, address: str) -> bool:
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(address, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            allowed = tokens >= 1
            self._buckets[address] = (tokens - 1 if allowed else tokens, now)
            while len(self._buckets) > self.addresses:
                self._buckets.popitem(last=False)
            return allowed


def client_address(environ: dict[str, Any], proxies: int) -> str:
    """The address a request came from: the connection's, or with `proxies` trusted proxies
    in front, the one the outermost of them saw (X-Forwarded-For's `proxies`-th entry from
    the right; the entries left of it are the client's to write). A header with fewer
    entries than proxies, or an unreadable one, is not trusted: the connection's address."""
    own = str(environ.get("REMOTE_ADDR") or "")
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "")
    if not proxies or not forwarded or len(forwarded) > MAX_FORWARDED:
        return own
    hops = [hop.strip() for hop in forwarded.split(",")]
    if len(hops) < proxies or not hops[-proxies]:
        return own
    return hops[-proxies][:64]


class SurveyPage:
    def __init__(self, service: RecoveryService, sessions: Callable[[], Any], *,
                 shop: str | None, limiter: Limiter | None = None, proxies: int = 0) -> None:
        self.service, self.sessions, self.shop = service, sessions, shop
        self.limiter = limiter or Limiter()
        self.proxies = proxies

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(PATH)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        body = self._answer(environ, start_response)
        # HEAD: the same status and headers, no body (wsgiref would send one).
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else body

    def _answer(self, environ: dict[str, Any], start_response: StartResponse
                ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        token = environ.get("PATH_INFO", "")[len(PATH):]
        if method not in ("GET", "HEAD", "POST"):
            return self._send(start_response, "405 Method Not Allowed",
                              _page("Not allowed", "<p>Not allowed.</p>", self.shop),
                              [("Allow", "GET, HEAD, POST")])
        if not self.limiter.allow(client_address(environ, self.proxies)):
            return self._send(start_response, "429 Too Many Requests",
                              _page("Please wait", "<p>Too many requests from here. Please "
                                    "try again in a minute.</p>", self.shop),
                              [("Retry-After", "60")])
        if len(token) > MAX_TOKEN:
            return self._refuse(start_response, SurveyAnswer.INVALID)
        try:
            if method == "POST":
                return self._post(environ, start_response, token)
            state = self._with_session(lambda s: self.service.survey_state(s, token))
        except StorageError:
            return self._unavailable(start_response)
        if state is not None:
            return self._refuse(start_response, state)
        return self._send(start_response, "200 OK", question_page(self.shop))

    def _post(self, environ: dict[str, Any], start_response: StartResponse,
              token: str) -> Iterable[bytes]:
        if not (environ.get("CONTENT_TYPE") or "").startswith(
                "application/x-www-form-urlencoded"):
            return self._send(start_response, "415 Unsupported Media Type",
                              _page("Not a form", "<p>Please use the form.</p>", self.shop))
        refused = read_body(environ, start_response, MAX_FORM_BYTES)
        if refused is not None:
            return refused
        try:
            form = parse_qs(environ["wsgi.input"].read().decode("utf-8"),
                            max_num_fields=4, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return self._send(start_response, "400 Bad Request",
                              _page("Not a form", "<p>Please use the form.</p>", self.shop))
        score = (form.get("score") or [""])[0]
        comment = (form.get("comment") or [""])[0]
        try:
            answer = read_answer(score, comment)
        except InvalidAnswer as problem:
            # The link itself is checked first: a bad link gets its refusal, not a form.
            state = self._with_session(lambda s: self.service.survey_state(s, token))
            if state is not None:
                return self._refuse(start_response, state)
            return self._send(start_response, "422 Unprocessable Content", question_page(
                self.shop, str(problem), score, comment[:limits.SURVEY_COMMENT * 2]))
        result = self._with_session(lambda s: self.service.answer_survey(s, token, answer))
        if result in (SurveyAnswer.RECORDED, SurveyAnswer.REOPENED):
            log.info("survey answered: score %s%s", answer.score,
                     ", case reopened" if result is SurveyAnswer.REOPENED else "")
            return self._send(start_response, "200 OK",
                              _page(_THANKS[0], f"<p>{_THANKS[1]}</p>", self.shop))
        return self._refuse(start_response, result)

    def _with_session(self, work: Callable[[Any], Any]) -> Any:
        with self.sessions() as session:
            return work(session)

    def _refuse(self, start_response: StartResponse, why: SurveyAnswer) -> Iterable[bytes]:
        status, title, words = _REFUSALS[why]
        return self._send(start_response, status,
                          _page(title, f"<p>{html.escape(words)}</p>", self.shop))

    def _unavailable(self, start_response: StartResponse) -> Iterable[bytes]:
        return self._send(start_response, "503 Service Unavailable",
                          _page("Please try later", "<p>We can't take answers right now. "
                                "Please try again in a few minutes.</p>", self.shop),
                          [("Retry-After", "120")])

    @staticmethod
    def _send(start_response: StartResponse, status: str, body: bytes,
              extra: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
        start_response(status, [*HEADERS, ("Content-Length", str(len(body))),
                                *(extra or [])])
        return [body]
