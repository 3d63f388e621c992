"""Typed, immutable spec documents (one class per kind) and the SpecSet that holds them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from components.spec.errors import Location, SpecIssue
from components.spec.naming import bucket_name, display_name


def freeze(value: Any) -> Any:
    """Deeply immutable copy: dicts → MappingProxyType, lists → tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(child) for key, child in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(child) for child in value)
    return value


def thaw(value: Any) -> Any:
    """Plain dicts/lists again (for JSON, diffs, Pulumi inputs)."""
    if isinstance(value, Mapping):
        return {key: thaw(child) for key, child in value.items()}
    if isinstance(value, tuple):
        return [thaw(child) for child in value]
    return value


class Kind(StrEnum):
    BUCKET = "Bucket"
    DATASET = "Dataset"
    MODEL = "Model"
    PUBLICATION = "Publication"
    ROLLOUT = "Rollout"


class StorageClass(StrEnum):
    STANDARD = "STANDARD"
    NEARLINE = "NEARLINE"
    COLDLINE = "COLDLINE"
    ARCHIVE = "ARCHIVE"


class Classification(StrEnum):
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"


class SourceKind(StrEnum):
    ZIP = "zip"
    DIRECTORY = "directory"
    CSV = "csv"
    IMAGES = "images"


class OptimizeFor(StrEnum):
    LATENCY = "latency"
    BALANCED = "balanced"
    ACCURACY = "accuracy"

    @property
    def automl_model_type(self) -> str:
        """AutoML v1 `ImageClassificationModelMetadata.model_type`."""
        return _AUTOML_MODEL_TYPES[self]

    @property
    def vertex_model_type(self) -> str:
        """Vertex AI `AutoMlImageClassificationInputs.ModelType` enum name."""
        return _VERTEX_MODEL_TYPES[self]


_AUTOML_MODEL_TYPES = {
    OptimizeFor.LATENCY: "mobile-low-latency-1",
    OptimizeFor.BALANCED: "mobile-versatile-1",
    OptimizeFor.ACCURACY: "mobile-high-accuracy-1",
}
_VERTEX_MODEL_TYPES = {
    OptimizeFor.LATENCY: "MOBILE_TF_LOW_LATENCY_1",
    OptimizeFor.BALANCED: "MOBILE_TF_VERSATILE_1",
    OptimizeFor.ACCURACY: "MOBILE_TF_HIGH_ACCURACY_1",
}


class ExportFormat(StrEnum):
    """Values are AutoML v1 `ModelExportOutputConfig.model_format` names."""

    TFLITE = "tflite"
    EDGETPU_TFLITE = "edgetpu_tflite"
    TF_SAVED_MODEL = "tf_saved_model"

    @property
    def vertex_format(self) -> str:
        """Vertex AI export format id (`tflite`, `edgetpu-tflite`, `tf-saved-model`)."""
        return self.value.replace("_", "-")


class ThresholdKind(StrEnum):
    FIXED = "fixed"
    PRECISION_AT_LEAST = "precisionAtLeast"
    MAXIMIZE = "maximize"


class Target(StrEnum):
    FIREBASE_ML = "firebase-ml"
    STORAGE = "storage"


@dataclass(frozen=True, kw_only=True)
class Document:
    """What every document has: its name, where it is written and its effective spec."""

    kind: ClassVar[Kind]
    name: str
    origin: Location
    spec: Mapping[str, Any] = field(repr=False)  # overlay applied, defaults filled, frozen
    locations: Mapping[str, Location] = field(repr=False, compare=False)

    @property
    def key(self) -> tuple[Kind, str]:
        return (self.kind, self.name)

    def location_of(self, field_path: str) -> Location:
        """Where `spec.x.y` (or its nearest written parent) is written; for later layers'
        errors ("specs/digits.yaml:12:10: Dataset 'digits' spec.source.zip: ...")."""
        path = field_path
        while path:
            if path in self.locations:
                return self.locations[path]
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return self.origin

    def cloud_display_name(self, stack: str) -> str:
        """AutoML/Vertex display name of this document on a stack (see naming.py)."""
        return display_name(self.name, stack)


@dataclass(frozen=True, kw_only=True)
class Lifecycle:
    delete_after_days: int


@dataclass(frozen=True, kw_only=True)
class Bucket(Document):
    kind: ClassVar[Kind] = Kind.BUCKET
    location: str
    storage_class: StorageClass
    versioning: bool
    force_destroy: bool  # delete objects with the bucket (else deleting a full bucket fails)
    lifecycle: Lifecycle | None
    labels: Mapping[str, str] = field(compare=False)
    bucket_name: str | None  # explicit name, else derived by cloud_name()

    def cloud_name(self, project: str) -> str:
        """The Cloud Storage bucket name in `project`."""
        return self.bucket_name or bucket_name(project, self.name)


@dataclass(frozen=True, kw_only=True)
class DatasetSource:
    kind: SourceKind
    path: Path | None  # resolved local path (zip, directory, images)
    uri: str | None  # gs:// CSV index (csv)
    labels: Path | None  # resolved labels CSV (only with images)


@dataclass(frozen=True, kw_only=True)
class Split:
    train: float
    validation: float
    test: float
    seed: int


@dataclass(frozen=True, kw_only=True)
class Dataset(Document):
    kind: ClassVar[Kind] = Kind.DATASET
    bucket: str
    classification: Classification
    source: DatasetSource
    split: Split


@dataclass(frozen=True, kw_only=True)
class Budget:
    node_hours: float

    @property
    def milli_node_hours(self) -> int:
        """The API's unit (1 node hour = 1,000)."""
        return round(self.node_hours * 1000)


@dataclass(frozen=True, kw_only=True)
class BaseModel:
    path: Path | None  # resolved local Keras file or SavedModel directory
    model: str | None  # name of another Model


@dataclass(frozen=True, kw_only=True)
class Deploy:
    nodes: int


@dataclass(frozen=True, kw_only=True)
class ThresholdPolicy:
    kind: ThresholdKind
    value: float | None  # fixed / precisionAtLeast
    metric: str | None  # maximize ("f1")


@dataclass(frozen=True, kw_only=True)
class LabelMinimums:
    min_precision: float | None
    min_recall: float | None


@dataclass(frozen=True, kw_only=True)
class Acceptance:
    threshold: ThresholdPolicy
    min_precision: float | None
    min_recall: float | None
    min_au_prc: float | None
    per_label: Mapping[str, LabelMinimums] = field(compare=False)
    no_worse_than: str | None  # "published" or None


@dataclass(frozen=True, kw_only=True)
class Promotion:
    from_stack: str
    fingerprint: str  # "sha256:<64 hex>"


@dataclass(frozen=True, kw_only=True)
class Model(Document):
    kind: ClassVar[Kind] = Kind.MODEL
    dataset: str
    optimize_for: OptimizeFor
    budget: Budget
    export: tuple[ExportFormat, ...]
    base_model: BaseModel | None
    deploy: Deploy | None
    seed: int
    retain_on_delete: bool
    acceptance: Acceptance
    promoted: Promotion | None

    @property
    def trained_here(self) -> bool:
        """False when the model is a pinned promotion from another stack."""
        return self.promoted is None


@dataclass(frozen=True, kw_only=True)
class Publication(Document):
    kind: ClassVar[Kind] = Kind.PUBLICATION
    model: str
    target: Target
    display_name: str
    tags: tuple[str, ...]
    published: bool
    bucket: str  # explicit, or the bucket of the model's dataset


@dataclass(frozen=True, kw_only=True)
class RolloutCondition:
    """One condition of a Rollout: its rules (all must hold) and the publication it serves."""

    name: str  # the Remote Config condition's name
    publication: str
    percent: float | None  # users whose percentile (for `seed`) is at most this
    seed: str  # explicit, or the parameter key
    app_id: str | None
    app_versions: tuple[str, ...]
    min_app_version: str | None
    countries: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Rollout(Document):
    """A Remote Config parameter naming the publication each group of users gets."""

    kind: ClassVar[Kind] = Kind.ROLLOUT
    parameter: str
    description: str
    group: str | None
    publication: str  # served by default
    conditions: tuple[RolloutCondition, ...]  # in priority order

    @property
    def publications(self) -> tuple[str, ...]:
        """Every publication it names: the default, then each condition's (no repeats)."""
        return tuple(dict.fromkeys([self.publication, *(c.publication for c in self.conditions)]))


KIND_ORDER = (Kind.BUCKET, Kind.DATASET, Kind.MODEL, Kind.PUBLICATION, Kind.ROLLOUT)


@dataclass(frozen=True, kw_only=True)
class SpecSet:
    """Every document of a spec directory for one stack, validated and cross-checked."""

    directory: Path
    stack: str | None
    buckets: Mapping[str, Bucket] = field(compare=False)
    datasets: Mapping[str, Dataset] = field(compare=False)
    models: Mapping[str, Model] = field(compare=False)
    publications: Mapping[str, Publication] = field(compare=False)
    rollouts: Mapping[str, Rollout] = field(compare=False)
    files: tuple[Path, ...]  # files read, overlay included
    warnings: tuple[SpecIssue, ...] = ()

    def of_kind(self, kind: Kind | str) -> Mapping[str, Document]:
        return {
            Kind.BUCKET: self.buckets,
            Kind.DATASET: self.datasets,
            Kind.MODEL: self.models,
            Kind.PUBLICATION: self.publications,
            Kind.ROLLOUT: self.rollouts,
        }[Kind(kind)]

    def get(self, kind: Kind | str, name: str) -> Document:
        """The document of a kind by name (KeyError when absent)."""
        return self.of_kind(kind)[name]

    def documents(self) -> tuple[Document, ...]:
        """All documents, by kind (Bucket, Dataset, Model, Publication, Rollout) then name."""
        return tuple(doc for kind in KIND_ORDER for _, doc in sorted(self.of_kind(kind).items()))

    def counts(self) -> dict[str, int]:
        return {str(kind): len(self.of_kind(kind)) for kind in KIND_ORDER}

    def dependencies(self, doc: Document) -> tuple[Document, ...]:
        """The documents `doc` refers to directly."""
        refs: list[tuple[Kind, str]] = []
        if isinstance(doc, Dataset):
            refs.append((Kind.BUCKET, doc.bucket))
        elif isinstance(doc, Model):
            refs.append((Kind.DATASET, doc.dataset))
            if doc.base_model and doc.base_model.model:
                refs.append((Kind.MODEL, doc.base_model.model))
        elif isinstance(doc, Publication):
            refs.extend([(Kind.MODEL, doc.model), (Kind.BUCKET, doc.bucket)])
        elif isinstance(doc, Rollout):
            refs.extend((Kind.PUBLICATION, name) for name in doc.publications)
        return tuple(self.get(kind, name) for kind, name in refs)

    def dependency_order(self) -> tuple[Document, ...]:
        """Every document after the documents it refers to (stable: kind, then name)."""
        done: dict[tuple[Kind, str], Document] = {}

        def visit(doc: Document) -> None:
            if doc.key in done:
                return
            for dep in self.dependencies(doc):
                visit(dep)
            done[doc.key] = doc

        for doc in self.documents():
            visit(doc)
        return tuple(done.values())
