"""At most one paid training per fingerprint, whatever fails or is killed between starting a
training and the end of the wait for it.

Each test runs in a project of its own and counts the trainings the emulator started (what
Google bills): exactly one. A killed `pulumi up` is the SDK's provider host killed with SIGKILL
at a point held in the emulator; the next `pulumi up` is a new host. While the next host decides
what to do, the emulator holds both ways it can go — starting a training (held before it is
processed, so nothing is billed) and waiting on one — and the test asserts which it took.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cloud.adapters import TRAINING_APIS
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from tests.fixtures.emulator import arm_fault, clear_faults, patched_environ, wait_until_held
from tests.reliability.scratch import COMMIT, CREATE, WAIT, Scratch, in_background, new_scratch


@pytest.fixture(scope="module", autouse=True)
def short_trainings() -> Iterator[None]:
    # 1 node hour = 2 epochs: the same tiny training on any machine, however busy.
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "2"}):
        yield


@pytest.fixture(params=TRAINING_APIS)
def scratch(request, tmp_path: Path, emulator) -> Iterator[Scratch]:
    stack = new_scratch(tmp_path, request.param, emulator.env)
    try:
        yield stack
    finally:
        clear_faults(emulator.env)  # never leak a fault into the shared emulator
        stack.close()


def _model_inputs(scratch: Scratch) -> dict:
    host = scratch.host()
    return scratch.model_inputs(host, scratch.create_dataset(host))


def _next_run_waits_for_the_first_training(scratch: Scratch, inputs: dict) -> None:
    """A new host's Create, while the first training is still running (held before its
    commit): it must wait on that training, not start a second; then it adopts its model."""
    env, api = scratch.env, scratch.target.api
    arm_fault(env, CREATE[api], "HOLD")  # held before it is processed: nothing billed
    arm_fault(env, WAIT[api], "HOLD")
    host = scratch.host()
    second = in_background(lambda: host.create(scratch.model_urn(host), inputs))
    took = wait_until_held(env, CREATE[api], WAIT[api])
    assert took == [WAIT[api]], f"the next run called {took[0]}: a second paid training"
    assert scratch.trainings() == 1
    clear_faults(env)  # the training commits; the run ends
    second.join()
    assert second.error is None, second.error
    model_id, outputs = second.result
    assert outputs["modelName"] == model_id
    assert scratch.trainings() == 1


def test_a_failed_record_write_keeps_waiting_and_trains_once(scratch: Scratch):
    env, api = scratch.env, scratch.target.api
    inputs = _model_inputs(scratch)
    arm_fault(env, CREATE[api], "HOLD", after=True)
    host = scratch.host()
    first = in_background(lambda: host.create(scratch.model_urn(host), inputs))
    wait_until_held(env, CREATE[api])  # the training started; its answer is on the way
    arm_fault(env, "storage.objects.insert", "UNAVAILABLE", count=10**6)  # no record written
    clear_faults(env, CREATE[api])
    first.join()
    assert first.error is None, first.error.details
    assert scratch.trainings() == 1
    clear_faults(env)
    again = scratch.host()
    model_id, _ = again.create(scratch.model_urn(again), inputs)  # state lost: adopted
    assert model_id == first.result[0]
    assert scratch.trainings() == 1


@pytest.mark.parametrize(
    "killed_at",
    [
        "CreateModel processed, its answer held",
        "answered, the operation record being written",
        "waiting on the training",
    ],
)
def test_killed_between_starting_and_the_end_of_the_wait_trains_once(scratch, killed_at):
    env, api = scratch.env, scratch.target.api
    inputs = _model_inputs(scratch)
    arm_fault(env, COMMIT, "HOLD")  # the first training cannot finish before the next run
    if killed_at.startswith("CreateModel"):
        arm_fault(env, CREATE[api], "HOLD", after=True)
        point = CREATE[api]
    elif killed_at.startswith("answered"):
        arm_fault(env, CREATE[api], "HOLD", after=True)
        point = "storage.objects.insert"
    else:
        arm_fault(env, WAIT[api], "HOLD")
        point = WAIT[api]
    host = scratch.host()
    first = in_background(lambda: host.create(scratch.model_urn(host), inputs))
    if killed_at.startswith("answered"):
        wait_until_held(env, CREATE[api])
        arm_fault(env, point, "HOLD")  # the record write, once the answer arrives
        clear_faults(env, CREATE[api])
    wait_until_held(env, point)
    host.kill()
    first.join()
    assert scratch.trainings() == 1
    # Holds stay armed: the killed host's held call (the record write, say) never lands
    # before the next run has decided; arming CREATE and WAIT again releases theirs.
    _next_run_waits_for_the_first_training(scratch, inputs)


def test_a_failed_intent_write_starts_nothing(scratch: Scratch):
    env = scratch.env
    inputs = _model_inputs(scratch)
    arm_fault(env, "storage.objects.insert", "UNAVAILABLE", count=10**6)
    host = scratch.host()
    first = in_background(lambda: host.create(scratch.model_urn(host), inputs)).join()
    assert scratch.trainings() == 0
    assert first.error is not None
    message = first.error.details
    assert "Model 'digits'" in message and "nothing was started" in message, message
    assert "Traceback" not in message
