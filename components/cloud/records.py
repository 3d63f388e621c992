"""What the tool keeps in each stack's bucket, besides images and exports.

- `.edge-labeler/operations/<fingerprint>.json`: the training operation of a fingerprint,
  written before waiting on it, so an interrupted `pulumi up` re-attaches instead of
  training (and paying) again.
- `models/<name>/<fingerprint>/record.json`: the registry record of a gated, exported
  model — the input of promotion and history.
- `models/<name>/published.json`: which fingerprint this stack's publication serves.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from components.cloud.errors import CloudError
from components.cloud.storage import ObjectStore, split_uri

RECORD_VERSION = 1


def model_fingerprint(
    dataset_fingerprint: str,
    model_type: str,
    budget_milli_node_hours: int,
    base_model: str | None,
    seed: int,
) -> str:
    """Identity of a training run: same data + same config ⇒ same model, never trained twice."""
    config = json.dumps(
        {
            "dataset": dataset_fingerprint,
            "modelType": model_type,
            "budgetMilliNodeHours": int(budget_milli_node_hours),
            "baseModel": base_model,
            "seed": int(seed),
        },
        sort_keys=True,
    )
    return "sha256:" + hashlib.sha256(f"edge-labeler/model/v1 {config}".encode()).hexdigest()


def _hex(fingerprint: str) -> str:
    return fingerprint.removeprefix("sha256:")


def operation_path(fingerprint: str) -> str:
    return f".edge-labeler/operations/{_hex(fingerprint)}.json"


def record_path(model: str, fingerprint: str) -> str:
    return f"models/{model}/{_hex(fingerprint)}/record.json"


def published_path(model: str) -> str:
    return f"models/{model}/published.json"


class RecordError(CloudError):
    """A record or pointer in the bucket is not what this tool writes (edited by hand, written
    by another tool or version, or damaged); the message names the object and what it lacks."""


def _refuse(where: str, what: str, kind: str) -> RecordError:
    return RecordError(
        f"{where}, a {kind}, {what}: it was edited by hand or written by another version; "
        "restore it (the bucket keeps its generations when versioning is on) or delete it and "
        "run `pulumi up` again"
    )


def _read_object(
    store: ObjectStore, name: str, kind: str, holds: str = "the record's fields"
) -> dict[str, Any] | None:
    """The JSON object stored under `name`; None when there is none; RecordError when the
    object is not JSON or not a JSON object."""
    data = store.read(name)
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise _refuse(store.uri(name), f"is not JSON ({exc})", kind) from None
    if not isinstance(value, dict):
        raise _refuse(
            store.uri(name), f"is a JSON {type(value).__name__}, not an object with {holds}", kind
        )
    return value


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Artifact:
    format: str  # tflite | edgetpu_tflite | tf_saved_model
    uri: str  # gs:// of the model file (model.tflite, edgetpu_model.tflite), or the folder
    directory: str  # the export folder, in its API's layout (components/cloud/exports.py)
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class RegistryRecord:
    model: str
    stack: str
    fingerprint: str
    dataset_fingerprint: str
    config: Mapping[str, Any]  # modelType, budgetMilliNodeHours, baseModel, seed
    cloud_model: str
    stop_reason: str
    train_cost_milli_node_hours: int
    gate: Mapping[str, Any]  # GateResult.to_props(): passed, threshold, metrics, perLabel
    labels: tuple[str, ...]
    artifacts: tuple[Artifact, ...]
    created: str = field(default_factory=now)
    promoted_from: str | None = None
    version: int = RECORD_VERSION
    # Epochs the training completed and the one whose weights were kept, from the export's
    # tflite_metadata.json `training` (the emulator's AutoML v1 exports have it; Vertex AI's
    # layout and Google's exports do not: None).
    epochs_run: int | None = None
    best_epoch: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["config"] = dict(self.config)
        data["gate"] = dict(self.gate)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "a record") -> "RegistryRecord":
        """The record stored as `data`; RecordError naming `where` when a field it needs is
        missing or of the wrong kind. Fields this version does not know (written by a newer
        one) are ignored."""
        kind = "registry record"
        known = set(cls.__dataclass_fields__)
        required = {n for n, f in cls.__dataclass_fields__.items() if _required(f)}
        missing = sorted(required - set(data))
        if missing:
            raise _refuse(where, f"has no {', no '.join(missing)}", kind)
        for name in ("config", "gate"):
            if not isinstance(data[name], Mapping):
                raise _refuse(where, f"has a `{name}` that is not an object", kind)
        artifacts = data["artifacts"]
        needed = set(Artifact.__dataclass_fields__)
        if not isinstance(artifacts, list) or not all(
            isinstance(a, Mapping) and needed <= set(a) for a in artifacts
        ):
            raise _refuse(
                where, f"has `artifacts` that are not a list of objects with {sorted(needed)}", kind
            )
        if not isinstance(data["labels"], list):
            raise _refuse(where, "has `labels` that are not a list", kind)
        values = {k: v for k, v in data.items() if k in known}
        values["artifacts"] = tuple(Artifact(**{k: a[k] for k in needed}) for a in artifacts)
        values["labels"] = tuple(data["labels"])
        return cls(**values)

    def artifact(self, fmt: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.format == fmt), None)


def directory_digest(store: ObjectStore, directory: str) -> tuple[str, int, dict[str, bytes]]:
    """sha256 and size of an exported directory (an Artifact's of `tf_saved_model`), and its
    files: the digest covers each file's name (relative to the directory) and bytes."""
    prefix = split_uri(directory)[1]
    files = {name: store.read(name) or b"" for name in sorted(store.names(prefix))}
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.removeprefix(prefix).encode() + b"\0" + data)
    return digest.hexdigest(), sum(len(d) for d in files.values()), files


def write_record(store: ObjectStore, record: RegistryRecord) -> str:
    path = record_path(record.model, record.fingerprint)
    store.write_json(path, record.to_json())
    return store.uri(path)


def _required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def read_record(store: ObjectStore, model: str, fingerprint: str) -> RegistryRecord | None:
    name = record_path(model, fingerprint)
    data = _read_object(store, name, "registry record")
    return None if data is None else RegistryRecord.from_json(data, store.uri(name))


def read_published(store: ObjectStore, model: str) -> dict[str, Any] | None:
    """The pointer to what this stack publishes (`fingerprint`, `displayName`,
    `publishedAt`); None when nothing is published; RecordError when it names no fingerprint."""
    name = published_path(model)
    data = store.read(name)
    return None if data is None else published_pointer(data, store.uri(name))


def published_pointer(data: bytes, where: str) -> dict[str, Any]:
    """A stored publication pointer (one generation of it); RecordError naming `where` when
    it is not a JSON object with a fingerprint."""
    kind = "publication pointer"
    try:
        pointer = json.loads(data)
    except ValueError as exc:
        raise _refuse(where, f"is not JSON ({exc})", kind) from None
    fingerprint = pointer.get("fingerprint") if isinstance(pointer, dict) else None
    if not isinstance(fingerprint, str) or not fingerprint.startswith("sha256:"):
        raise _refuse(where, "names no fingerprint (a string sha256:<64 hex>)", kind)
    return dict(pointer)


def list_records(store: ObjectStore, model: str) -> list[RegistryRecord]:
    """Every record of a model in this bucket, oldest first."""
    records = []
    for name in sorted(store.names(f"models/{model}/")):
        if name.endswith("/record.json"):
            data = _read_object(store, name, "registry record")
            if data is not None:
                records.append(RegistryRecord.from_json(data, store.uri(name)))
    return sorted(records, key=lambda r: r.created)
