"""The Registry port: where published models live, under a display name, for apps to download.

Two adapters implement it: `firebase_ml` (Firebase ML custom models, components/cloud/
firebase_ml.py; the service shuts down on 2027-06-15) and `storage` (a versioned object and a
manifest in a bucket, components/cloud/storage_registry.py; Firebase's suggested successor).
Both converge one display name to a desired `PublishedModelSpec` — create or adopt, replace the
file only when its sha256 changed, set tags, publish or unpublish — and read it back for
refresh. The confidence threshold and the labels travel with the model so an app and the
acceptance gate agree on the operating point.

Requests are checked before anything is sent (`validate_spec`): a bad display name or tag
raises `InvalidPublication` and creates nothing. `components.cloud.adapters.open_registry`
chooses the adapter of a stack.
"""

import hashlib
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.cloud.errors import CloudError

# firebase-admin 7.7.0's rules (ml._DISPLAY_NAME_PATTERN, ml._TAG_PATTERN), shared by both
# adapters so that a publication can move between them.
DISPLAY_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
TAG_PATTERN = DISPLAY_NAME_PATTERN
MAX_TAGS = 20  # the Publication schema's limit (Firebase documents none)
# The tag that carries the chosen confidence threshold (`threshold-0_82`).
THRESHOLD_TAG_PREFIX = "threshold-"
_THRESHOLD_TAG = re.compile(r"threshold-(\d)_(\d{1,4})")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_GS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]/.+")
# Every .tflite is a flatbuffer with this file identifier at bytes 4..8.
TFLITE_IDENTIFIER = b"TFL3"

Progress = Callable[[str], None]


class InvalidPublication(CloudError, ValueError):
    """A publication request the registry refuses before sending anything."""


@dataclass(frozen=True)
class ModelFile:
    """The TF Lite file to publish: bytes in hand, or an object in Cloud Storage.

    Use `from_bytes` (the sha256 is computed) or `from_gcs` (the exporter's sha256 is given;
    the providers pass the export's `gs://…/model.tflite` in the stack's bucket).
    """

    sha256: str
    size_bytes: int | None = None
    data: bytes | None = field(default=None, repr=False)
    gcs_uri: str | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> "ModelFile":
        return cls(hashlib.sha256(data).hexdigest(), len(data), data=data)

    @classmethod
    def from_gcs(cls, uri: str, sha256: str, size_bytes: int | None = None) -> "ModelFile":
        return cls(sha256.removeprefix("sha256:"), size_bytes, gcs_uri=uri)


@dataclass(frozen=True)
class PublishedModelSpec:
    """The desired state of one published model."""

    display_name: str
    model: ModelFile
    tags: tuple[str, ...] = ()
    published: bool = True
    threshold: float | None = None  # the gate's chosen confidence threshold
    labels: tuple[str, ...] = ()  # output order of the model's scores


@dataclass(frozen=True)
class PublishedModel:
    """What the registry holds for a display name (read back for refresh and outputs)."""

    registry: str  # "firebase_ml" | "storage"
    name: (
        str  # Firebase: projects/{p}/models/{id}; storage: gs://{bucket}/models/{name}/model.tflite
    )
    display_name: str
    sha256: str | None  # of the file served; None when it changed outside this tool
    model_hash: str | None  # the registry's own hash of the file (Firebase modelHash)
    size_bytes: int | None
    tags: tuple[str, ...]  # the requested tags (the threshold tag is not among them)
    published: bool
    threshold: float | None
    labels: tuple[str, ...]
    version: str  # Firebase: the model's etag; storage: the model object's generation
    update_time: str  # RFC 3339


class Registry(ABC):
    """One stack's model registry (an adapter per service)."""

    kind: str  # "firebase_ml" | "storage"

    @abstractmethod
    def apply(self, spec: PublishedModelSpec, progress: Progress | None = None) -> PublishedModel:
        """Creates or adopts the model named `spec.display_name` and converges it to `spec`.

        Idempotent: the file is replaced only when its sha256 changed; nothing is written when
        everything already matches. Raises InvalidPublication before any request for bad
        input, CloudError when the service refuses (e.g. the file is not a valid TF Lite model).
        """

    @abstractmethod
    def read(self, display_name: str) -> PublishedModel | None:
        """The model as the registry holds it now; None when there is none (deleted)."""

    @abstractmethod
    def delete(self, display_name: str) -> bool:
        """Removes the model and what this tool stored with it; False when it was already gone."""


def validate_display_name(display_name: object) -> str:
    if not isinstance(display_name, str) or DISPLAY_NAME_PATTERN.fullmatch(display_name) is None:
        raise InvalidPublication(
            f"displayName {display_name!r} is not allowed: use 1–32 ASCII letters, digits, "
            f"'_' or '-' (no spaces){_length_note(display_name)}"
        )
    return display_name


def _length_note(value: object) -> str:
    return f"; it has {len(value)} characters" if isinstance(value, str) and value else ""


def validate_spec(spec: PublishedModelSpec) -> None:
    """Raises InvalidPublication naming the field, the value and what is allowed."""
    validate_display_name(spec.display_name)
    if isinstance(spec.tags, str) or not all(isinstance(t, str) for t in spec.tags):
        raise InvalidPublication(f"tags must be a list of strings, not {spec.tags!r}")
    for tag in spec.tags:
        if TAG_PATTERN.fullmatch(tag) is None:
            raise InvalidPublication(
                f"tag {tag!r} is not allowed: use 1–32 ASCII letters, digits, '_' or '-' "
                f"(no spaces){_length_note(tag)}"
            )
        if tag.startswith(THRESHOLD_TAG_PREFIX):
            raise InvalidPublication(
                f"tag {tag!r} is reserved: tags starting with {THRESHOLD_TAG_PREFIX!r} carry "
                "the acceptance threshold, which is set from the gate"
            )
    if len(set(spec.tags)) != len(spec.tags):
        raise InvalidPublication(f"tags {list(spec.tags)} contain duplicates")
    if len(spec.tags) > MAX_TAGS:
        raise InvalidPublication(f"{len(spec.tags)} tags; at most {MAX_TAGS} are allowed")
    if spec.threshold is not None and (
        not isinstance(spec.threshold, int | float)
        or isinstance(spec.threshold, bool)
        or not math.isfinite(spec.threshold)
        or not 0.0 <= spec.threshold <= 1.0
    ):
        raise InvalidPublication(
            f"threshold {spec.threshold!r} is not allowed: a confidence between 0 and 1"
        )
    for label in spec.labels:
        if not isinstance(label, str) or not label or "\n" in label:
            raise InvalidPublication(f"label {label!r} is not allowed: a non-empty line of text")
    _validate_file(spec.model)


def _validate_file(model: ModelFile) -> None:
    if _SHA256.fullmatch(model.sha256 or "") is None:
        raise InvalidPublication(
            f"model file sha256 {model.sha256!r} is not a lowercase hex SHA-256 digest"
        )
    if (model.data is None) == (model.gcs_uri is None):
        raise InvalidPublication("a model file is either bytes or a gs:// URI (exactly one)")
    if model.data is not None:
        check_tflite_header(model.data[:8], "the model file")
        if hashlib.sha256(model.data).hexdigest() != model.sha256:
            raise InvalidPublication("the model file's sha256 does not match its bytes")
        if model.size_bytes is not None and model.size_bytes != len(model.data):
            raise InvalidPublication("the model file's size does not match its bytes")
    elif _GS_URI.fullmatch(model.gcs_uri or "") is None:
        raise InvalidPublication(
            f"model file {model.gcs_uri!r} is not a Cloud Storage object URI (gs://bucket/object)"
        )


def check_tflite_header(head: bytes, where: str) -> None:
    """InvalidPublication unless `head` (the first 8 bytes of a file) starts a TF Lite model."""
    if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
        raise InvalidPublication(
            f"{where} is not a TensorFlow Lite model: a .tflite flatbuffer has the file "
            f"identifier {TFLITE_IDENTIFIER.decode()} at byte 4"
        )


def threshold_tag(threshold: float) -> str:
    """`threshold-0_82` for 0.82 (at most 4 decimals; tags allow no '.')."""
    text = f"{threshold:.4f}".rstrip("0")
    if text.endswith("."):
        text += "0"
    return THRESHOLD_TAG_PREFIX + text.replace(".", "_")


def parse_threshold_tag(tags: Sequence[str]) -> float | None:
    """The threshold a `threshold-…` tag carries; None without one (or with several)."""
    found = [m for m in (_THRESHOLD_TAG.fullmatch(t) for t in tags) if m]
    if len(found) != 1:
        return None
    return float(f"{found[0][1]}.{found[0][2]}")


def registry_tags(spec: PublishedModelSpec) -> list[str]:
    """The tags a registry stores: the requested ones, then the threshold tag."""
    tags = list(spec.tags)
    if spec.threshold is not None:
        tags.append(threshold_tag(spec.threshold))
    return tags


def user_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """The stored tags without the threshold tag."""
    return tuple(t for t in tags if not t.startswith(THRESHOLD_TAG_PREFIX))


def manifest(spec: PublishedModelSpec, size_bytes: int | None) -> dict[str, Any]:
    """The JSON manifest written with a model: what an app needs besides the file."""
    return {
        "displayName": spec.display_name,
        "tags": list(spec.tags),
        "published": spec.published,
        "sha256": spec.model.sha256,
        "sizeBytes": size_bytes,
        "threshold": spec.threshold,
        "labels": list(spec.labels),
    }
