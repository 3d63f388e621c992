"""The model file a stack gated: found from its registry record, its sha256 verified.

The record is the one the stack publishes (`models/<model>/published.json`), else its newest
record that passed the gate, else the one `--fingerprint` names (components/promotion finds it
the same way for `edgectl promote`). The file is the record's TF Lite artifact (`tflite`, else
`edgetpu_tflite`), read from the bucket and compared with the recorded sha256 before use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from components.cloud.errors import CloudError, CloudNotFound
from components.cloud.records import Artifact, RegistryRecord
from components.cloud.storage import read_uri
from components.promotion.promote import PromotionError, find_record, gate_refusal, stack_model

# What an app downloads, by preference (ModelExport's PRIMARY, whose module loads Pulumi).
TFLITE_FORMATS = ("tflite", "edgetpu_tflite")
LABELS_FILE = "dict.txt"  # beside model.tflite in every export


class DeliveryError(Exception):
    """A model that cannot be delivered; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class GatedModel:
    stack: str
    model: str
    record: RegistryRecord
    chosen: str  # how the record was chosen
    artifact: Artifact
    data: bytes  # model.tflite, sha256 verified against the record
    labels_text: str | None  # the export's dict.txt (None: not in the bucket)

    @property
    def threshold(self) -> float | None:
        value = self.record.gate.get("threshold")
        return None if value is None else float(value)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.record.labels


def gated_model(
    project_dir: Path, stack: str, model: str, fingerprint: str | None = None
) -> GatedModel:
    """The stack's gated TF Lite file of `model` and its record (DeliveryError when none)."""
    try:
        store = stack_model(Path(project_dir), stack, model).store
        record, chosen = find_record(store, model, fingerprint)
    except PromotionError as err:
        raise DeliveryError(str(err)) from None
    except CloudError as err:
        raise DeliveryError(f"reading stack '{stack}': {err}") from None
    refusal = gate_refusal(record, stack)
    if refusal is not None:
        raise DeliveryError(f"{refusal}: an app never gets a model that failed its gate")
    artifact = next((a for f in TFLITE_FORMATS if (a := record.artifact(f)) is not None), None)
    if artifact is None:
        exported = ", ".join(a.format for a in record.artifacts) or "none"
        raise DeliveryError(
            f"record {store.uri()}models/{model}/… of {record.fingerprint[:19]}… has no TF Lite "
            f"artifact (exported: {exported}); add tflite to the Model's spec.export"
        )
    try:
        data = read_uri(store.target, artifact.uri)
    except CloudNotFound:
        raise DeliveryError(
            f"{artifact.uri} is gone: the artifact the record names was deleted"
        ) from None
    except CloudError as err:
        raise DeliveryError(f"reading stack '{stack}': {err}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != artifact.sha256:
        raise DeliveryError(
            f"{artifact.uri} has sha256 {digest}, but the record says {artifact.sha256}: the "
            "file changed after it passed its gate; not used"
        )
    labels_uri = artifact.directory + LABELS_FILE
    try:
        labels = read_uri(store.target, labels_uri).decode("utf-8")
    except CloudNotFound:
        labels = None
    except CloudError as err:
        raise DeliveryError(f"reading stack '{stack}': {err}") from None
    if labels is not None and tuple(filter(None, map(str.strip, labels.splitlines()))) != (
        record.labels
    ):
        raise DeliveryError(
            f"{labels_uri} lists other labels than the record ({', '.join(record.labels)}): "
            "the export changed after it passed its gate; not used"
        )
    return GatedModel(stack, model, record, chosen, artifact, data, labels)
