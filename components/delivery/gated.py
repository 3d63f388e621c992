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
from components.cloud.storage import ObjectStore, read_uri
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
    labels: tuple[str, ...]  # in the model's output order

    @property
    def threshold(self) -> float | None:
        value = self.record.gate.get("threshold")
        return None if value is None else float(value)


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
    labels = _output_labels(store, artifact, data, record)
    return GatedModel(stack, model, record, chosen, artifact, data, labels)


def _output_labels(
    store: ObjectStore, artifact: Artifact, data: bytes, record: RegistryRecord
) -> tuple[str, ...]:
    """The labels in the model's output order: from the file's TF Lite metadata, else the
    export's dict.txt, else the record's; the same labels as the record's in any case."""
    from tflite_metadata import MetadataError, read_metadata

    try:
        embedded = read_metadata(data)
    except MetadataError as exc:
        raise DeliveryError(f"{artifact.uri}: {exc}") from None
    if embedded is not None and embedded.labels is not None:
        labels, source = embedded.labels, f"the TF Lite metadata of {artifact.uri}"
    else:
        source = artifact.directory + LABELS_FILE
        try:
            text = read_uri(store.target, source).decode("utf-8-sig")
            labels = tuple(line.strip() for line in text.splitlines() if line.strip())
        except CloudNotFound:
            labels, source = record.labels, "the record"
        except CloudError as err:
            raise DeliveryError(f"reading stack '{store.target.stack}': {err}") from None
    if sorted(labels) != sorted(record.labels):
        raise DeliveryError(
            f"{source} lists other labels ({', '.join(labels)}) than the record "
            f"({', '.join(record.labels)}): the export changed after it passed its gate; not used"
        )
    return labels
