"""Long-running operations: records that persist, background work that reports into them.

An operation is started with a work function that runs in its own thread and receives an
OperationContext (progress, partial failures, details, cancellation, fault checkpoints). The
function returns the response snapshot (a JSON-able dict the facade renders, e.g. the created
resource) or raises ServiceError; either ends the operation. Every change is written to disk
atomically. Operations that were running when the emulator died are finished on the next
start: by the recovery registered for their kind (which may find the work committed), or else
as ABORTED with a message saying so — never left running forever.
"""

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from emulator.core.errors import (
    Cancelled,
    Code,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
    Status,
)
from emulator.core.faults import FaultInjector
from emulator.core.names import new_id
from emulator.core.persistence import GroupSync, atomic_write_json, read_record, remove_file

log = logging.getLogger(__name__)

# OperationMetadata.partial_failures "should never exceed 20 entries".
MAX_PARTIAL_FAILURES = 20

_OPERATION_NAME = re.compile(r"(?P<parent>projects/[^/]+/locations/[^/]+(/.+)?)/operations/[^/]+")
_LOCATION_OPERATION = re.compile(
    r"(?P<location>projects/[^/]+/locations/[^/]+)/operations/(?P<id>[^/]+)"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Operation:
    """One long-running operation, wire-independent (facades render it per API)."""

    name: str  # {parent}/operations/{id}
    api: str  # the facade that renders it, e.g. "automl_v1"
    kind: str  # what it does, e.g. "create_dataset", "import_data"
    resources: tuple[str, ...]  # resource names it works on (first = main one)
    create_time: datetime
    update_time: datetime
    done: bool = False
    error: Status | None = None
    response: dict | None = None  # snapshot for the facade (e.g. the created dataset)
    details: dict = field(default_factory=dict)  # kind-specific metadata
    progress_percent: int = 0
    partial_failures: tuple[Status, ...] = ()
    cancel_requested: bool = False

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def result(self) -> dict:
        """The response snapshot of an operation that finished without error."""
        if self.response is None:
            raise ValueError(f"operation {self.name} has no response (done: {self.done})")
        return self.response

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "api": self.api,
            "kind": self.kind,
            "resources": list(self.resources),
            "create_time": self.create_time.isoformat(),
            "update_time": self.update_time.isoformat(),
            "done": self.done,
            "error": self.error.to_json() if self.error else None,
            "response": self.response,
            "details": self.details,
            "progress_percent": self.progress_percent,
            "partial_failures": [s.to_json() for s in self.partial_failures],
            "cancel_requested": self.cancel_requested,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Operation":
        return cls(
            name=data["name"],
            api=data["api"],
            kind=data["kind"],
            resources=tuple(data["resources"]),
            create_time=datetime.fromisoformat(data["create_time"]),
            update_time=datetime.fromisoformat(data["update_time"]),
            done=data["done"],
            error=Status.from_json(data["error"]) if data["error"] else None,
            response=data["response"],
            details=data["details"],
            progress_percent=data["progress_percent"],
            partial_failures=tuple(Status.from_json(s) for s in data["partial_failures"]),
            cancel_requested=data["cancel_requested"],
        )


@dataclass(frozen=True)
class Outcome:
    """How an operation ended: a response snapshot, or an error."""

    response: dict | None = None
    error: Status | None = None


class _Interrupted(Exception):
    """The emulator is stopping; the work must not commit."""


Work = Callable[["OperationContext"], dict | None]
Recovery = Callable[[Operation], Outcome | None]


def interrupted_status(op: Operation) -> Status:
    return Status(
        Code.ABORTED,
        f"Operation {op.name} ({op.kind}) was interrupted: the emulator stopped while it was "
        "running, and its changes were not committed. Run it again.",
    )


class OperationContext:
    """What background work sees of its operation."""

    def __init__(self, store: "OperationStore", name: str) -> None:
        self._store = store
        self.name = name

    @property
    def operation(self) -> Operation:
        return self._store.get(self.name)

    @property
    def cancelled(self) -> bool:
        return self._store.get(self.name).cancel_requested

    def stopping(self) -> bool:
        """True when the work should stop: cancel requested or emulator shutting down."""
        return self._store.is_stopping() or self.cancelled

    def raise_if_stopping(self) -> None:
        """Raises Cancelled (cancel requested) or ends the thread (emulator shutting down)."""
        if self._store.is_stopping():
            raise _Interrupted
        if self.cancelled:
            raise Cancelled(f"Operation {self.name} was cancelled.")

    def checkpoint(self, step: str) -> None:
        """A point where faults apply (`ImportData.commit`) and cancellation is honoured."""
        self._store.faults.checkpoint(step, self.stopping)
        self.raise_if_stopping()

    def progress(self, percent: int) -> None:
        """Sets the progress: durable with the store's next grouped sync (an import's or a
        training's hundred updates cost no fsync each; a restart may show an older one)."""
        percent = max(0, min(100, int(percent)))
        self._store._update(
            self.name, lambda op: replace(op, progress_percent=percent), durable=False
        )

    def set_details(self, **values: object) -> None:
        self._store._update(self.name, lambda op: replace(op, details={**op.details, **values}))

    def add_partial_failures(self, statuses: Iterable[Status]) -> None:
        new = tuple(statuses)

        def apply(op: Operation) -> Operation:
            kept = (op.partial_failures + new)[:MAX_PARTIAL_FAILURES]
            return replace(op, partial_failures=kept)

        if new:
            self._store._update(self.name, apply)


class OperationStore:
    """All operations of one emulator; thread-safe, persisted one JSON file per operation."""

    def __init__(self, root: Path, faults: FaultInjector, group: GroupSync | None = None) -> None:
        self._root = root
        self.faults = faults
        self._group = group  # progress is synced with it (within a second), not on each write
        self._ops: dict[str, Operation] = {}
        self._changed = threading.Condition()
        self._threads: dict[str, threading.Thread] = {}
        self._stopping = threading.Event()
        self._recoveries: dict[str, Recovery] = {}

    def register_recovery(self, kind: str, recovery: Recovery) -> None:
        """How to finish a `kind` operation found running at start (None → ABORTED)."""
        self._recoveries[kind] = recovery

    def load(self) -> list[Operation]:
        """Reads every operation; finishes those a crash left running. Returns those."""
        self._root.mkdir(parents=True, exist_ok=True)
        finished = []
        for path in sorted(self._root.glob("*.json")):
            op = Operation.from_json(read_record(path))
            if not op.done:
                recovery = self._recoveries.get(op.kind)
                outcome = (recovery(op) if recovery else None) or Outcome(
                    error=interrupted_status(op)
                )
                op = self._finished(op, outcome)
                atomic_write_json(path, op.to_json())
                finished.append(op)
                log.warning(
                    "operation %s (%s) found running at start: %s",
                    op.name,
                    op.kind,
                    "recovered" if op.error is None else op.error.message,
                )
            self._ops[op.name] = op
        return finished

    def is_stopping(self) -> bool:
        return self._stopping.is_set()

    def _path(self, op: Operation) -> Path:
        return self._root / f"{op.id}.json"

    def _new(
        self,
        parent: str,
        api: str,
        kind: str,
        resources: Iterable[str],
        details: dict | None,
        id_prefix: str,
    ) -> Operation:
        now = utcnow()
        with self._changed:
            while True:
                name = f"{parent}/operations/{new_id(id_prefix)}"
                if name not in self._ops:
                    break
        return Operation(
            name=name,
            api=api,
            kind=kind,
            resources=tuple(resources),
            create_time=now,
            update_time=now,
            details=dict(details or {}),
        )

    def start(
        self,
        parent: str,
        api: str,
        kind: str,
        resources: Iterable[str],
        work: Work,
        details: dict | None = None,
        id_prefix: str = "",
    ) -> Operation:
        """Records a running operation and runs `work` for it in a background thread."""
        op = self._new(parent, api, kind, resources, details, id_prefix)
        # Checked, recorded and started under the lock `shutdown` takes to list the threads it
        # waits for: work is either refused or waited for, never started behind its back.
        with self._changed:
            if self._stopping.is_set():
                raise ServiceError("The emulator is shutting down.", Code.UNAVAILABLE)
            self._ops[op.name] = op
            atomic_write_json(self._path(op), op.to_json())
            thread = threading.Thread(
                target=self._run, args=(op.name, work), name=f"operation-{op.id}", daemon=True
            )
            self._threads[op.name] = thread
            thread.start()
        log.info("operation %s (%s) started", op.name, kind)
        return op

    def record(
        self,
        parent: str,
        api: str,
        kind: str,
        resources: Iterable[str],
        outcome: Outcome,
        details: dict | None = None,
        id_prefix: str = "",
    ) -> Operation:
        """Records an operation whose work is already done (e.g. CreateDataset)."""
        op = self._finished(self._new(parent, api, kind, resources, details, id_prefix), outcome)
        with self._changed:
            self._ops[op.name] = op
            atomic_write_json(self._path(op), op.to_json())
            self._changed.notify_all()
        return op

    def _run(self, name: str, work: Work) -> None:
        context = OperationContext(self, name)
        try:
            outcome = Outcome(response=work(context) or {})
        except _Interrupted:
            outcome = Outcome(error=interrupted_status(self.get(name)))
        except ServiceError as exc:
            outcome = Outcome(error=exc.status)
        except Exception as exc:  # a bug in the emulator: report it instead of hanging
            log.exception("operation %s failed unexpectedly", name)
            outcome = Outcome(error=Status(Code.INTERNAL, f"{type(exc).__name__}: {exc}"))
        self._update(name, lambda op: self._finished(op, outcome))
        op = self.get(name)
        log.info(
            "operation %s (%s) done%s", name, op.kind, f": {op.error.message}" if op.error else ""
        )
        with self._changed:
            self._threads.pop(name, None)

    @staticmethod
    def _finished(op: Operation, outcome: Outcome) -> Operation:
        if op.done:
            return op
        return replace(
            op,
            done=True,
            error=outcome.error,
            response=None if outcome.error else (outcome.response or {}),
            progress_percent=100 if outcome.error is None else op.progress_percent,
            update_time=utcnow(),
        )

    def _update(
        self, name: str, change: Callable[[Operation], Operation], durable: bool = True
    ) -> None:
        with self._changed:
            op = self._ops.get(name)
            if op is None or op.done:  # a finished operation never changes again
                return
            new = change(op)
            if new == op:
                return
            new = replace(new, update_time=utcnow())
            self._ops[name] = new
            atomic_write_json(self._path(new), new.to_json(), None if durable else self._group)
            self._changed.notify_all()

    def get(self, name: str) -> Operation:
        """The operation `name` names. An operation named under a resource (Vertex AI's
        `{resource}/operations/{id}`) is also found by `{location}/operations/{id}`, the
        form Vertex AI's reference reads it by (its answer keeps the full name)."""
        with self._changed:
            op = self._ops.get(name) or self._by_location_name(name)
        if op is None:
            if _OPERATION_NAME.fullmatch(name or "") is None:
                raise InvalidArgument(
                    f"Field: name; Message: {name!r} is not a valid operation name; expected "
                    "projects/{project}/locations/{location}/operations/{operation_id}"
                )
            raise NotFound(f"Operation {name} does not exist.")
        return op

    def _by_location_name(self, name: str) -> Operation | None:
        """The operation a `{location}/operations/{id}` name means, if one has that id.
        Caller holds the lock."""
        match = _LOCATION_OPERATION.fullmatch(name or "")
        if match is None:
            return None
        found = [
            op
            for op in self._ops.values()
            if op.id == match["id"] and op.name.startswith(match["location"] + "/")
        ]
        return found[0] if len(found) == 1 else None

    def list_operations(
        self,
        parent: str,
        done: bool | None = None,
        works_on: str | None = None,
        matches: Callable[[Operation], bool] = lambda op: True,
    ) -> list[Operation]:
        """Operations under `parent` (a location), oldest first, optionally filtered (by a
        predicate too, e.g. the ListOperations filter's: emulator/longrunning.py)."""
        prefix = parent.rstrip("/") + "/"
        with self._changed:
            ops = [op for op in self._ops.values() if op.name.startswith(prefix)]
        return sorted(
            (
                op
                for op in ops
                if (done is None or op.done == done)
                and (works_on is None or works_on in op.resources)
                and matches(op)
            ),
            key=lambda op: (op.create_time, op.name),
        )

    def running(self, resource: str | None = None) -> list[Operation]:
        """Operations not done yet, optionally only those working on `resource`."""
        with self._changed:
            return [
                op
                for op in self._ops.values()
                if not op.done and (resource is None or resource in op.resources)
            ]

    def cancel(self, name: str) -> Operation:
        """Requests cancellation; the work stops at its next checkpoint (no-op once done)."""
        name = self.get(name).name
        self._update(name, lambda op: op if op.done else replace(op, cancel_requested=True))
        return self.get(name)

    def delete(self, name: str) -> None:
        """Forgets a finished operation (the client is no longer interested in its result)."""
        op = self.get(name)
        name = op.name
        if not op.done:
            raise FailedPrecondition(
                f"Operation {name} is still running; cancel it or wait for it before deleting it."
            )
        with self._changed:
            self._ops.pop(name, None)
            remove_file(self._path(op))

    def wait(self, name: str, timeout: float) -> Operation:
        """The operation once done, or as it is after `timeout` seconds."""
        return self.wait_until(name, lambda op: op.done, timeout)

    def wait_until(
        self, name: str, condition: Callable[[Operation], bool], timeout: float
    ) -> Operation:
        """The operation once `condition` holds for it or it is done (woken by each change),
        or as it is after `timeout` seconds."""
        name = self.get(name).name
        with self._changed:
            self._changed.wait_for(
                lambda: (
                    name not in self._ops
                    or self._ops[name].done
                    or condition(self._ops[name])
                    or self._stopping.is_set()
                ),
                timeout=max(0.0, timeout),
            )
        return self.get(name)

    def shutdown(self, timeout: float = 10.0) -> list[str]:
        """Stops background work, waiting up to `timeout` seconds in all; returns the names of
        operations whose work is still running then.

        Work that ended records its own outcome (interrupted, mostly); an operation without
        work is recorded as interrupted. An operation whose work is still running is left
        running on disk, as a crash leaves it, since that work may still commit: the next
        start's recovery finishes it (see `load`).
        """
        self._stopping.set()
        self.faults.wake()
        with self._changed:
            self._changed.notify_all()
            threads = dict(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        still = sorted(name for name, thread in threads.items() if thread.is_alive())
        for op in self.running():
            if op.name not in still:
                self._update(
                    op.name, lambda o: self._finished(o, Outcome(error=interrupted_status(o)))
                )
        if still:
            log.warning(
                "background work of %s still running after %.1f s; the next start finishes it",
                ", ".join(still),
                timeout,
            )
        return still
