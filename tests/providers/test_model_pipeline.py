"""Dataset → TrainedModel → AcceptanceGate → ModelExport through the SDK's provider host.

Training is real and tiny: 1 node hour is 40 epochs of 48 images in the emulator here. The
whole file runs once per training API of the `local` stack (`api: automl_v1`, `api: vertex`),
each in its own project of the emulator.
"""

import contextlib
import hashlib
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from components.cloud.adapters import TRAINING_APIS, open_registry
from components.cloud.clients import CloudTarget
from components.cloud.records import published_path, read_record
from components.cloud.storage import ObjectStore
from components.graph import build_graph, resolve
from components.providers.publication import PublicationProvider, published_model_spec
from components.spec import load_specs, stack_config_from_mapping
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from tests.fixtures.digits import digit_images, write_zip
from tests.fixtures.emulator import (
    LOCATION,
    PROJECT,
    arm_fault,
    clear_faults,
    patched_environ,
    wait_until_held,
)
from tests.fixtures.provider_host import ProviderCallError, ProviderHost
from tests.fixtures.trainings import training_operations
from tests.providers.conftest import SPECS
from tflite_metadata import read_metadata

LABELS = ("zero", "one", "two")
MODEL = """\
---
apiVersion: edge-labeler/v1
kind: Model
metadata: {{name: digits}}
spec:
  dataset: digits
  optimizeFor: latency
  budget: {{nodeHours: 1}}
  export: [tflite, edgetpu_tflite]
  acceptance:
    threshold: {threshold}
    minPrecision: {min_precision}
"""


@pytest.fixture(scope="module", params=TRAINING_APIS)
def api(request: pytest.FixtureRequest) -> str:
    """The stack's `api` setting: the file runs once per training API."""
    return request.param


@pytest.fixture(scope="module")
def target(emulator, api: str) -> CloudTarget:
    project = PROJECT if api == "automl_v1" else f"{PROJECT}-{api}"
    return CloudTarget(stack="local", project=project, region=LOCATION, api=api, emulator=True)


@pytest.fixture(scope="module", autouse=True)
def fast_training():
    # 1 node hour = 40 epochs: the same model on any machine, however busy.
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "40"}):
        yield


def _write_specs(project, threshold="{maximize: f1}", min_precision=0.5):
    directory = project / "specs-pipeline"
    directory.mkdir(exist_ok=True)
    text = SPECS.format(dataset="digits", zip="../data/pipeline.zip") + MODEL.format(
        threshold=threshold, min_precision=min_precision
    )
    (directory / "all.yaml").write_text(text)
    return load_specs(directory)


class Pipeline:
    """The engine's view: resources created in dependency order, outputs feeding inputs."""

    def __init__(self, host, project, target, bucket):
        self.host, self.project, self.target, self.bucket = host, project, target, bucket
        self.state: dict[str, tuple[str, dict]] = {}

    def urn(self, kind, name):
        return self.host.urn(f"edge-labeler:{kind}", name)

    def dataset(self):
        from components.providers.dataset import DatasetProvider, dataset_inputs

        spec = _write_specs(self.project).datasets["digits"]
        props = self.host.inputs(
            DatasetProvider(), dataset_inputs(spec, self.target, self.bucket, self.project)
        )
        inputs, failures = self.host.check(self.urn("Dataset", "digits"), props)
        assert failures == []
        return self.host.create(self.urn("Dataset", "digits"), inputs)

    def _inputs(self, specs, role, **outputs):
        """A Model node's inputs as the engine resolves them, from the outputs of the nodes
        created so far (`dataset=`, `model=`, `gate=`)."""
        config = stack_config_from_mapping(
            "local",
            {
                "project": self.target.project,
                "region": self.target.region,
                "api": self.target.api,
                "emulator": "true",
            },
        )
        node = build_graph(specs, config, Path(".")).node(("Model", "digits"), role)
        created = {"data-bucket": {"bucketName": self.bucket}}
        created.update({f"digits-{part}": outs for part, outs in outputs.items()})
        return self.host.inputs(node.provider(), resolve(node.inputs, created))

    def model_inputs(self, specs, dataset_outs):
        return self._inputs(specs, "model", dataset=dataset_outs)

    def gate_inputs(self, specs, model_outs):
        return self._inputs(specs, "gate", model=model_outs)

    def export_inputs(self, specs, model_outs, gate_outs):
        dataset = {"fingerprint": model_outs["datasetFingerprint"]}  # as the model saw it
        return self._inputs(specs, "export", dataset=dataset, model=model_outs, gate=gate_outs)


def publication_props(pipeline, export, gate, model, published=True, tags=("digits",)):
    return pipeline.host.inputs(
        PublicationProvider(),
        {
            "name": "digits",
            "cloud": pipeline.target.as_inputs(),
            "target": "firebase-ml",
            "displayName": "digits_pipeline",
            "tags": list(tags),
            "published": published,
            "model": "digits",
            "registryBucket": pipeline.bucket,
            "recordBucket": pipeline.bucket,
            "modelFile": export["modelFile"],
            "modelSha256": export["modelSha256"],
            "modelSize": export["modelSize"],
            "fingerprint": model["fingerprint"],
            "threshold": gate["threshold"],
            "labels": gate["labels"],
        },
    )


@pytest.fixture(scope="module")
def pipeline(host, project, target, bucket):
    write_zip(project / "data" / "pipeline.zip", digit_images(20, LABELS))
    return Pipeline(host, project, target, bucket)


@pytest.fixture(scope="module")
def trained(pipeline):
    """Dataset and model created once; later tests diff against them."""
    _, dataset = pipeline.dataset()
    specs = _write_specs(pipeline.project)
    urn = pipeline.urn("TrainedModel", "digits")
    inputs, failures = pipeline.host.check(urn, pipeline.model_inputs(specs, dataset))
    assert failures == []
    model_id, model = pipeline.host.create(urn, inputs)
    return dataset, model_id, model


def test_train_gate_export_and_record(pipeline, trained, target, bucket):
    dataset, model_id, model = trained
    host = pipeline.host
    assert model["modelName"] == model_id
    assert model["stopReason"] in ("MODEL_CONVERGED", "BUDGET_REACHED")
    assert 0 < model["trainCostMilliNodeHours"] <= 1000
    assert any(
        "[model digits] starting training: mobile-low-latency-1" in line for line in host.output
    )

    specs = _write_specs(pipeline.project)
    gate_urn = pipeline.urn("AcceptanceGate", "digits")
    gate_in, _ = host.check(gate_urn, pipeline.gate_inputs(specs, model))
    gate_id, gate = host.create(gate_urn, gate_in)
    assert gate["passed"] is True and 0 <= gate["threshold"] < 1
    assert set(gate["perLabel"]) == set(LABELS)

    export_urn = pipeline.urn("ModelExport", "digits")
    exp_in, _ = host.check(export_urn, pipeline.export_inputs(specs, model, gate))
    export_id, export = host.create(export_urn, exp_in)
    assert set(export["artifacts"]) == {"tflite", "edgetpu_tflite"}
    store = ObjectStore(target, bucket)
    data = store.read(export["modelFile"].removeprefix(f"gs://{bucket}/"))
    assert hashlib.sha256(data).hexdigest() == export["modelSha256"]
    metadata_uri = export["artifacts"]["tflite"]["directory"] + "tflite_metadata.json"
    metadata = store.read_json(metadata_uri.removeprefix(f"gs://{bucket}/"))
    assert metadata["threshold"] == gate["threshold"]  # the app and the gate agree
    record = read_record(store, "digits", model["fingerprint"])
    assert record.gate["threshold"] == gate["threshold"]
    assert record.artifact("tflite").sha256 == export["modelSha256"]
    assert record.dataset_fingerprint == dataset["fingerprint"]
    # How it was trained: from the model (stop reason, cost) and, where the export layout has
    # a tflite_metadata.json (AutoML v1's; Vertex AI's has none), its epochs.
    assert record.stop_reason == model["stopReason"]
    assert record.train_cost_milli_node_hours == model["trainCostMilliNodeHours"]
    if target.api == "automl_v1":
        assert record.epochs_run is not None and 1 <= record.epochs_run <= 40
        assert record.best_epoch is not None and 1 <= record.best_epoch <= record.epochs_run
        assert metadata["training"]["epochsRun"] == record.epochs_run
    else:
        assert (record.epochs_run, record.best_epoch) == (None, None)

    # Publication (Firebase ML, through firebase-admin against the emulator).
    pub_urn = pipeline.urn("Publication", "digits")
    pub_in, failures = host.check(pub_urn, publication_props(pipeline, export, gate, model))
    assert failures == []
    pub_id, pub = host.create(pub_urn, pub_in)
    assert pub["state"] == "published" and pub["servedSha256"] == export["modelSha256"]
    registry = open_registry("firebase-ml", target, bucket)
    live = registry.read("digits_pipeline")
    assert live.published and live.threshold == pytest.approx(gate["threshold"])
    assert live.tags == ("digits",) and list(live.labels) == gate["labels"]
    assert store.read_json(published_path("digits"))["fingerprint"] == model["fingerprint"]

    # Second pass with identical inputs: no changes anywhere.
    for urn, id_, olds, news in [
        (gate_urn, gate_id, gate, gate_in),
        (export_urn, export_id, export, exp_in),
        (pub_urn, pub_id, pub, pub_in),
    ]:
        again, _ = host.check(urn, news, olds=olds)
        assert host.diff(urn, id_, olds, again).changes is False, urn

    # Unpublished by hand: refresh (Read) shows it, and the next diff converges it back.
    registry.apply(replace(published_model_spec(pub_in), published=False))
    _, refreshed = host.read(pub_urn, pub_id, pub)
    assert refreshed["published"] is False
    assert host.diff(pub_urn, pub_id, refreshed, pub_in).changes is True
    updated = host.update(pub_urn, pub_id, refreshed, pub_in)
    assert updated["published"] is True and registry.read("digits_pipeline").published


def test_same_inputs_no_changes_and_no_second_training(pipeline, trained, target):
    dataset, model_id, model = trained
    specs = _write_specs(pipeline.project)
    urn = pipeline.urn("TrainedModel", "digits")
    again, _ = pipeline.host.check(urn, pipeline.model_inputs(specs, dataset), olds=model)
    assert again["fingerprint"] == model["fingerprint"]
    assert pipeline.host.diff(urn, model_id, model, again).changes is False
    # Even a Create with the same fingerprint (state lost) adopts instead of training.
    before = len(training_operations(target))
    adopted_id, _ = pipeline.host.create(urn, again)
    assert adopted_id == model_id
    assert len(training_operations(target)) == before


def test_a_trained_model_is_imported_by_its_id_without_changes(pipeline, trained, target):
    """`edge-labeler:adopt: {digits-model: <model name>}` (the `import_` option): Read by id
    with only the program's inputs, no state; the next diff shows no change and nothing
    trains. (Adoption by fingerprint label, with no import at all: the Create above.)"""
    dataset, model_id, model = trained
    specs = _write_specs(pipeline.project)
    urn = pipeline.urn("TrainedModel", "digits-adopted")
    checked, _ = pipeline.host.check(urn, pipeline.model_inputs(specs, dataset))
    before = len(training_operations(target))
    outputs, read, diff = pipeline.host.import_(urn, model_id, checked)
    assert diff.changes is False
    assert outputs["modelName"] == model_id and outputs["fingerprint"] == model["fingerprint"]
    assert "modelName" not in read  # an output, not an input
    assert outputs["stopReason"] == model["stopReason"]  # read from the cloud model
    assert len(training_operations(target)) == before


def test_changing_only_acceptance_updates_the_gate_not_the_model(pipeline, trained, target):
    dataset, model_id, model = trained
    host = pipeline.host
    specs = _write_specs(pipeline.project)
    gate_urn = pipeline.urn("AcceptanceGate", "digits")
    gate_in, _ = host.check(gate_urn, pipeline.gate_inputs(specs, model))
    gate_id, gate = host.create(gate_urn, gate_in)

    trainings = len(training_operations(target))
    tighter = _write_specs(pipeline.project, threshold="{fixed: 0.5}", min_precision=0.6)
    model_in, _ = host.check(
        pipeline.urn("TrainedModel", "digits"), pipeline.model_inputs(tighter, dataset), olds=model
    )
    assert (
        host.diff(pipeline.urn("TrainedModel", "digits"), model_id, model, model_in).changes
        is False
    )
    new_gate_in, _ = host.check(gate_urn, pipeline.gate_inputs(tighter, model), olds=gate)
    diff = host.diff(gate_urn, gate_id, gate, new_gate_in)
    assert diff.changes is True and diff.replaces == ()
    updated = host.update(gate_urn, gate_id, gate, new_gate_in)
    assert updated["threshold"] == 0.5 and updated["policy"] == "fixed 0.5"
    assert len(training_operations(target)) == trainings  # re-gated, not retrained

    # The export follows the gate: the new threshold is written into the file's TF Lite
    # metadata (what ML Kit reads), so the file, its sha256 and the record change with it.
    export_urn = pipeline.urn("ModelExport", "digits")
    exp_in, _ = host.check(export_urn, pipeline.export_inputs(specs, model, gate))
    export_id, export = host.create(export_urn, exp_in)
    regated_in, _ = host.check(
        export_urn, pipeline.export_inputs(tighter, model, updated), olds=export
    )
    assert host.diff(export_urn, export_id, export, regated_in).changes is True
    regated = host.update(export_urn, export_id, export, regated_in)
    assert regated["modelFile"] == export["modelFile"]
    assert regated["modelSha256"] != export["modelSha256"]
    store = ObjectStore(target, pipeline.bucket)
    data = store.read(regated["modelFile"].removeprefix(f"gs://{pipeline.bucket}/"))
    assert hashlib.sha256(data).hexdigest() == regated["modelSha256"]
    embedded = read_metadata(data)
    assert embedded is not None and embedded.threshold == 0.5
    assert embedded.version == model["fingerprint"] and embedded.labels is not None
    assert sorted(embedded.labels) == sorted(LABELS)
    record = read_record(store, "digits", model["fingerprint"])
    assert record.artifact("tflite").sha256 == regated["modelSha256"]

    impossible = _write_specs(
        pipeline.project, threshold="{precisionAtLeast: 0.5}", min_precision=1.0
    )
    bad_in, _ = host.check(gate_urn, pipeline.gate_inputs(impossible, model), olds=updated)
    published_before = open_registry("firebase-ml", target, pipeline.bucket).read("digits_pipeline")
    with pytest.raises(ProviderCallError) as info:
        host.update(gate_urn, gate_id, updated, bad_in)
    # The engine stops at the failed gate; what apps download is untouched.
    assert (
        open_registry("firebase-ml", target, pipeline.bucket).read("digits_pipeline")
        == published_before
    )
    message = info.value.details
    assert "failed its acceptance gate" in message and "is below minPrecision 1" in message
    assert "Traceback" not in message


def test_interrupted_create_reattaches_to_the_running_training(
    pipeline, trained, project, target, emulator
):
    """Kill the provider host mid-training; a new host's Create waits for the same operation."""
    dataset, _, _ = trained
    specs = _write_specs(pipeline.project)
    props = pipeline.model_inputs(specs, dataset)
    props["seed"] = 99  # a new fingerprint: a real new training
    first = ProviderHost(cwd=project).start()
    first.configure({})
    urn = first.urn("edge-labeler:TrainedModel", "digits-killed")
    inputs, _ = first.check(urn, props)
    before = len(training_operations(target))
    # The first poll of the training is held: the operation is recorded by then.
    polled = "GetOperation" if target.api == "automl_v1" else "GetTrainingPipeline"
    arm_fault(emulator.env, polled, "HOLD")
    try:
        worker = threading.Thread(target=lambda: _swallow(first.create, urn, inputs), daemon=True)
        worker.start()
        wait_until_held(emulator.env, polled)
        first.kill()
        worker.join(timeout=30)
    finally:
        clear_faults(emulator.env)
    assert len(training_operations(target)) == before + 1

    with ProviderHost(cwd=project) as second:
        second.configure({})
        model_id, outs = second.create(urn, inputs)
        assert any("re-attaching to training" in line for line in second.output)
    assert len(training_operations(target)) == before + 1  # exactly one training
    assert outs["modelName"] == model_id


def _swallow(fn, *args):
    with contextlib.suppress(ProviderCallError):  # the host is killed under it
        fn(*args)
