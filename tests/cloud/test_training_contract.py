"""The TrainingApi contract: one suite, run against both adapters (automl_v1 and vertex).

Each adapter gets the same dataset (real digit photos, the tool's manifest, split and CSV
index) in its own project of the emulator, trains with the same seed and budget, and is read
back through the port. The emulator trains deterministically for a seed when training stops
at the same point: with its epoch budget (1 node hour = 20 epochs here) both APIs train
byte-identical models. Their evaluations through the port — and so the gate's decisions and
chosen thresholds — must then be identical.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from components.cloud.adapters import training_api
from components.cloud.clients import CloudTarget
from components.cloud.errors import CloudError
from components.cloud.storage import ObjectStore, Upload
from components.cloud.training import (
    LABEL_FINGERPRINT,
    LABEL_MANAGED,
    LABEL_SEED,
    LABEL_STACK,
    CloudDataset,
    CloudModel,
    TrainingApi,
)
from components.data.csv_index import write_index
from components.data.manifest import scan_local
from components.evaluation.gate import Criteria, LabelMinimum, evaluate
from components.evaluation.metrics import Evaluations
from components.evaluation.tflite import inspect_tflite
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from emulator.server import EmulatorServer
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import LOCATION, patched_environ, storage_client

APIS = ("automl_v1", "vertex")
LABELS = ("zero", "one", "two")
SEED = 7
BUDGET = 1000
# Two epochs: a model that is still poor (the trainer makes 60 digits perfect in 20), so the
# criteria below both pass and fail it.
EPOCHS_PER_NODE_HOUR = 2
FINGERPRINT = "0123456789abcdef0123456789abcdef"
DATASET_LABELS = {LABEL_MANAGED: "dataset", LABEL_STACK: "contract", LABEL_FINGERPRINT: "d" * 32}
MODEL_LABELS = {LABEL_MANAGED: "model", LABEL_STACK: "contract", LABEL_FINGERPRINT: FINGERPRINT}
CRITERIA = (
    Criteria("maximize", None, min_precision=0.1),
    Criteria("maximize", None, min_precision=0.99, min_recall=0.99, min_au_prc=0.99),
    Criteria("fixed", 0.5),
    Criteria("precisionAtLeast", 0.3),
    Criteria("precisionAtLeast", 1.0),
    Criteria(
        "maximize",
        None,
        per_label={"zero": LabelMinimum(0.5, 0.5), "two": LabelMinimum(min_recall=0.2)},
    ),
)


@dataclass(frozen=True)
class Trained:
    """What one adapter made of the shared dataset."""

    api: TrainingApi
    target: CloudTarget
    bucket: str
    dataset: CloudDataset
    image_count: int
    operation: str
    model: CloudModel
    evaluations: Evaluations


_TRAINED: dict[str, Trained] = {}


def _target(api_name: str) -> CloudTarget:
    return CloudTarget(
        stack="contract",
        project=f"contract-{api_name.replace('_', '-')}",
        region=LOCATION,
        api=api_name,
        emulator=True,
    )


def _upload_dataset(
    target: CloudTarget, source: Path, env: Mapping[str, str]
) -> tuple[str, str, int]:
    """The tool's Dataset flow up to the import: manifest, images, CSV index. (bucket, uri, n)"""
    name = storage_client(env, target.project).create_bucket(f"{target.project}-data").name
    manifest, items = scan_local("directory", source, classification="multiclass")
    store = ObjectStore(target, name)
    store.upload_missing(
        [Upload(e.object_name, items[e.source].read) for e in manifest.entries], "images/"
    )
    store.write("datasets/digits/index.csv", write_index(name, manifest.entries).encode())
    return name, store.uri("datasets/digits/index.csv"), len(manifest.entries)


def trained_with(api_name: str, source: Path, env: Mapping[str, str]) -> Trained:
    """Dataset, import, training and evaluations through one adapter (once per session)."""
    if api_name not in _TRAINED:
        target = _target(api_name)
        bucket, index, count = _upload_dataset(target, source, env)
        api = training_api(target)
        dataset = api.create_dataset("digits_contract", False, DATASET_LABELS)
        api.wait(api.start_import(dataset.name, index), what="import", poll_seconds=0.1)
        with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: str(EPOCHS_PER_NODE_HOUR)}):
            operation = api.start_training(
                dataset.name,
                "digits_contract",
                "mobile-low-latency-1",
                BUDGET,
                {**MODEL_LABELS, LABEL_SEED: str(SEED)},
            )
        state = api.wait(operation, what="training", poll_seconds=0.2)
        model = api.get_model(state.result or "")
        assert model is not None
        _TRAINED[api_name] = Trained(
            api, target, bucket, dataset, count, operation, model, api.evaluations(model.name)
        )
    return _TRAINED[api_name]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory dataset of 60 real digit photos, one folder per label."""
    root = tmp_path_factory.mktemp("contract-digits")
    for image in digit_images(20, LABELS):
        folder = root / image.label
        folder.mkdir(exist_ok=True)
        (folder / f"{image.index:04d}.{image.extension}").write_bytes(image.data)
    return root


@pytest.fixture(scope="module", params=APIS)
def trained(request: pytest.FixtureRequest, emulator: EmulatorServer, source: Path) -> Trained:
    return trained_with(request.param, source, emulator.env)


# ---- the contract, per adapter --------------------------------------------------------------


def test_dataset_is_created_labeled_imported_and_found_by_its_labels(trained: Trained):
    api, dataset = trained.api, trained.dataset
    assert dataset.display_name == "digits_contract" and dataset.multilabel is False
    assert {k: dataset.labels[k] for k in DATASET_LABELS} == DATASET_LABELS
    again = api.get_dataset(dataset.name)
    assert again is not None and again.example_count == trained.image_count == 60
    assert [d.name for d in api.find_datasets(DATASET_LABELS)] == [dataset.name]
    assert api.find_datasets({**DATASET_LABELS, LABEL_FINGERPRINT: "e" * 32}) == []


def test_training_operation_model_and_adoption_by_fingerprint(trained: Trained):
    api, model = trained.api, trained.model
    state = api.get_operation(trained.operation)
    assert state.done and state.error is None and not state.cancelled
    assert state.result == model.name
    assert model.dataset == trained.dataset.name
    assert model.display_name == "digits_contract"
    assert model.model_type == "mobile-low-latency-1"
    assert model.labels == {**MODEL_LABELS, LABEL_SEED: str(SEED)}
    assert model.train_budget_milli_node_hours == BUDGET
    assert model.stop_reason == "BUDGET_REACHED"  # 20 epochs, before early stopping may start
    assert model.train_cost_milli_node_hours == BUDGET
    assert model.create_time and not model.deployed
    assert [m.name for m in api.find_models(MODEL_LABELS)] == [model.name]
    assert api.find_models({**MODEL_LABELS, LABEL_FINGERPRINT: "f" * 32}) == []
    assert api.get_model(model.name) == model


def test_evaluations_overall_and_per_label(trained: Trained):
    evaluations = trained.evaluations
    overall = evaluations.overall
    assert overall.label is None and sorted(evaluations.per_label) == sorted(LABELS)
    assert overall.example_count == 6  # 2 TEST images per label (the manifest's split)
    assert all(e.example_count == 2 and e.label == k for k, e in evaluations.per_label.items())
    thresholds = [p.threshold for p in overall.points]
    assert thresholds == sorted(thresholds) and thresholds[0] == 0.0 and len(thresholds) > 10
    first = overall.points[0]
    assert first.true_positives + first.false_negatives == 6
    assert sorted(overall.confusion_labels) == sorted(LABELS)
    assert sum(map(sum, overall.confusion_rows)) == 6


def test_export_writes_a_loadable_tflite_where_the_operation_says(trained: Trained):
    """The emulator's exports, read through the adapter's documented layout (each API's file
    names; the fixture folders of both layouts: test_export_layouts.py)."""
    api = trained.api
    store = ObjectStore(trained.target, trained.bucket)
    expected = {
        "automl_v1": {"tflite": "model.tflite", "edgetpu_tflite": "model.tflite"},
        "vertex": {"tflite": "model.tflite", "edgetpu_tflite": "edgetpu_model.tflite"},
    }[trained.target.api]
    for fmt, model_file in expected.items():
        operation = api.start_export(trained.model.name, fmt, store.uri("exports/"))
        state = api.wait(operation, what="export", poll_seconds=0.1)
        exported = api.read_export(state.detail or "", fmt)
        assert exported.directory.startswith(store.uri("exports/"))
        assert exported.model_file == model_file
        data = store.read(exported.model_uri.removeprefix(store.uri()))
        assert data is not None
        info = inspect_tflite(data)
        assert info.input_shape[0] == 1 and info.input_shape[-1] == 3
        # Both services put the labels into the file's TF Lite metadata (read first); AutoML
        # also writes dict.txt beside it, Vertex AI does not.
        assert exported.labels_from == "tflite metadata"
        assert sorted(exported.labels or ()) == sorted(LABELS)
        dict_txt = store.read(exported.directory.removeprefix(store.uri()) + "dict.txt")
        assert (dict_txt is not None) == (trained.target.api == "automl_v1")
    with pytest.raises(CloudError, match="allowed: tflite, edgetpu_tflite, tf_saved_model"):
        api.start_export(trained.model.name, "core_ml", store.uri("exports/"))


def test_gone_resources_read_as_none_and_deletes_are_idempotent(trained: Trained):
    api = trained.api
    gone_id = ("ICN" if trained.target.api == "automl_v1" else "") + "1" * 19
    gone_model = f"{trained.model.name.rsplit('/', 1)[0]}/{gone_id}"
    gone_dataset = f"{trained.dataset.name.rsplit('/', 1)[0]}/{gone_id}"
    assert api.get_model(gone_model) is None and api.get_dataset(gone_dataset) is None
    api.delete_model(gone_model)
    api.delete_dataset(gone_dataset)


# ---- the contract across adapters --------------------------------------------------------


def test_same_dataset_and_seed_give_identical_evaluations_gate_decisions_and_thresholds(
    emulator: EmulatorServer, source: Path
):
    automl = trained_with("automl_v1", source, emulator.env)
    vertex = trained_with("vertex", source, emulator.env)
    assert automl.image_count == vertex.image_count
    # Field by field first, for a readable failure; then everything.
    a, v = automl.evaluations, vertex.evaluations
    assert (a.overall.au_prc, a.overall.au_roc, a.overall.log_loss) == (
        v.overall.au_prc,
        v.overall.au_roc,
        v.overall.log_loss,
    )
    assert a.overall.points == v.overall.points
    assert dict(a.per_label) == dict(v.per_label)
    assert replace(a, per_label={}) == replace(v, per_label={})
    decisions = []
    for criteria in CRITERIA:
        from_automl, from_vertex = evaluate(a, criteria), evaluate(v, criteria)
        assert from_automl == from_vertex, criteria
        decisions.append(from_automl.passed)
    assert True in decisions and False in decisions  # the criteria tell models apart


def test_both_adapters_trained_the_same_model(emulator: EmulatorServer, source: Path):
    """The models behind the evaluations are byte-identical TF Lite files."""
    digests = []
    for api_name in APIS:
        trained = trained_with(api_name, source, emulator.env)
        store = ObjectStore(trained.target, trained.bucket)
        operation = trained.api.start_export(trained.model.name, "tflite", store.uri("same/"))
        state = trained.api.wait(operation, what="export", poll_seconds=0.1)
        exported = trained.api.read_export(state.detail or "", "tflite")
        data = store.read(exported.model_uri.removeprefix(store.uri()))
        digests.append(hashlib.sha256(data or b"").hexdigest())
    assert digests[0] == digests[1]
