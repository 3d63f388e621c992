"""`edgectl promote`: pin a model gated on one stack into another stack's overlay.

Only along the target's declared promotion path (`edge-labeler:promoteFrom` in
`Pulumi.<to>.yaml`; never from an emulator stack into a cloud stack), checked from the stack
files before anything else is read. The source stack's registry record is found in its bucket
(the bucket of the model's dataset, named from the source stack's specs and
`Pulumi.<from>.yaml`): the record of the fingerprint asked for, else the one the source stack
publishes (`models/<model>/published.json`), else the newest record that passed its gate. It
must have passed its gate, its artifacts must still have the recorded sha256, and its gated
metrics must meet the target stack's acceptance minima. Then `specs/envs/<to>.yaml` gets the
pin (pin.py) and is validated; an edit that does not validate is undone."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from components.cloud.clients import cloud_target
from components.cloud.errors import CloudError, CloudNotFound
from components.cloud.records import (
    RegistryRecord,
    list_records,
    read_published,
    read_record,
    record_path,
)
from components.cloud.storage import ObjectStore
from components.evaluation.gate import Criteria, NotAccepted, accept_record
from components.promotion.pin import PinError, with_pin
from components.providers.base import UserError
from components.providers.gate import published_baseline
from components.providers.promoted import FINGERPRINT, artifact_digest
from components.spec import SpecError, SpecSet, StackConfig, load_specs, load_stack_config
from components.spec.overlay import overlay_path
from components.spec.stack import promotion_refusal


class PromotionError(Exception):
    """A promotion refused, with what is wrong and what to do."""


@dataclass(frozen=True)
class StackModel:
    """A model as one stack declares it, and the bucket holding its records."""

    config: StackConfig
    specs: SpecSet
    store: ObjectStore


def stack_model(project_dir: Path, stack: str, model: str) -> StackModel:
    """The stack's config, specs and record bucket of `model` (PromotionError when unknown)."""
    try:
        config = load_stack_config(stack, project_dir)
        specs = load_specs(Path(project_dir) / config.specs, stack)
    except SpecError as err:
        raise PromotionError(f"stack '{stack}' cannot be read:\n{err.render()}") from None
    spec = specs.models.get(model)
    if spec is None:
        known = ", ".join(sorted(specs.models)) or "none"
        raise PromotionError(f"stack '{stack}' declares no Model '{model}' (models: {known})")
    dataset = specs.datasets[spec.dataset]
    bucket = specs.buckets[dataset.bucket].cloud_name(config.project)
    return StackModel(config, specs, ObjectStore(cloud_target(config), bucket))


def check_path(project_dir: Path, from_stack: str, to_stack: str) -> None:
    """Refuses a promotion off the target's declared path (from the stack files alone)."""
    try:
        target = load_stack_config(to_stack, project_dir)
    except SpecError as err:
        raise PromotionError(f"stack '{to_stack}' cannot be read:\n{err.render()}") from None
    refusal = promotion_refusal(target, from_stack, project_dir)
    if refusal is not None:
        raise PromotionError(f"not promoted from '{from_stack}' to '{to_stack}': {refusal}")


def find_record(
    store: ObjectStore, model: str, fingerprint: str | None = None
) -> tuple[RegistryRecord, str]:
    """The record to promote and how it was chosen."""
    stack = store.target.stack
    if fingerprint is not None:
        if not FINGERPRINT.match(fingerprint):
            raise PromotionError(
                f"--fingerprint {fingerprint!r} is not sha256: followed by 64 lowercase hex digits"
            )
        record = read_record(store, model, fingerprint)
        if record is None:
            raise PromotionError(
                f"stack '{stack}' has no record {store.uri(record_path(model, fingerprint))} "
                f"(`edgectl history --model {model} --stack {stack}` lists its records)"
            )
        return record, "as asked (--fingerprint)"
    pointer = read_published(store, model)
    if pointer:
        record = read_record(store, model, pointer["fingerprint"])
        if record is not None:
            return record, f"what stack '{stack}' publishes ({pointer.get('displayName')})"
    passed = [r for r in list_records(store, model) if r.gate.get("passed")]
    if not passed:
        raise PromotionError(
            f"stack '{stack}' has no gated record of Model '{model}' in "
            f"{store.uri(f'models/{model}/')}: deploy it there first (`pulumi up` on "
            f"{stack}), or name a record with --fingerprint"
        )
    return passed[-1], f"the newest record that passed its gate on stack '{stack}'"


@dataclass(frozen=True)
class Promotion:
    model: str
    from_stack: str
    to_stack: str
    record: RegistryRecord
    chosen: str  # how the record was chosen
    overlay: Path
    before: str | None
    after: str

    def diff(self) -> str:
        """The overlay's unified diff (what the promotion pull request shows)."""
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                f"a/{self.overlay}",
                f"b/{self.overlay}",
            )
        )


def gate_refusal(record: RegistryRecord, stack: str) -> str | None:
    """Why a record is not used: it did not pass its gate on `stack` (None: it passed)."""
    if record.gate.get("passed"):
        return None
    return (
        f"{record.fingerprint[:19]}… did not pass its gate on stack '{stack}' "
        f"({'; '.join(record.gate.get('failures') or []) or 'see its record'})"
    )


def _untampered_record(
    source: StackModel, model: str, from_stack: str, fingerprint: str | None
) -> tuple[RegistryRecord, str]:
    """The source record to promote (and how it was chosen), refused when it did not pass
    its gate or an artifact's bytes no longer match its sha256."""
    try:
        record, chosen = find_record(source.store, model, fingerprint)
        tampered = [
            (artifact, digest)
            for artifact in record.artifacts
            if (digest := artifact_digest(source.store, artifact)) != artifact.sha256
        ]
    except CloudError as err:
        raise PromotionError(f"reading stack '{from_stack}': {err}") from None
    refusal = gate_refusal(record, from_stack)
    if refusal is not None:
        raise PromotionError(refusal)
    for artifact, digest in tampered:
        raise PromotionError(
            f"{artifact.uri} has sha256 {digest or '(missing)'}, but the record says "
            f"{artifact.sha256}: the artifact changed after it passed its gate; not promoted"
        )
    return record, chosen


def _accept(record: RegistryRecord, source: StackModel, target: StackModel, model: str) -> None:
    """Holds the record against the target's acceptance — with what the target publishes,
    for `noWorseThan: published` — as the PromotedModel will at deploy."""
    to_stack = target.config.stack
    criteria = Criteria.from_acceptance(target.specs.models[model].acceptance)
    try:
        baseline = (
            published_baseline(target.store, model, record.fingerprint)
            if criteria.no_worse_than_published
            else None
        )
    except CloudNotFound:
        baseline = None  # the target's bucket does not exist yet: nothing is published there
    except (CloudError, UserError) as err:
        what = f"reading stack '{to_stack}' (noWorseThan: published)"
        raise PromotionError(f"{what}: {err}") from None
    try:
        accept_record(
            record.gate,
            criteria,
            baseline,
            fingerprint=record.fingerprint,
            origin=source.config.stack,
            target=to_stack,
            record_uri=source.store.uri(record_path(model, record.fingerprint)),
            outcome=f"No pin was written to stack '{to_stack}'.",
        )
    except NotAccepted as refused:
        raise PromotionError(str(refused)) from None


def promote(
    project_dir: Path, model: str, from_stack: str, to_stack: str, fingerprint: str | None = None
) -> Promotion:
    """Checks the source record and writes the pin into `specs/envs/<to>.yaml`."""
    project_dir = Path(project_dir)
    if from_stack == to_stack:
        raise PromotionError(f"--from and --to are both '{to_stack}': promote between two stacks")
    check_path(project_dir, from_stack, to_stack)
    source = stack_model(project_dir, from_stack, model)
    target = stack_model(project_dir, to_stack, model)
    record, chosen = _untampered_record(source, model, from_stack, fingerprint)
    _accept(record, source, target, model)
    overlay = overlay_path(project_dir / target.config.specs, to_stack)
    before = overlay.read_text(encoding="utf-8") if overlay.is_file() else None
    try:
        after = with_pin(before, to_stack, model, from_stack, record.fingerprint)
    except PinError as err:
        raise PromotionError(f"{overlay}: {err}") from None
    overlay.parent.mkdir(parents=True, exist_ok=True)
    overlay.write_text(after, encoding="utf-8")
    try:
        load_specs(project_dir / target.config.specs, to_stack)
    except SpecError as err:
        if before is None:
            overlay.unlink()
        else:
            overlay.write_text(before, encoding="utf-8")
        raise PromotionError(
            f"the pinned overlay does not validate (left unchanged):\n{err.render()}"
        ) from None
    display = overlay.relative_to(project_dir) if overlay.is_relative_to(project_dir) else overlay
    return Promotion(model, from_stack, to_stack, record, chosen, display, before, after)
