"""Fault injection: make the next N calls of a named method fail, or hold a background step.

Names are what the facades and operations check:
- gRPC methods, full (`google.cloud.automl.v1.AutoMl/GetDataset`) or short (`GetDataset`);
- GCS JSON API calls (`storage.objects.insert`, `storage.objects.get`, `storage.objects.list`,
  `storage.objects.delete`, `storage.buckets.insert`, ...);
- REST routes by the name they were registered with;
- checkpoints inside long-running operations: `ImportData.commit` (before an import's atomic
  commit), `ImportData.committed` (after it, before the operation is marked done),
  `ExportData.write`.
An effect is a status code name (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ...), or
HOLD: a checkpoint blocks until the fault is cleared or the emulator stops (for tests that must
catch an operation mid-flight, e.g. to kill the process then).
Armed from the environment (`EDGE_LABELER_EMULATOR_FAULTS=GetDataset=UNAVAILABLE:2,...`) or
through the admin REST API (`POST /emulator/v1/faults`).
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass

from emulator.core.errors import Code, InvalidArgument, ServiceError

FAULTS_ENV = "EDGE_LABELER_EMULATOR_FAULTS"
HOLD = "HOLD"


@dataclass(frozen=True)
class Fault:
    method: str
    effect: str  # a Code name, or HOLD
    remaining: int
    message: str

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "effect": self.effect,
            "remaining": self.remaining,
            "message": self.message,
        }


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


class FaultInjector:
    """The armed faults of one emulator instance; thread-safe."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._held: list[str] = []
        self._changed = threading.Condition()

    def arm(self, method: str, effect: str, count: int = 1, message: str = "") -> Fault:
        """Makes the next `count` calls of `method` fail with `effect` (or hold, for HOLD)."""
        method = (method or "").strip()
        effect = (effect or "").strip().upper()
        if not method:
            raise InvalidArgument("fault: 'method' is required (e.g. GetDataset)")
        if effect != HOLD and (effect not in Code.__members__ or effect == "OK"):
            allowed = ", ".join(c.name for c in Code if c is not Code.OK)
            raise InvalidArgument(
                f"fault for {method}: effect {effect!r} is not allowed; "
                f"use HOLD or one of {allowed}"
            )
        if not isinstance(count, int) or count < 1:
            raise InvalidArgument(
                f"fault for {method}: count must be an integer ≥ 1, not {count!r}"
            )
        fault = Fault(
            method,
            effect,
            count,
            message or f"fault injected by the emulator: {effect} for {method}",
        )
        with self._changed:
            self._faults[method] = fault
            self._changed.notify_all()
        return fault

    def arm_from_spec(self, spec: str) -> list[Fault]:
        """Arms `Method=EFFECT[:N]` items separated by commas (the environment variable form)."""
        armed = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            method, sep, rest = item.partition("=")
            effect, _, count = rest.partition(":")
            if not sep or not effect:
                raise InvalidArgument(
                    f"{FAULTS_ENV}: {item!r} is not Method=EFFECT[:N] "
                    "(e.g. GetDataset=UNAVAILABLE:2)"
                )
            try:
                n = int(count) if count else 1
            except ValueError:
                raise InvalidArgument(
                    f"{FAULTS_ENV}: count in {item!r} is not an integer"
                ) from None
            armed.append(self.arm(method, effect, n))
        return armed

    def clear(self, method: str | None = None) -> None:
        """Disarms one method's fault, or all; releases held checkpoints accordingly."""
        with self._changed:
            if method is None:
                self._faults.clear()
            else:
                self._faults.pop(method, None)
            self._changed.notify_all()

    def armed(self) -> list[Fault]:
        with self._changed:
            return list(self._faults.values())

    def held(self) -> list[str]:
        """Checkpoints currently blocked by a HOLD fault."""
        with self._changed:
            return list(self._held)

    def _take(self, name: str) -> Fault | None:
        """Consumes one use of the fault matching `name` (full or short form). Lock held."""
        for key in (name, _short(name)):
            fault = self._faults.get(key)
            if fault is None:
                continue
            if fault.remaining <= 1:
                del self._faults[key]
            else:
                self._faults[key] = Fault(
                    fault.method, fault.effect, fault.remaining - 1, fault.message
                )
            return fault
        return None

    def check(self, name: str) -> None:
        """Raises the armed error for a call of `name`; a HOLD fault never applies to calls."""
        with self._changed:
            fault = self._faults.get(name) or self._faults.get(_short(name))
            if fault is None or fault.effect == HOLD:
                return
            self._take(name)
        raise ServiceError(fault.message, Code[fault.effect])

    def checkpoint(self, name: str, stopping: Callable[[], bool]) -> None:
        """A step of background work: raises an armed error, or blocks while a HOLD is armed.

        Returns early when `stopping()` turns true (cancel or shutdown); the caller checks it.
        """
        with self._changed:
            fault = self._faults.get(name) or self._faults.get(_short(name))
            if fault is None:
                return
            if fault.effect != HOLD:
                self._take(name)
                raise ServiceError(fault.message, Code[fault.effect])
            self._held.append(name)
            try:
                while not stopping():
                    current = self._faults.get(fault.method)
                    if current is None or current.effect != HOLD:
                        break
                    self._changed.wait(timeout=0.1)
            finally:
                self._held.remove(name)

    def wake(self) -> None:
        """Wakes held checkpoints so they re-check `stopping()` (used on shutdown)."""
        with self._changed:
            self._changed.notify_all()
