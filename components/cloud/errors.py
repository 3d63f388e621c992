"""The cloud layer's one error type, and the translation of Google API errors into it."""

from collections.abc import Iterator
from contextlib import contextmanager


class CloudError(Exception):
    """An expected failure talking to the cloud; the message says what and what to do."""


class CloudNotFound(CloudError):
    """The resource does not exist (callers often treat that as a normal answer)."""


@contextmanager
def cloud_errors(action: str) -> Iterator[None]:
    """Turns Google API, auth and connection errors into CloudError('<action>: <message>
    (<hint>)'); the original stays its `__cause__` (what `retry.is_transient` reads)."""
    try:
        yield
    except Exception as exc:
        translated = translate(action, exc)
        if translated is None:
            raise
        raise translated from exc


def translate(action: str, exc: Exception) -> CloudError | None:
    """The CloudError for a Google API, auth or connection error; None for any other error.

    The client libraries are imported here, when an error is translated, not with this module
    (every provider imports it; `edgectl review` builds no client).
    """
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    hints: dict[type[Exception], str] = {
        gexc.PermissionDenied: "the credentials lack a permission",
        gexc.Unauthenticated: "no valid credentials (run `gcloud auth application-default login`)",
        gexc.ResourceExhausted: "a quota or rate limit was hit; retry later or raise the quota",
        gexc.NotFound: "it does not exist (deleted outside this tool?)",
        gexc.AlreadyExists: "it already exists",
        gexc.FailedPrecondition: "the service refused it in the current state",
        gexc.InvalidArgument: "the service rejected the request",
        gexc.ServiceUnavailable: "the service is unavailable; retry later",
        gexc.DeadlineExceeded: "the service did not answer in time; retry later",
    }
    if isinstance(exc, gexc.GoogleAPICallError):
        hint = next((h for t, h in hints.items() if isinstance(exc, t)), None)
        message = exc.message or str(exc)
        kind = CloudNotFound if isinstance(exc, gexc.NotFound) else CloudError
        return kind(f"{action}: {message}" + (f" ({hint})" if hint else ""))
    if isinstance(exc, gexc.RetryError):  # a client library's own retries ran out
        last = exc.cause
        message = getattr(last, "message", None) or str(last or exc.message)
        hint = next((h for t, h in hints.items() if isinstance(last, t)), None)
        return CloudError(f"{action}: {message}" + (f" ({hint})" if hint else f" ({exc.message})"))
    if isinstance(exc, requests.ConnectionError | requests.Timeout | auth_exc.TransportError):
        return CloudError(
            f"{action}: cannot reach the service ({type(exc).__name__}: {exc}); check the "
            "network, or whether the endpoint is up"
        )
    if isinstance(exc, auth_exc.DefaultCredentialsError):
        return CloudError(
            f"{action}: no Google credentials found ({exc}); run "
            "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
        )
    return None


@contextmanager
def missing_ok(action: str) -> Iterator[None]:
    """As `cloud_errors`, but a resource that does not exist ends the block without an error.

    For reads that answer None and deletes of what may already be gone:
    `with missing_ok(...): return get(...)` then `return None` after the block.
    """
    try:
        with cloud_errors(action):
            yield
    except CloudNotFound:
        pass
