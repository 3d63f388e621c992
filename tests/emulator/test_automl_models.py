"""AutoML v1 models on the emulator through the unmodified google-cloud-automl client.

Training, evaluations, export to Cloud Storage, deployment, online and batch prediction,
cancellation, restarts (clean and kill -9) and the API's errors. Trainings are real and tiny:
1 node hour lasts a few seconds here (EDGE_LABELER_EMULATOR_SECONDS_PER_NODE_HOUR), and the
three mobile models are trained once for the whole module, for 2 epochs each
(EDGE_LABELER_EMULATOR_EPOCHS_PER_NODE_HOUR).
"""

import io
import json
import re
import signal
import uuid
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from google.api_core import exceptions
from google.cloud import automl_v1
from google.cloud.automl_v1.services.prediction_service.transports import (
    PredictionServiceGrpcTransport,
)
from google.protobuf import field_mask_pb2
from PIL import Image

from emulator.core.architectures import MOBILE_MODEL_TYPES, architecture, build_model
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV, SECONDS_PER_NODE_HOUR_ENV
from emulator.server import AUTOML_ENV
from tests.fixtures.digits import DigitImage, digit_images
from tests.fixtures.emulator import (
    HANG_GUARD_S,
    PARENT,
    admin,
    arm_fault,
    automl_client,
    clear_faults,
    create_dataset,
    operations_client,
    patched_environ,
    start_cli,
    start_import,
    storage_client,
    wait_for,
    wait_until_held,
)
from tests.fixtures.evaluations import assert_multiclass_counts_add_up

LABELS = ("zero", "one", "two")
IMPORTED_PER_LABEL = 20  # digit_images(24) per label: the first 20 are imported, 4 held out
SCALE = "8"  # seconds per node hour: the minimum budget (1,000) trains for 8 s
TRAINED_EPOCHS = 2  # epochs per node hour of the module's three models (see `trained`)
FINGERPRINT = "edge-labeler-fingerprint"
STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
CANCELLED = 1  # google.rpc.Code
ABORTED = 10


def prediction_client(env) -> automl_v1.PredictionServiceClient:
    channel = grpc.insecure_channel(env[AUTOML_ENV])
    return automl_v1.PredictionServiceClient(
        transport=PredictionServiceGrpcTransport(channel=channel)
    )


def ml_use(i: int) -> str:
    return "TEST" if i % 8 == 0 else "VALIDATION" if i % 8 == 1 else "TRAIN"


@dataclass(frozen=True)
class Digits:
    bucket: str
    dataset: str  # full name
    imported: tuple[DigitImage, ...]
    held_out: tuple[DigitImage, ...]

    @property
    def dataset_id(self) -> str:
        return self.dataset.rsplit("/", 1)[1]

    @property
    def test_images(self) -> list[DigitImage]:
        return [image for i, image in enumerate(self.imported) if ml_use(i) == "TEST"]

    def uri(self, image: DigitImage) -> str:
        return f"gs://{self.bucket}/digits/{image.index}.{image.extension}"


def upload_and_import(
    env, client, bucket_name: str, images, uses=ml_use, labels=None, kind="MULTICLASS"
) -> str:
    """Uploads `images`, writes the CSV index, creates a dataset and imports; its name.

    `labels(image)` gives an image's labels (default: its digit).
    """
    bucket = storage_client(env).lookup_bucket(bucket_name) or storage_client(env).create_bucket(
        bucket_name
    )
    lines = []
    for i, image in enumerate(images):
        bucket.blob(f"digits/{image.index}.{image.extension}").upload_from_string(image.data)
        tags = ",".join(labels(image) if labels else [image.label])
        lines.append(f"{uses(i)},gs://{bucket_name}/digits/{image.index}.{image.extension},{tags}")
    csv_name = f"csv/{uuid.uuid4().hex[:8]}.csv"
    bucket.blob(csv_name).upload_from_string("\n".join(lines) + "\n")
    dataset = create_dataset(client, "digits", kind)
    wait_for(start_import(client, dataset.name, f"gs://{bucket_name}/{csv_name}"))
    return dataset.name


def create_model(
    client,
    dataset_id: str,
    model_type: str = "mobile-low-latency-1",
    budget: int = 1_000,
    display_name: str = "digits_model",
    labels: dict | None = None,
    base_model_id: str = "",
):
    model = automl_v1.Model(
        display_name=display_name,
        dataset_id=dataset_id,
        labels=labels or {},
        image_classification_model_metadata=automl_v1.ImageClassificationModelMetadata(
            model_type=model_type,
            train_budget_milli_node_hours=budget,
            base_model_id=base_model_id,
        ),
    )
    return client.create_model(parent=PARENT, model=model)


def training_details(env, operation_name: str) -> dict:
    status, body = admin(env, "GET", f"/emulator/v1/{operation_name}/details")
    assert status == 200, body
    return body


def wait_for_epochs(env, operation_name: str, epochs: int, min_percent: int = 0) -> dict:
    """The training's details once it reported `epochs` epochs (and `min_percent` % of its
    budget): the admin API's long poll answers on that event; HANG_GUARD_S only ends a hang."""
    query = f"minEpoch={epochs}&minProgressPercent={min_percent}&timeoutSeconds={HANG_GUARD_S}"
    status, body = admin(
        env,
        "GET",
        f"/emulator/v1/{operation_name}/details?{query}",
        timeout=HANG_GUARD_S + 30,
    )
    assert status == 200, body
    assert not body["done"], body
    assert body["details"].get("epoch", 0) >= epochs, body
    assert body["progressPercent"] >= min_percent, body
    return body


def metadata_of(env, operation_name: str) -> automl_v1.OperationMetadata:
    raw = operations_client(env).get_operation(operation_name)
    return automl_v1.OperationMetadata.deserialize(raw.metadata.value)


def download(env, uri: str) -> bytes:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return storage_client(env).bucket(bucket).blob(name).download_as_bytes()


def folder_listing(env, directory: str) -> dict[str, int]:
    """{relative name: size} of the objects under a gs:// folder."""
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    return {
        blob.name.removeprefix(prefix + "/"): blob.size
        for blob in storage_client(env).list_blobs(bucket, prefix=prefix + "/")
    }


def litert_scores(model_content: bytes, image: bytes) -> tuple[Interpreter, np.ndarray]:
    """Runs an exported .tflite on an image the way an app would (pixels 0–255)."""
    interpreter = Interpreter(model_content=model_content)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    size = int(detail["shape"][1])
    pixels = (
        Image.open(io.BytesIO(image)).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    )
    interpreter.set_tensor(detail["index"], np.asarray(pixels)[None].astype(detail["dtype"]))
    interpreter.invoke()
    output = interpreter.get_output_details()[0]
    raw = interpreter.get_tensor(output["index"])[0].astype(np.float64)
    scale, zero_point = output["quantization"]
    return interpreter, (raw - zero_point) * scale if scale else raw


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def budget_scale():
    """Training budgets in seconds: the emulator reads the scale at every CreateModel."""
    with patched_environ({SECONDS_PER_NODE_HOUR_ENV: SCALE}):
        yield


@pytest.fixture(scope="module")
def automl(emulator):
    return automl_client(emulator.env)


@pytest.fixture(scope="module")
def predictions(emulator):
    return prediction_client(emulator.env)


@pytest.fixture(scope="module")
def digits(emulator, automl) -> Digits:
    """60 real digit photos of 3 labels imported (8 TEST, 7 VALIDATION, 45 TRAIN), 12 held out."""
    images = digit_images(24, LABELS)
    by_label = {label: [i for i in images if i.label == label] for label in LABELS}
    imported = tuple(
        image
        for i in range(IMPORTED_PER_LABEL)
        for label in LABELS
        for image in [by_label[label][i]]
    )
    held_out = tuple(i for label in LABELS for i in by_label[label][IMPORTED_PER_LABEL:])
    bucket = f"models-{uuid.uuid4().hex[:10]}"
    name = upload_and_import(emulator.env, automl, bucket, imported)
    for image in held_out:
        storage_client(emulator.env).bucket(bucket).blob(
            f"digits/{image.index}.{image.extension}"
        ).upload_from_string(image.data)
    return Digits(bucket, name, imported, held_out)


@pytest.fixture(scope="module")
def trained(automl, digits) -> dict[str, tuple[object, automl_v1.Model]]:
    """One model per mobile type (minimum budget), trained one after the other in the emulator.

    The budget counts epochs here (TRAINED_EPOCHS per node hour): the same models on a fast or a
    busy machine, and no wall-clock seconds spent past the last epoch.
    """
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: str(TRAINED_EPOCHS)}):
        ops = {
            model_type: create_model(
                automl,
                digits.dataset_id,
                model_type,
                display_name=model_type.replace("-", "_"),
                labels={
                    FINGERPRINT: model_type.replace("-", "_"),
                    "suite": "models",
                    "edge-labeler-seed": "7",
                },
            )
            for model_type in MOBILE_MODEL_TYPES
        }
        return {model_type: (op, wait_for(op)) for model_type, op in ops.items()}


@pytest.fixture(scope="module")
def tflite_exports(emulator, automl, trained, digits) -> dict[str, str]:
    """gcs_output_directory of a `tflite` export of each mobile model."""
    directories = {}
    for model_type, (_, model) in trained.items():
        op = automl.export_model(
            name=model.name,
            output_config=automl_v1.ModelExportOutputConfig(
                model_format="tflite",
                gcs_destination=automl_v1.GcsDestination(
                    output_uri_prefix=f"gs://{digits.bucket}/exports"
                ),
            ),
        )
        wait_for(op)
        directories[model_type] = op.metadata.export_model_details.output_info.gcs_output_directory
    return directories


# ---- training ---------------------------------------------------------------------------------


def test_each_mobile_type_trains_as_an_operation_with_cost_and_stop_reason(
    emulator, automl, trained, digits
):
    for model_type, (op, model) in trained.items():
        assert op.operation.name.startswith(f"{PARENT}/operations/ICN")
        assert "create_model_details" in op.metadata and op.metadata.progress_percent == 100
        assert model.name.startswith(f"{PARENT}/models/ICN")
        assert model.display_name == model_type.replace("-", "_")
        assert model.dataset_id == digits.dataset_id
        assert dict(model.labels) == {
            FINGERPRINT: model_type.replace("-", "_"),
            "suite": "models",
            "edge-labeler-seed": "7",
        }
        assert model.deployment_state == automl_v1.Model.DeploymentState.UNDEPLOYED
        meta = model.image_classification_model_metadata
        assert meta.model_type == model_type and meta.train_budget_milli_node_hours == 1_000
        assert meta.stop_reason in ("MODEL_CONVERGED", "BUDGET_REACHED")
        assert 0 < meta.train_cost_milli_node_hours <= 1_000
        assert meta.node_qps > 0 and meta.node_count == 0 and meta.base_model_id == ""
        again = automl.get_model(name=model.name)
        assert (again.create_time, again.image_classification_model_metadata) == (
            model.create_time,
            model.image_classification_model_metadata,
        )
        # The emulator-only details kept the last epoch's figures.
        details = training_details(emulator.env, op.operation.name)
        assert details["done"] and details["details"]["model_id"] == model.name.rsplit("/", 1)[1]
        assert details["details"]["seconds_per_node_hour"] == float(SCALE)
        assert details["details"]["seed"] == 7


def test_list_models_with_the_documented_filters_and_labels(automl, trained, digits):
    names = {model.name for _, model in trained.values()}

    def listed(filter_: str) -> set[str]:
        return {m.name for m in automl.list_models(request={"parent": PARENT, "filter": filter_})}

    assert names <= listed("")
    assert names <= listed("image_classification_model_metadata:*")
    assert listed("text_classification_model_metadata:*") == set()
    assert names <= listed(f"dataset_id={digits.dataset_id}")
    assert names.isdisjoint(listed(f"dataset_id!={digits.dataset_id}"))
    assert listed(f"labels.{FINGERPRINT}=mobile_versatile_1") == {
        trained["mobile-versatile-1"][1].name
    }
    assert names == listed(f'labels.suite="models" AND dataset_id={digits.dataset_id}')
    assert names <= listed(f"labels.{FINGERPRINT}:*")
    assert names.isdisjoint(listed("labels.suite!=models"))
    pages = list(automl.list_models(request={"parent": PARENT, "page_size": 2}).pages)
    assert len(pages) >= 2 and all(len(page.model) <= 2 for page in pages)
    with pytest.raises(exceptions.InvalidArgument, match=r"'display_name=x' is not supported"):
        listed("display_name=x")


# ---- evaluations ------------------------------------------------------------------------------


def test_evaluations_are_consistent_and_filtered_as_documented(automl, trained, digits):
    _, model = trained["mobile-low-latency-1"]
    everything = list(automl.list_model_evaluations(parent=model.name, filter=""))
    overall, *per_label = everything
    test = digits.test_images
    specs = {
        s.display_name: s.name.rsplit("/", 1)[1]
        for s in (
            automl.get_annotation_spec(name=f"{digits.dataset}/annotationSpecs/{spec_id}")
            for spec_id in {e.annotation_spec_id for e in per_label}
        )
    }
    assert overall.annotation_spec_id == "" and overall.evaluated_example_count == len(test)
    assert sorted(e.display_name for e in per_label) == sorted(LABELS)
    assert all(specs[e.display_name] == e.annotation_spec_id for e in per_label)
    for evaluation in per_label:
        assert evaluation.evaluated_example_count == sum(
            i.label == evaluation.display_name for i in test
        )
        assert evaluation.name.startswith(f"{model.name}/modelEvaluations/")
    metrics = overall.classification_evaluation_metrics
    assert len(metrics.confidence_metrics_entry) == 24
    assert_multiclass_counts_add_up(overall, per_label, len(test), len(LABELS))
    rows = [list(row.example_count) for row in metrics.confusion_matrix.row]
    assert sum(map(sum, rows)) == len(test)
    assert list(metrics.confusion_matrix.display_name) == sorted(LABELS)
    assert 0 <= metrics.au_prc <= 1 and 0 <= metrics.au_roc <= 1 and metrics.log_loss > 0

    def listed(filter_: str) -> list[str]:
        return [e.name for e in automl.list_model_evaluations(parent=model.name, filter=filter_)]

    assert listed("NOT annotation_spec_id:*") == [overall.name]
    assert listed("annotation_spec_id:*") == [e.name for e in per_label]
    first = per_label[0]
    assert listed(f"annotation_spec_id={first.annotation_spec_id}") == [first.name]
    assert listed(f"annotation_spec_id!={first.annotation_spec_id}") == [
        e.name for e in everything if e is not first
    ]
    assert automl.get_model_evaluation(name=first.name) == first
    across = automl.list_model_evaluations(
        parent=f"{PARENT}/models/-", filter="NOT annotation_spec_id:*"
    )
    owners = {e.name.split("/modelEvaluations/")[0] for e in across}
    assert {m.name for _, m in trained.values()} <= owners and overall.name in {
        e.name for e in across
    }
    with pytest.raises(
        exceptions.InvalidArgument, match="is not supported; use annotation_spec_id"
    ):
        listed("display_name=zero")
    with pytest.raises(exceptions.NotFound, match="ModelEvaluation doesn't exist"):
        automl.get_model_evaluation(name=f"{model.name}/modelEvaluations/123")


# ---- export -----------------------------------------------------------------------------------


def test_tflite_exports_land_in_automl_layout_grow_with_the_type_and_run_in_litert(
    emulator, trained, digits, tflite_exports
):
    sizes = []
    for model_type in MOBILE_MODEL_TYPES:
        _, model = trained[model_type]
        directory = tflite_exports[model_type]
        assert re.fullmatch(
            rf"gs://{digits.bucket}/exports/model-export/icn/tflite-{model.display_name}-{STAMP}",
            directory,
        ), directory
        files = folder_listing(emulator.env, directory)
        assert set(files) == {"model.tflite", "dict.txt", "tflite_metadata.json"}
        sizes.append(files["model.tflite"])
        assert download(emulator.env, f"{directory}/dict.txt").decode().splitlines() == sorted(
            LABELS
        )
        metadata = json.loads(download(emulator.env, f"{directory}/tflite_metadata.json"))
        assert metadata["modelType"] == model_type and metadata["inputType"] == "float32"
        assert metadata["labels"] == sorted(LABELS)
        content = download(emulator.env, f"{directory}/model.tflite")
        for image in digits.held_out[::4]:  # one held-out photo per label
            _, scores = litert_scores(content, image.data)
            assert scores.shape == (len(LABELS),)
            assert scores.sum() == pytest.approx(1.0, abs=1e-4)  # softmax over the labels
    assert sizes[0] < sizes[1] < sizes[2], sizes


def test_int8_edgetpu_and_saved_model_exports(emulator, automl, trained, digits):
    _, model = trained["mobile-low-latency-1"]
    directories = {}
    for model_format in ("edgetpu_tflite", "tf_saved_model"):
        op = automl.export_model(
            name=model.name,
            output_config={
                "model_format": model_format,
                "gcs_destination": {"output_uri_prefix": f"gs://{digits.bucket}/formats/"},
            },
        )
        wait_for(op)
        directories[model_format] = (
            op.metadata.export_model_details.output_info.gcs_output_directory
        )
        assert re.fullmatch(
            rf"gs://{digits.bucket}/formats/model-export/icn/{model_format}-"
            rf"{model.display_name}-{STAMP}",
            directories[model_format],
        )
    int8 = download(emulator.env, f"{directories['edgetpu_tflite']}/model.tflite")
    interpreter, scores = litert_scores(int8, digits.held_out[0].data)
    assert np.dtype(np.int8) in {np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    assert scores.shape == (len(LABELS),)
    metadata = json.loads(
        download(emulator.env, f"{directories['edgetpu_tflite']}/tflite_metadata.json")
    )
    assert metadata["inputType"] == "uint8" and metadata["modelFormat"] == "edgetpu_tflite"
    saved = folder_listing(emulator.env, directories["tf_saved_model"])
    assert {"saved_model.pb", "dict.txt", "tflite_metadata.json"} <= set(saved)
    assert any(name.startswith("variables/") for name in saved)
    assert "model.tflite" not in saved


def test_export_errors_name_the_field_and_the_allowed_values(emulator, automl, trained, digits):
    _, model = trained["mobile-low-latency-1"]

    def export(model_format: str, prefix: str, name: str = model.name):
        return automl.export_model(
            name=name,
            output_config={
                "model_format": model_format,
                "gcs_destination": {"output_uri_prefix": prefix},
            },
        )

    good = f"gs://{digits.bucket}/errors"
    with pytest.raises(
        exceptions.InvalidArgument, match="allowed: tflite, edgetpu_tflite, tf_saved_model"
    ):
        export("onnx", good)
    for unmade in ("tf_js", "docker"):  # documented formats: never UNIMPLEMENTED
        with pytest.raises(
            exceptions.FailedPrecondition,
            match=f"{unmade} exports cannot be made by the emulator .*; it exports tflite, "
            "edgetpu_tflite, tf_saved_model",
        ):
            export(unmade, good)
    with pytest.raises(exceptions.InvalidArgument, match="output_uri_prefix; Message: required"):
        export("tflite", "")
    with pytest.raises(exceptions.InvalidArgument, match="not a Cloud Storage location"):
        export("tflite", "s3://bucket/x")
    with pytest.raises(exceptions.NotFound, match="Model doesn't exist"):
        export("tflite", good, f"{PARENT}/models/ICN404")
    with pytest.raises(exceptions.NotFound, match="bucket no-such-bucket-x does not exist"):
        wait_for(export("tflite", "gs://no-such-bucket-x/exports"))
    assert folder_listing(emulator.env, good) == {}


# ---- deployment and prediction ----------------------------------------------------------------


def test_deploy_predict_with_threshold_undeploy_then_predict_is_refused(
    emulator, automl, predictions, trained, digits, tflite_exports
):
    _, model = trained["mobile-versatile-1"]
    image = digits.held_out[1]
    payload = {"image": {"image_bytes": image.data}}
    with pytest.raises(exceptions.FailedPrecondition, match="is not deployed"):
        predictions.predict(name=model.name, payload=payload)

    op = automl.deploy_model(
        request={
            "name": model.name,
            "image_classification_model_deployment_metadata": {"node_count": 2},
        }
    )
    wait_for(op)
    assert "deploy_model_details" in op.metadata
    deployed = automl.get_model(name=model.name)
    assert deployed.deployment_state == automl_v1.Model.DeploymentState.DEPLOYED
    assert deployed.image_classification_model_metadata.node_count == 2

    everything = predictions.predict(
        name=model.name, payload=payload, params={"score_threshold": "0"}
    ).payload
    scores = [p.classification.score for p in everything]
    assert sorted(p.display_name for p in everything) == sorted(LABELS)
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-4)
    evaluations = automl.list_model_evaluations(parent=model.name, filter="annotation_spec_id:*")
    spec_ids = {e.display_name: e.annotation_spec_id for e in evaluations}
    assert all(p.annotation_spec_id == spec_ids[p.display_name] for p in everything)
    # The answer is what the exported TF Lite file computes for the same photo.
    content = download(emulator.env, f"{tflite_exports['mobile-versatile-1']}/model.tflite")
    _, exported = litert_scores(content, image.data)
    by_label = dict(zip(sorted(LABELS), exported, strict=True))
    assert all(
        p.classification.score == pytest.approx(by_label[p.display_name], abs=1e-5)
        for p in everything
    )

    between = (scores[0] + scores[1]) / 2
    top = predictions.predict(
        name=model.name, payload=payload, params={"score_threshold": str(between)}
    ).payload
    assert [p.display_name for p in top] == [everything[0].display_name]
    default = predictions.predict(name=model.name, payload=payload).payload  # 0.5
    assert [p.display_name for p in default] == [
        p.display_name for p in everything if p.classification.score >= 0.5
    ]
    with pytest.raises(
        exceptions.InvalidArgument, match=r"params.score_threshold.*allowed: 0.0–1.0"
    ):
        predictions.predict(name=model.name, payload=payload, params={"score_threshold": "high"})
    with pytest.raises(exceptions.InvalidArgument, match="out of range"):
        predictions.predict(name=model.name, payload=payload, params={"score_threshold": "1.5"})
    with pytest.raises(
        exceptions.InvalidArgument, match=r"not supported.*allowed: score_threshold"
    ):
        predictions.predict(name=model.name, payload=payload, params={"max_results": "3"})
    with pytest.raises(exceptions.InvalidArgument, match="not an image in an accepted format"):
        predictions.predict(name=model.name, payload={"image": {"image_bytes": b"%PDF-1.4"}})
    with pytest.raises(exceptions.InvalidArgument, match=r"takes payload.image.image_bytes"):
        predictions.predict(name=model.name, payload={"text_snippet": {"content": "a digit"}})

    op = automl.undeploy_model(name=model.name)
    wait_for(op)
    assert "undeploy_model_details" in op.metadata
    undeployed = automl.get_model(name=model.name)
    assert undeployed.deployment_state == automl_v1.Model.DeploymentState.UNDEPLOYED
    assert undeployed.image_classification_model_metadata.node_count == 0
    with pytest.raises(exceptions.FailedPrecondition, match="is not deployed"):
        predictions.predict(name=model.name, payload=payload)
    with pytest.raises(exceptions.InvalidArgument, match=r"node_count.*allowed: 1–100"):
        automl.deploy_model(
            request={
                "name": model.name,
                "image_classification_model_deployment_metadata": {"node_count": 101},
            }
        )
    with pytest.raises(exceptions.NotFound, match="Model doesn't exist"):
        predictions.predict(name=f"{PARENT}/models/ICN404", payload=payload)


def test_batch_predict_writes_jsonl_results_and_errors(emulator, predictions, trained, digits):
    _, model = trained["mobile-low-latency-1"]  # not deployed: batch prediction needs no nodes
    bucket = storage_client(emulator.env).bucket(digits.bucket)
    bucket.blob("batch/notes.png").upload_from_string(b"not a photo")
    wanted = [digits.uri(image) for image in digits.held_out]
    missing = f"gs://{digits.bucket}/batch/absent.png"
    not_image = f"gs://{digits.bucket}/batch/notes.png"
    bucket.blob("batch/input.csv").upload_from_string(
        "\n".join([*wanted, missing, not_image]) + "\n"
    )
    op = predictions.batch_predict(
        name=model.name,
        input_config={"gcs_source": {"input_uris": [f"gs://{digits.bucket}/batch/input.csv"]}},
        output_config={"gcs_destination": {"output_uri_prefix": f"gs://{digits.bucket}/batch"}},
        params={"score_threshold": "0.0"},
    )
    assert wait_for(op) == automl_v1.BatchPredictResult()
    details = op.metadata.batch_predict_details
    assert list(details.input_config.gcs_source.input_uris) == [
        f"gs://{digits.bucket}/batch/input.csv"
    ]
    directory = details.output_info.gcs_output_directory
    assert re.fullmatch(
        rf"gs://{digits.bucket}/batch/prediction-{model.display_name}-{STAMP}", directory
    )
    assert set(folder_listing(emulator.env, directory)) == {
        "image_classification_1.jsonl",
        "errors_1.jsonl",
    }
    lines = [
        json.loads(line)
        for line in download(emulator.env, f"{directory}/image_classification_1.jsonl").splitlines()
    ]
    assert [line["ID"] for line in lines] == wanted
    for line in lines:
        annotations = line["annotations"]
        assert sorted(a["display_name"] for a in annotations) == sorted(LABELS)
        scores = [a["classification"]["score"] for a in annotations]
        assert scores == sorted(scores, reverse=True)
        assert all(a["annotation_spec_id"].isdigit() for a in annotations)
    errors = {
        json.loads(line)["ID"]: json.loads(line)["error"]
        for line in download(emulator.env, f"{directory}/errors_1.jsonl").splitlines()
    }
    assert errors[missing]["code"] == 5 and "does not exist" in errors[missing]["message"]
    assert errors[not_image]["code"] == 3 and "not an image" in errors[not_image]["message"]
    assert [f.code for f in op.metadata.partial_failures] == [5, 3]
    with pytest.raises(exceptions.InvalidArgument, match="at least one gs:// URI"):
        predictions.batch_predict(
            name=model.name,
            input_config={"gcs_source": {"input_uris": []}},
            output_config={"gcs_destination": {"output_uri_prefix": f"gs://{digits.bucket}/b"}},
        )


# ---- changes ----------------------------------------------------------------------------------


def test_transfer_learning_from_a_model_and_from_a_local_file_then_update_and_delete(
    emulator, automl, predictions, trained, digits, tmp_path
):
    _, base = trained["mobile-low-latency-1"]
    base_id = base.name.rsplit("/", 1)[1]
    local = tmp_path / "base.keras"
    build_model(architecture("mobile-low-latency-1"), 10, multilabel=False).save(local)
    # The local base model is tuned on a MULTILABEL dataset: each digit is also even or odd.
    parity = {"zero": "even", "one": "odd", "two": "even"}
    multilabel = upload_and_import(
        emulator.env,
        automl,
        digits.bucket,
        digits.imported[:36],
        labels=lambda image: [image.label, parity[image.label]],
        kind="MULTILABEL",
    )
    # Both trainings run their epoch budget (1 epoch), whatever the machine's speed; the first
    # is held before its commit, so the base is in use by a running training for certain.
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "1"}):
        arm_fault(emulator.env, "CreateModel.commit", "HOLD")
        try:
            from_model = create_model(
                automl, digits.dataset_id, display_name="tuned", base_model_id=base_id
            )
            wait_until_held(emulator.env, "CreateModel.commit")
            # The base is in use by a running training: it cannot be deleted meanwhile.
            with pytest.raises(exceptions.FailedPrecondition, match="is running on it"):
                automl.delete_model(name=base.name)
        finally:
            clear_faults(emulator.env, "CreateModel.commit")
        from_file = create_model(
            automl,
            multilabel.rsplit("/", 1)[1],
            display_name="from_file",
            base_model_id=f"file://{local}",
        )
        tuned, local_tuned = wait_for(from_model), wait_for(from_file)
    assert tuned.image_classification_model_metadata.base_model_id == base_id
    assert local_tuned.image_classification_model_metadata.base_model_id == f"file://{local}"
    assert tuned.image_classification_model_metadata.stop_reason
    overall, *per_label = automl.list_model_evaluations(parent=local_tuned.name, filter="")
    test = [image for i, image in enumerate(digits.imported[:36]) if ml_use(i) == "TEST"]
    assert overall.evaluated_example_count == len(test)
    assert "confusion_matrix" not in overall.classification_evaluation_metrics  # multilabel
    counts = {e.display_name: e.evaluated_example_count for e in per_label}
    assert counts == {
        label: sum(label in (i.label, parity[i.label]) for i in test)
        for label in ("even", "odd", *LABELS)
    }
    for entry in overall.classification_evaluation_metrics.confidence_metrics_entry:
        assert entry.true_positive_count + entry.false_negative_count == 2 * len(test)

    with pytest.raises(exceptions.NotFound, match=r"base model .*ICN404 does not exist"):
        create_model(automl, digits.dataset_id, base_model_id="ICN404")
    with pytest.raises(exceptions.InvalidArgument, match="must have the same type"):
        create_model(automl, digits.dataset_id, "mobile-versatile-1", base_model_id=base_id)
    with pytest.raises(exceptions.InvalidArgument, match="file:///absolute/path"):
        create_model(automl, digits.dataset_id, base_model_id="file://relative.keras")

    # UpdateModel: display name and labels through the update mask; a stale etag is refused.
    tuned.labels["stage"] = "candidate"
    tuned.display_name = "tuned_v2"
    updated = automl.update_model(
        model=tuned, update_mask=field_mask_pb2.FieldMask(paths=["display_name", "labels"])
    )
    assert updated.display_name == "tuned_v2" and updated.labels["stage"] == "candidate"
    assert updated.etag != tuned.etag and updated.update_time > tuned.update_time
    with pytest.raises(exceptions.Aborted, match="etag"):
        automl.update_model(model=tuned, update_mask=field_mask_pb2.FieldMask(paths=["labels"]))
    with pytest.raises(exceptions.InvalidArgument, match="model_type cannot be updated"):
        automl.update_model(
            model=updated, update_mask=field_mask_pb2.FieldMask(paths=["model_type"])
        )

    # DeleteModel: refused while an operation works on the model, then removes everything;
    # a deployed model may be deleted (it stops serving).
    admin(
        emulator.env,
        "POST",
        "/emulator/v1/faults",
        {"method": "ExportModel.upload", "effect": "HOLD"},
    )
    try:
        export = automl.export_model(
            name=updated.name,
            output_config={"gcs_destination": {"output_uri_prefix": f"gs://{digits.bucket}/held"}},
        )
        with pytest.raises(exceptions.FailedPrecondition, match=r"export_model.*is running on it"):
            automl.delete_model(name=updated.name)
    finally:
        admin(emulator.env, "DELETE", "/emulator/v1/faults?method=ExportModel.upload")
    wait_for(export)
    wait_for(automl.deploy_model(name=updated.name))
    deletion = automl.delete_model(name=updated.name)
    wait_for(deletion)
    assert "delete_details" in deletion.metadata
    with pytest.raises(exceptions.NotFound, match="Model doesn't exist"):
        automl.get_model(name=updated.name)
    with pytest.raises(exceptions.NotFound):
        list(automl.list_model_evaluations(parent=updated.name, filter=""))
    with pytest.raises(exceptions.NotFound):
        predictions.predict(name=updated.name, payload={"image": {"image_bytes": b"x"}})
    assert not (
        emulator.data_dir / "state" / "trained_models" / updated.name.rsplit("/", 1)[1]
    ).exists()
    wait_for(automl.delete_model(name=local_tuned.name))


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"budget": 999}, exceptions.InvalidArgument, r"allowed 1,000–100,000"),
        ({"budget": 100_001}, exceptions.InvalidArgument, r"allowed 1,000–100,000"),
        ({"model_type": "cloud", "budget": 1_000}, exceptions.InvalidArgument, "8,000–800,000"),
        ({"model_type": "mobile-huge-1"}, exceptions.InvalidArgument, "allowed: mobile-low-"),
        (
            {"model_type": "mobile-core-ml-versatile-1"},
            exceptions.MethodNotImplemented,
            "Core ML",
        ),
        ({"display_name": "1st"}, exceptions.InvalidArgument, "starting with a letter"),
        ({"labels": {"Bad": "x"}}, exceptions.InvalidArgument, "label Bad='x' is invalid"),
        (
            {"labels": {"edge-labeler-seed": "seven"}},
            exceptions.InvalidArgument,
            "is not a training seed",
        ),
        ({"dataset_id": "ICN404"}, exceptions.NotFound, "Dataset doesn't exist"),
        ({"dataset_id": ""}, exceptions.InvalidArgument, "model.dataset_id; Message: required"),
    ],
)
def test_create_model_errors_are_synchronous_and_create_nothing(
    emulator, automl, digits, change, error, message
):
    before = len(list(operations_client(emulator.env).list_operations(PARENT, filter_="")))
    arguments = {"dataset_id": digits.dataset_id, **change}
    with pytest.raises(error, match=message):
        create_model(automl, **arguments)
    after = len(list(operations_client(emulator.env).list_operations(PARENT, filter_="")))
    assert after == before


def test_create_model_needs_image_classification_metadata_and_usable_splits(
    emulator, automl, digits
):
    with pytest.raises(exceptions.InvalidArgument, match="image_classification_model_metadata"):
        automl.create_model(
            parent=PARENT, model={"display_name": "x", "dataset_id": digits.dataset_id}
        )
    # Every image imported as TRAIN: nothing to evaluate on.
    train_only = upload_and_import(
        emulator.env, automl, digits.bucket, digits.imported[:9], uses=lambda i: "TRAIN"
    )
    with pytest.raises(exceptions.FailedPrecondition, match="has no TEST images"):
        create_model(automl, train_only.rsplit("/", 1)[1])
    one_label = upload_and_import(
        emulator.env, automl, digits.bucket, digits.imported[0:60:3], uses=ml_use
    )
    with pytest.raises(exceptions.FailedPrecondition, match=r"1 label\(s\) with TRAIN images"):
        create_model(automl, one_label.rsplit("/", 1)[1])


# ---- cancellation and restarts ----------------------------------------------------------------


def test_cancel_mid_training_ends_cancelled_without_a_model(emulator, automl, digits):
    op = create_model(automl, digits.dataset_id, budget=10_000, display_name="cancelled")
    name = op.operation.name
    running = wait_for_epochs(emulator.env, name, 2)
    model_id = running["details"]["model_id"]
    assert running["details"]["val_loss"] > 0 and running["details"]["epoch"] >= 2
    # The model does not exist before its training committed, and the dataset is in use.
    with pytest.raises(exceptions.NotFound):
        automl.get_model(name=f"{PARENT}/models/{model_id}")
    with pytest.raises(exceptions.FailedPrecondition, match="create_model"):
        automl.delete_dataset(name=digits.dataset)
    wait_for_epochs(emulator.env, name, 2, min_percent=1)  # 80 s budget: 1 % ≈ 0.8 s
    assert metadata_of(emulator.env, name).progress_percent >= 1
    op.cancel()
    with pytest.raises(exceptions.Cancelled, match=r"was cancelled after .* no model was created"):
        wait_for(op)
    raw = operations_client(emulator.env).get_operation(name)
    assert raw.done and raw.error.code == CANCELLED
    with pytest.raises(exceptions.NotFound):
        automl.get_model(name=f"{PARENT}/models/{model_id}")
    assert "cancelled" not in {m.display_name for m in automl.list_models(parent=PARENT)}
    assert not (emulator.data_dir / "state" / "trained_models" / model_id).exists()


INTERRUPTED = (
    r"Training of model '{name}' \(projects/.+/models/ICN\d+\) was interrupted{when}: the "
    r"emulator stopped while it was training\. No model was created; run CreateModel again\."
)
MID_EPOCH = r" after epoch \d+ \(\d+ s of its \d+ s budget\)"
MID_EPOCH_BUDGET = r" after epoch \d+ \(of its \d+-epoch budget\)"
AT_COMMIT = r" after training, while its model was evaluated and committed"


def test_clean_stop_mid_training_fails_the_operation_and_leaves_nothing(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    first = emulator_factory(data_dir)
    client = automl_client(first.env)
    dataset = upload_and_import(first.env, client, "stop", digit_images(8, LABELS))
    running = create_model(
        client, dataset.rsplit("/", 1)[1], budget=100_000, display_name="stopped"
    )
    model_id = wait_for_epochs(first.env, running.operation.name, 1)["details"]["model_id"]
    first.stop()

    second = emulator_factory(data_dir)
    stopped = operations_client(second.env).get_operation(running.operation.name)
    assert stopped.done and stopped.error.code == ABORTED
    assert re.fullmatch(
        INTERRUPTED.format(name="stopped", when=MID_EPOCH), stopped.error.message
    ), stopped.error.message
    client = automl_client(second.env)
    assert list(client.list_models(parent=PARENT)) == []
    with pytest.raises(exceptions.NotFound):
        client.get_model(name=f"{PARENT}/models/{model_id}")
    assert list((data_dir / "state" / "trained_models").iterdir()) == []


def test_kill_9_keeps_models_and_fails_the_interrupted_training(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    images = digit_images(12, LABELS)
    # The process's budgets count epochs (1 per node hour): "kept" trains 1 epoch however busy
    # the machine is, "killed" (100 node hours) is still training when it is killed.
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "1"}):
        process, env = start_cli(data_dir, tmp_path / "stderr.log")
    try:
        client = automl_client(env)
        dataset_id = upload_and_import(env, client, "crash", images).rsplit("/", 1)[1]
        kept = wait_for(create_model(client, dataset_id, display_name="kept"))
        wait_for(client.deploy_model(name=kept.name))
        deployed = client.get_model(name=kept.name)
        evaluations = list(client.list_model_evaluations(parent=kept.name, filter=""))
        # One training held after its model directory was written, before its commit ...
        hold = {"method": "CreateModel.commit", "effect": "HOLD"}
        assert admin(env, "POST", "/emulator/v1/faults", hold)[0] == 200
        trained = create_model(client, dataset_id, display_name="uncommitted")
        wait_until_held(env, "CreateModel.commit")
        # ... and one killed mid-epoch.
        running = create_model(client, dataset_id, budget=100_000, display_name="killed")
        model_id = wait_for_epochs(env, running.operation.name, 1)["details"]["model_id"]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    server = emulator_factory(data_dir)
    client = automl_client(server.env)
    # What had committed survives: the model, its evaluations, its deployment.
    assert deployed.deployment_state == automl_v1.Model.DeploymentState.DEPLOYED
    assert client.get_model(name=kept.name) == deployed
    assert list(client.list_model_evaluations(parent=kept.name, filter="")) == evaluations
    answer = prediction_client(server.env).predict(
        name=kept.name,
        payload={"image": {"image_bytes": images[0].data}},
        params={"score_threshold": "0"},
    )
    assert len(answer.payload) == len(LABELS)  # served again after the restart
    # Trainings in flight end as failed operations, and leave no model and no files.
    for op, display_name, when in (
        (running, "killed", MID_EPOCH_BUDGET),
        (trained, "uncommitted", AT_COMMIT),
    ):
        crashed = operations_client(server.env).get_operation(op.operation.name)
        assert crashed.done and crashed.error.code == ABORTED
        assert re.fullmatch(
            INTERRUPTED.format(name=display_name, when=when), crashed.error.message
        ), crashed.error.message
    assert [m.display_name for m in client.list_models(parent=PARENT)] == ["kept"]
    with pytest.raises(exceptions.NotFound):
        client.get_model(name=f"{PARENT}/models/{model_id}")
    assert [p.name for p in (data_dir / "state" / "trained_models").iterdir()] == [
        kept.name.rsplit("/", 1)[1]
    ]
