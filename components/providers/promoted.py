"""PromotedModel: a model gated in another stack, copied here by digest instead of trained again.

A Model whose overlay pins `promoted: {from: <stack>, fingerprint: sha256:…}` (written by
`edgectl promote`) is not trained in this stack. This provider reads the source stack's
registry record of that fingerprint, refuses it unless it passed its gate there and meets
this stack's acceptance minima (and `noWorseThan: published`), copies the exported artifacts
into this stack's bucket verifying each sha256 against the record (a changed artifact is
refused, naming both digests), and writes this stack's record with `promoted_from` set. Its
outputs are what a Publication needs: the model file, its sha256 and size, the gate's
threshold and the labels.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, Never, TypedDict

import pulumi
from pulumi.runtime import rpc

from components.cloud.clients import STORAGE, CloudInputs, CloudTarget, cloud_target
from components.cloud.records import (
    Artifact,
    RegistryRecord,
    directory_digest,
    now,
    read_record,
    record_path,
    write_record,
)
from components.cloud.storage import ObjectStore, split_uri
from components.evaluation.gate import (
    Criteria,
    CriteriaProps,
    NotAccepted,
    Observed,
    accept_record,
    show_metric,
)
from components.providers.base import (
    DynamicResource,
    Outputs,
    Pending,
    Props,
    Provider,
    UserError,
)
from components.providers.export import ArtifactProps, artifact_outputs
from components.providers.gate import published_baseline
from components.spec import Model as ModelSpec
from components.spec import SpecError, SpecIssue, load_specs, load_stack_config

OUTPUTS = (
    "modelFile",
    "modelSha256",
    "modelSize",
    "threshold",
    "labels",
    "artifacts",
    "recordUri",
    "sourceRecordUri",
    "cloudModel",
    "precision",
    "recall",
    "auPrc",
    "trainCostMilliNodeHours",
)
FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")


class SourceInputs(TypedDict):
    """The source stack: its name, its cloud settings, the bucket of its registry records."""

    stack: str
    cloud: CloudInputs
    bucket: str


class PromotedInputs(TypedDict):
    name: str
    cloud: CloudInputs
    fingerprint: str
    source: SourceInputs
    formats: list[str]
    criteria: CriteriaProps


class PromotedLinks(TypedDict, Generic[Pending]):
    bucket: str | Pending  # this stack's


class PromotedOutputs(TypedDict, total=False):
    modelFile: str | None
    modelSha256: str | None
    modelSize: int | None
    threshold: float
    labels: list[str]
    artifacts: dict[str, ArtifactProps]
    recordUri: str
    sourceRecordUri: str
    cloudModel: str
    precision: float | None
    recall: float | None
    auPrc: float | None
    trainCostMilliNodeHours: int


class PromotedProps(PromotedInputs, PromotedLinks[Never], PromotedOutputs):
    pass


@dataclass(frozen=True)
class PromotionSource:
    """Where a promoted model comes from: the source stack's cloud target and model bucket."""

    stack: str
    target: CloudTarget
    bucket: str

    def as_inputs(self) -> SourceInputs:
        return {"stack": self.stack, "cloud": self.target.as_inputs(STORAGE), "bucket": self.bucket}


def promotion_source(spec: ModelSpec, root: Path = Path(".")) -> PromotionSource:
    """The source stack of a promoted Model, from `Pulumi.<from>.yaml` and that stack's specs.

    Raises SpecError at the Model's `spec.promoted.from` when the source stack cannot be read
    or does not declare this model.
    """
    assert spec.promoted is not None
    stack = spec.promoted.from_stack
    where = spec.location_of("spec.promoted.from")

    def fail(message: str) -> SpecError:
        return SpecError(
            [SpecIssue.at(where, message, kind="Model", name=spec.name, field="spec.promoted.from")]
        )

    try:
        config = load_stack_config(stack, root)
        source_specs = load_specs(Path(root) / config.specs, stack)
    except SpecError as err:
        details = "; ".join(issue.render() for issue in err.issues[:3])
        raise fail(f"the source stack '{stack}' cannot be read: {details}") from None
    model = source_specs.models.get(spec.name)
    if model is None:
        known = ", ".join(sorted(source_specs.models)) or "none"
        raise fail(f"stack '{stack}' declares no Model named '{spec.name}' (its models: {known})")
    dataset = source_specs.datasets[model.dataset]
    bucket = source_specs.buckets[dataset.bucket].cloud_name(config.project)
    return PromotionSource(stack, cloud_target(config), bucket)


def promoted_inputs(
    spec: ModelSpec, target: CloudTarget, source: PromotionSource
) -> PromotedInputs:
    """Inputs of a promoted Model; the bucket (this stack's) comes as an output."""
    assert spec.promoted is not None
    return {
        "name": spec.name,
        "cloud": target.as_inputs(STORAGE),
        "fingerprint": spec.promoted.fingerprint,
        "source": source.as_inputs(),
        "formats": [f.value for f in spec.export],
        "criteria": Criteria.from_acceptance(spec.acceptance).to_props(),
    }


def _object(uri: str) -> str:
    """gs://bucket/object → object."""
    return split_uri(uri)[1]


def artifact_digest(store: ObjectStore, artifact: Artifact) -> str | None:
    """The sha256 of an exported artifact as it is in `store` now (None when it is gone),
    computed as ModelExport computed the recorded one."""
    if artifact.format == "tf_saved_model":
        digest, size, _ = directory_digest(store, artifact.directory)
        return digest if size else None
    data = store.read(_object(artifact.uri))
    return None if data is None else hashlib.sha256(data).hexdigest()


class PromotedModelProvider(Provider[PromotedProps]):
    outputs = OUTPUTS
    kind = "Model"
    replace_on = ("fingerprint", "source", "cloud", "bucket")
    update_on = ("formats", "criteria")

    def _check(self, olds: Props, news: PromotedProps) -> PromotedProps:
        fingerprint = news.get("fingerprint")
        if fingerprint != rpc.UNKNOWN and not FINGERPRINT.match(str(fingerprint)):
            raise UserError(
                f"promoted.fingerprint {fingerprint!r} is not sha256: followed by 64 lowercase "
                "hex digits (copy it from `edgectl history`, or let `edgectl promote` write it)"
            )
        return news

    def _failed_property(self, err: Exception) -> str:
        return "fingerprint"

    def _copy(
        self, props: PromotedProps, artifact: Artifact, source: ObjectStore, store: ObjectStore
    ) -> Artifact:
        """Copies one exported artifact (its whole export folder), verified by sha256."""
        log = self.log(props)
        origin = f"stack '{props['source']['stack']}'"
        if artifact.format == "tf_saved_model":
            sha, _, files = directory_digest(source, artifact.directory)
        else:
            data = source.read(_object(artifact.uri))
            if data is None:
                raise UserError(
                    f"{artifact.uri} (the {artifact.format} export recorded on {origin}) "
                    "does not exist any more; nothing was copied"
                )
            sha = hashlib.sha256(data).hexdigest()
            model_name = _object(artifact.uri)
            files = {  # the model file, already read and hashed, is not read again
                name: data if name == model_name else source.read(name) or b""
                for name in sorted(source.names(_object(artifact.directory)))
            }
            files[model_name] = data
        if sha != artifact.sha256:
            raise UserError(
                f"{artifact.uri} has sha256 {sha}, but the registry record of "
                f"{props['fingerprint']} on {origin} says {artifact.sha256}: the artifact "
                "changed after it passed its gate; refusing to promote it (nothing was copied)"
            )
        for name, data in files.items():
            store.write(name, data)
        copied = replace(
            artifact,
            uri=store.uri(_object(artifact.uri)),
            directory=store.uri(_object(artifact.directory)),
        )
        if artifact.format == "tf_saved_model":
            written, _, _ = directory_digest(store, copied.directory)
        else:
            written = hashlib.sha256(store.read(_object(copied.uri)) or b"").hexdigest()
        if written != sha:
            raise UserError(
                f"the copy {copied.uri} has sha256 {written}, expected {sha}: the write to "
                f"gs://{store.bucket_name} was not faithful; run the deployment again"
            )
        log(f"copied {artifact.format} {artifact.uri} → {copied.uri} (sha256 {sha[:12]}… verified)")
        return copied

    def _accept(
        self, props: PromotedProps, record: RegistryRecord, record_uri: str, store: ObjectStore
    ) -> tuple[Observed, float]:
        """The record's gated metrics and threshold; refuses a record that did not pass its
        gate, misses this stack's acceptance or lacks its threshold (`record_uri` names it)."""
        criteria = Criteria.from_props(props["criteria"])
        baseline = (
            published_baseline(store, props["name"], record.fingerprint)
            if criteria.no_worse_than_published
            else None
        )
        try:
            return accept_record(
                record.gate,
                criteria,
                baseline,
                fingerprint=record.fingerprint,
                origin=record.stack,
                target=store.target.stack,
                record_uri=record_uri,
                outcome="Nothing was copied or published.",
            )
        except NotAccepted as refused:
            raise UserError(str(refused)) from None

    def _promote(self, props: PromotedProps) -> PromotedOutputs:
        log = self.log(props)
        target = CloudTarget.from_inputs(props["cloud"])
        source_props = props["source"]
        source = ObjectStore(CloudTarget.from_inputs(source_props["cloud"]), source_props["bucket"])
        store = ObjectStore(target, props["bucket"])
        fingerprint = props["fingerprint"]
        source_record_uri = source.uri(record_path(props["name"], fingerprint))
        record = read_record(source, props["name"], fingerprint)
        if record is None:
            raise UserError(
                f"stack '{source_props['stack']}' has no registry record {source_record_uri}: "
                f"that fingerprint was never gated and exported there (`edgectl history --model "
                f"{props['name']} --stack {source_props['stack']}` lists what was)"
            )
        observed, threshold = self._accept(props, record, source_record_uri, store)
        missing = [f for f in props["formats"] if record.artifact(f) is None]
        if missing:
            have = ", ".join(a.format for a in record.artifacts) or "none"
            raise UserError(
                f"the record on stack '{source_props['stack']}' has no {', '.join(missing)} "
                f"export (exported there: {have}); export it there first or drop the format"
            )
        artifacts = [
            self._copy(props, art, source, store)
            for fmt in props["formats"]
            if (art := record.artifact(fmt)) is not None
        ]
        promoted = replace(
            record,
            stack=target.stack,
            artifacts=tuple(artifacts),
            created=now(),
            promoted_from=source_props["stack"],
        )
        record_uri = write_record(store, promoted)
        gate = record.gate
        log(
            f"promoted {fingerprint[:19]}… from stack '{source_props['stack']}' without "
            f"training: threshold {threshold:g}, precision "
            f"{show_metric(observed.precision)}, recall {show_metric(observed.recall)}"
        )
        return {
            **artifact_outputs(artifacts),
            "threshold": threshold,
            "labels": list(record.labels),
            "recordUri": record_uri,
            "sourceRecordUri": source_record_uri,
            "cloudModel": record.cloud_model,
            "precision": gate.get("precision"),
            "recall": gate.get("recall"),
            "auPrc": gate.get("auPrc"),
            "trainCostMilliNodeHours": 0,  # nothing trained in this stack
        }

    def _create(self, props: PromotedProps) -> tuple[str, PromotedOutputs]:
        outs = self._promote(props)
        return f"{props['name']}/{props['fingerprint']}", outs

    def _update(self, id_: str, olds: PromotedProps, news: PromotedProps) -> PromotedOutputs:
        return self._promote(news)

    def _read(self, id_: str, props: PromotedProps) -> Outputs | None:
        uri = props.get("modelFile")
        store = ObjectStore(CloudTarget.from_inputs(props["cloud"]), props["bucket"])
        if uri and store.read(_object(uri)) is None:
            return None  # the copy was deleted outside Pulumi
        return {}

    def _delete(self, id_: str, props: PromotedProps) -> None:
        self.log(props)(
            f"kept the copied artifacts and the registry record {props.get('recordUri')}"
        )


class PromotedModel(DynamicResource, module="edge-labeler", name="PromotedModel"):
    """A gated model copied from another stack by digest (no training in this stack)."""

    modelFile: pulumi.Output[str]
    modelSha256: pulumi.Output[str]
    modelSize: pulumi.Output[float]
    threshold: pulumi.Output[float]
    labels: pulumi.Output[list[str]]
    fingerprint: pulumi.Output[str]
    artifacts: pulumi.Output[dict[str, ArtifactProps]]
    recordUri: pulumi.Output[str]

    provider_type = PromotedModelProvider
    computed_outputs = OUTPUTS
