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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

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


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Artifact:
    format: str  # tflite | edgetpu_tflite | tf_saved_model
    uri: str  # gs:// of model.tflite (or of the saved_model directory)
    directory: str  # the export folder (model, dict.txt, tflite_metadata.json)
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["config"] = dict(self.config)
        data["gate"] = dict(self.gate)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RegistryRecord":
        values = dict(data)
        values["artifacts"] = tuple(Artifact(**a) for a in data.get("artifacts", ()))
        values["labels"] = tuple(data.get("labels", ()))
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


def read_record(store: ObjectStore, model: str, fingerprint: str) -> RegistryRecord | None:
    data = store.read_json(record_path(model, fingerprint))
    return None if data is None else RegistryRecord.from_json(data)


def list_records(store: ObjectStore, model: str) -> list[RegistryRecord]:
    """Every record of a model in this bucket, oldest first."""
    records = []
    for name in sorted(store.names(f"models/{model}/")):
        if name.endswith("/record.json"):
            data = store.read_json(name)
            if data is not None:
                records.append(RegistryRecord.from_json(data))
    return sorted(records, key=lambda r: r.created)
