"""The Pulumi graph: one ComponentResource per spec document, its cloud resources as children.

`build(specs, config)` is all `__main__.py` calls. Component types are `edge-labeler:index:<Kind>`;
children are named `<document>-<part>` and parented to their component, so `pulumi preview`
reads as the specs do.
"""

from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from components.cloud.clients import cloud_target
from components.providers.bucket import Bucket, bucket_inputs
from components.providers.dataset import Dataset, dataset_inputs
from components.providers.export import ModelExport
from components.providers.gate import OUTPUTS as GATE_OUTPUTS
from components.providers.gate import AcceptanceGate
from components.providers.promoted import PromotedModel, promoted_inputs, promotion_source
from components.providers.publication import Publication
from components.providers.trained_model import TrainedModel
from components.providers.wiring import (
    MODEL_FILE_OUTPUTS,
    TRAINING_OUTPUTS,
    wire_export,
    wire_gate,
    wire_publication,
    wire_trained_model,
)
from components.spec import Bucket as BucketSpec
from components.spec import Dataset as DatasetSpec
from components.spec import Model as ModelSpec
from components.spec import Publication as PublicationSpec
from components.spec import SpecError, SpecSet, StackConfig, load_specs, stack_config_from_mapping
from components.spec.stack import KEYS, NAMESPACE, pin_issues

# Service agents that read training data and write exports, per training API.
SERVICE_AGENTS = {
    "automl_v1": "service-{number}@gcp-sa-automl.iam.gserviceaccount.com",
    "vertex": "service-{number}@gcp-sa-aiplatform.iam.gserviceaccount.com",
}


def stack_config() -> StackConfig:
    """This stack's StackConfig from Pulumi config (`edge-labeler:*` keys)."""
    config = pulumi.Config(NAMESPACE)
    values = {key: config.get(key) for key in KEYS}
    return stack_config_from_mapping(
        pulumi.get_stack(), values, source=f"stack {pulumi.get_stack()}"
    )


def load_stack() -> tuple[SpecSet, StackConfig]:
    """This stack's config and specs; spec errors end the program with their messages only.

    A pin off the stack's declared promotion path is refused here, before any resource.
    """
    try:
        config = stack_config()
        specs = load_specs(config.specs, stack=config.stack)
        refused = pin_issues(specs, config)
        if refused:
            raise SpecError(refused)
        return specs, config
    except SpecError as err:
        raise pulumi.RunError(err.render()) from None


class BucketComponent(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]

    def __init__(self, spec: BucketSpec, config: StackConfig):
        super().__init__("edge-labeler:index:Bucket", spec.name)
        child = pulumi.ResourceOptions(parent=self, protect=config.protect)
        target = cloud_target(config)
        if config.emulator:
            bucket = Bucket(f"{spec.name}-bucket", bucket_inputs(spec, target), child)
            self.bucket_name = bucket.bucketName
        else:
            self.bucket_name = _gcp_bucket(spec, config, child)
        self.register_outputs({"bucketName": self.bucket_name})


def _gcp_bucket(
    spec: BucketSpec, config: StackConfig, opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    inputs = bucket_inputs(spec, cloud_target(config))
    rules = []
    if inputs["deleteAfterDays"]:
        rules.append(
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    age=inputs["deleteAfterDays"]
                ),
            )
        )
    bucket = gcp.storage.Bucket(
        f"{spec.name}-bucket",
        name=inputs["bucketName"],
        project=config.project,
        location=inputs["location"],
        storage_class=inputs["storageClass"],
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        versioning=gcp.storage.BucketVersioningArgs(enabled=inputs["versioning"]),
        lifecycle_rules=rules,
        labels=inputs["labels"],
        force_destroy=inputs["forceDestroy"],
        opts=opts,
    )
    # The training service reads the CSV index and images and writes exports here.
    number = gcp.organizations.get_project_output(project_id=config.project).number
    gcp.storage.BucketIAMMember(
        f"{spec.name}-training-access",
        bucket=bucket.name,
        role="roles/storage.objectAdmin",
        member=number.apply(
            lambda n: "serviceAccount:" + SERVICE_AGENTS[config.api.value].format(number=n)
        ),
        opts=pulumi.ResourceOptions(parent=opts.parent),
    )
    return bucket.name


class DatasetComponent(pulumi.ComponentResource):
    dataset_name: pulumi.Output[str]
    fingerprint: pulumi.Output[str]

    def __init__(self, spec: DatasetSpec, config: StackConfig, bucket: BucketComponent, root: Path):
        super().__init__("edge-labeler:index:Dataset", spec.name)
        target = cloud_target(config)
        props = dataset_inputs(spec, target, bucket.bucket_name, root)
        dataset = Dataset(f"{spec.name}-dataset", props, pulumi.ResourceOptions(parent=self))
        self.dataset_name = dataset.datasetName
        self.fingerprint = dataset.fingerprint
        self.register_outputs(
            {
                "datasetName": dataset.datasetName,
                "fingerprint": dataset.fingerprint,
                "labelCounts": dataset.labelCounts,
            }
        )


class ModelComponent(pulumi.ComponentResource):
    """TrainedModel → AcceptanceGate → ModelExport: nothing is exported unless gated."""

    def __init__(
        self,
        spec: ModelSpec,
        config: StackConfig,
        dataset: DatasetComponent,
        bucket: BucketComponent,
        base: "ModelComponent | None",
        root: Path,
    ):
        super().__init__("edge-labeler:index:Model", spec.name)
        target = cloud_target(config)
        child = pulumi.ResourceOptions(parent=self)
        props = wire_trained_model(
            spec,
            target,
            root,
            bucket=bucket.bucket_name,
            dataset_name=dataset.dataset_name,
            dataset_fingerprint=dataset.fingerprint,
            base_model_name=base.trained.modelName if base is not None else None,
            base_model_fingerprint=base.trained.fingerprint if base is not None else None,
        )
        trained = self.trained = TrainedModel(f"{spec.name}-model", props, child)
        gate = self.gate = AcceptanceGate(
            f"{spec.name}-gate",
            wire_gate(
                spec,
                target,
                bucket=bucket.bucket_name,
                model_name=trained.modelName,
                fingerprint=trained.fingerprint,
            ),
            child,
        )
        self.export: ModelExport = ModelExport(
            f"{spec.name}-export",
            wire_export(
                spec,
                target,
                bucket=bucket.bucket_name,
                model_name=trained.modelName,
                fingerprint=trained.fingerprint,
                dataset_fingerprint=dataset.fingerprint,
                base_model=trained.baseModel,
                training={k: getattr(trained, k) for k in TRAINING_OUTPUTS},
                gate={k: getattr(gate, k) for k in GATE_OUTPUTS},
            ),
            child,
        )
        self.outputs = {
            "fingerprint": self.trained.fingerprint,
            "cloudModel": self.trained.modelName,
            "stopReason": self.trained.stopReason,
            "nodeHoursUsed": self.trained.trainCostMilliNodeHours.apply(
                lambda m: None if m is None else m / 1000
            ),
            "threshold": gate.threshold,
            "precision": gate.precision,
            "recall": gate.recall,
            "auPrc": gate.auPrc,
            "artifacts": self.export.artifacts,
            "record": self.export.recordUri,
        }
        self.register_outputs(self.outputs)

    def publication_inputs(self) -> dict[str, pulumi.Output]:
        """What a Publication takes from its model."""
        return {
            **{k: getattr(self.export, k) for k in MODEL_FILE_OUTPUTS},
            "fingerprint": self.trained.fingerprint,
            "threshold": self.gate.threshold,
            "labels": self.gate.labels,
        }


# -- promotion (edgectl promote) -------------------------------------------------------------
class PromotedModelComponent(pulumi.ComponentResource):
    """A Model pinned to another stack's gated artifact: copied and verified, never trained."""

    def __init__(self, spec: ModelSpec, config: StackConfig, bucket: BucketComponent, root: Path):
        super().__init__("edge-labeler:index:Model", spec.name)
        try:
            source = promotion_source(spec, root)
        except SpecError as err:
            raise pulumi.RunError(err.render()) from None
        self.promoted = PromotedModel(
            f"{spec.name}-promoted",
            {**promoted_inputs(spec, cloud_target(config), source), "bucket": bucket.bucket_name},
            pulumi.ResourceOptions(parent=self),
        )
        self.outputs = {
            "fingerprint": self.promoted.fingerprint,
            "promotedFrom": source.stack,
            "threshold": self.promoted.threshold,
            "artifacts": self.promoted.artifacts,
            "record": self.promoted.recordUri,
        }
        self.register_outputs(self.outputs)

    def publication_inputs(self) -> dict[str, pulumi.Output]:
        """What a Publication takes from its model (the same as from a trained one)."""
        p = self.promoted
        return {
            **{k: getattr(p, k) for k in MODEL_FILE_OUTPUTS},
            "fingerprint": p.fingerprint,
            "threshold": p.threshold,
            "labels": p.labels,
        }


# -- end promotion ------------------------------------------------------------------------------


class PublicationComponent(pulumi.ComponentResource):
    """The gated model's file published for apps; protected on stacks with `protect`."""

    def __init__(
        self,
        spec: PublicationSpec,
        config: StackConfig,
        model: "ModelComponent | PromotedModelComponent",
        buckets: Mapping[str, BucketComponent],
        model_bucket: BucketComponent,
    ):
        super().__init__("edge-labeler:index:Publication", spec.name)
        target = cloud_target(config)
        publication = Publication(
            f"{spec.name}-publication",
            wire_publication(
                spec,
                target,
                registry_bucket=buckets[spec.bucket].bucket_name,
                record_bucket=model_bucket.bucket_name,
                model=model.publication_inputs(),
            ),
            pulumi.ResourceOptions(parent=self, protect=config.protect),
        )
        self.outputs = {
            "target": spec.target.value,
            "displayName": spec.display_name,
            "registryName": publication.registryName,
            "state": publication.state,
        }
        self.register_outputs(self.outputs)


def build(
    specs: SpecSet, config: StackConfig, root: Path = Path(".")
) -> Mapping[str, pulumi.ComponentResource]:
    """Declares every document of `specs` on this stack; returns the components by key."""
    out: dict[str, pulumi.ComponentResource] = {}
    buckets = {name: BucketComponent(spec, config) for name, spec in specs.buckets.items()}
    for name, component in buckets.items():
        out[f"Bucket/{name}"] = component
    datasets = {
        name: DatasetComponent(spec, config, buckets[spec.bucket], root)
        for name, spec in specs.datasets.items()
    }
    out.update({f"Dataset/{name}": c for name, c in datasets.items()})
    models: dict[str, ModelComponent | PromotedModelComponent] = {}
    for spec in specs.dependency_order():
        if not isinstance(spec, ModelSpec):
            continue
        dataset = specs.datasets[spec.dataset]
        if spec.promoted is not None:  # promotion: copied from another stack, not trained
            models[spec.name] = PromotedModelComponent(spec, config, buckets[dataset.bucket], root)
            pulumi.export(f"model/{spec.name}", models[spec.name].outputs)
            continue
        base_name = spec.base_model.model if spec.base_model else None
        base = models.get(base_name) if base_name else None
        if isinstance(base, PromotedModelComponent):
            raise pulumi.RunError(
                f"{spec.location_of('spec.baseModel.model')}: Model '{spec.name}' "
                f"spec.baseModel.model: '{base_name}' is promoted from another stack on this "
                "stack and has no cloud model here to start from; train it here or use "
                "baseModel.path"
            )
        models[spec.name] = ModelComponent(
            spec,
            config,
            datasets[spec.dataset],
            buckets[dataset.bucket],
            base,
            root,
        )
        pulumi.export(f"model/{spec.name}", models[spec.name].outputs)
    out.update({f"Model/{name}": c for name, c in models.items()})
    for name, spec in specs.publications.items():
        model_bucket = buckets[specs.datasets[specs.models[spec.model].dataset].bucket]
        component = PublicationComponent(spec, config, models[spec.model], buckets, model_bucket)
        pulumi.export(f"publication/{name}", component.outputs)
        out[f"Publication/{name}"] = component
    return out
