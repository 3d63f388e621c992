"""The emulator's faults that reliability tests stand on: holds awaited by event, answers lost
after the work was done (`after`), and a stop that releases what is held."""

import threading
import time

import pytest
from google.api_core import exceptions
from google.cloud import automl_v1

from tests.fixtures.emulator import (
    HANG_GUARD_S,
    PARENT,
    admin,
    arm_fault,
    automl_client,
    clear_faults,
    wait_until_held,
)


def _dataset(display_name: str) -> automl_v1.Dataset:
    metadata = automl_v1.ImageClassificationDatasetMetadata(classification_type="MULTICLASS")
    return automl_v1.Dataset(
        display_name=display_name, image_classification_dataset_metadata=metadata
    )


def _in_background(call) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as exc:  # what the caller saw, asserted by the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _names(client) -> list[str]:
    return sorted(d.display_name for d in client.list_datasets(parent=PARENT))


def test_hold_stops_a_call_before_it_is_processed(emulator_factory):
    env = emulator_factory().env
    client = automl_client(env)
    arm_fault(env, "CreateDataset", "HOLD")
    thread, outcome = _in_background(
        lambda: client.create_dataset(parent=PARENT, dataset=_dataset("held"), timeout=HANG_GUARD_S)
    )
    wait_until_held(env, "CreateDataset")
    assert _names(client) == []  # nothing done yet
    clear_faults(env, "CreateDataset")
    thread.join(HANG_GUARD_S)
    assert outcome["result"].result().display_name == "held"
    assert _names(client) == ["held"]


def test_hold_after_processes_the_call_and_holds_its_answer(emulator_factory):
    env = emulator_factory().env
    client = automl_client(env)
    assert (
        admin(
            env,
            "POST",
            "/emulator/v1/faults",
            {"method": "CreateDataset", "effect": "HOLD", "after": True},
        )[0]
        == 200
    )
    thread, outcome = _in_background(
        lambda: client.create_dataset(
            parent=PARENT, dataset=_dataset("answered_late"), timeout=HANG_GUARD_S
        )
    )
    wait_until_held(env, "CreateDataset")
    assert _names(client) == ["answered_late"]  # done, while its caller still waits
    assert outcome == {}
    clear_faults(env)
    thread.join(HANG_GUARD_S)
    assert outcome["result"].result().display_name == "answered_late"


def test_an_error_after_processing_loses_the_answer_not_the_work(emulator_factory):
    env = emulator_factory().env
    client = automl_client(env)
    arm_fault(env, "CreateDataset", "UNAVAILABLE", after=True)
    with pytest.raises(exceptions.ServiceUnavailable, match="after processing"):
        client.create_dataset(parent=PARENT, dataset=_dataset("lost_answer"))
    assert _names(client) == ["lost_answer"]
    client.create_dataset(parent=PARENT, dataset=_dataset("second")).result()  # used up
    assert _names(client) == ["lost_answer", "second"]


def test_waiting_for_a_hold_that_never_comes_ends_at_its_timeout(emulator_factory):
    env = emulator_factory().env
    status, body = admin(env, "GET", "/emulator/v1/faults:waitHeld?step=Nothing&timeoutSeconds=0")
    assert status == 504 and "Nothing was not held within 0 s" in body["error"]["message"]
    status, body = admin(env, "GET", "/emulator/v1/faults:waitHeld")
    assert status == 400 and "'step' is required" in body["error"]["message"]


def test_a_stop_releases_held_calls_as_unavailable(emulator_factory):
    server = emulator_factory()
    env = server.env
    client = automl_client(env)
    arm_fault(env, "CreateDataset", "HOLD", after=True)
    thread, outcome = _in_background(
        lambda: client.create_dataset(
            parent=PARENT, dataset=_dataset("stopped"), timeout=HANG_GUARD_S
        )
    )
    wait_until_held(env, "CreateDataset")
    server.stop()
    thread.join(HANG_GUARD_S)
    assert isinstance(outcome["error"], exceptions.ServiceUnavailable), outcome


OLD_WINDOW_S = 10  # how long wait_until_held polled before it waited on the event


def test_a_hold_reached_after_any_polling_window_is_still_awaited(emulator_factory):
    """A busy machine reaches a hold late; the wait is on the event, not a window."""
    env = emulator_factory().env
    client = automl_client(env)
    arm_fault(env, "CreateDataset", "HOLD")

    def late_call():
        time.sleep(OLD_WINDOW_S + 2)  # stands for a slow machine: later than the old window
        return client.create_dataset(parent=PARENT, dataset=_dataset("late"), timeout=HANG_GUARD_S)

    thread, outcome = _in_background(late_call)
    wait_until_held(env, "CreateDataset")
    clear_faults(env)
    thread.join(HANG_GUARD_S)
    assert outcome["result"].result().display_name == "late"


def test_waiting_for_several_steps_says_which_one_is_held(emulator_factory):
    env = emulator_factory().env
    client = automl_client(env)
    arm_fault(env, "ListDatasets", "HOLD")
    thread, outcome = _in_background(
        lambda: list(client.list_datasets(parent=PARENT, timeout=HANG_GUARD_S))
    )
    assert wait_until_held(env, "CreateDataset", "ListDatasets") == ["ListDatasets"]
    arm_fault(env, "ListDatasets", "HOLD")  # re-armed: the call held before no longer counts
    status, _ = admin(env, "GET", "/emulator/v1/faults:waitHeld?step=ListDatasets&timeoutSeconds=0")
    assert status == 504
    clear_faults(env)
    thread.join(HANG_GUARD_S)
    assert outcome == {"result": []}
