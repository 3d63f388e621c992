"""Vertex AI's high-level SDK (`google.cloud.aiplatform`) on the emulator, unmodified.

Only its endpoint, credentials and channel are bent (tests/fixtures/vertex.py `vertex_sdk`).
The SDK's documented way to an edge model: `ImageDataset.create` from a JSON Lines file with
`data_item_labels`, `AutoMLImageTrainingJob.run`, then `Model.export_model`,
`list_model_evaluations` and `get_model_evaluation` — which send versioned model names
(`models/ID@1`). One training (2 epochs) serves the module.
"""

import json
import re

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform, aiplatform_v1
from google.cloud.aiplatform import schema
from google.longrunning import operations_pb2

from components.evaluation.tflite import inspect_tflite
from emulator.core.datasets import ClassificationType
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from emulator.vertex_v1 import schemas
from tests.fixtures.emulator import LOCATION, patched_environ, storage_client
from tests.fixtures.vertex import upload_digits, vertex_clients, vertex_sdk, write_csv

PROJECT = "vertex-sdk"
BUCKET = f"{PROJECT}-data"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
ML_USE = "aiplatform.googleapis.com/ml_use"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture(scope="module")
def sdk(emulator):
    with vertex_sdk(emulator.env, PROJECT, LOCATION):
        yield


@pytest.fixture(scope="module")
def dataset(emulator, sdk) -> aiplatform.ImageDataset:
    """Digits imported from a JSON Lines file, every image labelled `batch=first`."""
    rows = upload_digits(emulator.env, PROJECT, BUCKET, 10, ("zero", "one"))
    lines = [
        json.dumps(
            {
                "imageGcsUri": uri,
                "classificationAnnotation": {"displayName": label},
                "dataItemResourceLabels": {ML_USE: ml_use},
            }
        )
        for ml_use, uri, label in rows
    ]
    write_csv(emulator.env, PROJECT, f"gs://{BUCKET}/digits.jsonl", lines)
    return aiplatform.ImageDataset.create(
        display_name="Chiffres manuscrits — jeu d'essai n°1 ✍️",  # Vertex AI: any UTF-8
        gcs_source=f"gs://{BUCKET}/digits.jsonl",
        import_schema_uri=schema.dataset.ioformat.image.single_label_classification,
        data_item_labels={"batch": "first"},
    )


@pytest.fixture(scope="module")
def model(dataset) -> aiplatform.Model:
    job = aiplatform.AutoMLImageTrainingJob(
        display_name="digits sdk job",
        prediction_type="classification",
        model_type="MOBILE_TF_LOW_LATENCY_1",
    )
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "2"}):
        return job.run(
            dataset=dataset,
            budget_milli_node_hours=1000,
            model_display_name="Modèle des chiffres",
            # The data item labels of the import file and of the import request.
            training_filter_split=f"labels.{ML_USE}=training AND labels.batch=first",
            validation_filter_split=f"labels.{ML_USE}=validation",
            test_filter_split=f"labels.{ML_USE}=test",
        )


def test_image_dataset_create_imports_json_lines_with_data_item_labels(emulator, dataset):
    found = aiplatform.ImageDataset(dataset.resource_name)
    assert found.display_name == "Chiffres manuscrits — jeu d'essai n°1 ✍️"
    assert found.gca_resource.data_item_count == 20
    examples = emulator.backend.datasets.examples(dataset.resource_name)
    assert {e.item_labels["batch"] for e in examples} == {"first"}
    assert {e.ml_use.value for e in examples} == {"TRAIN", "VALIDATION", "TEST"}


def test_training_job_gives_a_versioned_model(model):
    assert model.display_name == "Modèle des chiffres"
    assert model.version_id == "1" and model.version_aliases == ["default"]
    assert model.versioned_resource_name == f"{model.resource_name}@1"
    assert list(model.supported_export_formats) == [
        "tflite",
        "edgetpu-tflite",
        "tf-saved-model",
        "core-ml",
        "tf-js",
    ]
    by_alias = aiplatform.Model(model.resource_name, version="default")
    assert by_alias.resource_name == model.resource_name and by_alias.version_id == "1"


def test_model_evaluations_through_the_versioned_name(model):
    evaluations = model.list_model_evaluations()
    assert len(evaluations) == 1
    assert re.fullmatch(rf"{model.resource_name}/evaluations/\d+", evaluations[0].resource_name)
    assert model.get_model_evaluation().resource_name == evaluations[0].resource_name
    evaluation_id = evaluations[0].resource_name.rsplit("/", 1)[-1]
    by_id = model.get_model_evaluation(evaluation_id=evaluation_id)
    assert by_id.metrics["confidenceMetrics"]


def test_export_model_writes_the_documented_layout(emulator, model):
    model_id = model.resource_name.rsplit("/", 1)[-1]
    bucket = storage_client(emulator.env, PROJECT).bucket(BUCKET)
    for fmt, files in (("tflite", {"model.tflite"}), ("edgetpu-tflite", {"edgetpu_model.tflite"})):
        output = model.export_model(fmt, artifact_destination=f"gs://{BUCKET}/exports/")
        folder = output["artifactOutputUri"]
        assert re.fullmatch(rf"gs://{BUCKET}/exports/model-{model_id}/{fmt}/{STAMP}", folder)
        prefix = folder.removeprefix(f"gs://{BUCKET}/") + "/"
        listed = {b.name.removeprefix(prefix) for b in bucket.list_blobs(prefix=prefix)}
        assert listed == files  # no dict.txt: the labels belong inside the TF Lite file
        inspect_tflite(bucket.blob(prefix + files.pop()).download_as_bytes())


def test_formats_the_emulator_cannot_make_fail_with_the_supported_ones(model):
    for fmt in ("tf-js", "core-ml"):
        with pytest.raises(
            exceptions.FailedPrecondition,
            match=f"{fmt} exports cannot be made by the emulator.*tflite, edgetpu-tflite, "
            "tf-saved-model",
        ):
            model.export_model(fmt, artifact_destination=f"gs://{BUCKET}/refused/")


def test_the_export_operation_is_named_under_the_model_and_read_by_its_location_name(
    emulator, model
):
    vertex = vertex_clients(emulator.env)
    config = aiplatform_v1.ExportModelRequest.OutputConfig(
        export_format_id="tflite",
        artifact_destination=aiplatform_v1.GcsDestination(output_uri_prefix=f"gs://{BUCKET}/op/"),
    )
    operation = vertex.models.export_model(name=model.versioned_resource_name, output_config=config)
    name = operation.operation.name
    assert re.fullmatch(rf"{model.resource_name}/operations/\d+", name)
    operation.result(timeout=600)
    by_location = f"{PARENT}/operations/{name.rsplit('/', 1)[-1]}"
    request = operations_pb2.GetOperationRequest(name=by_location)
    assert vertex.models.get_operation(request).name == name


def test_the_schema_uris_the_emulator_writes_out_are_the_sdks():
    """vertex_v1/schemas.py spells the URIs out so that a start need not import the SDK."""
    image = schema.dataset.ioformat.image
    written_out = (
        schemas.IMAGE_METADATA_SCHEMA,
        schemas.IMPORT_SCHEMAS,
        schemas.TRAINING_DEFINITION,
    )
    assert written_out == (
        schema.dataset.metadata.image,
        {
            image.single_label_classification: ClassificationType.MULTICLASS,
            image.multi_label_classification: ClassificationType.MULTILABEL,
        },
        schema.training_job.definition.automl_image_classification,
    )
    assert schemas.known_schema(image.bounding_box, "dataset.ioformat")
    assert not schemas.known_schema(f"{image.bounding_box}x", "dataset.ioformat")
