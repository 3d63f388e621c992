"""Transient errors on every create of the pipeline are retried, and a create whose answer was
lost is not made twice.

A whole stack (dataset, model, gate, export, Firebase ML publication) is created through the
provider host while the emulator answers each create with transient errors: before processing
the call (nothing happened: it is retried), or after (it happened, the answer was lost: the
retry first finds what was made, by label). Then every create of a resource made once.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cloud.adapters import TRAINING_APIS, open_registry
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from tests.fixtures.emulator import arm_fault, clear_faults, patched_environ
from tests.reliability.scratch import CREATE, Scratch, new_scratch

DATASET_FAULTS = {"CreateDataset": "UNAVAILABLE", "ImportData": "DEADLINE_EXCEEDED"}
TRAINING_FAULT = "RESOURCE_EXHAUSTED"
EXPORT_FAULTS = {"ExportModel": "UNAVAILABLE"}
PUBLICATION_FAULTS = {
    "firebaseml.projects.models.create": "RESOURCE_EXHAUSTED",  # HTTP 429
    "firebaseml.projects.models.patch": "DEADLINE_EXCEEDED",  # HTTP 504
}


@pytest.fixture(scope="module", autouse=True)
def short_trainings() -> Iterator[None]:
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "2"}):
        yield


@pytest.fixture(params=TRAINING_APIS)
def scratch(request, tmp_path: Path, emulator) -> Iterator[Scratch]:
    stack = new_scratch(tmp_path, request.param, emulator.env)
    try:
        yield stack
    finally:
        clear_faults(emulator.env)
        stack.close()


def _arm(scratch: Scratch, faults: dict[str, str], after: bool) -> None:
    # Before processing: twice. After (the call took effect): once — a lost answer.
    for method, code in faults.items():
        arm_fault(scratch.env, method, code, count=1 if after else 2, after=after)


@pytest.mark.parametrize("after", [False, True], ids=["before processing", "answer lost"])
def test_every_create_survives_transient_errors_and_makes_one(scratch: Scratch, after: bool):
    host = scratch.host()
    dataset_faults = {"CreateDataset": DATASET_FAULTS["CreateDataset"]}
    if not after:  # a lost ImportData answer is not retried blind (see the adapters)
        dataset_faults = DATASET_FAULTS
    _arm(scratch, dataset_faults, after)
    dataset = scratch.create_dataset(host)
    assert [d.name for d in scratch.datasets()] == [dataset["datasetName"]]
    assert dataset["exampleCount"] == 60

    _arm(scratch, {CREATE[scratch.target.api]: TRAINING_FAULT}, after)
    model = scratch.create_model(host, dataset)
    assert scratch.trainings() == 1

    gate = scratch.gate(host, model)
    _arm(scratch, EXPORT_FAULTS, after)
    export = scratch.export(host, model, gate)
    _arm(scratch, PUBLICATION_FAULTS, after)
    publication = scratch.publish(host, model, gate, export)
    assert publication["state"] == "published"
    registry = open_registry("firebase-ml", scratch.target, scratch.bucket)
    assert registry.read("digits_money").published  # one model of that name (else an error)
