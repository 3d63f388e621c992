"""The one retry policy (components/cloud/retry.py) with the client libraries' real errors:
what is transient, what is not, the backoff's bounds and the final message."""

import pytest
import requests
from firebase_admin import exceptions as firebase_exceptions
from google.api_core import exceptions as gexc

from components.cloud import retry
from components.cloud.errors import CloudError
from components.cloud.firebase_ml import firebase_errors
from components.cloud.retry import RETRY_ENV, RetryPolicy
from tests.fixtures.emulator import patched_environ

FAST = RetryPolicy(initial=0.001, maximum=0.002, deadline=30)


@pytest.mark.parametrize(
    "error",
    [
        gexc.ServiceUnavailable("down"),  # gRPC UNAVAILABLE, HTTP 503
        gexc.DeadlineExceeded("slow"),  # DEADLINE_EXCEEDED, 504
        gexc.ResourceExhausted("quota"),  # RESOURCE_EXHAUSTED, 429
        gexc.TooManyRequests("rate"),
        gexc.GatewayTimeout("gateway"),
        gexc.BadGateway("proxy"),
        gexc.RetryError("a library gave up", gexc.ServiceUnavailable("down")),
        requests.ConnectionError("reset"),
        firebase_exceptions.UnavailableError("down"),
        firebase_exceptions.ResourceExhaustedError("quota"),
    ],
)
def test_transient_errors_are_retried_until_the_call_succeeds(error):
    answers = iter([error, error, "done"])

    def attempt():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    firebase = isinstance(error, firebase_exceptions.FirebaseError)
    errors = firebase_errors if firebase else retry.cloud_errors
    assert retry.call("reading x", attempt, policy=FAST, errors=errors) == "done"


@pytest.mark.parametrize(
    "error",
    [
        gexc.PermissionDenied("no"),
        gexc.InvalidArgument("bad"),
        gexc.NotFound("gone"),
        gexc.InternalServerError("a bug"),
        gexc.RetryError("a library gave up", gexc.PermissionDenied("no")),
    ],
)
def test_permanent_errors_fail_at_once(error):
    calls = []

    def attempt():
        calls.append(1)
        raise error

    with pytest.raises(CloudError, match=r"^reading x: "):
        retry.call("reading x", attempt, policy=FAST)
    assert len(calls) == 1


def test_an_endless_outage_ends_with_what_how_long_and_the_last_error():
    def attempt():
        raise gexc.ServiceUnavailable("fault injected")

    with pytest.raises(CloudError) as info:
        retry.call("writing gs://b/o", attempt, policy=RetryPolicy(0.001, 0.002, 2.0, 0.05))
    message = str(info.value)
    assert message.startswith("writing gs://b/o: still failing after ")
    assert "(retried for up to 0.05 s); the last error: fault injected" in message
    assert "the service is unavailable" in message and "Run the deployment again" in message


def test_a_create_is_not_repeated_when_recover_finds_it():
    made = []

    def attempt():
        made.append("dataset")
        raise gexc.ServiceUnavailable("the answer was lost")

    found = retry.create("creating dataset d", attempt, lambda: made[0] if made else None)
    assert (found, made) == ("dataset", ["dataset"])
    with pytest.raises(CloudError, match="creating dataset d: the answer was lost"):
        retry.create("creating dataset d", attempt, None)  # no way to check: one attempt


def test_waits_grow_with_jitter_up_to_the_maximum():
    waits = RetryPolicy(initial=1, maximum=8, multiplier=2).waits()
    for ceiling in (1, 2, 4, 8, 8, 8):
        assert ceiling / 2 <= next(waits) <= ceiling


def test_the_policy_comes_from_the_environment_and_refuses_nonsense():
    with patched_environ({RETRY_ENV: "initial=0.5, deadline=9"}):
        assert RetryPolicy.from_env() == RetryPolicy(initial=0.5, maximum=30, deadline=9)
    for wrong in ("initial=fast", "patience=3", "deadline=-1"):
        with patched_environ({RETRY_ENV: wrong}), pytest.raises(CloudError, match=RETRY_ENV):
            RetryPolicy.from_env()
