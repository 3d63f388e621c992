"""What every call passes through, whatever its transport: the reset gate and the request log.

Each transport (transport/grpc.py, transport/rest.py, gcs.py) handles one call inside
`Calls.call(...)`, and sets the call's `status` once it is answered:
- the gate: while `EmulatorServer.reset()` replaces the services, new calls wait at the gate
  and the reset waits for the calls in flight. Admin routes pass ungated (the reset is one,
  and a long poll must not hold a reset up);
- the request log (`start --log-requests`): one JSON line per call, written once it is
  answered: {"time", "transport", "service", "method", "resource", "status", "ms"}.
  `status` is the gRPC status code's name for gRPC ("OK", "NOT_FOUND"), the HTTP status
  for REST and Cloud Storage (200, 404).
"""

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO


@dataclass
class Call:
    """One call in flight; the transport sets `status` (and may refine `resource`)."""

    resource: str = ""
    status: int | str = ""


class CallGate:
    """Calls pass while it is open; `closed()` stops new ones and waits for those in flight."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight = 0
        self._closed = False

    @contextlib.contextmanager
    def passing(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._closed)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def closed(self) -> Iterator["CallGate"]:
        """Closes the gate (one closer at a time) for the block; reopens it afterwards."""
        with self._changed:
            self._changed.wait_for(lambda: not self._closed)
            self._closed = True
        try:
            yield self
        finally:
            with self._changed:
                self._closed = False
                self._changed.notify_all()

    @property
    def is_closed(self) -> bool:
        """Whether new calls wait now (without the lock: a hint that may be stale)."""
        return self._closed

    def drain(self, timeout: float) -> int:
        """Waits for the calls in flight to end (the gate closed); how many are left after
        `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight == 0, timeout=timeout)
            return self._in_flight


class RequestLog:
    """Writes one JSON line per answered call to a text stream (stderr or a file)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(
        self,
        transport: str,
        service: str,
        method: str,
        resource: str,
        status: int | str,
        ms: float,
    ) -> None:
        line = json.dumps(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "transport": transport,
                "service": service,
                "method": method,
                "resource": resource,
                "status": status,
                "ms": round(ms, 1),
            },
            ensure_ascii=False,
        )
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


class Calls:
    """The gate and the (optional) request log every transport's calls go through."""

    def __init__(self, log: RequestLog | None = None) -> None:
        self.gate = CallGate()
        self._log = log

    @contextlib.contextmanager
    def call(
        self, transport: str, service: str, method: str, resource: str = "", gated: bool = True
    ) -> Iterator[Call]:
        """One call: waits at the gate (unless `gated` is false), logs it once answered."""
        call = Call(resource=resource)
        started = time.monotonic()
        with self.gate.passing() if gated else contextlib.nullcontext():
            try:
                yield call
            finally:
                if self._log is not None:
                    ms = (time.monotonic() - started) * 1000
                    status = call.status if call.status != "" else "UNKNOWN"
                    self._log.write(transport, service, method, call.resource, status, ms)
