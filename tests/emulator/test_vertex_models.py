"""Vertex AI training pipelines, models, evaluations and exports on the emulator.

Through the unmodified google-cloud-aiplatform clients, and through the `vertex` adapter with
its requests recorded on the way out. Schema URIs, enum values and message types come from the
package itself (`google.cloud.aiplatform.schema`, `definition_v1`, `aiplatform_v1`), never
copied literals. One real training (5 epochs) serves the module; two more are cut short
(cancel, emulator restart) while held before their commit (a HOLD fault at `CreateModel.commit`),
so nothing depends on how fast the machine trains.
"""

import base64
import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1
from google.cloud.aiplatform import schema
from google.cloud.aiplatform.v1.schema.trainingjob import definition_v1
from google.protobuf import json_format, struct_pb2

from components.cloud.adapters import training_api
from components.cloud.clients import CloudTarget
from components.cloud.storage import ObjectStore
from components.cloud.training import LABEL_SEED, OperationState
from components.evaluation.tflite import inspect_tflite
from components.spec import ExportFormat, OptimizeFor
from emulator.core.datasets import Example
from emulator.core.errors import ServiceError
from emulator.core.import_csv import MlUse, assign_split
from emulator.core.models.training import TRAINING_COMMIT_STEP
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from emulator.vertex_v1.splits import filter_split, fraction_split
from tests.fixtures.emulator import (
    HANG_GUARD_S,
    LOCATION,
    arm_fault,
    clear_faults,
    patched_environ,
    storage_client,
    wait_for,
    wait_until_held,
)
from tests.fixtures.vertex import VertexClients, upload_digits, vertex_clients, write_csv

PROJECT = "vertex-models"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
BUCKET = f"{PROJECT}-data"
LABELS = ("zero", "one", "two")
Inputs = definition_v1.AutoMlImageClassificationInputs
Metadata = definition_v1.AutoMlImageClassificationMetadata
State = aiplatform_v1.PipelineState
ENDED = (
    State.PIPELINE_STATE_SUCCEEDED,
    State.PIPELINE_STATE_FAILED,
    State.PIPELINE_STATE_CANCELLED,
)
ML_USE_FILTERS = {
    f"{role}_filter": f"labels.aiplatform.googleapis.com/ml_use={role}"
    for role in ("training", "validation", "test")
}


def inputs_json(**fields: Any) -> dict:
    """AutoMlImageClassificationInputs as the JSON of training_task_inputs."""
    message = Inputs.pb(Inputs(**fields))
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def pipeline(
    dataset_id: str,
    *,
    inputs: dict | None = None,
    definition: str = schema.training_job.definition.automl_image_classification,
    display_name: str = "digits_pipeline",
    model_name: str = "digits_model",
    labels: dict[str, str] | None = None,
    **data_config: Any,
) -> aiplatform_v1.TrainingPipeline:
    splits = ("fraction_split", "filter_split", "predefined_split", "timestamp_split")
    if not any(split in data_config for split in splits):
        data_config["filter_split"] = aiplatform_v1.FilterSplit(**ML_USE_FILTERS)
    message = aiplatform_v1.TrainingPipeline.pb(
        aiplatform_v1.TrainingPipeline(
            display_name=display_name,
            training_task_definition=definition,
            input_data_config=aiplatform_v1.InputDataConfig(dataset_id=dataset_id, **data_config),
            model_to_upload=aiplatform_v1.Model(display_name=model_name, labels=labels or {}),
            labels=labels or {},
        )
    )
    json_format.ParseDict(
        inputs_json(
            model_type=Inputs.ModelType.MOBILE_TF_LOW_LATENCY_1, budget_milli_node_hours=1000
        )
        if inputs is None
        else inputs,
        message.training_task_inputs,
    )
    return aiplatform_v1.TrainingPipeline.wrap(message)


def wait_ended(
    vertex: VertexClients, name: str, timeout: float = HANG_GUARD_S
) -> aiplatform_v1.TrainingPipeline:
    deadline = time.monotonic() + timeout
    while True:
        found = vertex.pipelines.get_training_pipeline(name=name)
        if found.state in ENDED:
            return found
        assert time.monotonic() < deadline, f"{name} still {found.state.name}"
        time.sleep(0.1)


@contextlib.contextmanager
def held_before_commit(env: Mapping[str, str]) -> Iterator[None]:
    """Trainings started inside train one epoch and then wait before their commit (a HOLD at
    `CreateModel.commit`) until the block ends: a cancel or a restart meanwhile always finds
    them running, however fast the machine."""
    arm_fault(env, TRAINING_COMMIT_STEP, "HOLD")
    try:
        with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "1"}):
            yield
    finally:
        clear_faults(env, TRAINING_COMMIT_STEP)


def create_image_dataset(vertex: VertexClients, env, csv_uri: str, lines: list[str]) -> str:
    dataset = wait_for(
        vertex.datasets.create_dataset(
            parent=PARENT,
            dataset=aiplatform_v1.Dataset(
                display_name="digits", metadata_schema_uri=schema.dataset.metadata.image
            ),
        )
    )
    write_csv(env, PROJECT, csv_uri, lines)
    config = aiplatform_v1.ImportDataConfig(
        gcs_source=aiplatform_v1.GcsSource(uris=[csv_uri]),
        import_schema_uri=schema.dataset.ioformat.image.single_label_classification,
    )
    wait_for(vertex.datasets.import_data(name=dataset.name, import_configs=[config]))
    return dataset.name


@pytest.fixture(scope="module")
def vertex(emulator) -> VertexClients:
    return vertex_clients(emulator.env)


@pytest.fixture(scope="module")
def rows(emulator) -> list[tuple[str, str, str]]:
    return upload_digits(emulator.env, PROJECT, BUCKET, 12, LABELS)


@pytest.fixture(scope="module")
def dataset_id(emulator, vertex, rows) -> str:
    lines = [",".join(row) for row in rows]
    name = create_image_dataset(vertex, emulator.env, f"gs://{BUCKET}/digits.csv", lines)
    return name.rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def trained(vertex, dataset_id) -> aiplatform_v1.TrainingPipeline:
    """One pipeline trained for 5 epochs on the CSV's split."""
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "5"}):
        created = vertex.pipelines.create_training_pipeline(
            parent=PARENT,
            training_pipeline=pipeline(dataset_id, labels={"team": "vision", LABEL_SEED: "3"}),
        )
    # As the reference's create sample answers: PENDING, no start time until it runs.
    assert created.state == State.PIPELINE_STATE_PENDING
    assert not aiplatform_v1.TrainingPipeline.pb(created).HasField("start_time")
    return wait_ended(vertex, created.name)


@pytest.fixture(scope="module")
def model(vertex, trained) -> aiplatform_v1.Model:
    return vertex.models.get_model(name=trained.model_to_upload.name)


# ---- pipelines ------------------------------------------------------------------------------


def test_pipeline_succeeds_and_reports_cost_stop_reason_and_model(trained, model, dataset_id):
    assert re.fullmatch(rf"{PARENT}/trainingPipelines/\d+", trained.name)
    assert trained.state == State.PIPELINE_STATE_SUCCEEDED and not trained.error.message
    assert trained.create_time <= trained.start_time <= trained.end_time
    assert trained.training_task_definition == (
        schema.training_job.definition.automl_image_classification
    )
    message = aiplatform_v1.TrainingPipeline.pb(trained)
    sent = Inputs.wrap(
        json_format.ParseDict(
            json_format.MessageToDict(message.training_task_inputs), Inputs.pb()()
        )
    )
    assert sent.model_type == Inputs.ModelType.MOBILE_TF_LOW_LATENCY_1
    assert sent.budget_milli_node_hours == 1000
    metadata = Metadata.wrap(
        json_format.ParseDict(
            json_format.MessageToDict(message.training_task_metadata), Metadata.pb()()
        )
    )
    assert metadata.cost_milli_node_hours == 1000  # all 5 epochs of the epoch budget
    assert metadata.successful_stop_reason == Metadata.SuccessfulStopReason.BUDGET_REACHED
    assert trained.input_data_config.dataset_id == dataset_id
    assert trained.input_data_config.filter_split.test_filter == ML_USE_FILTERS["test_filter"]

    assert re.fullmatch(rf"{PARENT}/models/\d+", model.name)
    assert model.training_pipeline == trained.name
    assert model.display_name == "digits_model" and model.labels["team"] == "vision"
    assert (model.version_id, list(model.version_aliases)) == ("1", ["default"])
    assert trained.model_to_upload.version_id == "1"
    # "Export AutoML Edge models": TF Lite, Edge TPU TF Lite, Container, Core ML, TF.js.
    assert [f.id for f in model.supported_export_formats] == [
        *(ExportFormat(f).vertex_format for f in ("tflite", "edgetpu_tflite", "tf_saved_model")),
        "core-ml",
        "tf-js",
    ]


def test_list_and_filter_pipelines_and_models(vertex, trained, model):
    def pipelines(filter_text: str) -> list[str]:
        request = aiplatform_v1.ListTrainingPipelinesRequest(parent=PARENT, filter=filter_text)
        return [p.name for p in vertex.pipelines.list_training_pipelines(request=request)]

    def models(filter_text: str) -> list[str]:
        request = aiplatform_v1.ListModelsRequest(parent=PARENT, filter=filter_text)
        return [m.name for m in vertex.models.list_models(request=request)]

    assert trained.name in pipelines('state="PIPELINE_STATE_SUCCEEDED" AND labels.team=vision')
    assert trained.name in pipelines('training_task_definition:"*automl_image_classification*"')
    assert trained.name not in pipelines('state!="PIPELINE_STATE_SUCCEEDED"')
    assert models("labels.team=vision") == [model.name]
    assert models(f'labels."{LABEL_SEED}"="3" AND displayName="digits_model"') == [model.name]
    assert models(f"model={model.name.rsplit('/', 1)[-1]}") == [model.name]
    assert models("labels.team=other") == []


def test_pipeline_requests_are_checked_before_anything_trains(vertex, dataset_id):
    mobile = {"model_type": Inputs.ModelType.MOBILE_TF_VERSATILE_1, "budget_milli_node_hours": 1000}
    cases: list[tuple[aiplatform_v1.TrainingPipeline, type, str]] = [
        (pipeline(dataset_id, definition=""), exceptions.InvalidArgument, "required"),
        (
            pipeline(dataset_id, definition=schema.training_job.definition.automl_tabular),
            exceptions.MethodNotImplemented,
            "is not emulated",
        ),
        (
            pipeline(dataset_id, inputs={"modelType": "MOBILE_TF_VERSATILE_1", "epochs": 3}),
            exceptions.InvalidArgument,
            "training_task_inputs",
        ),
        (
            pipeline(dataset_id, inputs=inputs_json(**{**mobile, "budget_milli_node_hours": 500})),
            exceptions.InvalidArgument,
            "budgetMilliNodeHours; Message: 500 is out of range for modelType "
            "MOBILE_TF_VERSATILE_1; allowed: 1,000–100,000",
        ),
        (
            pipeline(dataset_id, inputs=inputs_json(**mobile, multi_label=True)),
            exceptions.InvalidArgument,
            "multiLabel; Message: True does not match dataset",
        ),
        (
            pipeline(dataset_id, inputs=inputs_json(**mobile, disable_early_stopping=True)),
            exceptions.MethodNotImplemented,
            "disableEarlyStopping",
        ),
        (
            pipeline(dataset_id, predefined_split=aiplatform_v1.PredefinedSplit(key="ml_use")),
            exceptions.InvalidArgument,
            "supported only for tabular Datasets",
        ),
        (
            pipeline(
                dataset_id,
                fraction_split=aiplatform_v1.FractionSplit(
                    training_fraction=0.8, validation_fraction=0.2, test_fraction=0.2
                ),
            ),
            exceptions.InvalidArgument,
            "sum to at most 1",
        ),
        (
            pipeline(
                dataset_id,
                filter_split=aiplatform_v1.FilterSplit(**{**ML_USE_FILTERS, "test_filter": "-"}),
            ),
            exceptions.FailedPrecondition,
            "has no TEST images",
        ),
        (pipeline("9" * 19), exceptions.NotFound, "does not exist"),
        (pipeline(""), exceptions.InvalidArgument, "dataset_id; Message: required"),
        (
            pipeline(dataset_id, model_name="é" * 129),  # Vertex AI: up to 128 characters
            exceptions.InvalidArgument,
            "model_to_upload.display_name",
        ),
    ]
    before = len(list(vertex.pipelines.list_training_pipelines(parent=PARENT)))
    for request, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            vertex.pipelines.create_training_pipeline(parent=PARENT, training_pipeline=request)
    assert len(list(vertex.pipelines.list_training_pipelines(parent=PARENT))) == before


def test_cancel_and_delete_a_pipeline(emulator, vertex, dataset_id, trained):
    with held_before_commit(emulator.env):
        running = vertex.pipelines.create_training_pipeline(
            parent=PARENT, training_pipeline=pipeline(dataset_id, display_name="to_cancel")
        )
        with pytest.raises(exceptions.FailedPrecondition, match="cancel it first"):
            vertex.pipelines.delete_training_pipeline(name=running.name)
        # RUNNING from its first epoch on, with the time it began ("first entered RUNNING").
        deadline = time.monotonic() + HANG_GUARD_S
        while (found := vertex.pipelines.get_training_pipeline(name=running.name)).state != (
            State.PIPELINE_STATE_RUNNING
        ):
            assert found.state == State.PIPELINE_STATE_PENDING, found.state
            assert not aiplatform_v1.TrainingPipeline.pb(found).HasField("start_time")
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert found.create_time <= found.start_time <= found.update_time
        vertex.pipelines.cancel_training_pipeline(name=running.name)
        cancelled = wait_ended(vertex, running.name)
    assert cancelled.state == State.PIPELINE_STATE_CANCELLED
    assert cancelled.error.code == 1 and "cancelled" in cancelled.error.message
    assert not cancelled.model_to_upload.name
    vertex.pipelines.cancel_training_pipeline(name=running.name)  # ended: no effect
    operation = vertex.pipelines.delete_training_pipeline(name=running.name)
    wait_for(operation)
    assert isinstance(operation.metadata, aiplatform_v1.DeleteOperationMetadata)
    assert re.fullmatch(rf"{running.name}/operations/\d+", operation.operation.name)
    with pytest.raises(exceptions.NotFound):
        vertex.pipelines.get_training_pipeline(name=running.name)


# ---- evaluations --------------------------------------------------------------------------


def _float32(value: float) -> float:
    return float(str(np.float32(value)))


def test_evaluation_and_slices_in_the_classification_metrics_schema(vertex, emulator, model, rows):
    evaluations = list(vertex.models.list_model_evaluations(parent=model.name))
    assert len(evaluations) == 1
    overall = evaluations[0]
    assert re.fullmatch(rf"{model.name}/evaluations/\d+", overall.name)
    assert overall.metrics_schema_uri.startswith("gs://google-cloud-aiplatform/schema/")
    assert list(overall.slice_dimensions) == ["annotationSpec"]
    assert vertex.models.get_model_evaluation(name=overall.name) == overall
    metrics = json_format.MessageToDict(aiplatform_v1.ModelEvaluation.pb(overall).metrics)
    core = [e for e in emulator.backend.models.list_evaluations(model.name)]
    core_overall = next(e for e in core if not e.annotation_spec_id)
    assert metrics["auPrc"] == _float32(core_overall.metrics.au_prc)  # printed as float32
    first, *rest = metrics["confidenceMetrics"]
    assert "confidenceThreshold" not in first  # 0: left out, as proto3 JSON does
    assert isinstance(first["truePositiveCount"], str)  # int64 counts are strings
    assert [e["confidenceThreshold"] for e in rest] == sorted(
        e["confidenceThreshold"] for e in rest
    )
    assert {s["displayName"] for s in metrics["confusionMatrix"]["annotationSpecs"]} == set(LABELS)

    request = aiplatform_v1.ListModelEvaluationSlicesRequest(
        parent=overall.name, filter='slice.dimension="annotationSpec"'
    )
    slices = list(vertex.models.list_model_evaluation_slices(request=request))
    assert sorted(s.slice_.value for s in slices) == sorted(LABELS)
    assert all(s.slice_.dimension == "annotationSpec" for s in slices)
    assert vertex.models.get_model_evaluation_slice(name=slices[0].name) == slices[0]
    # The TEST images are exactly the CSV's `test` rows (FilterSplit on ml_use).
    positives = 0
    for s in slices:
        entry = json_format.MessageToDict(aiplatform_v1.ModelEvaluationSlice.pb(s).metrics)[
            "confidenceMetrics"
        ][0]
        positives += int(entry.get("truePositiveCount", 0)) + int(
            entry.get("falseNegativeCount", 0)
        )
    assert positives == sum(1 for ml_use, _, _ in rows if ml_use == "test") == 6
    with pytest.raises(exceptions.NotFound):
        vertex.models.get_model_evaluation(name=f"{model.name}/evaluations/1")


# ---- exports -------------------------------------------------------------------------------


def test_exports_in_vertex_layout(vertex, emulator, model):
    """`model-<MODEL_ID>/<format>/<timestamp>/` and the files "Export AutoML Edge models" lists
    (no dict.txt: the labels belong inside the TF Lite file)."""
    bucket = storage_client(emulator.env, PROJECT).bucket(BUCKET)
    model_id = model.name.rsplit("/", 1)[-1]
    for fmt, expected in (
        ("tflite", {"model.tflite"}),
        ("edgetpu-tflite", {"edgetpu_model.tflite"}),
        ("tf-saved-model", {"saved_model.pb"}),
    ):
        config = aiplatform_v1.ExportModelRequest.OutputConfig(
            export_format_id=fmt,
            artifact_destination=aiplatform_v1.GcsDestination(
                output_uri_prefix=f"gs://{BUCKET}/exports/"
            ),
        )
        operation = vertex.models.export_model(name=model.name, output_config=config)
        assert re.fullmatch(rf"{model.name}/operations/\d+", operation.operation.name)
        assert isinstance(wait_for(operation), aiplatform_v1.ExportModelResponse)
        folder = operation.metadata.output_info.artifact_output_uri
        assert re.fullmatch(
            rf"gs://{BUCKET}/exports/model-{model_id}/{fmt}/"
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
            folder,
        )
        prefix = folder.removeprefix(f"gs://{BUCKET}/") + "/"
        names = {b.name.removeprefix(prefix) for b in bucket.list_blobs(prefix=prefix)}
        # A SavedModel's own files (fingerprint.pb, variables/) come with saved_model.pb.
        top = {name for name in names if "/" not in name} - {"fingerprint.pb"}
        assert top == expected, fmt
        if fmt == "tf-saved-model":
            assert any(name.startswith("variables/") for name in names)
        else:
            inspect_tflite(bucket.blob(prefix + expected.pop()).download_as_bytes())

    def export(name: str = model.name, **output_config: Any) -> Any:
        config = aiplatform_v1.ExportModelRequest.OutputConfig(**output_config)
        return vertex.models.export_model(name=name, output_config=config)

    destination = aiplatform_v1.GcsDestination(output_uri_prefix=f"gs://{BUCKET}/x/")
    for fmt in ("tf-js", "core-ml"):
        with pytest.raises(
            exceptions.FailedPrecondition,
            match=f"{fmt} exports cannot be made by the emulator .*; it exports tflite, "
            "edgetpu-tflite, tf-saved-model",
        ):
            export(export_format_id=fmt, artifact_destination=destination)
    with pytest.raises(exceptions.InvalidArgument, match="'onnx' is not a supported export"):
        export(export_format_id="onnx", artifact_destination=destination)
    with pytest.raises(exceptions.InvalidArgument, match=r"destination\.output_uri_prefix"):
        export(export_format_id="tflite")
    with pytest.raises(exceptions.NotFound, match="has one version, 1"):
        export(f"{model.name}@2", export_format_id="tflite", artifact_destination=destination)


# ---- versions, ordering ---------------------------------------------------------------------


def test_versioned_model_names_and_aliases(vertex, model):
    """The reference's `models/{model}@2` / `@golden` forms: a model here has version 1, alias
    `default`; the SDK sends `@1` for exports and evaluations."""
    for version in ("1", "default"):
        versioned = f"{model.name}@{version}"
        assert vertex.models.get_model(name=versioned) == model
        (evaluation,) = vertex.models.list_model_evaluations(parent=versioned)
        assert evaluation.name.startswith(f"{model.name}/evaluations/")  # names stay plain
        evaluation_id = evaluation.name.rsplit("/", 1)[-1]
        got = vertex.models.get_model_evaluation(name=f"{versioned}/evaluations/{evaluation_id}")
        assert got == evaluation
        slices = list(
            vertex.models.list_model_evaluation_slices(
                parent=f"{versioned}/evaluations/{evaluation_id}"
            )
        )
        assert slices and all(s.name.startswith(f"{evaluation.name}/slices/") for s in slices)
        slice_id = slices[0].name.rsplit("/", 1)[-1]
        assert (
            vertex.models.get_model_evaluation_slice(
                name=f"{versioned}/evaluations/{evaluation_id}/slices/{slice_id}"
            )
            == slices[0]
        )
    for missing in ("2", "golden"):
        with pytest.raises(exceptions.NotFound, match="has one version"):
            vertex.models.get_model(name=f"{model.name}@{missing}")
        with pytest.raises(exceptions.NotFound):
            list(vertex.models.list_model_evaluations(parent=f"{model.name}@{missing}"))
    (version,) = vertex.models.list_model_versions(name=model.name)
    assert version == model


def test_list_models_order_by(vertex, model):
    """The documented fields (display_name, create_time, update_time), each optionally desc;
    the sorting itself is the one ListDatasets uses (test_vertex_datasets.py)."""

    def ordered(order_by: str) -> list[str]:
        request = aiplatform_v1.ListModelsRequest(parent=PARENT, order_by=order_by)
        return [m.name for m in vertex.models.list_models(request=request)]

    models = list(vertex.models.list_models(parent=PARENT))
    assert model.name in [m.name for m in models]
    expected = sorted(
        sorted(models, key=lambda m: m.update_time, reverse=True), key=lambda m: m.display_name
    )
    assert ordered("displayName, update_time desc") == [m.name for m in expected]
    with pytest.raises(exceptions.InvalidArgument, match="order_by; Message: 'labels'"):
        ordered("labels")


# ---- the adapter's requests ----------------------------------------------------------------


def _record(monkeypatch, client: Any, method: str) -> list[dict]:
    """Spy on one method of a Google client: its keyword arguments, then the real call."""
    calls: list[dict] = []
    real: Callable = getattr(client, method)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(client, method, spy)
    return calls


def test_the_adapter_sends_the_packages_schema_uris_enums_and_formats(
    monkeypatch, emulator, rows, model
):
    target = CloudTarget(
        stack="wire", project=PROJECT, region=LOCATION, api="vertex", emulator=True
    )
    api = training_api(target)
    created = _record(monkeypatch, api.datasets, "create_dataset")
    imported = _record(monkeypatch, api.datasets, "import_data")
    pipelines = _record(monkeypatch, api.pipelines, "create_training_pipeline")
    exported = _record(monkeypatch, api.models, "export_model")

    # The tool's index (AutoML's ML_USE spelling): imported in Vertex AI's.
    index = f"gs://{BUCKET}/datasets/wire.csv"
    spelling = {"training": "TRAIN", "validation": "VALIDATION", "test": "TEST"}
    write_csv(emulator.env, PROJECT, index, [f"{spelling[u]},{uri},{lab}" for u, uri, lab in rows])
    single = api.create_dataset("wire_single", False, {"edge-labeler": "dataset"})
    api.wait(api.start_import(single.name, index), what="import", poll_seconds=0.1)
    multi = api.create_dataset("wire_multi", True, {"edge-labeler": "dataset"})
    api.wait(api.start_import(multi.name, index), what="import", poll_seconds=0.1)
    assert [c["dataset"].metadata_schema_uri for c in created] == [
        schema.dataset.metadata.image
    ] * 2
    assert [c["import_configs"][0].import_schema_uri for c in imported] == [
        schema.dataset.ioformat.image.single_label_classification,
        schema.dataset.ioformat.image.multi_label_classification,
    ]
    vertex_index = ObjectStore(target, BUCKET).read("datasets/wire.vertex.csv") or b""
    assert {line.split(",")[0] for line in vertex_index.decode().splitlines()} == set(spelling)
    assert api.get_dataset(multi.name).example_count == len(rows)

    with held_before_commit(emulator.env):
        operation = api.start_training(
            single.name, "wire_model", OptimizeFor.BALANCED.automl_model_type, 2000, {}
        )
        api.cancel_operation(operation)
        state = _until_done(api.get_operation, operation)
    assert state.cancelled and state.result is None
    sent = pipelines[0]["training_pipeline"]
    assert (
        sent.training_task_definition == schema.training_job.definition.automl_image_classification
    )
    inputs = json_format.MessageToDict(aiplatform_v1.TrainingPipeline.pb(sent).training_task_inputs)
    assert (
        Inputs.ModelType[inputs["modelType"]]
        == Inputs.ModelType[OptimizeFor.BALANCED.vertex_model_type]
    )
    assert inputs["multiLabel"] is False and inputs["disableEarlyStopping"] is False
    assert int(inputs["budgetMilliNodeHours"]) == 2000
    split = sent.input_data_config.filter_split
    assert (split.training_filter, split.validation_filter, split.test_filter) == tuple(
        ML_USE_FILTERS.values()
    )

    for fmt in ExportFormat:
        api.start_export(model.name, fmt.value, f"gs://{BUCKET}/wire/")
    documented = re.findall(r"``([a-z-]+)``", aiplatform_v1.Model.ExportFormat.__doc__ or "")
    ids = [c["output_config"].export_format_id for c in exported]
    assert ids == [fmt.vertex_format for fmt in ExportFormat]
    assert set(ids) <= set(documented)


def test_spec_model_types_and_formats_are_the_packages():
    for optimize_for in OptimizeFor:
        assert optimize_for.vertex_model_type in Inputs.ModelType.__members__
    documented = re.findall(r"``([a-z-]+)``", aiplatform_v1.Model.ExportFormat.__doc__ or "")
    assert {f.vertex_format for f in ExportFormat} <= set(documented)


def _until_done(read: Callable[[str], OperationState], name: str) -> OperationState:
    deadline = time.monotonic() + HANG_GUARD_S  # a hang guard, not a window to make
    while not (state := read(name)).done:
        assert time.monotonic() < deadline, f"{name} is still running"
        time.sleep(0.1)
    return state


# ---- restart and deletion ----------------------------------------------------------------


def test_a_pipeline_cut_by_an_emulator_restart_fails_and_survives(emulator_factory, tmp_path):
    server = emulator_factory(tmp_path / "data")
    env = server.env
    vertex = vertex_clients(env)
    rows = upload_digits(env, PROJECT, BUCKET, 4, LABELS[:2])
    dataset = create_image_dataset(
        vertex, env, f"gs://{BUCKET}/digits.csv", [",".join(row) for row in rows]
    )
    arm_fault(env, TRAINING_COMMIT_STEP, "HOLD")  # trained, not committed when the server stops
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "1"}):
        running = vertex.pipelines.create_training_pipeline(
            parent=PARENT, training_pipeline=pipeline(dataset.rsplit("/", 1)[-1])
        )
    wait_until_held(env, TRAINING_COMMIT_STEP)
    server.stop()
    vertex = vertex_clients(emulator_factory(tmp_path / "data").env)
    failed = vertex.pipelines.get_training_pipeline(name=running.name)
    assert failed.state == State.PIPELINE_STATE_FAILED
    assert failed.error.code == 10 and "interrupted" in failed.error.message  # ABORTED
    assert not failed.model_to_upload.name
    assert list(vertex.models.list_models(parent=PARENT)) == []


# ---- endpoints and online prediction (CLOUD models) ------------------------------------------


@pytest.fixture(scope="module")
def cloud_model(vertex, dataset_id) -> aiplatform_v1.Model:
    """A CLOUD model (the default model type): served from an endpoint, not exported."""
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "0.125"}):  # 8,000 milli node hours: 1 epoch
        created = vertex.pipelines.create_training_pipeline(
            parent=PARENT,
            training_pipeline=pipeline(
                dataset_id,
                inputs=inputs_json(model_type=Inputs.ModelType.CLOUD, budget_milli_node_hours=8000),
                display_name="digits_cloud",
                model_name="Chiffres (modèle en ligne)",
            ),
        )
    ended = wait_ended(vertex, created.name)
    assert ended.state == State.PIPELINE_STATE_SUCCEEDED, ended.error.message
    return vertex.models.get_model(name=ended.model_to_upload.name)


def _instances(emulator, rows, count: int) -> list[struct_pb2.Value]:
    bucket = storage_client(emulator.env, PROJECT).bucket(BUCKET)
    found = []
    for _, uri, _ in rows[:count]:
        data = bucket.blob(uri.removeprefix(f"gs://{BUCKET}/")).download_as_bytes()
        content = {"content": base64.b64encode(data).decode(), "mimeType": "image/jpeg"}
        found.append(json_format.ParseDict(content, struct_pb2.Value()))
    return found


def test_a_cloud_model_is_deployed_to_an_endpoint_and_predicts(
    emulator, vertex, cloud_model, model, rows
):
    """EndpointService and PredictionService, as the reference and the AutoML image
    classification prediction schemas describe them; an Edge model is refused."""
    automatic = aiplatform_v1.Model.DeploymentResourcesType.AUTOMATIC_RESOURCES
    assert list(cloud_model.supported_deployment_resources_types) == [automatic]
    assert not cloud_model.supported_export_formats
    assert not model.supported_deployment_resources_types  # Edge: exported instead

    created = vertex.endpoints.create_endpoint(
        parent=PARENT, endpoint=aiplatform_v1.Endpoint(display_name="Point d'accès — chiffres")
    )
    endpoint = wait_for(created)
    assert re.fullmatch(rf"{PARENT}/endpoints/\d+", endpoint.name)
    assert re.fullmatch(rf"{endpoint.name}/operations/\d+", created.operation.name)
    assert isinstance(created.metadata, aiplatform_v1.CreateEndpointOperationMetadata)
    assert endpoint.name in [e.name for e in vertex.endpoints.list_endpoints(parent=PARENT)]
    resources = aiplatform_v1.AutomaticResources(min_replica_count=1, max_replica_count=1)

    def deploy(name: str) -> Any:
        return vertex.endpoints.deploy_model(
            endpoint=endpoint.name,
            deployed_model=aiplatform_v1.DeployedModel(model=name, automatic_resources=resources),
            traffic_split={"0": 100},
        )

    with pytest.raises(exceptions.FailedPrecondition, match="is an Edge model"):
        deploy(model.name)
    with pytest.raises(exceptions.FailedPrecondition, match="has no deployed model"):
        vertex.predictions.predict(endpoint=endpoint.name, instances=_instances(emulator, rows, 1))

    operation = deploy(f"{cloud_model.name}@1")  # the SDK's versioned name
    assert re.fullmatch(rf"{endpoint.name}/operations/\d+", operation.operation.name)
    deployed = wait_for(operation).deployed_model
    assert (deployed.model, deployed.model_version_id) == (cloud_model.name, "1")
    assert deployed.display_name == cloud_model.display_name
    got = vertex.endpoints.get_endpoint(name=endpoint.name)
    assert dict(got.traffic_split) == {deployed.id: 100}
    assert [d.id for d in got.deployed_models] == [deployed.id]

    response = vertex.predictions.predict(
        endpoint=endpoint.name,
        instances=_instances(emulator, rows, 3),
        parameters=json_format.ParseDict({"maxPredictions": 2}, struct_pb2.Value()),
    )
    assert (response.deployed_model_id, response.model) == (deployed.id, cloud_model.name)
    assert response.model_version_id == "1"
    assert response.model_display_name == cloud_model.display_name
    assert len(response.predictions) == 3
    for prediction in response.predictions:
        names, scores = list(prediction["displayNames"]), list(prediction["confidences"])
        assert 1 <= len(names) <= 2 and set(names) <= set(LABELS)
        assert scores == sorted(scores, reverse=True) and all(0 <= c <= 1 for c in scores)
        assert all(str(i).isdigit() for i in prediction["ids"])
    with pytest.raises(exceptions.InvalidArgument, match="parameters; Message: topK"):
        vertex.predictions.predict(
            endpoint=endpoint.name,
            instances=_instances(emulator, rows, 1),
            parameters=json_format.ParseDict({"topK": 1}, struct_pb2.Value()),
        )
    with pytest.raises(exceptions.InvalidArgument, match=r"instances\[0\].content; Message: not"):
        vertex.predictions.predict(
            endpoint=endpoint.name,
            instances=[json_format.ParseDict({"content": "%%"}, struct_pb2.Value())],
        )

    with pytest.raises(exceptions.FailedPrecondition, match="undeploy it"):
        vertex.models.delete_model(name=cloud_model.name)
    with pytest.raises(exceptions.FailedPrecondition, match="undeploy them first"):
        vertex.endpoints.delete_endpoint(name=endpoint.name)
    undeployed = vertex.endpoints.undeploy_model(
        endpoint=endpoint.name, deployed_model_id=deployed.id
    )
    assert isinstance(wait_for(undeployed), aiplatform_v1.UndeployModelResponse)
    got = vertex.endpoints.get_endpoint(name=endpoint.name)
    assert (list(got.deployed_models), dict(got.traffic_split)) == ([], {})
    with pytest.raises(exceptions.FailedPrecondition, match="has no deployed model"):
        vertex.predictions.predict(endpoint=endpoint.name, instances=_instances(emulator, rows, 1))
    wait_for(vertex.endpoints.delete_endpoint(name=endpoint.name))
    with pytest.raises(exceptions.NotFound):
        vertex.endpoints.get_endpoint(name=endpoint.name)


def test_delete_model_keeps_its_pipeline(vertex, trained, model):
    with pytest.raises(exceptions.InvalidArgument, match="is not a valid Model name"):
        vertex.models.delete_model(name=f"{model.name}@1")  # DeleteModelVersion's form
    operation = vertex.models.delete_model(name=model.name)
    wait_for(operation)
    assert re.fullmatch(rf"{model.name}/operations/\d+", operation.operation.name)
    with pytest.raises(exceptions.NotFound):
        vertex.models.get_model(name=model.name)
    assert vertex.pipelines.get_training_pipeline(name=trained.name).model_to_upload.name == (
        model.name
    )


# ---- data splits (the core's, pure) ----------------------------------------------------------


def test_data_splits_by_fraction_and_by_ml_use_filter():
    examples = [
        Example(
            hashlib.sha256(str(i).encode()).hexdigest(),
            f"gs://b/{i}.png",
            use,
            ("a",),
            "PNG",
            8,
            8,
            100,
        )
        for i, use in enumerate([MlUse.TRAIN, MlUse.VALIDATION, MlUse.TEST, MlUse.UNASSIGNED] * 25)
    ]
    default = fraction_split(0, 0, 0)  # no split given: 80/10/10 by content, ML_USE ignored
    assert [default(e) for e in examples] == [assign_split(e.image_sha256) for e in examples]
    halves = fraction_split(0.5, 0.0, 0.2)
    roles = [halves(e) for e in examples]
    assert set(roles) == {MlUse.TRAIN, MlUse.TEST, None}  # 30 % is left over: not used
    by_ml_use = filter_split(*ML_USE_FILTERS.values())
    assert [by_ml_use(e) for e in examples[:4]] == [
        MlUse.TRAIN,
        MlUse.VALIDATION,
        MlUse.TEST,
        None,  # imported without ML_USE: in no set
    ]
    everything_trains = filter_split("labels.aiplatform.googleapis.com/ml_use:*", "-", "-")
    assert [everything_trains(e) for e in examples[:4]] == [MlUse.TRAIN] * 3 + [None]
    with pytest.raises(ServiceError, match="display_name is not a field"):
        filter_split("display_name=x", "-", "-")
    with pytest.raises(ServiceError, match="test_filter; Message: required"):
        filter_split("-", "-", " ")
