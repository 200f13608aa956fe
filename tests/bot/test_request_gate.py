"""The rule that acknowledgements go first (bot.work.RequestGate), on a clock the test moves:
after a lone request post-ack work waits a moment; after a burst, long enough to bridge the
gaps between the burst's requests (bench/ack_latency.py found work slipping into them)."""

from __future__ import annotations

import math
import threading

from bot.work import BURST, BURST_SETTLE, BURST_WINDOW, SETTLE, RequestGate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _request(gate: RequestGate, clock: Clock, *, lasting: float = 0.001) -> None:
    gate.enter()
    clock.now += lasting
    gate.leave()


def test_work_waits_while_a_request_is_in_flight_and_a_moment_after_it() -> None:
    clock = Clock()
    gate = RequestGate(clock)
    assert gate.until_quiet() == 0  # nothing ever came
    gate.enter()
    assert gate.until_quiet() == math.inf
    clock.now += 0.5  # however long it takes
    assert gate.until_quiet() == math.inf
    gate.leave()
    assert math.isclose(gate.until_quiet(), SETTLE)
    clock.now += SETTLE
    assert gate.until_quiet() == 0


def test_after_a_burst_work_waits_longer_than_after_a_steady_pace() -> None:
    clock = Clock()
    gate = RequestGate(clock)
    # Requests a shop's steady traffic would send, one after another: the short settle.
    for _ in range(2 * BURST):
        _request(gate, clock)
        clock.now += 0.025
    _request(gate, clock)
    assert math.isclose(gate.until_quiet(), SETTLE)

    clock.now += 1
    # A burst: BURST requests begun within BURST_WINDOW, some overlapping.
    step = BURST_WINDOW / BURST
    for _ in range(BURST):
        gate.enter()
        clock.now += step
    for _ in range(BURST):
        gate.leave()
    assert math.isclose(gate.until_quiet(), BURST_SETTLE)
    clock.now += SETTLE
    assert gate.until_quiet() > 0  # a gap inside a burst is not a quiet moment
    clock.now += BURST_SETTLE
    assert gate.until_quiet() == 0

    # The burst is over: a lone request later waits the short settle again.
    clock.now += 1
    _request(gate, clock)
    assert math.isclose(gate.until_quiet(), SETTLE)


def test_one_request_fewer_than_a_burst_is_not_one() -> None:
    clock = Clock()
    gate = RequestGate(clock)
    for _ in range(BURST - 1):
        _request(gate, clock)
    assert math.isclose(gate.until_quiet(), SETTLE)
    _request(gate, clock)
    assert math.isclose(gate.until_quiet(), BURST_SETTLE)


def test_waiting_ends_when_quiet_or_out_of_patience_and_wakes_when_the_last_request_ends(
) -> None:
    clock = Clock()
    gate = RequestGate(clock)
    gate.wait_quiet(patience=60)  # quiet: returns at once
    gate.enter()
    gate.wait_quiet(patience=0)  # no patience: returns at once, request or not

    released = threading.Event()

    def job() -> None:
        gate.wait_quiet(patience=60)
        released.set()

    waiting = threading.Thread(target=job, daemon=True)
    waiting.start()
    gate.leave()  # wakes the job, which finds the settle time still to run
    clock.now += SETTLE
    waiting.join(timeout=10)
    # Woken by the request's end (not by its 60 s of patience), it saw the settle pass.
    assert released.is_set() and not waiting.is_alive()
