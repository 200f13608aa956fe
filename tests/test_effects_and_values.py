"""The typed values that cross a boundary: effects (into the outbox and out) and the values
buttons carry (to Slack and back)."""

from __future__ import annotations

import dataclasses
import json
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from bot import effects as fx
from bot import values
from bot.delivery.handlers import Deliverer

AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def _example(cls: type[fx.Effect]) -> fx.Effect:
    """An instance of `cls` with a value of the right type in every field."""
    hints = typing.get_type_hints(cls)
    samples: dict[Any, Any] = {int: 7, str: "U0STAFF1", bool: True, float: 12.5,
                               datetime: AT, fx.Place: fx.Place.thread("C0X", "1.2"),
                               tuple[str, ...]: ("apology", "fix"),
                               dict[str, Any]: {"event": "case.opened"},
                               list[Any]: [{"type": "divider"}],
                               dict[str, str] | None: {"week": "2026-W47", "channel": "C0L"}}
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.metadata.get("folded"):
            continue  # merged in at delivery, never stored (StartThread.then)
        hint = hints[field.name]
        if hint in samples:
            kwargs[field.name] = samples[hint]
        else:  # an optional: its non-None type
            (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
            kwargs[field.name] = samples[inner]
    return cls(**kwargs)


def test_every_kind_of_effect_has_a_handler() -> None:
    kinds = set(fx.KINDS.values()) | {fx.QueuedMessage}
    deliverer = Deliverer(sessions=None, slack=None, render=None,  # type: ignore[arg-type]
                          jobs=None, clock=lambda: AT)  # type: ignore[arg-type]
    assert kinds - set(deliverer.handlers) == set()
    assert all(callable(h) for h in deliverer.handlers.values())


@pytest.mark.parametrize("cls", sorted(fx.KINDS.values(), key=lambda c: c.kind),
                         ids=lambda c: c.kind)
def test_each_effect_survives_the_outbox_as_it_went_in(cls: type[fx.Effect]) -> None:
    effect = _example(cls)
    payload = effect.to_payload()
    stored = json.loads(json.dumps(payload))  # what the JSON column gives back
    assert fx.decode(cls.kind, stored, effect.ordered_by) == effect


def test_rows_the_outbox_cannot_read_are_refused_plainly() -> None:
    with pytest.raises(fx.Undecodable, match="unknown delivery kind"):
        fx.decode("teleport", {})
    with pytest.raises(fx.Undecodable, match="refresh"):
        fx.decode("refresh", {"case_id": "seven", "parts": []})
    with pytest.raises(fx.Undecodable):
        fx.decode("approval_request", {"case_id": 7})  # no number


def test_rows_queued_by_an_earlier_version_still_deliver() -> None:
    reply = fx.decode("reply", {"case_id": 3, "text": "hi", "blocks": []}, 3)
    assert reply == fx.QueuedMessage(case_id=3, to=None, text="hi", blocks=[])
    post = fx.decode("post", {"channel": "C0L", "thread_ts": None, "text": "d", "blocks": [],
                              "after": {"digest_sent": {"week": "2026-W47", "channel": "C0L"}}})
    assert isinstance(post, fx.QueuedMessage) and post.to == fx.Place.thread("C0L")
    assert post.digest == {"week": "2026-W47", "channel": "C0L"}
    assert fx.decode("dm", {"user": "U1", "text": "t"}).to == fx.Place.dm("U1")  # type: ignore[attr-defined]


def test_only_case_messages_queue_behind_their_case() -> None:
    assert fx.Refresh(4, ("fix",)).ordered_by == 4
    assert fx.Webhook(case_id=4, event={}).ordered_by == 4
    assert _example(fx.FollowUpReminder).ordered_by is None
    with pytest.raises(ValueError):
        fx.Place(channel="C1", user="U1")


@pytest.mark.parametrize(("cls", "value"), [
    (values.CaseRef, values.CaseRef(12)),
    (values.CompensationRef, values.CompensationRef(12, 3)),
    (values.StepTick, values.StepTick(12, 0, True)),
    (values.StepTick, values.StepTick(12, 4, False)),
    (values.OptionPick, values.OptionPick(12, "major-2")),
    (values.Snooze, values.Snooze(12, 1, 48)),
])
def test_button_values_round_trip(cls: Any, value: Any) -> None:
    assert cls.decode(value.encode()) == value


def test_fix_buttons_posted_before_an_upgrade_still_work() -> None:
    assert values.StepTick.decode("12:3", "Done") == values.StepTick(12, 3, True)
    assert values.StepTick.decode("12:3", "Undo") == values.StepTick(12, 3, False)
    with pytest.raises(values.Malformed):
        values.StepTick.decode("12:3", "Something else")


@pytest.mark.parametrize(("cls", "raw"), [
    (values.CaseRef, None), (values.CaseRef, ""), (values.CaseRef, "12:3"),
    (values.CaseRef, "-1"), (values.CaseRef, "1" * 13), (values.CaseRef, "١٢"),
    (values.CompensationRef, "12"), (values.CompensationRef, "12:x"),
    (values.StepTick, "12:3"), (values.StepTick, "12:3:2"), (values.StepTick, "12:3:yes"),
    (values.OptionPick, "12:"), (values.OptionPick, "12:a b"),
    (values.OptionPick, "12:" + "k" * 65),
    (values.Snooze, "12:1:0"), (values.Snooze, "12:1:999"), (values.Snooze, "12:1"),
])
def test_values_our_buttons_never_carry_are_malformed(cls: Any, raw: Any) -> None:
    with pytest.raises(values.Malformed):
        cls.decode(raw)
