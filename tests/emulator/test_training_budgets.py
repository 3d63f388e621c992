"""Training budgets through the unmodified AutoML client: what a budget too small for one epoch
does, and how a trained model reports its stop reason, epochs and cost.

Budgets count epochs (EDGE_LABELER_EMULATOR_EPOCHS_PER_NODE_HOUR), except where a wall-clock
budget is the point: one node hour of a microsecond, which no machine completes an epoch in.
"""

import json
import uuid

import pytest
from google.api_core import exceptions
from google.cloud import automl_v1

from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV, SECONDS_PER_NODE_HOUR_ENV
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import (
    PARENT,
    automl_client,
    create_dataset,
    patched_environ,
    start_import,
    storage_client,
    wait_for,
)

LABELS = ("zero", "one", "two")
FAILED_PRECONDITION = 9  # google.rpc.Code


def _ml_use(i: int) -> str:
    return "TEST" if i % 8 == 0 else "VALIDATION" if i % 8 == 1 else "TRAIN"


@pytest.fixture(scope="module")
def automl(emulator):
    return automl_client(emulator.env)


@pytest.fixture(scope="module")
def dataset_id(emulator, automl) -> str:
    """48 digit photos of 3 labels (6 TEST, 6 VALIDATION, 36 TRAIN), imported."""
    bucket_name = f"budgets-{uuid.uuid4().hex[:10]}"
    bucket = storage_client(emulator.env).create_bucket(bucket_name)
    lines = []
    for i, image in enumerate(digit_images(16, LABELS)):
        name = f"digits/{image.index}.{image.extension}"
        bucket.blob(name).upload_from_string(image.data)
        lines.append(f"{_ml_use(i)},gs://{bucket_name}/{name},{image.label}")
    bucket.blob("index.csv").upload_from_string("\n".join(lines) + "\n")
    dataset = create_dataset(automl, "budgets", "MULTICLASS")
    wait_for(start_import(automl, dataset.name, f"gs://{bucket_name}/index.csv"))
    return dataset.name.rsplit("/", 1)[1]


def _create_model(automl, dataset_id: str, display_name: str):
    model = automl_v1.Model(
        display_name=display_name,
        dataset_id=dataset_id,
        image_classification_model_metadata=automl_v1.ImageClassificationModelMetadata(
            model_type="mobile-low-latency-1", train_budget_milli_node_hours=1_000
        ),
    )
    return automl.create_model(parent=PARENT, model=model)


def _model_names(automl) -> set[str]:
    return {m.display_name for m in automl.list_models(parent=PARENT)}


def test_a_budget_too_small_for_one_epoch_fails_the_training_and_bills_nothing(automl, dataset_id):
    with patched_environ({SECONDS_PER_NODE_HOUR_ENV: "0.000001"}):
        op = _create_model(automl, dataset_id, "too_small")
        with pytest.raises(exceptions.GoogleAPICallError):
            op.result(timeout=300)
    error = op.operation.error
    assert error.code == FAILED_PRECONDITION, error
    assert "the budget of 1,000 milli node hours (1e-06 s of training" in error.message
    assert "one epoch of 36 TRAIN images needs about" in error.message
    assert "no model was created and nothing was billed" in error.message
    assert "too_small" not in _model_names(automl)


@pytest.mark.parametrize("epochs_per_node_hour", ["0", "0.5"])
def test_an_epoch_budget_that_buys_no_epoch_is_refused_at_start(
    automl, dataset_id, epochs_per_node_hour
):
    with (
        patched_environ({EPOCHS_PER_NODE_HOUR_ENV: epochs_per_node_hour}),
        pytest.raises(exceptions.FailedPrecondition, match="cannot complete one epoch") as refused,
    ):
        _create_model(automl, dataset_id, "no_epoch")
    assert "1,000 milli node hours (0 epochs at" in refused.value.message
    assert "no_epoch" not in _model_names(automl)


def test_a_trained_model_reports_its_stop_reason_epochs_best_epoch_and_cost(
    emulator, automl, dataset_id
):
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "2"}):
        model = _create_model(automl, dataset_id, "two_epochs").result(timeout=300)
    meta = model.image_classification_model_metadata
    assert (meta.stop_reason, meta.train_cost_milli_node_hours) == ("BUDGET_REACHED", 1_000)
    bucket = storage_client(emulator.env).create_bucket(f"exports-{uuid.uuid4().hex[:10]}")
    op = automl.export_model(
        name=model.name,
        output_config=automl_v1.ModelExportOutputConfig(
            model_format="tflite",
            gcs_destination=automl_v1.GcsDestination(
                output_uri_prefix=f"gs://{bucket.name}/exports"
            ),
        ),
    )
    wait_for(op)
    directory = op.metadata.export_model_details.output_info.gcs_output_directory
    name = directory.removeprefix(f"gs://{bucket.name}/") + "/tflite_metadata.json"
    training = json.loads(bucket.blob(name).download_as_bytes())["training"]
    assert training["stopReason"] == "BUDGET_REACHED" and training["epochsRun"] == 2
    assert 1 <= training["bestEpoch"] <= 2
    assert training["trainCostMilliNodeHours"] == training["budgetMilliNodeHours"] == 1_000
    assert training["trainingSeconds"] > 0


def test_an_interrupted_training_names_the_epoch_and_what_its_budget_bought():
    from datetime import UTC, datetime

    from emulator.core.models.training import interrupted_training_status
    from emulator.core.operations import Operation

    def status(**details) -> str:
        now = datetime.now(UTC)
        op = Operation(
            "p/operations/1", "automl_v1", "create_model", ("p/models/ICN1",), now, now,
            details={"display_name": "m", "epoch": 3, "elapsed_seconds": 4.2, **details},
        )  # fmt: skip
        return interrupted_training_status(op).message

    assert "after epoch 3 (of its 10-epoch budget)" in status(budget_epochs=10, budget_seconds=8)
    assert "after epoch 3 (4 s of its 60 s budget)" in status(budget_epochs=None, budget_seconds=60)
