"""Waits on long-running operations look early, then back off to their cap: an import that
ends in a second is seen in about a second, not at the first poll of every 2 s (imports,
exports) or 0.5 s / 30 s (trainings). A fake clock counts the sleeps: no wall time."""

import itertools
from dataclasses import dataclass, field

import pytest

from components.cloud import training
from components.cloud.clients import STORAGE, TRAINING, CloudTarget
from components.cloud.training import OperationState, TrainingApi, poll_delays
from components.providers import trained_model
from components.providers.trained_model import TrainedModelProvider


@dataclass
class FakeClock:
    """time.monotonic and time.sleep of a clock that moves only when slept on."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeOperations:
    """get_operation of an operation that is done `takes` seconds after it was started; with
    `reports`, its progress grows in proportion to the time, up to `stalls_at` percent."""

    clock: FakeClock
    takes: float
    reports: bool = False
    stalls_at: int = 100
    polls: int = 0

    def get_operation(self, name: str) -> OperationState:
        self.polls += 1
        done = self.clock.now >= self.takes
        percent = min(int(100 * self.clock.now / self.takes), self.stalls_at, 99)
        return OperationState(name, done=done, progress_percent=percent if self.reports else None)

    wait = TrainingApi.wait  # the port's own polling loop, on this fake


def test_delays_grow_from_a_tenth_of_a_second_to_the_cap():
    delays = poll_delays(2.0)
    first = [next(delays) for _ in range(12)]
    assert first[:3] == pytest.approx([0.1, 0.15, 0.225])
    assert all(b == pytest.approx(min(a * 1.5, 2.0)) for a, b in itertools.pairwise(first))
    assert first[-1] == 2.0
    assert next(poll_delays(0.05)) == 0.05  # a cap below the first wait is the wait


@pytest.mark.parametrize("poll_seconds", [2.0, 0.5])  # imports; exports
def test_an_import_that_ends_within_a_second_is_seen_within_half_a_second_more(
    monkeypatch, poll_seconds
):
    clock = FakeClock()
    monkeypatch.setattr(training, "time", clock)
    ops = FakeOperations(clock, takes=0.6)
    state = ops.wait("operations/import", what="import", poll_seconds=poll_seconds)
    assert state.done
    assert clock.now - 0.6 < 0.3, clock.sleeps  # a fixed 2 s poll waited 1.4 s too long
    assert max(clock.sleeps) <= poll_seconds


def test_a_long_operation_is_polled_at_the_cap(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(training, "time", clock)
    ops = FakeOperations(clock, takes=600.0)
    ops.wait("operations/train", what="training", poll_seconds=2.0)
    assert ops.polls <= 600 / 2.0 + 12  # the ramp adds a dozen polls at most
    assert clock.sleeps[-1] == 2.0


@pytest.mark.parametrize(("emulator", "cap"), [(True, 0.5), (False, 30.0)])
def test_a_training_wait_backs_off_to_its_cap(monkeypatch, emulator, cap):
    clock = FakeClock()
    monkeypatch.setattr(trained_model, "time", clock)
    ops = FakeOperations(clock, takes=1.0)
    target = CloudTarget(stack="local", project="p", emulator=emulator)
    props = {"cloud": target.as_inputs(STORAGE, TRAINING), "budgetMilliNodeHours": 1000}
    state = TrainedModelProvider()._wait(ops, "operations/train", props, lambda _: None)
    assert state.done
    assert clock.sleeps[0] == pytest.approx(0.1)
    assert clock.now - 1.0 < cap * 0.75 and max(clock.sleeps) <= cap, clock.sleeps


def test_an_operation_reporting_progress_is_polled_when_it_should_end(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(training, "time", clock)
    ops = FakeOperations(clock, takes=2.3, reports=True)  # an import of 10,000 images
    ops.wait("operations/import", what="import", poll_seconds=2.0)
    assert clock.now - 2.3 < 0.25, clock.sleeps  # the backoff alone polls again at 3.22 s
    assert min(clock.sleeps) >= 0.1


def test_a_progress_stuck_near_the_end_is_not_polled_ever_faster(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(training, "time", clock)
    ops = FakeOperations(clock, takes=100.0, reports=True, stalls_at=99)
    ops.wait("operations/import", what="import", poll_seconds=2.0)
    assert ops.polls < 130, ops.polls  # a 20th of the time waited at least: ~90 polls
