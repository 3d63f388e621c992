"""Fault injection: make the next N calls of a named method fail, or hold a call or a step.

Names are what the facades and operations check:
- gRPC methods, full (`google.cloud.automl.v1.AutoMl/GetDataset`) or short (`GetDataset`);
- GCS JSON API calls (`storage.objects.insert`, `storage.objects.get`, `storage.objects.list`,
  `storage.objects.delete`, `storage.buckets.insert`, ...);
- REST routes by the name they were registered with;
- checkpoints inside long-running operations: `ImportData.commit` (before an import's atomic
  commit), `ImportData.committed` (after it, before the operation is marked done),
  `ExportData.write`, `CreateModel.commit`, ...
Effects:
- a status code name (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ...): the next
  `count` calls (or checkpoints) fail with it;
- HOLD: every matching checkpoint or call blocks until the fault is cleared (then goes on) or
  the emulator stops (a held call then fails with UNAVAILABLE).
- DELAY:<duration> (`40ms`, `1.5s`): every matching call (the next `count` with a count) waits
  that long and then goes on, as behind a link with that round-trip time (each waits on its
  own: concurrent calls overlap, as requests in flight on a real link do).
A method name ending in `.*` (`storage.*`) matches every call whose name starts with the rest.
By default a call's fault applies before the call is processed: nothing was done. With
`after` (gRPC methods and REST routes only; the storage emulator checks before), the call is
processed first — its effect happens, e.g. CreateModel starts a training — and then its answer
is replaced by the error, or held: the caller cannot tell whether it took effect, as when an
answer is lost on the way back.
Held steps and calls are listed by `held()`; `wait_held(steps, timeout)` returns as soon as one
of them is held (the admin API's long poll, so tests wait on the event instead of polling a
window) by the fault armed for it now: a hold left over from a fault since cleared or re-armed
(a call whose client was killed, say) does not count.
Armed from the environment (`EDGE_LABELER_EMULATOR_FAULTS=GetDataset=UNAVAILABLE:2,
CreateModel=HOLD:1:after,storage.*=DELAY:40ms,...`) or through the admin REST API
(`POST /emulator/v1/faults` with `{"method", "effect", "count", "after", "delay"}`, delay
as `"40ms"`).
"""

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from emulator.core.errors import Code, InvalidArgument, ServiceError

FAULTS_ENV = "EDGE_LABELER_EMULATOR_FAULTS"
HOLD = "HOLD"
DELAY = "DELAY"
AFTER = "after"
_DURATION = re.compile(r"(?P<number>[0-9]+(\.[0-9]+)?)(?P<unit>ms|s)")


@dataclass(frozen=True)
class Fault:
    method: str
    effect: str  # a Code name, HOLD or DELAY
    remaining: int  # 0: until cleared (HOLD, and DELAY armed without a count)
    message: str
    after: bool = False  # applies to a call's answer, once the call was processed
    serial: int = 0  # which arming: a hold waits for its own fault, not for one armed later
    delay: float = 0.0  # DELAY: seconds

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "effect": self.effect,
            "remaining": self.remaining,
            "message": self.message,
            "after": self.after,
            **({"delay": f"{self.delay * 1000:g}ms"} if self.effect == DELAY else {}),
        }


def parse_duration(text: object, where: str) -> float:
    """Seconds of `40ms` / `1.5s`; InvalidArgument naming `where` otherwise."""
    match = _DURATION.fullmatch(str(text).strip())
    if match is None:
        raise InvalidArgument(
            f"{where}: delay {text!r} is not a duration; write it as 40ms or 1.5s"
        )
    number = float(match["number"])
    return number / 1000 if match["unit"] == "ms" else number


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


class FaultInjector:
    """The armed faults of one emulator instance; thread-safe."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._held: list[tuple[str, Fault]] = []  # (step, the fault holding it)
        self._closed = False
        self._serial = 0
        self._changed = threading.Condition()

    def arm(
        self,
        method: str,
        effect: str,
        count: int | None = None,
        message: str = "",
        after: bool = False,
        delay: float = 0.0,
    ) -> Fault:
        """Makes the next `count` (default 1) calls of `method` fail with `effect` (HOLD: until
        cleared); DELAY: the next `count` calls (default: until cleared) wait `delay` seconds;
        `after`: once the call was processed, to its answer."""
        method = (method or "").strip()
        effect = (effect or "").strip().upper()
        if not method:
            raise InvalidArgument("fault: 'method' is required (e.g. GetDataset)")
        if effect not in (HOLD, DELAY) and (effect not in Code.__members__ or effect == "OK"):
            allowed = ", ".join(c.name for c in Code if c is not Code.OK)
            raise InvalidArgument(
                f"fault for {method}: effect {effect!r} is not allowed; "
                f"use HOLD, DELAY or one of {allowed}"
            )
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 1
        ):
            raise InvalidArgument(
                f"fault for {method}: count must be an integer ≥ 1, not {count!r}"
            )
        if effect == DELAY and (
            isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 < delay <= 3600
        ):
            raise InvalidArgument(
                f"fault for {method}: DELAY needs a delay between 1ms and 3600s, not {delay!r}"
            )
        if count is None:
            count = 0 if effect == DELAY else 1
        if not isinstance(after, bool):
            raise InvalidArgument(f"fault for {method}: after must be true or false")
        when = " after processing" if after else ""
        with self._changed:
            self._serial += 1
            fault = Fault(
                method,
                effect,
                count,
                message or f"fault injected by the emulator: {effect}{when} for {method}",
                after,
                self._serial,
                delay if effect == DELAY else 0.0,
            )
            self._faults[method] = fault
            self._changed.notify_all()
        return fault

    def arm_from_spec(self, spec: str) -> list[Fault]:
        """Arms `Method=EFFECT[:N][:after]` and `Method=DELAY:<duration>[:N][:after]` items
        separated by commas (the environment form)."""
        armed = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            method, sep, rest = item.partition("=")
            effect, _, options = rest.partition(":")
            delay = 0.0
            if effect.strip().upper() == DELAY:
                duration, _, options = options.partition(":")
                delay = parse_duration(duration, f"{FAULTS_ENV}: {item!r}")
            count, _, when = options.partition(":")
            if not sep or not effect or when not in ("", AFTER):
                raise InvalidArgument(
                    f"{FAULTS_ENV}: {item!r} is not Method=EFFECT[:N][:after] "
                    "(e.g. GetDataset=UNAVAILABLE:2, storage.*=DELAY:40ms)"
                )
            try:
                n = int(count) if count else None
            except ValueError:
                raise InvalidArgument(
                    f"{FAULTS_ENV}: count in {item!r} is not an integer"
                ) from None
            armed.append(self.arm(method, effect, n, after=when == AFTER, delay=delay))
        return armed

    def clear(self, method: str | None = None) -> None:
        """Disarms one method's fault, or all; releases what they hold."""
        with self._changed:
            if method is None:
                self._faults.clear()
            else:
                self._faults.pop(method, None)
            self._changed.notify_all()

    def armed(self) -> list[Fault]:
        with self._changed:
            return list(self._faults.values())

    def any_armed(self) -> bool:
        """Whether any fault is armed now (without the lock: a hint that may be stale)."""
        return bool(self._faults)

    def affects(self, name: str, delays: bool = True) -> bool:
        """Whether a fault is armed now for `name`, before or after its call (with `delays`
        False: one that is not a DELAY, which checkpoints ignore)."""
        with self._changed:
            found = (self._find(name), self._find(name, after=True))
            return any(f is not None and (delays or f.effect != DELAY) for f in found)

    def held(self) -> list[str]:
        """Checkpoints and calls currently blocked by a HOLD or HOLD_RESPONSE fault."""
        with self._changed:
            return [name for name, _ in self._held]

    def wait_held(self, steps: Iterable[str], timeout: float) -> list[str]:
        """Blocks until one of `steps` (full or short names) is held by the fault armed for it
        now (not by one cleared or re-armed since); those held, or [] after `timeout` s."""
        wanted = set(steps)
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while True:
                held = sorted(
                    step
                    for name, fault in self._held
                    for step in wanted & {name, _short(name)}
                    if self._faults.get(fault.method) is fault
                )
                left = deadline - time.monotonic()
                if held or left <= 0 or self._closed:
                    return held
                self._changed.wait(left)

    def _find(self, name: str, after: bool = False) -> Fault | None:
        """The fault armed for `name` (full or short form) at that moment. Lock held."""
        fault = self._faults.get(name) or self._faults.get(_short(name))
        if fault is None:
            fault = next(
                (
                    f
                    for method, f in self._faults.items()
                    if method.endswith(".*") and name.startswith(method[:-1])
                ),
                None,
            )
        return fault if fault is not None and fault.after == after else None

    def _take(self, fault: Fault) -> None:
        """Consumes one use of `fault`. Lock held."""
        if fault.remaining == 0:  # until cleared
            return
        if fault.remaining <= 1:
            del self._faults[fault.method]
        else:
            self._faults[fault.method] = replace(fault, remaining=fault.remaining - 1)

    def _hold(self, name: str, fault: Fault, stopping: Callable[[], bool]) -> bool:
        """Blocks while `fault` stays armed; True when released by `stopping()`. Lock held."""
        entry = (name, fault)
        self._held.append(entry)
        self._changed.notify_all()
        try:
            while not stopping():
                if self._faults.get(fault.method) is not fault:  # cleared (or re-armed)
                    return False
                self._changed.wait(timeout=0.1)  # also re-checks `stopping()`
            return True
        finally:
            self._held.remove(entry)
            self._changed.notify_all()

    def take_delay(self, name: str) -> float | None:
        """The seconds a DELAY armed for `name` (before its call) puts in front of this call,
        taken now (one of its count), for a caller that waits them without blocking a thread
        and then calls `check(name, delayed=True)`; None when no such delay is armed."""
        with self._changed:
            fault = self._find(name)
            if fault is None or fault.effect != DELAY or fault.delay <= 0:
                return None
            self._take(fault)
            return fault.delay

    def check(self, name: str, delayed: bool = False) -> None:
        """Before a call of `name`: raises the armed error, blocks while HOLD is armed, or
        sleeps an armed DELAY (unless `delayed`: the call waited it already, `take_delay`)."""
        self._apply(name, after=False, delayed=delayed)

    def respond(self, name: str) -> None:
        """After a call of `name` was processed: the same, for faults armed with `after`."""
        self._apply(name, after=True)

    def _apply(self, name: str, after: bool, delayed: bool = False) -> None:
        with self._changed:
            fault = self._find(name, after)
            if fault is None or (delayed and fault.effect == DELAY):
                return
            if fault.effect == DELAY:
                self._take(fault)
            elif fault.effect == HOLD:
                if self._hold(fault.method, fault, lambda: self._closed):
                    done = " (the call was processed)" if after else ""
                    raise ServiceError(
                        f"The emulator stopped while {name} was held{done}.", Code.UNAVAILABLE
                    )
                return
            else:
                self._take(fault)
        if fault.effect == DELAY:  # outside the lock: calls wait side by side
            time.sleep(fault.delay)
            return
        raise ServiceError(fault.message, Code[fault.effect])

    def checkpoint(self, name: str, stopping: Callable[[], bool]) -> None:
        """A step of background work: raises an armed error, or blocks while a HOLD is armed.

        Returns early when `stopping()` turns true (cancel or shutdown); the caller checks it.
        """
        with self._changed:
            fault = self._find(name)
            if fault is None or fault.effect == DELAY:  # a delay is for calls
                return
            if fault.effect != HOLD:
                self._take(fault)
                raise ServiceError(fault.message, Code[fault.effect])
            self._hold(name, fault, stopping)

    def wake(self) -> None:
        """Wakes held checkpoints so they re-check `stopping()` (used on shutdown)."""
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        """The emulator stops: held calls fail with UNAVAILABLE and long polls end. (Held
        checkpoints wait for their operation store's shutdown, which must not commit them.)"""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
