"""What `pulumi up` would declare for one stack's specs, computed without Pulumi or the cloud.

The resources are the stack's graph (components/graph.py: what the program declares); every
node's inputs are passed through its provider's own `check` (which is where a Dataset's
content fingerprint and a TrainedModel's training fingerprint are computed), so comparing two
plans with each provider's `replace_on` / `update_on` gives the decisions `pulumi preview`
would make — assuming the stack is deployed at the base revision. Values a provider computes
at deploy time are `Computed` placeholders ("known after deploy"); a placeholder changes
exactly when the inputs it changes with (`Provider.changes_with`) change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pulumi.runtime import rpc

from components.data.manifest import Manifest
from components.graph import NODE_KINDS, Graph, NodeKind, Ref, build_graph, substitute
from components.providers.base import EXPECTED_ERRORS, Provider, ProviderType
from components.providers.dataset import DatasetProvider
from components.providers.dataset import scan as scan_dataset
from components.spec import SpecIssue, SpecSet, StackConfig

# Summary values of a Dataset's check shown next to its fingerprint (not decisions).
DATASET_CONTEXT = ("imageCount", "labels")


@dataclass(frozen=True)
class Computed:
    """A value known only after deploy; `version` changes when its sources change.

    One output of a resource (`output`), or a mapping of several (`keys`), as the program
    passes `{k: getattr(gate, k) for k in gate.OUTPUTS}`.
    """

    resource: str  # the Pulumi resource name (`digits-model`)
    output: str | None
    version: str
    keys: tuple[str, ...] = ()

    @property
    def of(self) -> str:
        if self.output is not None:
            return f"{self.resource}.{self.output}"
        return f"{self.resource}.{{{','.join(self.keys)}}}"

    def __str__(self) -> str:
        return "(known after deploy)"

    def resolve(self, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
        """The deployed value, from the outputs of created resources by name."""
        created = outputs[self.resource]
        if self.output is not None:
            return created.get(self.output)
        return {key: created.get(key) for key in self.keys}


@dataclass(frozen=True)
class Declared:
    """One resource as the program declares it, with its provider's decisions."""

    type: str  # Bucket | Dataset | TrainedModel | AcceptanceGate | ModelExport | ...
    name: str  # the Pulumi resource name (`digits-model`)
    document: tuple[str, str]  # (kind, name) of the spec document it belongs to
    provider: ProviderType = field(repr=False)
    inputs: Mapping[str, Any] = field(repr=False)  # checked; JSON values or Computed
    derived: tuple[str, ...] = ()  # inputs the provider's check computes (fingerprint)
    declared: Mapping[str, Any] = field(default_factory=dict, repr=False)  # before check
    # A Dataset's manifest (every image's content, labels and split), read when asked for.
    manifest: Callable[[], Manifest | None] | None = field(default=None, compare=False, repr=False)

    @property
    def replace_on(self) -> tuple[str, ...]:
        return self.provider.replace_on

    @property
    def update_on(self) -> tuple[str, ...]:
        return self.provider.update_on

    def _version(self, outputs: tuple[str, ...]) -> str:
        sources = dict.fromkeys(s for key in outputs for s in self.provider.changes_with(key))
        return _digest({k: self.inputs.get(k) for k in sources})

    def output(self, key: str) -> Computed:
        """A computed output of this resource, versioned by the inputs it changes with."""
        return Computed(self.name, key, self._version((key,)))

    def outputs(self, keys: tuple[str, ...]) -> Computed:
        """Several computed outputs of this resource, as one mapping."""
        return Computed(self.name, None, self._version(keys), tuple(keys))

    def dependencies(self) -> set[str]:
        """Names of the resources whose outputs this one takes."""
        return {c.resource for c in _computed(self.declared)}


def _computed(value: Any) -> list[Computed]:
    if isinstance(value, Computed):
        return [value]
    if isinstance(value, Mapping):
        return [c for v in value.values() for c in _computed(v)]
    if isinstance(value, list | tuple):
        return [c for v in value for c in _computed(v)]
    return []


def resolve(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """Declared inputs with every Computed replaced by the created resources' outputs."""
    if isinstance(value, Computed):
        return value.resolve(outputs)
    if isinstance(value, Mapping):
        return {k: resolve(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outputs) for v in value]
    return value


@dataclass(frozen=True)
class Plan:
    """Every resource of one stack at one revision (empty when the stack is absent)."""

    stack: str
    config: StackConfig | None
    specs: SpecSet | None
    resources: Mapping[tuple[str, str], Declared]
    errors: tuple[SpecIssue, ...] = ()
    graph: Graph | None = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Computed):
        return {"computed": value.of, "version": value.version}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value == rpc.UNKNOWN:
        return {"computed": "?"}
    return value


def _digest(value: Any) -> str:
    text = json.dumps(_jsonable(value), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _to_engine(value: Any) -> Any:
    """Computed → the SDK's unknown value, as the engine hands it to a provider's check."""
    if isinstance(value, Computed):
        return rpc.UNKNOWN
    if isinstance(value, Mapping):
        return {k: _to_engine(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_engine(v) for v in value]
    return value


def _content_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's relative names and bytes."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
    elif path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(item.relative_to(path).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(item.read_bytes()).digest())
    return h.hexdigest()


class Checker:
    """Runs the providers' `check` for plans; a Dataset's scan is memoized by content, so the
    same data at both revisions (and on every stack) is read once."""

    def __init__(self) -> None:
        self._datasets: dict[str, tuple[dict[str, Any], list[str]]] = {}
        self._manifests: dict[str, Manifest | None] = {}
        # Each source read once per run (every stack names the same files); a Checker
        # serves one review or rehearsal, during which the files do not change.
        self._contents: dict[str, str] = {}

    def _content(self, path: str) -> str:
        if path not in self._contents:
            self._contents[path] = _content_digest(Path(path))
        return self._contents[path]

    def _dataset_key(self, engine: Mapping[str, Any]) -> str:
        """A Dataset's inputs with its local sources by content, not by path."""
        source = engine["source"]
        contents = [self._content(source[k]) for k in ("path", "labels") if source.get(k)]
        unpathed = {**source, "path": None, "labels": None}
        return _digest({**engine, "source": unpathed, "c": contents})

    def manifest(self, inputs: Mapping[str, Any], root: Path) -> Manifest | None:
        """The manifest of a Dataset with a local source (None for a gs:// CSV index, or data
        that fails its checks), read once per content; the provider's check read the same
        files, so the scan cache answers."""
        engine = _to_engine(absolute_paths(dict(inputs), root))
        if engine["source"].get("kind") == "csv":
            return None
        key = self._dataset_key(engine)
        if key not in self._manifests:
            try:
                with _quiet():
                    self._manifests[key] = scan_dataset(engine)[0]
            except EXPECTED_ERRORS:
                self._manifests[key] = None
        return self._manifests[key]

    def check(
        self, provider: Provider[Any], resource: str, inputs: Mapping[str, Any], root: Path
    ) -> tuple[dict[str, Any], list[str]]:
        """(checked inputs with Computed kept, failure messages)."""
        engine = _to_engine(absolute_paths(dict(inputs), root))
        key = None
        if isinstance(provider, DatasetProvider):
            key = self._dataset_key(engine)
            if key in self._datasets:
                checked, failures = self._datasets[key]
                return _restore(resource, inputs, checked), failures
        with _quiet():
            result = provider.check({}, engine)
        checked = dict(result.inputs)
        failures = [f.reason for f in result.failures]
        if key is not None:
            self._datasets[key] = (checked, failures)
        return _restore(resource, inputs, checked), failures


def _restore(
    resource: str, inputs: Mapping[str, Any], checked: Mapping[str, Any]
) -> dict[str, Any]:
    """The checked inputs with the declared values back where the check saw unknowns or
    absolute paths, and computed unknowns as Computed."""
    out: dict[str, Any] = {}
    for key, value in checked.items():
        if key in inputs and (isinstance(inputs[key], Computed) or key in _PATH_KEYS):
            out[key] = inputs[key]
        elif value == rpc.UNKNOWN:
            known = {k: v for k, v in inputs.items() if k != key}
            out[key] = Computed(resource, key, _digest(known))
        else:
            out[key] = value
    return out


_PATH_KEYS = ("source", "baseModelPath")


def absolute_paths(props: dict[str, Any], root: Path) -> dict[str, Any]:
    """Local paths in inputs are relative to the project root (the provider host's working
    directory under `pulumi up`); a plan of another revision resolves them against its root."""
    if isinstance(props.get("source"), Mapping):
        source = dict(props["source"])
        for key in ("path", "labels"):
            if source.get(key) and not Path(source[key]).is_absolute():
                source[key] = str(root / source[key])
        props["source"] = source
    if props.get("baseModelPath") and not Path(props["baseModelPath"]).is_absolute():
        props["baseModelPath"] = str(root / props["baseModelPath"])
    return props


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Sets `values` in os.environ for a block, then restores what was there (or absent)."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def scan_cache_in(directory: Path) -> contextlib.AbstractContextManager[None]:
    """The data layer's stat cache in a scratch directory: revisions extracted to temporary
    directories would otherwise leave one cache file each in the project."""
    return patched_environ({"EDGE_LABELER_CACHE_DIR": str(directory)})


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Providers print progress (and data warnings) on stdout; a plan only needs their
    answers (a review's stdout is its report; a rehearsal prints them when it deploys)."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def _issue(doc: Any, field_path: str, message: str) -> SpecIssue:
    return SpecIssue.at(
        doc.location_of(field_path), message, kind=str(doc.kind), name=doc.name, field=field_path
    )


def plan_stack(
    specs: SpecSet,
    config: StackConfig,
    root: Path,
    checker: Checker,
    kinds: Sequence[NodeKind] = NODE_KINDS,
) -> Plan:
    """The stack's graph (what `build(specs, config)` declares), each node's inputs checked by
    its provider; inputs taken from other nodes are what the plan knows of them."""
    graph = build_graph(specs, config, root, kinds)
    resources: dict[tuple[str, str], Declared] = {}
    planned: dict[str, Declared] = {}
    errors = list(graph.errors)
    for node in graph.nodes:
        inputs = substitute(node.inputs, lambda ref: _planned(ref, planned))
        if node.check_offline:
            checked, failures = checker.check(node.provider(), node.name, inputs, root)
            where = "spec.source" if node.type == "Dataset" else "spec"
            errors += [_issue(node.document, where, failure) for failure in failures]
        else:  # its check reads the cloud (a gs:// CSV index): known after deploy
            checked = dict(inputs)
        derived = tuple(k for k in checked if k not in inputs)
        declared = Declared(node.type, node.name, node.key, node.provider, checked, derived, inputs)
        if node.type == "Dataset":
            declared = _trim_dataset(declared, inputs)
            if node.check_offline:
                declared = replace(declared, manifest=_reader(checker, inputs, root))
        resources[(node.type, node.name)] = planned[node.name] = declared
    return Plan(config.stack, config, specs, resources, tuple(errors), graph)


def _reader(
    checker: Checker, inputs: Mapping[str, Any], root: Path
) -> Callable[[], Manifest | None]:
    return lambda: checker.manifest(inputs, root)


def _planned(ref: Ref, planned: Mapping[str, Declared]) -> Any:
    """A Ref as the plan knows it: the value when the node has it as an input (its own, or
    computed by its check: a fingerprint), else a Computed placeholder."""
    source = planned[ref.node]
    if ref.output is None:
        return source.outputs(ref.keys)
    if ref.output in source.inputs:
        return source.inputs[ref.output]
    return source.output(ref.output)


def _trim_dataset(declared: Declared, inputs: Mapping[str, Any]) -> Declared:
    """A Dataset's declared inputs, its fingerprint and a little context (image count)."""
    keep = {*inputs, "fingerprint", *DATASET_CONTEXT}
    trimmed = {k: v for k, v in declared.inputs.items() if k in keep}
    trimmed.setdefault("fingerprint", Computed(declared.name, "fingerprint", _digest(inputs)))
    derived = tuple(k for k in trimmed if k not in inputs)
    return replace(declared, inputs=trimmed, derived=derived)
