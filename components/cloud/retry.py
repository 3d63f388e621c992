"""Retries of transient cloud errors, in one place: capped exponential backoff with jitter
under a total deadline. Permanent errors are never retried.

Transient (what Google's retry guidance lists, for gRPC and for the JSON/REST APIs):
gRPC UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED; HTTP 408, 429, 502, 503 and 504;
connection failures and timeouts; a client library's own retries of those running out
(`RetryError`). Not retried: everything else — INTERNAL (500) too, which the services and the
emulator use for faults that do not heal by asking again.

Delays: wait ~initial, then ×multiplier per attempt up to maximum, each wait drawn between half
and all of it (jitter, so clients that failed together do not retry together), and give up
once the next wait would end past `deadline` seconds after the first attempt: a CloudError
naming the action, the attempts, the time spent and the last error. The environment variable
`EDGE_LABELER_RETRY` (e.g. `initial=0.01,maximum=0.05,deadline=30`; seconds, any subset) sets
them, so tests run fast; the defaults suit Google's services.

Creating something is not idempotent (CreateDataset makes a second dataset, CreateModel a second
paid training), so such calls pass `recover`: before each retry it looks for what the failed
attempt may have created after all (by label) and returns it; the call is repeated only when
it finds nothing.
"""

import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import TypeVar

from components.cloud.errors import CloudError, CloudNotFound, cloud_errors

T = TypeVar("T")
RETRY_ENV = "EDGE_LABELER_RETRY"
TRANSIENT_HTTP = frozenset({408, 429, 502, 503, 504})
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Seconds: first wait, longest wait, growth per attempt, and the total deadline."""

    initial: float = 1.0
    maximum: float = 30.0
    multiplier: float = 2.0
    deadline: float = 300.0

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        """The policy with `EDGE_LABELER_RETRY`'s `key=value` items applied."""
        text = os.environ.get(RETRY_ENV, "").strip()
        if not text:
            return cls()
        allowed = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, _, raw = item.partition("=")
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if key.strip() not in allowed or value < 0:
                raise CloudError(
                    f"{RETRY_ENV}={text!r}: {item!r} is not key=seconds with a key among "
                    f"{', '.join(sorted(allowed))} (e.g. initial=1,maximum=30,deadline=300)"
                )
            values[key.strip()] = value
        return cls(**values)

    def waits(self) -> Iterator[float]:
        """The successive waits, jittered, without end."""
        delay = self.initial
        while True:
            yield random.uniform(delay / 2, delay)
            delay = min(delay * self.multiplier, self.maximum)


def is_transient(error: BaseException | None) -> bool:
    """Whether asking again may succeed: the error, or what it was raised from, is transient."""
    # Imported when an error is classified, not with this module (see errors.translate).
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    seen = 0
    while error is not None and seen < 10:
        seen += 1
        if isinstance(error, gexc.RetryError):
            error = error.cause
            continue
        if isinstance(error, gexc.GoogleAPICallError):
            return error.code in TRANSIENT_HTTP
        code = getattr(error, "code", None)  # firebase_admin.exceptions.FirebaseError
        if isinstance(code, str) and error.__class__.__module__.startswith("firebase_admin"):
            return code in TRANSIENT_CODES
        if isinstance(
            error,
            requests.ConnectionError | requests.Timeout | auth_exc.TransportError | ConnectionError,
        ):
            return True
        if isinstance(error, CloudError):
            error = error.__cause__
            continue
        return False
    return False


def call(
    action: str,
    attempt: Callable[[], T],
    *,
    recover: Callable[[], T | None] | None = None,
    errors: Callable[[str], AbstractContextManager[None]] = cloud_errors,
    policy: RetryPolicy | None = None,
    progress: Callable[[str], None] | None = None,
) -> T:
    """`attempt()`, retried on transient errors; errors translated by `errors(action)`.

    `recover()` runs before each retry: what the failed attempt created after all, or None.
    """
    policy = policy or RetryPolicy.from_env()
    start = time.monotonic()
    waits = policy.waits()
    attempts = 0
    while True:
        attempts += 1
        try:
            with errors(action):
                return attempt()
        except CloudError as err:
            if not is_transient(err):
                raise
            last = err
        wait = next(waits)
        elapsed = time.monotonic() - start
        if elapsed + wait > policy.deadline:
            raise CloudError(
                f"{action}: still failing after {attempts} attempt"
                f"{'s' if attempts > 1 else ''} over {elapsed:.0f} s (retried for up to "
                f"{policy.deadline:g} s); the last error: {_reason(action, last)}. Run the "
                "deployment again once the service answers"
            ) from last
        say = progress or log.warning
        say(f"{action}: {_reason(action, last)}; retrying in {wait:.1f} s")
        time.sleep(wait)
        if recover is not None:
            found = recover()
            if found is not None:
                return found


def create(
    action: str,
    attempt: Callable[[], T],
    recover: Callable[[], T | None] | None,
    *,
    errors: Callable[[str], AbstractContextManager[None]] = cloud_errors,
) -> T:
    """A non-idempotent create: retried (as `call`) only when `recover` can tell whether a
    failed attempt created it after all; without it, one attempt."""
    if recover is None:
        with errors(action):
            return attempt()
    return call(action, attempt, recover=recover, errors=errors)


def call_missing_ok(
    action: str,
    attempt: Callable[[], T],
    *,
    errors: Callable[[str], AbstractContextManager[None]] = cloud_errors,
) -> T | None:
    """As `call`, but a resource that does not exist answers None."""
    try:
        return call(action, attempt, errors=errors)
    except CloudNotFound:
        return None


def _reason(action: str, error: CloudError) -> str:
    return str(error).removeprefix(f"{action}: ")
