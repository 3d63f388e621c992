"""Registry records that lack gate metrics (written by hand, or by an older version).

A PromotedModel reads two records: the source stack's record of the model it promotes, and,
for `noWorseThan: published`, the record of what its own stack publishes. A record lacking
what the provider needs is refused with a message naming the record and the missing key,
not a KeyError or TypeError. Through the Pulumi SDK's provider host, against the emulator;
no model is trained (the records and the artifact are written by hand).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

import pytest

from components.cloud.clients import STORAGE, CloudTarget
from components.cloud.records import (
    Artifact,
    RegistryRecord,
    published_path,
    record_path,
    write_record,
)
from components.cloud.storage import ObjectStore
from components.evaluation.gate import Criteria
from components.providers.promoted import PromotedModelProvider
from tests.fixtures.emulator import storage_client
from tests.fixtures.provider_host import ProviderCallError, ProviderHost

MODEL = "digits"
SOURCE_FINGERPRINT = "sha256:" + "a" * 64
PUBLISHED_FINGERPRINT = "sha256:" + "b" * 64
# A record's `gate` as the gate writes it (GateResult.to_props()).
GATE: dict[str, Any] = {
    "passed": True,
    "policy": "maximize f1",
    "threshold": 0.45,
    "measuredAt": 0.45,
    "precision": 0.9,
    "recall": 0.8,
    "f1": 0.847,
    "auPrc": 0.93,
    "perLabel": {},
    "failures": [],
}
MODEL_BYTES = b"\x1c\x00\x00\x00TFL3 a model file written by hand"


def _record(
    fingerprint: str, stack: str, gate: Mapping[str, Any], artifact: Artifact
) -> RegistryRecord:
    return RegistryRecord(
        model=MODEL,
        stack=stack,
        fingerprint=fingerprint,
        dataset_fingerprint="sha256:" + "e" * 64,
        config={},
        cloud_model="projects/p/locations/us-central1/models/1",
        stop_reason="MODEL_CONVERGED",
        train_cost_milli_node_hours=1000,
        gate=gate,
        labels=("one", "zero"),
        artifacts=(artifact,),
    )


def _without(gate: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in gate.items() if k not in keys}


class Stacks:
    """A source stack holding one gated record and its exported file, and a target stack."""

    def __init__(self, emulator: Any, target: CloudTarget):
        client = storage_client(emulator.env, target.project)
        suffix = uuid.uuid4().hex[:10]
        self.target = target
        self.source = ObjectStore(target, client.create_bucket(f"src-{suffix}").name)
        self.store = ObjectStore(target, client.create_bucket(f"dst-{suffix}").name)
        name = f"exports/{MODEL}/aaaa/tflite/model.tflite"
        self.source.write(name, MODEL_BYTES)
        self.artifact = Artifact(
            format="tflite",
            uri=self.source.uri(name),
            directory=self.source.uri(name.rsplit("/", 1)[0] + "/"),
            sha256=hashlib.sha256(MODEL_BYTES).hexdigest(),
            size_bytes=len(MODEL_BYTES),
        )

    def write_source(self, gate: Mapping[str, Any]) -> str:
        record = _record(SOURCE_FINGERPRINT, "staging", gate, self.artifact)
        return write_record(self.source, record)

    def publish_in_target(self, gate: Mapping[str, Any]) -> str:
        """What the target stack serves now: a record and the pointer to it."""
        record = _record(PUBLISHED_FINGERPRINT, self.target.stack, gate, self.artifact)
        uri = write_record(self.store, record)
        self.store.write_json(
            published_path(MODEL), {"fingerprint": PUBLISHED_FINGERPRINT, "displayName": "d"}
        )
        return uri

    def props(self, criteria: Criteria) -> dict[str, Any]:
        return {
            "name": MODEL,
            "cloud": self.target.as_inputs(STORAGE),
            "fingerprint": SOURCE_FINGERPRINT,
            "source": {
                "stack": "staging",
                "cloud": self.target.as_inputs(STORAGE),
                "bucket": self.source.bucket_name,
            },
            "formats": ["tflite"],
            "criteria": criteria.to_props(),
            "bucket": self.store.bucket_name,
        }


@pytest.fixture
def stacks(emulator: Any, target: CloudTarget) -> Stacks:
    return Stacks(emulator, target)


def _create(host: ProviderHost, props: Mapping[str, Any], name: str) -> dict[str, Any]:
    urn = host.urn("edge-labeler:PromotedModel", name)
    inputs, failures = host.check(urn, host.inputs(PromotedModelProvider(), props))
    assert failures == []
    return host.create(urn, inputs)[1]


@pytest.mark.parametrize(
    "gate",
    [_without(GATE, "threshold"), {**GATE, "threshold": None}],
    ids=["key-missing", "null"],
)
def test_a_source_record_without_a_threshold_is_refused_naming_it(
    host: ProviderHost, stacks: Stacks, gate: dict[str, Any]
) -> None:
    record_uri = stacks.write_source(gate)
    with pytest.raises(ProviderCallError) as info:
        _create(host, stacks.props(Criteria("maximize", None)), f"no-threshold-{uuid.uuid4().hex}")
    message = info.value.details
    assert record_uri in message and "threshold" in message, message
    assert "Traceback" not in message
    assert stacks.store.names("") == set()  # nothing copied, no record written


@pytest.mark.parametrize(
    ("gate", "missing"),
    [(_without(GATE, "auPrc"), "auPrc"), ({**GATE, "f1": None}, "f1")],
    ids=["key-missing", "null"],
)
def test_a_published_record_without_metrics_is_refused_naming_it(
    host: ProviderHost, stacks: Stacks, gate: dict[str, Any], missing: str
) -> None:
    stacks.write_source(GATE)
    published_uri = stacks.publish_in_target(gate)
    criteria = Criteria("maximize", None, no_worse_than_published=True)
    with pytest.raises(ProviderCallError) as info:
        _create(host, stacks.props(criteria), f"no-baseline-{uuid.uuid4().hex}")
    message = info.value.details
    assert published_uri in message and missing in message, message
    assert "noWorseThan: published" in message and "Traceback" not in message
    assert stacks.store.read(record_path(MODEL, SOURCE_FINGERPRINT)) is None  # nothing promoted


def test_a_record_without_precision_and_recall_is_promoted_when_no_minimum_needs_them(
    host: ProviderHost, stacks: Stacks
) -> None:
    stacks.write_source(_without(GATE, "precision", "recall"))
    outs = _create(host, stacks.props(Criteria("maximize", None)), "no-precision")
    assert (outs["threshold"], outs.get("precision"), outs.get("recall")) == (0.45, None, None)
    assert outs["modelSha256"] == stacks.artifact.sha256


@pytest.mark.parametrize(
    "pointer",
    [{"displayName": "d"}, {"fingerprint": 5, "displayName": "d"}, "not an object"],
    ids=["no-fingerprint", "not-a-string", "not-an-object"],
)
def test_a_published_pointer_without_a_fingerprint_is_refused_naming_it(
    host: ProviderHost, stacks: Stacks, pointer: Any
) -> None:
    stacks.write_source(GATE)
    stacks.publish_in_target(GATE)
    stacks.store.write_json(published_path(MODEL), pointer)
    criteria = Criteria("maximize", None, no_worse_than_published=True)
    with pytest.raises(ProviderCallError) as info:
        _create(host, stacks.props(criteria), f"bad-pointer-{uuid.uuid4().hex}")
    message = info.value.details
    assert stacks.store.uri(published_path(MODEL)) in message and "fingerprint" in message
    assert "Traceback" not in message and "KeyError" not in message, message
    assert stacks.store.read(record_path(MODEL, SOURCE_FINGERPRINT)) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: {k: v for k, v in r.items() if k != "gate"},
        lambda r: {k: v for k, v in r.items() if k not in ("labels", "artifacts", "stop_reason")},
        lambda r: {**r, "gate": "passed"},
        lambda r: {**r, "artifacts": [{"format": "tflite"}]},
    ],
    ids=["no-gate", "three-keys-missing", "gate-not-an-object", "artifact-incomplete"],
)
def test_a_damaged_source_record_is_refused_naming_it_and_what_it_lacks(
    host: ProviderHost, stacks: Stacks, damage: Any
) -> None:
    record_uri = stacks.write_source(GATE)
    name = record_path(MODEL, SOURCE_FINGERPRINT)
    stacks.source.write_json(name, damage(stacks.source.read_json(name)))
    with pytest.raises(ProviderCallError) as info:
        _create(host, stacks.props(Criteria("maximize", None)), f"damaged-{uuid.uuid4().hex}")
    message = info.value.details
    assert record_uri in message and "registry record" in message, message
    assert "Traceback" not in message and "TypeError" not in message, message
    assert stacks.store.names("") == set()


def test_a_record_that_is_not_json_is_refused_naming_it(host: ProviderHost, stacks: Stacks) -> None:
    record_uri = stacks.write_source(GATE)
    stacks.source.write(record_path(MODEL, SOURCE_FINGERPRINT), b"{not json")
    with pytest.raises(ProviderCallError) as info:
        _create(host, stacks.props(Criteria("maximize", None)), f"not-json-{uuid.uuid4().hex}")
    message = info.value.details
    assert record_uri in message and "JSON" in message and "Traceback" not in message, message


def test_history_names_a_damaged_record_or_pointer_instead_of_a_traceback(
    stacks: Stacks,
) -> None:
    """`edgectl history` reads every record and every generation of the pointer."""
    from components.cloud.records import RecordError, list_records, read_published

    record_uri = stacks.write_source(GATE)
    name = record_path(MODEL, SOURCE_FINGERPRINT)
    stacks.source.write_json(name, {"model": MODEL})
    with pytest.raises(RecordError, match="registry record, has no ") as info:
        list_records(stacks.source, MODEL)
    assert record_uri in str(info.value)
    stacks.store.write(published_path(MODEL), b"[]")
    with pytest.raises(RecordError, match="names no fingerprint"):
        read_published(stacks.store, MODEL)
