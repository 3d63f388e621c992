"""ModelExport: the gated model exported for devices, verified, and its registry record.

Runs only after the AcceptanceGate passed (it takes the gate's outputs as inputs). Each
format is exported to the stack's bucket; TF Lite artifacts are loaded with LiteRT before
they count and get TF Lite model metadata (name, version = fingerprint, labels, normalization,
the gate's threshold: what ML Kit reads); the threshold also goes into `tflite_metadata.json`,
so the app and the gate agree; the registry record (`models/<name>/<fingerprint>/record.json`,
with the sha256 of those final files) is written last.
Exports and records are kept when the resource is deleted: promotion and history read them.
"""

import hashlib
from collections.abc import Mapping, Sequence
from typing import ClassVar, Generic, Never, NotRequired, TypedDict

import pulumi

from components.cloud.adapters import training_api
from components.cloud.clients import STORAGE, TRAINING, CloudInputs, CloudTarget
from components.cloud.errors import CloudError
from components.cloud.records import Artifact, RegistryRecord, directory_digest, write_record
from components.cloud.storage import ObjectStore, split_uri
from components.providers.base import DynamicResource, Outputs, Pending, Provider, UserError
from components.providers.gate import GateOutputs
from components.spec import Model as ModelSpec

OUTPUTS = ("artifacts", "recordUri", "modelFile", "modelSha256", "modelSize")
# What an app downloads, by preference.
PRIMARY = ("tflite", "edgetpu_tflite")


class ExportInputs(TypedDict):
    name: str
    cloud: CloudInputs
    formats: list[str]


class TrainingConfig(TypedDict, Generic[Pending]):
    """How the model was trained, for the registry record."""

    modelType: str
    budgetMilliNodeHours: int
    baseModel: NotRequired[str | Pending | None]
    seed: int


class TrainingSummary(TypedDict):
    """The TrainedModel's outputs the registry record keeps (graph.TRAINING_OUTPUTS)."""

    stopReason: str
    trainCostMilliNodeHours: int


class ExportLinks(TypedDict, Generic[Pending]):
    bucket: str | Pending
    modelName: str | Pending
    fingerprint: str | Pending
    datasetFingerprint: str | Pending
    config: TrainingConfig[Pending]
    training: TrainingSummary | Pending
    gate: GateOutputs | Pending  # so nothing is exported ungated


class ArtifactProps(TypedDict):
    """An Artifact as outputs and records carry it."""

    format: str
    uri: str
    directory: str
    sha256: str
    size_bytes: int


class ModelFileOutputs(TypedDict):
    """Every artifact, and the file an app downloads (None: no TF Lite format exported)."""

    artifacts: dict[str, ArtifactProps]
    modelFile: NotRequired[str | None]
    modelSha256: NotRequired[str | None]
    modelSize: NotRequired[int | None]


class ExportOutputs(TypedDict, total=False):
    artifacts: dict[str, ArtifactProps]
    modelFile: str | None
    modelSha256: str | None
    modelSize: int | None
    recordUri: str


class ExportProps(ExportInputs, ExportLinks[Never], ExportOutputs):
    pass


def export_inputs(spec: ModelSpec, target: CloudTarget) -> ExportInputs:
    return {
        "name": spec.name,
        "cloud": target.as_inputs(STORAGE, TRAINING),
        "formats": [f.value for f in spec.export],
    }


def _split(uri: str) -> str:
    """gs://bucket/object → object."""
    return split_uri(uri)[1]


def _metadata_name(directory: str) -> str:
    return _split(directory + "tflite_metadata.json")


def _write_threshold(store: ObjectStore, directory: str, threshold: float | None) -> None:
    """The gate's threshold into the export's `tflite_metadata.json`: it travels with the model."""
    name = _metadata_name(directory)
    metadata = store.read_json(name) or {}
    metadata["threshold"] = threshold
    store.write_json(name, metadata)


def _ml_kit_ready(
    store: ObjectStore,
    model_uri: str,
    directory: str,
    data: bytes,
    props: ExportProps,
    labels: Sequence[str] | None,
) -> bytes:
    """The exported TF Lite file as apps get it, written back when it changed: its TF Lite
    metadata names the model, its version (the training fingerprint), the labels, the input
    normalization and the gate's threshold, so ML Kit's custom image labeler loads it with no
    other file; `tflite_metadata.json` gets the threshold too. The record's sha256 is of it.

    `labels`: in the model's output order, as the export gives them (None: the gate's)."""
    from tflite_metadata import MetadataError, read_metadata, with_metadata

    gated = props["gate"]["labels"]
    try:
        embedded = read_metadata(data)
    except MetadataError as exc:
        raise UserError(f"{model_uri}: {exc}") from None
    labels = labels or (embedded.labels if embedded is not None else None) or gated
    if sorted(labels) != sorted(gated):
        raise UserError(
            f"{model_uri} names the labels {', '.join(labels)}, but the gate evaluated "
            f"{', '.join(gated)}"
        )
    threshold = props["gate"]["threshold"]
    _write_threshold(store, directory, threshold)
    try:
        final = with_metadata(
            data,
            name=props["name"],
            labels=labels,
            version=props["fingerprint"],
            threshold=threshold,
            description=f"edge-labeler Model {props['name']}: {props['config']['modelType']}",
        )
    except MetadataError as exc:
        raise UserError(f"{model_uri}: {exc}") from None
    if final != data:
        store.write(_split(model_uri), final)
    return final


def _epochs(store: ObjectStore, artifacts: Sequence[Artifact]) -> tuple[int | None, int | None]:
    """(epochs run, best epoch) from an export's `tflite_metadata.json` `training` section;
    (None, None) when the service writes none (Google's exports do not)."""
    if not artifacts:
        return None, None
    metadata = store.read_json(_metadata_name(artifacts[0].directory)) or {}
    training = metadata.get("training")
    if not isinstance(training, dict):
        return None, None
    run, best = training.get("epochsRun"), training.get("bestEpoch")
    return (
        run if isinstance(run, int) else None,
        best if isinstance(best, int) else None,
    )


def artifact_props(artifact: Artifact) -> ArtifactProps:
    return {
        "format": artifact.format,
        "uri": artifact.uri,
        "directory": artifact.directory,
        "sha256": artifact.sha256,
        "size_bytes": artifact.size_bytes,
    }


def artifact_outputs(artifacts: Sequence[Artifact]) -> ModelFileOutputs:
    """Every artifact, and the file an app downloads (the first of PRIMARY exported)."""
    primary = next((a for f in PRIMARY for a in artifacts if a.format == f), None)
    return {
        "artifacts": {a.format: artifact_props(a) for a in artifacts},
        "modelFile": primary.uri if primary else None,
        "modelSha256": primary.sha256 if primary else None,
        "modelSize": primary.size_bytes if primary else None,
    }


class ModelExportProvider(Provider[ExportProps]):
    outputs = OUTPUTS
    kind = "Model"
    replace_on = ("modelName", "cloud", "bucket")
    update_on = ("formats", "gate")
    # The file apps download changes with the formats; the gate's threshold is written into
    # it (TF Lite metadata), so its digest and size change with the gate too.
    output_sources: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "modelFile": (*replace_on, "formats"),
        "modelSha256": (*replace_on, "formats", "gate"),
        "modelSize": (*replace_on, "formats", "gate"),
    }

    def _export(self, props: ExportProps, fmt: str, store: ObjectStore) -> Artifact:
        log = self.log(props)
        target = CloudTarget.from_inputs(props["cloud"])
        api = training_api(target)
        short = props["fingerprint"].removeprefix("sha256:")[:16]
        prefix = store.uri(f"exports/{props['name']}/{short}/")
        op = api.start_export(props["modelName"], fmt, prefix)
        state = api.wait(op, what=f"export {fmt}", progress=log, poll_seconds=0.5)
        directory = (state.detail or "").rstrip("/") + "/"
        if not directory.startswith(f"gs://{store.bucket_name}/"):
            raise UserError(f"export {fmt} of {props['modelName']} reported no output folder")
        try:  # the API's documented layout: which file is the model, where the labels are
            exported = api.read_export(directory, fmt)
        except CloudError as exc:
            raise UserError(f"export {fmt} of {props['modelName']}: {exc}") from None
        if fmt == "tf_saved_model":
            digest, size, _ = directory_digest(store, directory)
            return Artifact(fmt, directory, directory, digest, size)
        model_uri = exported.model_uri
        data = store.read(_split(model_uri))
        if data is None:
            raise UserError(f"export {fmt} wrote no {exported.model_file} in {directory}")
        # Here, not at the top: the TF Lite runtime and numpy load in a second, and the graph
        # (so `edgectl review`) imports this module without exporting anything.
        from components.evaluation.tflite import inspect_tflite

        try:
            info = inspect_tflite(data, model_uri)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if info.outputs != len(props["gate"]["labels"]):
            raise UserError(
                f"{model_uri} gives {info.outputs} scores per image, but the gate evaluated "
                f"{len(props['gate']['labels'])} labels"
            )
        data = _ml_kit_ready(store, model_uri, directory, data, props, exported.labels)
        sha = hashlib.sha256(data).hexdigest()
        log(
            f"exported {fmt}: {model_uri} ({len(data):,} bytes, input {list(info.input_shape)} "
            f"{info.input_type}, {info.outputs} scores, labels from "
            f"{exported.labels_from or 'nowhere in the export'}, sha256 {sha[:12]}…)"
        )
        return Artifact(fmt, model_uri, directory, sha, len(data))

    def _publish_record(
        self, props: ExportProps, artifacts: list[Artifact], store: ObjectStore
    ) -> ExportOutputs:
        target = CloudTarget.from_inputs(props["cloud"])
        epochs_run, best_epoch = _epochs(store, artifacts)
        record = RegistryRecord(
            model=props["name"],
            stack=target.stack,
            fingerprint=props["fingerprint"],
            dataset_fingerprint=props["datasetFingerprint"],
            config=dict(props["config"]),
            cloud_model=props["modelName"],
            stop_reason=props["training"]["stopReason"],
            train_cost_milli_node_hours=int(props["training"]["trainCostMilliNodeHours"]),
            gate=dict(props["gate"]),
            labels=tuple(props["gate"]["labels"]),
            artifacts=tuple(artifacts),
            epochs_run=epochs_run,
            best_epoch=best_epoch,
        )
        return {**artifact_outputs(artifacts), "recordUri": write_record(store, record)}

    def _create(self, props: ExportProps) -> tuple[str, ExportOutputs]:
        store = ObjectStore(CloudTarget.from_inputs(props["cloud"]), props["bucket"])
        artifacts = [self._export(props, fmt, store) for fmt in props["formats"]]
        return f"{props['modelName']}/export", self._publish_record(props, artifacts, store)

    def _update(self, id_: str, olds: ExportProps, news: ExportProps) -> ExportOutputs:
        store = ObjectStore(CloudTarget.from_inputs(news["cloud"]), news["bucket"])
        previous = olds.get("artifacts") or {}
        artifacts = []
        for fmt in news["formats"]:
            old = previous.get(fmt)
            if old is None:
                artifacts.append(self._export(news, fmt, store))
                continue
            artifact = Artifact(
                old["format"], old["uri"], old["directory"], old["sha256"], old["size_bytes"]
            )
            if fmt != "tf_saved_model":  # the threshold travels with the model
                data = store.read(_split(artifact.uri))
                if data is None:
                    raise UserError(f"{artifact.uri} was deleted outside Pulumi; refresh first")
                data = _ml_kit_ready(store, artifact.uri, artifact.directory, data, news, None)
                digest = hashlib.sha256(data).hexdigest()
                artifact = Artifact(fmt, artifact.uri, artifact.directory, digest, len(data))
            artifacts.append(artifact)
        return self._publish_record(news, artifacts, store)

    def _read(self, id_: str, props: ExportProps) -> Outputs | None:
        store = ObjectStore(CloudTarget.from_inputs(props["cloud"]), props["bucket"])
        uri = props.get("modelFile")
        if uri and store.read(_split(uri)) is None:
            return None  # the artifact was deleted outside Pulumi
        return {}

    def _delete(self, id_: str, props: ExportProps) -> None:
        self.log(props)(f"kept exports and the registry record {props.get('recordUri')}")


class ModelExport(DynamicResource, module="edge-labeler", name="ModelExport"):
    """Exported artifacts of a gated model (gs:// URIs, sha256, sizes) and its record."""

    modelFile: pulumi.Output[str]
    modelSha256: pulumi.Output[str]
    modelSize: pulumi.Output[float]
    artifacts: pulumi.Output[dict[str, ArtifactProps]]
    recordUri: pulumi.Output[str]

    provider_type = ModelExportProvider
    computed_outputs = OUTPUTS
