"""The survey's rules and its links, without the web or Slack."""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer

from bot.domain.survey import Answer, InvalidAnswer, Survey, read_answer
from bot.surveys.links import LinkRefused, SurveyLinks
from tests.conftest import T0

SECRET = "survey-secret-0123456789"


def _survey(**changes: object) -> Survey:
    values: dict[str, object] = {"id": 7, "case_id": 3, "nonce": "n0nce", "created_at": T0,
                                 "expires_at": T0 + timedelta(days=14), **changes}
    return Survey(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("score, comment, problem", [
    ("", "", "Choose a number"), (None, None, "Choose a number"), ("0", "", "one of"),
    ("6", "", "one of"), ("45", "", "one of"), ("٣", "", "one of"), ("3.0", "", "one of"),
    ("3", "x" * 1001, "under 1000"),
])
def test_what_is_not_an_answer_is_refused(score: str | None, comment: str | None,
                                          problem: str) -> None:
    with pytest.raises(InvalidAnswer, match=problem):
        read_answer(score, comment)


def test_an_answer_is_bounded_and_cleaned() -> None:
    answer = read_answer(" 2 ", "  still\r\ncold \u202eevil\u200b  ")
    assert answer == Answer(2, "still\ncold evil") and answer.low
    assert answer.label == "2/5 (Not really)"
    assert not read_answer("3", None).low and read_answer("1", "").low


def test_a_link_reads_back_and_refuses_tampering_other_secrets_and_expiry() -> None:
    links = SurveyLinks("https://amends.example/", SECRET)
    survey = _survey()
    token = links.token(survey)
    assert links.url(survey) == f"https://amends.example/r/{token}"
    assert links.token(survey) == token  # the same survey, the same link
    ticket = links.read(token, T0)
    assert (ticket.survey_id, ticket.nonce) == (7, "n0nce")
    payload, signature = token.split(".")
    for bad in (payload + "." + signature[::-1], payload[:-1] + "." + signature,
                SurveyLinks("https://amends.example", "another-secret-0123456").token(survey),
                "short", "x" * 161, token + "?", ""):
        with pytest.raises(LinkRefused) as refused:
            links.read(bad, T0)
        assert not refused.value.expired
    with pytest.raises(LinkRefused) as late:
        links.read(token, survey.expires_at)
    assert late.value.expired


def test_a_signed_value_of_the_wrong_shape_is_refused() -> None:
    # Signed with the real secret and salt, yet not (int, str, int): refused all the same.
    import hashlib

    signer = URLSafeSerializer(SECRET, salt="amends.survey.v1",
                               signer_kwargs={"digest_method": hashlib.sha256})
    links = SurveyLinks("https://amends.example", SECRET)
    for value in ([True, "n", 2**31], [7, "n"], [7, 5, 2**31], {"id": 7}, [7, "n", 2**50],
                  [-1, "n", 2**31], [7.0, "n", 2**31]):
        with pytest.raises(LinkRefused):
            links.read(str(signer.dumps(value)), T0)
