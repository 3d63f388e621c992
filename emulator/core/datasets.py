"""Image classification datasets: records, examples, annotation specs, import and export.

One JSON file per dataset holds its metadata, annotation spec ids, examples and the import
operations already applied, so an import commits with a single atomic write, and a restart
can tell whether an interrupted import had committed.
"""

import enum
import functools
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from emulator.core.blobs import (
    Blobs,
    ContentLocation,
    folder_timestamp,
    output_directory,
    parse_gs_uri,
)
from emulator.core.errors import (
    Aborted,
    Code,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
)
from emulator.core.image_reader import ImageReader, ReadImage
from emulator.core.image_store import ImageStore
from emulator.core.import_csv import (
    ImportRow,
    MlUse,
    MlUseSpellings,
    RowError,
    RowParser,
    assign_split,
    parse_csv,
    row_error,
)
from emulator.core.names import LocationName, parse_resource, stable_id
from emulator.core.operations import (
    Operation,
    OperationContext,
    OperationStore,
    Outcome,
    utcnow,
)
from emulator.core.persistence import atomic_write_json, read_record, remove_file

log = logging.getLogger(__name__)

DISPLAY_NAME_PATTERN = re.compile(r"[A-Za-z0-9_]{1,32}")
MAX_DESCRIPTION_CHARS = 25_000
# Resource labels (not image labels): lowercase keys starting with a letter, ≤ 64 characters.
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
# "If more than certain percent of CSV rows cannot be processed then the operation fails and
# nothing is imported": the API does not publish the percentage; the emulator uses 10 %.
MAX_BAD_ROW_FRACTION = 0.10
# Fault-injection points of an import: just before its single atomic commit, and just after
# it (before the operation is marked done), so tests can crash the emulator at either side.
IMPORT_COMMIT_STEP = "ImportData.commit"
IMPORT_COMMITTED_STEP = "ImportData.committed"


class ClassificationType(enum.StrEnum):
    MULTICLASS = "MULTICLASS"
    MULTILABEL = "MULTILABEL"


@dataclass(frozen=True)
class Example:
    """One imported image and what the dataset knows about it."""

    image_sha256: str
    source_uri: str  # the gs:// path it was first imported from
    ml_use: MlUse  # as imported (may be UNASSIGNED)
    labels: tuple[str, ...]
    format: str
    width: int
    height: int
    size_bytes: int
    # Data item labels other than the ML_USE (Vertex AI's data item resource labels).
    item_labels: dict[str, str] = field(default_factory=dict)

    @property
    def split(self) -> MlUse:
        """TRAIN, VALIDATION or TEST: the ML_USE given, or the hash-based split if UNASSIGNED."""
        return assign_split(self.image_sha256) if self.ml_use is MlUse.UNASSIGNED else self.ml_use

    def to_json(self) -> dict:
        return {
            "image_sha256": self.image_sha256,
            "source_uri": self.source_uri,
            "ml_use": self.ml_use.value,
            "labels": list(self.labels),
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "size_bytes": self.size_bytes,
            "item_labels": dict(self.item_labels),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Example":
        return cls(
            image_sha256=data["image_sha256"],
            source_uri=data["source_uri"],
            ml_use=MlUse(data["ml_use"]),
            labels=tuple(data["labels"]),
            format=data["format"],
            width=data["width"],
            height=data["height"],
            size_bytes=data["size_bytes"],
            item_labels=dict(data.get("item_labels", {})),  # absent in older state
        )


@dataclass(frozen=True)
class AnnotationSpec:
    name: str  # {dataset}/annotationSpecs/{id}
    display_name: str  # the label
    example_count: int

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "example_count": self.example_count,
        }

    @classmethod
    def from_json(cls, data: dict) -> "AnnotationSpec":
        return cls(data["name"], data["display_name"], data["example_count"])


@dataclass(frozen=True)
class Dataset:
    """A dataset as clients see it (a snapshot; example counts are derived from examples)."""

    name: str
    display_name: str
    description: str
    classification_type: ClassificationType
    create_time: datetime
    etag: str
    labels: dict[str, str] = field(default_factory=dict)
    example_count: int = 0
    annotation_specs: tuple[AnnotationSpec, ...] = ()  # sorted by display_name

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "classification_type": self.classification_type.value,
            "create_time": self.create_time.isoformat(),
            "etag": self.etag,
            "labels": dict(self.labels),
            "example_count": self.example_count,
            "annotation_specs": [s.to_json() for s in self.annotation_specs],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Dataset":
        return cls(
            name=data["name"],
            display_name=data["display_name"],
            description=data["description"],
            classification_type=ClassificationType(data["classification_type"]),
            create_time=datetime.fromisoformat(data["create_time"]),
            etag=data["etag"],
            labels=dict(data["labels"]),
            example_count=data["example_count"],
            annotation_specs=tuple(AnnotationSpec.from_json(s) for s in data["annotation_specs"]),
        )


@dataclass(frozen=True)
class _State:
    """Everything stored for one dataset (the file's content)."""

    name: str
    display_name: str
    description: str
    classification_type: ClassificationType
    create_time: datetime
    labels: dict[str, str]
    version: int = 1
    spec_ids: dict[str, str] = field(default_factory=dict)  # label → annotation spec id
    examples: dict[str, Example] = field(default_factory=dict)  # by image sha256
    applied_operations: tuple[str, ...] = ()

    def snapshot(self) -> Dataset:
        counts = dict.fromkeys(self.spec_ids, 0)
        for example in self.examples.values():
            for label in example.labels:
                counts[label] += 1
        specs = tuple(
            AnnotationSpec(f"{self.name}/annotationSpecs/{self.spec_ids[label]}", label, n)
            for label, n in sorted(counts.items())
        )
        return Dataset(
            name=self.name,
            display_name=self.display_name,
            description=self.description,
            classification_type=self.classification_type,
            create_time=self.create_time,
            etag=hashlib.sha256(f"{self.name}@{self.version}".encode()).hexdigest()[:20],
            labels=dict(self.labels),
            example_count=len(self.examples),
            annotation_specs=specs,
        )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "classification_type": self.classification_type.value,
            "create_time": self.create_time.isoformat(),
            "labels": self.labels,
            "version": self.version,
            "spec_ids": self.spec_ids,
            "examples": [e.to_json() for e in self.examples.values()],
            "applied_operations": list(self.applied_operations),
        }

    @classmethod
    def from_json(cls, data: dict) -> "_State":
        examples = (Example.from_json(e) for e in data["examples"])
        return cls(
            name=data["name"],
            display_name=data["display_name"],
            description=data["description"],
            classification_type=ClassificationType(data["classification_type"]),
            create_time=datetime.fromisoformat(data["create_time"]),
            labels=dict(data["labels"]),
            version=data["version"],
            spec_ids=dict(data["spec_ids"]),
            examples={e.image_sha256: e for e in examples},
            applied_operations=tuple(data["applied_operations"]),
        )


def validate_display_name(display_name: str, field_name: str = "display_name") -> None:
    if DISPLAY_NAME_PATTERN.fullmatch(display_name or "") is None:
        raise InvalidArgument(
            f"Field: {field_name}; Message: {display_name!r} is not a valid display name; it "
            "must have 1 to 32 characters, each an ASCII letter, digit or underscore"
        )


def validate_description(description: str) -> None:
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidArgument(
            f"Field: description; Message: {len(description)} characters; at most "
            f"{MAX_DESCRIPTION_CHARS} are allowed"
        )


def validate_resource_labels(labels: dict[str, str]) -> None:
    for key, value in labels.items():
        if _LABEL_KEY.fullmatch(key) is None or _LABEL_VALUE.fullmatch(value) is None:
            raise InvalidArgument(
                f"Field: labels; Message: label {key}={value!r} is invalid; keys start with a "
                "lowercase letter, keys and values have at most 63 lowercase letters, digits, "
                "underscores or dashes"
            )


# Checks a display name; InvalidArgument naming the request's field (AutoML's rule by default).
DisplayNameCheck = Callable[[str, str], None]


@dataclass(frozen=True)
class ImportSource:
    """One import file and how to read it (its format, its API's dialect)."""

    uri: str
    parse: RowParser


def csv_sources(
    uris: Sequence[str], uris_field: str, ml_uses: MlUseSpellings | None = None
) -> list[ImportSource]:
    """CSV import files (each must end in .csv), read with `ml_uses` (AutoML's by default)."""
    sources = []
    for uri in uris:
        parse_gs_uri(uri, uris_field)
        if not uri.lower().endswith(".csv"):
            raise InvalidArgument(f"Field: {uris_field}; Message: {uri} must be a .csv file")
        sources.append(ImportSource(uri, functools.partial(parse_csv, ml_uses=ml_uses)))
    return sources


@dataclass
class _Pending:
    """An image being imported (rows naming identical content are merged)."""

    rows: list[ImportRow]
    ml_use: MlUse
    uri: str
    labels: list[str]
    image: ReadImage
    item_labels: dict[str, str]


class DatasetStore:
    """All datasets of one emulator; thread-safe."""

    def __init__(
        self, root: Path, image_store: ImageStore, blobs: Blobs, operations: OperationStore
    ) -> None:
        self._root = root
        self._images = image_store
        self._blobs = blobs
        self._operations = operations
        self._states: dict[str, _State] = {}
        self._lock = threading.RLock()
        self._reader = ImageReader()
        operations.register_recovery("import_data", self._recover_import)

    def close(self) -> None:
        """Stops the import's helper processes (after the operations stopped)."""
        self._reader.close()

    # ---- persistence ----------------------------------------------------------------------

    def load(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        for path in sorted(self._root.glob("*.json")):
            state = _State.from_json(read_record(path))
            self._states[state.name] = state

    def _path(self, name: str) -> Path:
        return self._root / f"{name.rsplit('/', 1)[-1]}.json"

    def _save(self, state: _State) -> None:
        """Writes and publishes a new state. Caller holds the lock."""
        atomic_write_json(self._path(state.name), state.to_json())
        self._states[state.name] = state

    def _state(self, name: str) -> _State:
        parse_resource(name, "datasets", "Dataset")
        with self._lock:
            state = self._states.get(name)
        if state is None:
            raise NotFound(
                f"The Dataset doesn't exist or is inaccessible for use with AutoML: {name}"
            )
        return state

    # ---- CRUD -------------------------------------------------------------------------------

    def create(
        self,
        location: LocationName,
        dataset_id: str,
        display_name: str,
        classification_type: ClassificationType,
        description: str = "",
        labels: dict[str, str] | None = None,
        check_display_name: DisplayNameCheck = validate_display_name,
    ) -> Dataset:
        check_display_name(display_name, "dataset.display_name")
        validate_description(description)
        validate_resource_labels(labels or {})
        name = str(location.child("datasets", dataset_id))
        state = _State(
            name=name,
            display_name=display_name,
            description=description,
            classification_type=classification_type,
            create_time=utcnow(),
            labels=dict(labels or {}),
        )
        with self._lock:
            if name in self._states:
                raise ServiceError(f"Dataset {name} already exists.", Code.ALREADY_EXISTS)
            self._save(state)
        log.info("dataset %s created (%s, %s)", name, display_name, classification_type)
        return state.snapshot()

    def get(self, name: str) -> Dataset:
        return self._state(name).snapshot()

    def list_datasets(self, location: LocationName) -> list[Dataset]:
        prefix = f"{location}/datasets/"
        with self._lock:
            states = [s for s in self._states.values() if s.name.startswith(prefix)]
        return [s.snapshot() for s in sorted(states, key=lambda s: (s.create_time, s.name))]

    def update(
        self,
        name: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        labels: dict[str, str] | None = None,
        etag: str = "",
    ) -> Dataset:
        """Changes the given fields; a non-empty etag must match the current one (else ABORTED)."""
        if display_name is not None:
            validate_display_name(display_name, "dataset.display_name")
        if description is not None:
            validate_description(description)
        if labels is not None:
            validate_resource_labels(labels)
        with self._lock:
            state = self._state(name)
            if etag and etag != state.snapshot().etag:
                raise Aborted(
                    f"Dataset {name} was modified since it was read (etag {etag!r} is stale); "
                    "read it again and retry the update"
                )
            state = replace(
                state,
                display_name=state.display_name if display_name is None else display_name,
                description=state.description if description is None else description,
                labels=state.labels if labels is None else dict(labels),
                version=state.version + 1,
            )
            self._save(state)
        return state.snapshot()

    def delete(self, name: str) -> None:
        """Deletes the dataset and its imported images (refused while an operation uses it)."""
        # Lock order everywhere: images → datasets → operations.
        with self._images.lock, self._lock:
            self._state(name)
            busy = self._operations.running(name)
            if busy:
                raise FailedPrecondition(
                    f"Dataset {name} cannot be deleted while operation {busy[0].name} "
                    f"({busy[0].kind}) is running on it; wait for it or cancel it first."
                )
            self._states.pop(name, None)
            remove_file(self._path(name))
            referenced = {sha for s in self._states.values() for sha in s.examples}
            removed = self._images.retain_only(referenced)
        log.info("dataset %s deleted (%d images removed)", name, removed)

    def set_classification_type(
        self, name: str, classification_type: ClassificationType
    ) -> Dataset:
        """Changes the classification type of a dataset that holds no images yet.

        For APIs that choose it at import rather than at creation (Vertex AI's import schema).
        FailedPrecondition once images are imported with another type, or while an import runs.
        """
        with self._lock:
            state = self._state(name)
            if state.classification_type is classification_type:
                return state.snapshot()
            if state.examples:
                raise FailedPrecondition(
                    f"Dataset {name} holds {state.classification_type.value} annotations of "
                    f"{len(state.examples)} images; the emulator keeps one classification type "
                    f"per dataset, so it cannot import {classification_type.value} annotations "
                    "into it: create another dataset"
                )
            busy = [op for op in self._operations.running(name) if op.kind == "import_data"]
            if busy:
                raise FailedPrecondition(
                    f"Dataset {name} has an import running ({busy[0].name}); wait for it first."
                )
            state = replace(
                state, classification_type=classification_type, version=state.version + 1
            )
            self._save(state)
        return state.snapshot()

    # ---- content ----------------------------------------------------------------------------

    def examples(self, name: str) -> tuple[Example, ...]:
        """The dataset's examples, in import order."""
        return tuple(self._state(name).examples.values())

    def image_bytes(self, example: Example) -> bytes:
        return self._images.read(example.image_sha256)

    def annotation_spec(self, name: str) -> AnnotationSpec:
        """`{dataset}/annotationSpecs/{id}` with its label and example count."""
        match = re.fullmatch(r"(?P<dataset>.+)/annotationSpecs/(?P<id>[0-9]+)", name or "")
        if match is None:
            raise InvalidArgument(
                f"Field: name; Message: {name!r} is not a valid AnnotationSpec name; expected "
                "projects/{project}/locations/{location}/datasets/{dataset_id}/annotationSpecs/"
                "{annotation_spec_id}"
            )
        dataset = self.get(match["dataset"])
        for spec in dataset.annotation_specs:
            if spec.name == name:
                return spec
        raise NotFound(f"The AnnotationSpec doesn't exist or is inaccessible: {name}")

    # ---- import -----------------------------------------------------------------------------

    def start_import(
        self,
        name: str,
        sources: Sequence[ImportSource],
        *,
        uris_field: str,
        api: str,
        id_prefix: str = "",
        parent: str | None = None,
        relabel: bool = False,
    ) -> Operation:
        """Checks the request, then imports the files in a background operation.

        `uris_field`: where the request holds the URIs (for messages). `parent`: where the
        operation is named (default: the dataset's location, as AutoML names operations).
        `relabel`: an image imported again takes the new ML_USE and data item labels (Vertex
        AI: "if labels with identical key is imported before, the old label value will be
        overwritten"); otherwise the first import's ML_USE stays (AutoML).
        """
        state = self._state(name)
        if not sources:
            raise InvalidArgument(
                f"Field: {uris_field}; Message: at least one gs:// URI of an import file is "
                "required"
            )
        for source in sources:
            parse_gs_uri(source.uri, uris_field)
        files = list(sources)
        with self._lock:  # the check and the start are one step for concurrent callers
            self._state(name)
            for op in self._operations.running(name):
                if op.kind == "import_data":
                    raise FailedPrecondition(
                        f"Dataset {name} already has an import running ({op.name}); wait for it "
                        "before starting another."
                    )
            return self._operations.start(
                parent=parent or str(parse_resource(name, "datasets", "Dataset").parent),
                api=api,
                kind="import_data",
                resources=[name],
                work=lambda ctx: self._run_import(ctx, state.name, files, relabel),
                details={"input_uris": [f.uri for f in files]},
                id_prefix=id_prefix,
            )

    def _read_import_file(self, uri: str) -> bytes:
        try:
            return self._blobs.read(uri)
        except NotFound:
            what = "CSV" if uri.lower().endswith(".csv") else "file"
            raise NotFound(f"Import {what} {uri} does not exist; nothing was imported.") from None

    def _locate(self, uri: str) -> ContentLocation | tuple[Code, str]:
        """Where the content of the object `uri` names is, or (code, reason) when there is
        none."""
        try:
            parse_gs_uri(uri)
            return self._blobs.content_location(uri)
        except NotFound:
            return Code.NOT_FOUND, "file does not exist"
        except InvalidArgument as exc:
            return Code.INVALID_ARGUMENT, exc.message

    def _run_import(
        self, ctx: OperationContext, name: str, files: list[ImportSource], relabel: bool
    ) -> dict:
        rows: list[ImportRow] = []
        errors: list[RowError] = []
        for source in files:
            file_rows, file_errors = source.parse(source.uri, self._read_import_file(source.uri))
            rows += file_rows
            errors += file_errors
        input_uris = [f.uri for f in files]
        total_rows = len(rows) + len(errors)
        if total_rows == 0:
            raise InvalidArgument(
                f"{', '.join(input_uris)} contains no rows; nothing was imported."
            )
        classification = self._state(name).classification_type
        pending = self._fetch_rows(ctx, rows, errors)
        if classification is ClassificationType.MULTICLASS:
            self._refuse_several_labels(name, pending, errors)
        errors.sort(key=lambda e: (input_uris.index(e.source), e.line))
        ctx.add_partial_failures(e.status for e in errors)
        bad_rows = len({(e.source, e.line) for e in errors})
        ctx.set_details(rows=total_rows, failed_rows=bad_rows, images=len(pending))
        if not pending or bad_rows > MAX_BAD_ROW_FRACTION * total_rows:
            first = "; ".join(e.status.message for e in errors[:3])
            raise InvalidArgument(
                f"Import into {name} failed: {bad_rows} of {total_rows} rows could not be "
                f"imported (at most {MAX_BAD_ROW_FRACTION:.0%} may fail); nothing was imported. "
                f"First problems: {first}"
            )
        ctx.checkpoint(IMPORT_COMMIT_STEP)
        self._commit_import(ctx, name, pending, relabel)
        log.info("import into %s: %d images from %d rows", name, len(pending), total_rows)
        self._operations.faults.checkpoint(IMPORT_COMMITTED_STEP, ctx.stopping)
        return {}

    def _fetch_rows(
        self, ctx: OperationContext, rows: list[ImportRow], errors: list[RowError]
    ) -> dict[str, _Pending]:
        """The images the rows name, by content (sha256); rows that cannot be used → errors.
        Each object is read once, however many rows name it (image_reader.py: on every core)."""
        self._reader.prepare(len(rows))
        located: dict[str, ContentLocation | tuple[Code, str]] = {}
        for row in rows:
            if row.uri not in located:
                located[row.uri] = self._locate(row.uri)
        paths = [found for found in located.values() if isinstance(found, ContentLocation)]
        percent = [0]

        def progress(done: int) -> None:  # an operation update per percent, up to 90
            if 90 * done // max(len(paths), 1) != percent[0]:
                percent[0] = 90 * done // max(len(paths), 1)
                ctx.progress(percent[0])

        read = dict(zip(paths, self._reader.read(paths, ctx.stopping, progress), strict=True))
        ctx.raise_if_stopping()
        pending: dict[str, _Pending] = {}
        for row in rows:
            found = located[row.uri]
            result = read[found] if isinstance(found, ContentLocation) else found
            if not isinstance(result, ReadImage):
                assert result is not None  # every path was read: the import did not stop
                errors.append(row_error(row, *result))
                continue
            item = pending.get(result.sha256)
            if item is None:
                pending[result.sha256] = _Pending(
                    [row],
                    row.ml_use,
                    row.uri,
                    list(row.labels),
                    result,
                    dict(row.item_labels),
                )
            else:  # same content again: labels are appended, the first ML_USE (and label) wins
                item.rows.append(row)
                item.labels += [label for label in row.labels if label not in item.labels]
                item.item_labels = {**dict(row.item_labels), **item.item_labels}
        return pending

    def _refuse_several_labels(
        self, name: str, pending: dict[str, _Pending], errors: list[RowError]
    ) -> None:
        """MULTICLASS: images that would have several labels (with those they have) → errors."""
        existing = self._state(name).examples
        for sha, item in list(pending.items()):
            labels = list(existing[sha].labels) if sha in existing else []
            labels += [label for label in item.labels if label not in labels]
            if len(labels) > 1:
                for row in item.rows:
                    errors.append(
                        row_error(
                            row,
                            Code.INVALID_ARGUMENT,
                            f"the image has {len(labels)} labels ({', '.join(labels)}) but "
                            "the dataset is MULTICLASS: at most one label per image",
                        )
                    )
                del pending[sha]

    def _commit_import(
        self, ctx: OperationContext, name: str, pending: dict[str, _Pending], relabel: bool
    ) -> None:
        """Stores the images, then adds (or relabels) the examples in one write."""
        with self._images.lock:
            for item in pending.values():
                self._images.put(item.image.data, item.image.sha256)
            self._images.sync()  # on disk before the examples that refer to them
            with self._lock:
                state = self._state(name)
                examples = dict(state.examples)
                spec_ids = dict(state.spec_ids)
                for sha, item in pending.items():
                    old = examples.get(sha)
                    labels = list(old.labels) if old else []
                    labels += [label for label in item.labels if label not in labels]
                    ml_use = old.ml_use if old else item.ml_use
                    if old and relabel and item.ml_use is not MlUse.UNASSIGNED:
                        ml_use = item.ml_use
                    examples[sha] = Example(
                        image_sha256=sha,
                        source_uri=old.source_uri if old else item.uri,
                        ml_use=ml_use,
                        labels=tuple(labels),
                        format=item.image.format,
                        width=item.image.width,
                        height=item.image.height,
                        size_bytes=len(item.image.data),
                        item_labels={**(old.item_labels if old else {}), **item.item_labels},
                    )
                    for label in labels:
                        spec_ids.setdefault(label, stable_id(f"{name}/{label}"))
                self._save(
                    replace(
                        state,
                        examples=examples,
                        spec_ids=spec_ids,
                        version=state.version + 1,
                        applied_operations=(*state.applied_operations, ctx.name),
                    )
                )

    def _recover_import(self, op: Operation) -> Outcome | None:
        """An import found running at start succeeded if its commit made it to disk."""
        state = self._states.get(op.resources[0])
        if state is not None and op.name in state.applied_operations:
            return Outcome(response={})
        return None

    # ---- export -----------------------------------------------------------------------------

    def start_export(
        self,
        name: str,
        output_uri_prefix: str,
        *,
        prefix_field: str,
        api: str,
        id_prefix: str = "",
    ) -> Operation:
        """Writes the dataset as an import CSV under `output_uri_prefix` (background).

        `prefix_field`: where the request holds the prefix (for messages).
        """
        state = self._state(name)
        directory = output_directory(
            output_uri_prefix,
            f"export_data-{state.display_name}-{folder_timestamp()}",
            prefix_field,
        )
        return self._operations.start(
            parent=str(parse_resource(name, "datasets", "Dataset").parent),
            api=api,
            kind="export_data",
            resources=[name],
            work=lambda ctx: self._run_export(ctx, name, directory),
            details={"gcs_output_directory": directory},
            id_prefix=id_prefix,
        )

    def _run_export(self, ctx: OperationContext, name: str, directory: str) -> dict:
        lines = [
            ",".join([example.split.value, example.source_uri, *example.labels])
            for example in self.examples(name)
        ]
        ctx.checkpoint("ExportData.write")
        try:
            self._blobs.write(
                f"{directory}/image_classification_1.csv",
                ("\n".join(lines) + "\n").encode(),
                "text/csv",
            )
        except NotFound as exc:
            raise NotFound(f"Cannot export {name}: {exc.message}") from None
        return {}
