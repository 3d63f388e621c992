"""The Pulumi program: the stack's resource graph (components/graph.py) as Pulumi resources.

`build(specs, config)` is all `__main__.py` calls. Each spec document becomes a component
(`edge-labeler:index:<Kind>`) whose children are its graph nodes, named `<document>-<role>`,
so `pulumi preview` reads as the specs do. Node inputs that are other nodes' outputs become
Outputs. On Google Cloud stacks a Bucket node is `pulumi_gcp`'s bucket (with the training
service's access to it) instead of the emulator's dynamic resource.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi_gcp import organizations, storage

from components.graph import NODE_KINDS, Component, Node, NodeKind, Ref, build_graph, substitute
from components.providers.bucket import BucketInputs
from components.spec import SpecError, SpecSet, StackConfig, load_specs, stack_config_from_mapping
from components.spec.stack import KEYS, NAMESPACE, SECRET, pin_issues

# Service agents that read training data and write exports, per training API.
SERVICE_AGENTS = {
    "automl_v1": "service-{number}@gcp-sa-automl.iam.gserviceaccount.com",
    "vertex": "service-{number}@gcp-sa-aiplatform.iam.gserviceaccount.com",
}


def stack_config() -> StackConfig:
    """This stack's StackConfig from Pulumi config (`edge-labeler:*` keys).

    A secret (`pulumi config set --secret`) is read as SECRET, never as its value: only the
    providers read the access settings' values (from their configure request), so no
    resource input, output or message of the program can hold one.
    """
    config = pulumi.Config(NAMESPACE)
    values = {
        key: SECRET if pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}") else config.get(key)
        for key in KEYS
    }
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


class DocumentComponent(pulumi.ComponentResource):
    """One spec document: its nodes as children, and its outputs."""

    def __init__(self, component: Component):
        kind, name = component.key
        super().__init__(f"edge-labeler:index:{kind}", name)


def _gcp_bucket(
    node: Node, config: StackConfig, inputs: BucketInputs, parent: Any, imported: str | None
) -> Any:
    """A Bucket node on a Google Cloud stack: pulumi_gcp's bucket and the training service's
    access to it. Its `bucketName` output is the bucket's name."""
    rules = []
    if inputs["deleteAfterDays"]:
        rules.append(
            storage.BucketLifecycleRuleArgs(
                action=storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=storage.BucketLifecycleRuleConditionArgs(age=inputs["deleteAfterDays"]),
            )
        )
    bucket = storage.Bucket(
        node.name,
        name=inputs["bucketName"],
        project=config.project,
        location=inputs["location"],
        storage_class=inputs["storageClass"],
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        versioning=storage.BucketVersioningArgs(enabled=inputs["versioning"]),
        lifecycle_rules=rules,
        labels=inputs["labels"],
        force_destroy=inputs["forceDestroy"],
        opts=pulumi.ResourceOptions(parent=parent, protect=node.protect, import_=imported),
    )
    # The training service reads the CSV index and images and writes exports here.
    number = organizations.get_project_output(project_id=config.project).number
    storage.BucketIAMMember(
        f"{node.document.name}-training-access",
        bucket=bucket.name,
        role="roles/storage.objectAdmin",
        member=number.apply(
            lambda n: "serviceAccount:" + SERVICE_AGENTS[config.api.value].format(number=n)
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    bucket.bucketName = bucket.name  # type: ignore[attr-defined]  # as the dynamic Bucket's
    return bucket


def _output(ref: Ref, resources: Mapping[str, Any]) -> Any:
    resource = resources[ref.node]
    if ref.output is None:
        return {key: getattr(resource, key) for key in ref.keys}
    value = getattr(resource, ref.output)
    return value.apply(ref.transform) if ref.transform is not None else value


def build(
    specs: SpecSet,
    config: StackConfig,
    root: Path = Path("."),
    kinds: tuple[NodeKind, ...] = NODE_KINDS,
) -> Mapping[str, pulumi.ComponentResource]:
    """Declares every node of the stack's graph; returns the components by `Kind/name`."""
    graph = build_graph(specs, config, root, kinds)
    if graph.errors:
        raise pulumi.RunError("\n".join(issue.render() for issue in graph.errors))
    adopt = dict(config.adopt)
    unknown = sorted(set(adopt) - {node.name for node in graph.nodes})
    if unknown:
        names = ", ".join(node.name for node in graph.nodes)
        raise pulumi.RunError(
            f"stack {config.stack}: {NAMESPACE}:adopt names no resource of this stack: "
            f"{', '.join(unknown)}; resources: {names}"
        )
    resources: dict[str, Any] = {}
    out: dict[str, pulumi.ComponentResource] = {}
    for component in graph.components:
        parent = DocumentComponent(component)
        for node in component.nodes:
            inputs = substitute(node.inputs, lambda ref: _output(ref, resources))
            # `import_`: adopt the existing cloud resource with this id (README, "Adoption").
            imported = adopt.get(node.name)
            if node.role == "bucket" and not config.emulator:
                resources[node.name] = _gcp_bucket(node, config, inputs, parent, imported)
                continue
            opts = pulumi.ResourceOptions(parent=parent, protect=node.protect, import_=imported)
            resources[node.name] = node.resource(node.name, inputs, opts)
        outputs = substitute(component.outputs, lambda ref: _output(ref, resources))
        parent.register_outputs(outputs)
        if component.export:
            kind, name = component.key
            pulumi.export(f"{kind.lower()}/{name}", outputs)
        out["/".join(component.key)] = parent
    return out
