"""`edgectl history`: what a stack trained, promoted and published, from its bucket.

Every gated model leaves a registry record (`models/<model>/<fingerprint>/record.json`,
trained here or promoted from another stack); the publication writes which fingerprint the
stack serves (`models/<model>/published.json`). On buckets with object versioning (staging
and prod in the example), every earlier generation of that pointer is read too, so the
history says what was published when.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.cloud.clients import storage_client
from components.cloud.errors import CloudError, cloud_errors
from components.cloud.records import (
    RegistryRecord,
    list_records,
    published_path,
    published_pointer,
    read_published,
)
from components.cloud.storage import ObjectStore
from components.promotion.promote import PromotionError, stack_model


@dataclass(frozen=True)
class Publication:
    """One generation of the published pointer: which fingerprint was served from when."""

    fingerprint: str
    published_at: str | None
    display_name: str | None
    current: bool


@dataclass(frozen=True)
class History:
    stack: str
    model: str
    location: str  # gs://bucket/models/<model>/
    records: tuple[RegistryRecord, ...]  # oldest first
    publications: tuple[Publication, ...]  # oldest first; the last one is current

    def published(self, fingerprint: str) -> list[Publication]:
        return [p for p in self.publications if p.fingerprint == fingerprint]


def _publications(store: ObjectStore, model: str) -> list[Publication]:
    """The pointer's generations (only the live one on buckets without versioning)."""
    name = published_path(model)
    with cloud_errors(f"listing {store.uri(name)}"):
        blobs = [
            b
            for b in storage_client(store.target).list_blobs(
                store.bucket_name, prefix=name, versions=True
            )
            if b.name == name
        ]
    live = read_published(store, model)
    pointers = []
    for blob in sorted(blobs, key=lambda b: b.generation or 0):
        with cloud_errors(f"reading {store.uri(name)}#{blob.generation}"):
            data = blob.download_as_bytes()
        pointers.append(published_pointer(data, f"{store.uri(name)}#{blob.generation}"))
    if live and (not pointers or pointers[-1] != live):
        pointers.append(live)  # a store that lists no generations
    return [
        Publication(
            p["fingerprint"],
            p.get("publishedAt"),
            p.get("displayName"),
            current=bool(live) and i == len(pointers) - 1,
        )
        for i, p in enumerate(pointers)
    ]


def history(project_dir: Path, model: str, stack: str) -> History:
    """The records and publications of `model` on `stack` (PromotionError when unreadable)."""
    store = stack_model(project_dir, stack, model).store
    try:
        records = list_records(store, model)
        publications = _publications(store, model)
    except CloudError as err:
        raise PromotionError(f"reading stack '{stack}': {err}") from None
    return History(stack, model, store.uri(f"models/{model}/"), tuple(records), tuple(publications))


def _origin(record: RegistryRecord) -> str:
    return f"promoted from {record.promoted_from}" if record.promoted_from else "trained"


def _metric(gate: Any, key: str) -> str:
    value = gate.get(key)
    return "—" if value is None else f"{float(value):.3f}"


def render_text(h: History) -> str:
    lines = [f"Model {h.model} on stack {h.stack} ({h.location})", ""]
    if not h.records:
        return (
            "\n".join([*lines, "no records: nothing was gated and exported on this stack"]) + "\n"
        )
    header = (
        f"{'created':<21} {'fingerprint':<21} {'gate':<6} {'threshold':>9} {'precision':>9} "
        f"{'recall':>7} {'AuPRC':>6} {'node h':>6}  origin / published"
    )
    lines += [header, "-" * len(header)]
    for r in h.records:
        gate = r.gate
        served = h.published(r.fingerprint)
        marks = [_origin(r)]
        marks += [
            ("← published now" if p.current else "published")
            + (f" since {p.published_at}" if p.published_at and p.current else "")
            + (f" {p.published_at}" if p.published_at and not p.current else "")
            for p in served
        ]
        lines.append(
            f"{r.created:<21} {r.fingerprint[:19] + '…':<21} "
            f"{'passed' if gate.get('passed') else 'FAILED':<6} {_metric(gate, 'threshold'):>9} "
            f"{_metric(gate, 'precision'):>9} {_metric(gate, 'recall'):>7} "
            f"{_metric(gate, 'auPrc'):>6} {r.train_cost_milli_node_hours / 1000:>6g}  "
            + "; ".join(marks)
        )
    return "\n".join(lines) + "\n"


def to_json(h: History) -> dict[str, Any]:
    return {
        "stack": h.stack,
        "model": h.model,
        "location": h.location,
        "records": [
            {
                **r.to_json(),
                "published": [
                    {"publishedAt": p.published_at, "current": p.current}
                    for p in h.published(r.fingerprint)
                ],
            }
            for r in h.records
        ],
        "publications": [
            {
                "fingerprint": p.fingerprint,
                "publishedAt": p.published_at,
                "displayName": p.display_name,
                "current": p.current,
            }
            for p in h.publications
        ],
    }
