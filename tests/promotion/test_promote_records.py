"""`edgectl promote` holds a hand-written or incomplete record to the same rules as the
PromotedModel provider: a record without a threshold is refused, and the target's
`noWorseThan: published` is checked against what the target stack publishes — before a pin is
written, not only at deploy. Records are written by hand into the emulator's buckets; nothing
is trained.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from components.cloud.records import Artifact, RegistryRecord, published_path, write_record
from components.promotion.promote import PromotionError, promote, stack_model
from tests.fixtures.emulator import storage_client
from tests.promotion.conftest import SPECS, STACK_FILE

FROM, TO = "rec-local", "rec-staging"
FINGERPRINT = "sha256:" + "a" * 64
PUBLISHED = "sha256:" + "b" * 64
GATE: dict[str, Any] = {
    "passed": True,
    "policy": "maximize f1",
    "threshold": 0.45,
    "precision": 0.9,
    "recall": 0.8,
    "f1": 0.847,
    "auPrc": 0.93,
    "perLabel": {},
    "failures": [],
}
OVERLAY = """\
apiVersion: edge-labeler/v1
kind: Model
metadata: {name: digits}
spec:
  acceptance:
    noWorseThan: published
"""
MODEL_BYTES = b"\x1c\x00\x00\x00TFL3 written by hand"


@pytest.fixture
def project(tmp_path: Path, emulator: Any) -> Path:
    root = tmp_path / "project"
    (root / "specs" / "envs").mkdir(parents=True)
    (root / "specs" / "data").mkdir()
    (root / "specs" / "data" / "digits.zip").write_bytes(b"")
    (root / "Pulumi.yaml").write_text("name: edge-labeler\nruntime: python\n")
    (root / "specs" / "all.yaml").write_text(SPECS)
    (root / "specs" / "envs" / f"{TO}.yaml").write_text(OVERLAY)
    suffix = tmp_path.name[-8:].lower().replace("_", "-")
    for stack in (FROM, TO):
        text = STACK_FILE.format(project=f"{stack}-{suffix}")
        if stack == TO:
            text += f"  edge-labeler:promoteFrom: [{FROM}]\n"
        (root / f"Pulumi.{stack}.yaml").write_text(text)
        store = stack_model(root, stack, "digits").store
        storage_client(emulator.env, store.target.project).create_bucket(store.bucket_name)
    return root


def _write(project: Path, stack: str, fingerprint: str, gate: dict[str, Any]) -> str:
    store = stack_model(project, stack, "digits").store
    name = f"exports/digits/{fingerprint[7:15]}/tflite/model.tflite"
    store.write(name, MODEL_BYTES)
    artifact = Artifact(
        "tflite",
        store.uri(name),
        store.uri(name.rsplit("/", 1)[0] + "/"),
        hashlib.sha256(MODEL_BYTES).hexdigest(),
        len(MODEL_BYTES),
    )
    record = RegistryRecord(
        "digits", stack, fingerprint, "sha256:" + "e" * 64, {}, "m", "MODEL_CONVERGED", 1000,
        gate, ("one", "zero"), (artifact,),
    )  # fmt: skip
    return write_record(store, record)


def _overlay(project: Path) -> str:
    return (project / "specs" / "envs" / f"{TO}.yaml").read_text()


def test_a_passed_record_without_a_threshold_is_not_pinned(project: Path) -> None:
    record_uri = _write(
        project, FROM, FINGERPRINT, {k: v for k, v in GATE.items() if k != "threshold"}
    )
    before = _overlay(project)
    with pytest.raises(PromotionError) as info:
        promote(project, "digits", FROM, TO, FINGERPRINT)
    assert record_uri in str(info.value) and "threshold" in str(info.value)
    assert _overlay(project) == before


def test_no_worse_than_published_is_checked_before_the_pin_is_written(project: Path) -> None:
    _write(project, FROM, FINGERPRINT, GATE)
    _write(project, TO, PUBLISHED, {**GATE, "auPrc": 0.99, "f1": 0.95})
    target = stack_model(project, TO, "digits").store
    target.write_json(published_path("digits"), {"fingerprint": PUBLISHED, "displayName": "d"})
    before = _overlay(project)
    with pytest.raises(PromotionError) as info:
        promote(project, "digits", FROM, TO, FINGERPRINT)
    message = str(info.value)
    assert "published" in message and "0.930" in message and "0.990" in message, message
    assert _overlay(project) == before


def test_no_worse_than_published_with_nothing_published_pins(project: Path) -> None:
    _write(project, FROM, FINGERPRINT, GATE)
    promotion = promote(project, "digits", FROM, TO, FINGERPRINT)
    assert FINGERPRINT in promotion.after
