"""The resource graph: a stack's specs and config → the nodes every command reads.

One node per cloud resource: its Pulumi resource class (and so its provider), its name, the
spec document and role it comes from, and its inputs, where another node's output goes in as
a `Ref`. The Pulumi program (`components/resources.py`) turns nodes into resources and Refs
into Outputs; the review's plan (`components/review/plan.py`) checks each node's inputs with
its provider, Refs becoming the values the plan knows or placeholders; the rehearsal creates
the nodes in order, Refs resolved from what it created. A kind of resource is added here once:
a `NodeKind` in `NODE_KINDS` (a document kind and a function from a document to its nodes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.cloud.clients import CloudTarget, cloud_target
from components.providers.base import DynamicResource, ProviderType
from components.providers.bucket import Bucket, bucket_inputs
from components.providers.dataset import Dataset, dataset_inputs
from components.providers.export import ExportLinks, ModelExport, export_inputs
from components.providers.gate import OUTPUTS as GATE_OUTPUTS
from components.providers.gate import AcceptanceGate, GateLinks, gate_inputs
from components.providers.promoted import (
    PromotedLinks,
    PromotedModel,
    promoted_inputs,
    promotion_source,
)
from components.providers.publication import (
    Publication,
    PublicationLinks,
    PublishedModelLinks,
    publication_inputs,
)
from components.providers.rollout import Rollout, rollout_inputs
from components.providers.trained_model import (
    TrainedModel,
    TrainedModelLinks,
    trained_model_inputs,
)
from components.spec import Bucket as BucketSpec
from components.spec import Dataset as DatasetSpec
from components.spec import Document, Kind, SpecError, SpecIssue, SpecSet, StackConfig
from components.spec import Model as ModelSpec
from components.spec import Publication as PublicationSpec
from components.spec import Rollout as RolloutSpec

DocumentKey = tuple[str, str]  # (kind, metadata.name)
TRAINING_OUTPUTS = ("stopReason", "trainCostMilliNodeHours")  # TrainedModel → ModelExport


@dataclass(frozen=True)
class Ref:
    """An input that is another node's output: one (`output`), or several as a mapping (`keys`).

    `transform` (stack outputs only) maps the value, e.g. milli node hours to node hours.
    """

    node: str  # the node's name
    output: str | None = None
    keys: tuple[str, ...] = ()
    transform: Callable[[Any], Any] | None = field(default=None, compare=False)

    def resolve(self, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
        """The value, from the created nodes' outputs by node name."""
        created = outputs[self.node]
        if self.output is None:
            return {key: created.get(key) for key in self.keys}
        value = created.get(self.output)
        return self.transform(value) if self.transform is not None else value


@dataclass(frozen=True)
class Node:
    """One cloud resource of the stack."""

    name: str  # the Pulumi resource name (`digits-model`)
    role: str  # its part of the document: bucket, dataset, model, gate, export, promoted, ...
    document: Document
    resource: type[DynamicResource]  # the Pulumi resource class (its provider_type serves it)
    inputs: Mapping[str, Any]  # JSON values, with Refs where other nodes' outputs go
    protect: bool = False  # `pulumi up` refuses to delete or replace it
    check_offline: bool = True  # False when its provider's check reads the cloud

    @property
    def type(self) -> str:
        return self.resource.__name__

    @property
    def provider(self) -> ProviderType:
        return self.resource.provider_type

    @property
    def key(self) -> DocumentKey:
        return (str(self.document.kind), self.document.name)

    def refs(self) -> list[Ref]:
        return list(_refs(self.inputs))

    def dependencies(self) -> set[str]:
        """Names of the nodes whose outputs this one takes."""
        return {ref.node for ref in self.refs()}


def _refs(value: Any) -> Iterable[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _refs(item)


def resolve(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """`value` with every Ref replaced by the created nodes' outputs."""
    return substitute(value, lambda ref: ref.resolve(outputs))


def substitute(value: Any, replace: Callable[[Ref], Any]) -> Any:
    """`value` with every Ref replaced by `replace(ref)` (mappings and lists rebuilt)."""
    if isinstance(value, Ref):
        return replace(value)
    if isinstance(value, Mapping):
        return {k: substitute(v, replace) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(v, replace) for v in value]
    return value


@dataclass(frozen=True)
class DocumentNodes:
    """What one NodeKind makes of a document: its nodes (in dependency order) and the stack
    outputs of its component (values or Refs); `export`: also a stack output of its own."""

    nodes: Sequence[Node] = ()
    outputs: Mapping[str, Any] = field(default_factory=dict)
    export: bool = False


@dataclass
class Context:
    """What node builders read: the stack, and the nodes built so far (documents in
    dependency order, so a document's references are built before it)."""

    specs: SpecSet
    config: StackConfig
    target: CloudTarget
    root: Path
    nodes: dict[tuple[DocumentKey, str], Node] = field(default_factory=dict)

    def node(self, kind: str, name: str, role: str) -> Node | None:
        return self.nodes.get(((kind, name), role))

    def ref(self, kind: str, name: str, role: str, *outputs: str) -> Ref:
        """One output (or, several: a mapping) of the node of a document already built."""
        node = self.nodes[((kind, name), role)]
        if len(outputs) == 1:
            return Ref(node.name, outputs[0])
        return Ref(node.name, keys=tuple(outputs))


NodeBuilder = Callable[[Any, Context], DocumentNodes]


@dataclass(frozen=True)
class NodeKind:
    """Nodes made of every document of one spec kind."""

    document_kind: str
    build: NodeBuilder


# -- the kinds --------------------------------------------------------------------------------
def bucket_nodes(spec: BucketSpec, ctx: Context) -> DocumentNodes:
    inputs = bucket_inputs(spec, ctx.target)
    node = Node(f"{spec.name}-bucket", "bucket", spec, Bucket, inputs, protect=ctx.config.protect)
    return DocumentNodes([node], {"bucketName": Ref(node.name, "bucketName")})


def dataset_nodes(spec: DatasetSpec, ctx: Context) -> DocumentNodes:
    bucket = ctx.ref("Bucket", spec.bucket, "bucket", "bucketName")
    node = Node(
        f"{spec.name}-dataset",
        "dataset",
        spec,
        Dataset,
        dataset_inputs(spec, ctx.target, bucket, ctx.root),
        check_offline=spec.source.uri is None,  # a gs:// CSV index is read at deploy time
    )
    outputs = {k: Ref(node.name, k) for k in ("datasetName", "fingerprint", "labelCounts")}
    return DocumentNodes([node], outputs)


def model_nodes(spec: ModelSpec, ctx: Context) -> DocumentNodes:
    """TrainedModel → AcceptanceGate → ModelExport (nothing is exported unless gated), or a
    PromotedModel: another stack's gated artifact, copied and verified, never trained."""
    if spec.promoted is not None:
        return _promoted_nodes(spec, ctx)
    dataset = ctx.specs.datasets[spec.dataset]
    bucket = ctx.ref("Bucket", dataset.bucket, "bucket", "bucketName")
    training: TrainedModelLinks[Ref] = {
        "bucket": bucket,
        "datasetName": ctx.ref("Dataset", spec.dataset, "dataset", "datasetName"),
        "datasetFingerprint": ctx.ref("Dataset", spec.dataset, "dataset", "fingerprint"),
    }
    if spec.base_model is not None and spec.base_model.model is not None:
        training["baseModelName"] = ctx.ref("Model", spec.base_model.model, "model", "modelName")
        training["baseModelFingerprint"] = ctx.ref(
            "Model", spec.base_model.model, "model", "fingerprint"
        )
    trained = Node(
        f"{spec.name}-model",
        "model",
        spec,
        TrainedModel,
        {**trained_model_inputs(spec, ctx.target, ctx.root), **training},
    )
    model_name, fingerprint = Ref(trained.name, "modelName"), Ref(trained.name, "fingerprint")
    gating: GateLinks[Ref] = {"bucket": bucket, "modelName": model_name, "fingerprint": fingerprint}
    gate = Node(
        f"{spec.name}-gate",
        "gate",
        spec,
        AcceptanceGate,
        {**gate_inputs(spec, ctx.target), **gating},
    )
    exporting: ExportLinks[Ref] = {
        "bucket": bucket,
        "modelName": model_name,
        "fingerprint": fingerprint,
        "datasetFingerprint": training["datasetFingerprint"],
        "config": {  # for the registry record
            "modelType": spec.optimize_for.automl_model_type,
            "budgetMilliNodeHours": spec.budget.milli_node_hours,
            "baseModel": Ref(trained.name, "baseModel"),
            "seed": spec.seed,
        },
        "training": Ref(trained.name, keys=TRAINING_OUTPUTS),
        "gate": Ref(gate.name, keys=GATE_OUTPUTS),  # so nothing is exported ungated
    }
    export = Node(
        f"{spec.name}-export",
        "export",
        spec,
        ModelExport,
        {**export_inputs(spec, ctx.target), **exporting},
    )
    return DocumentNodes(
        [trained, gate, export], _model_outputs(trained, gate, export), export=True
    )


def _model_outputs(trained: Node, gate: Node, export: Node) -> dict[str, Any]:
    """A trained Model's stack outputs."""
    return {
        "fingerprint": Ref(trained.name, "fingerprint"),
        "cloudModel": Ref(trained.name, "modelName"),
        "stopReason": Ref(trained.name, "stopReason"),
        "nodeHoursUsed": Ref(trained.name, "trainCostMilliNodeHours", transform=_node_hours),
        **{k: Ref(gate.name, k) for k in ("threshold", "precision", "recall", "auPrc")},
        "artifacts": Ref(export.name, "artifacts"),
        "record": Ref(export.name, "recordUri"),
    }


def _node_hours(milli: Any) -> Any:
    return None if milli is None else milli / 1000


def _promoted_nodes(spec: ModelSpec, ctx: Context) -> DocumentNodes:
    source = promotion_source(spec, ctx.root)  # SpecError: the source stack cannot be read
    dataset = ctx.specs.datasets[spec.dataset]
    links: PromotedLinks[Ref] = {
        "bucket": ctx.ref("Bucket", dataset.bucket, "bucket", "bucketName")
    }
    node = Node(
        f"{spec.name}-promoted",
        "promoted",
        spec,
        PromotedModel,
        {**promoted_inputs(spec, ctx.target, source), **links},
    )
    outputs = {
        "fingerprint": Ref(node.name, "fingerprint"),
        "promotedFrom": source.stack,
        "threshold": Ref(node.name, "threshold"),
        "artifacts": Ref(node.name, "artifacts"),
        "record": Ref(node.name, "recordUri"),
    }
    return DocumentNodes([node], outputs, export=True)


def _published_model(ctx: Context, model: str) -> PublishedModelLinks[Ref] | None:
    """What a Publication takes of its model: the outputs of its PromotedModel, or of its
    export, gate and training; None when the model could not be declared."""
    promoted = ctx.node("Model", model, "promoted")
    if promoted is not None:
        return {
            "modelFile": Ref(promoted.name, "modelFile"),
            "modelSha256": Ref(promoted.name, "modelSha256"),
            "modelSize": Ref(promoted.name, "modelSize"),
            "threshold": Ref(promoted.name, "threshold"),
            "labels": Ref(promoted.name, "labels"),
            "fingerprint": Ref(promoted.name, "fingerprint"),
        }
    if ctx.node("Model", model, "export") is None:
        return None
    return {
        "modelFile": ctx.ref("Model", model, "export", "modelFile"),
        "modelSha256": ctx.ref("Model", model, "export", "modelSha256"),
        "modelSize": ctx.ref("Model", model, "export", "modelSize"),
        "fingerprint": ctx.ref("Model", model, "model", "fingerprint"),
        "threshold": ctx.ref("Model", model, "gate", "threshold"),
        "labels": ctx.ref("Model", model, "gate", "labels"),
    }


def publication_nodes(spec: PublicationSpec, ctx: Context) -> DocumentNodes:
    model = _published_model(ctx, spec.model)
    if model is None:
        return DocumentNodes()  # its model could not be declared (reported with the model)
    model_bucket = ctx.specs.datasets[ctx.specs.models[spec.model].dataset].bucket
    links: PublicationLinks[Ref] = {
        "registryBucket": ctx.ref("Bucket", spec.bucket, "bucket", "bucketName"),
        "recordBucket": ctx.ref("Bucket", model_bucket, "bucket", "bucketName"),
        **model,
    }
    node = Node(
        f"{spec.name}-publication",
        "publication",
        spec,
        Publication,
        {**publication_inputs(spec, ctx.target), **links},
        protect=ctx.config.protect,
    )
    outputs = {
        "target": spec.target.value,
        "displayName": spec.display_name,
        "registryName": Ref(node.name, "registryName"),
        "state": Ref(node.name, "state"),
    }
    return DocumentNodes([node], outputs, export=True)


def rollout_nodes(spec: RolloutSpec, ctx: Context) -> DocumentNodes:
    """A Remote Config parameter serving the publications it names, once they are published
    (their display names are Refs to them)."""
    values: dict[str, str | Ref] = {}
    for name in spec.publications:
        if ctx.node("Publication", name, "publication") is None:
            return DocumentNodes()  # its publication could not be declared (reported there)
        values[name] = ctx.ref("Publication", name, "publication", "displayName")
    node = Node(
        f"{spec.name}-rollout",
        "rollout",
        spec,
        Rollout,
        rollout_inputs(spec, ctx.target, values),
        protect=ctx.config.protect,
    )
    outputs = {
        "parameter": spec.parameter,
        "templateVersion": Ref(node.name, "templateVersion"),
    }
    return DocumentNodes([node], outputs, export=True)


NODE_KINDS: tuple[NodeKind, ...] = (
    NodeKind(Kind.BUCKET, bucket_nodes),
    NodeKind(Kind.DATASET, dataset_nodes),
    NodeKind(Kind.MODEL, model_nodes),
    NodeKind(Kind.PUBLICATION, publication_nodes),
    NodeKind(Kind.ROLLOUT, rollout_nodes),
)


# -- the graph --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Component:
    """One spec document on the stack: its nodes and its stack outputs."""

    document: Document
    nodes: tuple[Node, ...]
    outputs: Mapping[str, Any]
    export: bool

    @property
    def key(self) -> DocumentKey:
        return (str(self.document.kind), self.document.name)


@dataclass(frozen=True)
class Graph:
    """Every node of a stack in dependency order, grouped by document, and what could not be
    declared (a promotion whose source stack cannot be read)."""

    stack: str
    components: tuple[Component, ...]
    errors: tuple[SpecIssue, ...] = ()

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(n for c in self.components for n in c.nodes)

    def node(self, document: DocumentKey, role: str) -> Node | None:
        """The node of a document by its role (`("Model", "digits"), "gate"`)."""
        return next(
            (n for c in self.components if c.key == document for n in c.nodes if n.role == role),
            None,
        )

    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}


def build_graph(
    specs: SpecSet,
    config: StackConfig,
    root: Path = Path("."),
    kinds: Sequence[NodeKind] = NODE_KINDS,
) -> Graph:
    """The stack's nodes: every document of `specs` (in dependency order) through the
    NodeKinds of its kind."""
    ctx = Context(specs, config, cloud_target(config), Path(root))
    components: list[Component] = []
    errors: list[SpecIssue] = []
    for doc in specs.dependency_order():
        nodes: list[Node] = []
        outputs: dict[str, Any] = {}
        export = False
        for kind in kinds:
            if kind.document_kind != doc.kind:
                continue
            try:
                part = kind.build(doc, ctx)
            except SpecError as err:
                errors.extend(err.issues)
                continue
            for node in part.nodes:
                ctx.nodes[(node.key, node.role)] = node
            nodes.extend(part.nodes)
            outputs.update(part.outputs)
            export = export or part.export
        if nodes:
            components.append(Component(doc, tuple(nodes), outputs, export))
    return Graph(config.stack, tuple(components), tuple(errors))
