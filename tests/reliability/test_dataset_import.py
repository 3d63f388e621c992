"""A failed import never leaves one new empty cloud dataset per attempt.

The import's operation fails in the emulator (its commit step answers an error): the provider
deletes the dataset it created; when even that fails, the next attempt adopts the empty
dataset labelled with the fingerprint and imports into it. Datasets are counted in a project
of the test's own.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cloud.adapters import TRAINING_APIS
from tests.fixtures.emulator import arm_fault, clear_faults
from tests.fixtures.provider_host import ProviderCallError
from tests.reliability.scratch import Scratch, new_scratch

IMPORT_COMMIT = "ImportData.commit"  # the emulator's step before an import commits


@pytest.fixture(params=TRAINING_APIS)
def scratch(request, tmp_path: Path, emulator) -> Iterator[Scratch]:
    stack = new_scratch(tmp_path, request.param, emulator.env)
    try:
        yield stack
    finally:
        clear_faults(emulator.env)
        stack.close()


def _failed_create(scratch: Scratch) -> str:
    with pytest.raises(ProviderCallError) as info:
        scratch.create_dataset(scratch.host())
    message = info.value.details
    assert message.startswith("Dataset 'digits': ") and "Traceback" not in message, message
    return message


def test_failed_imports_leave_no_dataset_and_the_retry_makes_one(scratch: Scratch):
    arm_fault(scratch.env, IMPORT_COMMIT, "INVALID_ARGUMENT", count=2)
    for _ in range(2):
        assert "fault injected" in _failed_create(scratch)
        assert scratch.datasets() == []  # the empty dataset was deleted
    outputs = scratch.create_dataset(scratch.host())
    assert [(d.name, d.example_count) for d in scratch.datasets()] == [(outputs["datasetName"], 60)]


def test_an_empty_dataset_left_behind_is_adopted_and_imported_into(scratch: Scratch):
    arm_fault(scratch.env, IMPORT_COMMIT, "INVALID_ARGUMENT")
    arm_fault(scratch.env, "DeleteDataset", "PERMISSION_DENIED", count=10)
    _failed_create(scratch)
    (left,) = scratch.datasets()
    assert left.example_count == 0
    clear_faults(scratch.env)
    outputs = scratch.create_dataset(scratch.host())
    assert outputs["datasetName"] == left.name
    assert [(d.name, d.example_count) for d in scratch.datasets()] == [(left.name, 60)]
