"""`edgectl status`: what each stack serves to apps, read from the cloud, and where it drifted.

Per stack and Model: the fingerprint its bucket records as published
(`models/<model>/published.json`) with that record's threshold and gated precision/recall, when
it was published, and how it got there — trained on the stack, or promoted from another one
(the record's `promoted_from`). Per Publication: what its registry (Firebase ML, or the
storage registry's bucket) serves under the display name; the bucket and the registry must
agree on the file (sha256), the threshold and whether it is published, else the difference is
reported as drift (someone changed it outside edge-labeler, or a deployment stopped half-way).
Per Rollout: the Remote Config parameter as it is live — which display name each condition
serves and to what share of users — and any difference from its spec.

A stack that cannot be read (no stack file, bad specs, an unreachable service) is reported and
the others are still read. Only the clients a stack needs are imported: Cloud Storage's, the
Firebase ML client for `firebase-ml` publications, and Remote Config's REST client for
Rollouts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.cloud.adapters import open_registry
from components.cloud.clients import CloudTarget, cloud_target
from components.cloud.errors import CloudError
from components.cloud.records import (
    RecordError,
    RegistryRecord,
    published_path,
    read_published,
    read_record,
)
from components.cloud.registry import PublishedModel
from components.cloud.remote_config import percent_rule, rollout_condition_expression
from components.cloud.storage import ObjectStore
from components.spec import Rollout, SpecError, SpecSet, load_specs, load_stack_config
from components.spec.stack import stack_names

THRESHOLD_TOLERANCE = 5e-5  # the registry's threshold tag keeps four decimals


@dataclass(frozen=True)
class PublicationStatus:
    """One Publication: what its registry serves under the display name."""

    name: str  # the Publication document
    display_name: str
    target: str  # firebase-ml | storage
    wanted_published: bool  # the spec's `published`
    live: PublishedModel | None  # None: the registry has no model of that name
    drift: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelStatus:
    """One Model: the fingerprint its stack's bucket records as published, and its record."""

    name: str
    bucket: str
    pinned_from: str | None  # the spec's `promoted.from` on this stack
    pointer: Mapping[str, Any] | None  # models/<model>/published.json
    record: RegistryRecord | None  # the record of the pointer's fingerprint
    publications: tuple[PublicationStatus, ...]
    drift: tuple[str, ...] = ()

    @property
    def origin(self) -> str | None:
        if self.record is None:
            return None
        if self.record.promoted_from:
            return f"promoted from {self.record.promoted_from}"
        return "trained"


@dataclass(frozen=True)
class Share:
    """Who gets one display name from a Rollout: a condition (None: the default)."""

    condition: str | None
    serves: str  # the display name
    publication: str | None  # the Publication document of that display name, when declared
    percent: float | None  # the share of users; None when rules other than percent decide
    rules: str  # the condition's expression ("" for the default)


@dataclass(frozen=True)
class RolloutStatus:
    name: str  # the Rollout document
    parameter: str
    template_version: int | None
    shares: tuple[Share, ...]  # in priority order, the default last; () when not live
    drift: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackStatus:
    stack: str
    project: str | None = None
    emulator: bool = False
    models: tuple[ModelStatus, ...] = ()
    rollouts: tuple[RolloutStatus, ...] = ()
    error: str | None = None  # the stack could not be read

    @property
    def drift(self) -> list[str]:
        found = [f"Model {m.name}: {d}" for m in self.models for d in m.drift]
        found += [
            f"Publication {p.name}: {d}"
            for m in self.models
            for p in m.publications
            for d in p.drift
        ]
        found += [f"Rollout {r.name}: {d}" for r in self.rollouts for d in r.drift]
        return found


# -- reading ---------------------------------------------------------------------------------


def _sha(value: Any) -> str | None:
    return None if value is None else str(value).removeprefix("sha256:")


def _publication_status(
    spec_name: str,
    specs: SpecSet,
    target: CloudTarget,
    pointer: Mapping[str, Any] | None,
    record: RegistryRecord | None,
) -> PublicationStatus:
    spec = specs.publications[spec_name]
    bucket = specs.buckets[spec.bucket].cloud_name(target.project)
    live = open_registry(spec.target.value, target, bucket).read(spec.display_name)
    # The pointer is the model's: with several publications, the last one written names itself.
    ours = pointer if pointer and pointer.get("displayName") == spec.display_name else None
    drift: list[str] = []
    where = f"{spec.target.value} '{spec.display_name}'"
    if live is None:
        if ours is not None:
            drift.append(
                f"the bucket records {spec.display_name} as published "
                f"({ours.get('publishedAt') or 'no time'}), but {where} does not exist"
            )
    else:
        expected = _sha(pointer.get("sha256")) if pointer else None
        artifact = record.artifact("tflite") if record is not None else None
        if expected is None and artifact is not None:
            expected = _sha(artifact.sha256)
        if live.published and pointer is None:
            drift.append(f"{where} is published, but the bucket records no publication of it")
        if ours is not None and not live.published:
            drift.append(f"the bucket records it as published, but {where} is not published")
        if live.published and not spec.published:
            drift.append(f"{where} is published, but its spec says published: false")
        if live.sha256 is None:
            drift.append(f"the file {where} serves was changed outside edge-labeler")
        elif expected is not None and live.sha256 != expected:
            drift.append(
                f"{where} serves sha256:{live.sha256[:12]}…, the bucket records "
                f"sha256:{expected[:12]}…"
            )
        threshold = pointer.get("threshold") if pointer else None
        if (
            threshold is not None
            and live.threshold is not None
            and not math.isclose(float(threshold), live.threshold, abs_tol=THRESHOLD_TOLERANCE)
        ):
            drift.append(
                f"{where} carries threshold {live.threshold:g}, the bucket records {threshold:g}"
            )
    return PublicationStatus(
        spec_name, spec.display_name, spec.target.value, spec.published, live, tuple(drift)
    )


def _model_status(name: str, specs: SpecSet, target: CloudTarget) -> ModelStatus:
    spec = specs.models[name]
    bucket = specs.buckets[specs.datasets[spec.dataset].bucket].cloud_name(target.project)
    store = ObjectStore(target, bucket)
    pointer = record = None
    drift = []
    try:
        pointer = read_published(store, name)
        if pointer is not None:
            record = read_record(store, name, pointer["fingerprint"])
            if record is None:
                drift.append(
                    f"{store.uri(published_path(name))} names {pointer['fingerprint']}, which "
                    "has no record in the bucket"
                )
    except RecordError as err:  # damaged or edited by hand: this model's drift, not the stack's
        drift.append(str(err))
    publications = tuple(
        _publication_status(p, specs, target, pointer, record)
        for p, publication in sorted(specs.publications.items())
        if publication.model == name
    )
    pin = spec.promoted
    if pin is not None and pointer is not None and pointer["fingerprint"] != pin.fingerprint:
        drift.append(
            f"pinned to {pin.fingerprint} from {pin.from_stack}, but the bucket records "
            f"{pointer['fingerprint']} as published (the stack was not deployed since the pin)"
        )
    pinned = pin.from_stack if pin is not None else None
    return ModelStatus(name, bucket, pinned, pointer, record, publications, tuple(drift))


def effective_shares(expressions: Sequence[str]) -> tuple[list[float | None], float | None]:
    """The share of users (percent) each condition serves, in priority order (the first true
    condition wins), and the default's. Only a condition that is a percentage alone has a
    share; once another kind has come first, the shares after it depend on who matches it."""
    covered: dict[str, list[tuple[float, float]]] = {}  # per seed: (low, high] already served
    shares: list[float | None] = []
    decided = True  # every condition so far was a percentage alone

    def free(seed: str) -> float:  # the fraction of a seed's percentiles not served yet
        return 1 - sum(h - lo for lo, h in covered.get(seed, [])) / 100

    for expression in expressions:
        rule = percent_rule(expression)
        if rule is None or "&&" in expression or not decided:
            decided = False
            shares.append(None)
            continue
        taken = covered.setdefault(rule.seed, [])
        new = _minus((rule.low, rule.high), taken)
        others = math.prod(free(seed) for seed in covered if seed != rule.seed)
        shares.append(round(sum(h - lo for lo, h in new) * others, 6))
        taken.extend(new)
    default = round(100 * math.prod(free(seed) for seed in covered), 6) if decided else None
    return shares, default


def _minus(
    span: tuple[float, float], taken: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """`span` without the (disjoint) spans `taken`."""
    parts = [span]
    for lo, hi in taken:
        parts = [
            piece
            for a, b in parts
            for piece in ((a, min(b, lo)), (max(a, hi), b))
            if piece[1] > piece[0]
        ]
    return parts


def _rollout_status(rollout: Rollout, specs: SpecSet, template: Any) -> RolloutStatus:
    from components.cloud.remote_config_edit import read_owned

    live = read_owned(template, rollout.parameter)
    version = template.version_number
    if live is None:
        return RolloutStatus(
            rollout.name,
            rollout.parameter,
            version,
            (),
            (f"parameter {rollout.parameter} is not in the Remote Config template",),
        )
    documents = {p.display_name: name for name, p in specs.publications.items()}
    percents, default = effective_shares([c.expression for c in live.conditions])
    shares = [
        Share(c.name, c.value, documents.get(c.value), p, c.expression)
        for c, p in zip(live.conditions, percents, strict=True)
    ]
    shares.append(Share(None, live.value, documents.get(live.value), default, ""))
    wanted = [
        (
            c.name,
            rollout_condition_expression(c),
            specs.publications[c.publication].display_name,
        )
        for c in rollout.conditions
    ]
    wanted.append(("(default)", "", specs.publications[rollout.publication].display_name))
    have = [(s.condition or "(default)", s.rules, s.serves) for s in shares]
    drift = []
    if have != wanted:
        drift.append(
            "the template differs from the spec (the next `pulumi up` puts the spec back): "
            + "; ".join(_served(c, r, v) for c, r, v in have)
            + " — the spec: "
            + "; ".join(_served(c, r, v) for c, r, v in wanted)
        )
    return RolloutStatus(rollout.name, rollout.parameter, version, tuple(shares), tuple(drift))


def _served(condition: str, rules: str, value: str) -> str:
    return f"{condition} → {value}" + (f" ({rules})" if rules else "")


def stack_status(project_dir: Path, stack: str) -> StackStatus:
    """What `stack` serves, read from its bucket, registries and Remote Config."""
    try:
        config = load_stack_config(stack, project_dir)
        specs = load_specs(Path(project_dir) / config.specs, stack)
    except SpecError as err:
        return StackStatus(stack, error=f"cannot be read:\n{err.render()}")
    target = cloud_target(config)
    try:
        models = tuple(_model_status(name, specs, target) for name in sorted(specs.models))
        rollouts: tuple[RolloutStatus, ...] = ()
        if specs.rollouts:
            from components.cloud.remote_config import RemoteConfigClient

            template = RemoteConfigClient(target).get()
            rollouts = tuple(
                _rollout_status(r, specs, template) for _, r in sorted(specs.rollouts.items())
            )
    except CloudError as err:
        return StackStatus(stack, config.project, config.emulator, error=f"cannot be read: {err}")
    return StackStatus(stack, config.project, config.emulator, models, rollouts)


def status(project_dir: Path, stacks: Sequence[str] = ()) -> list[StackStatus]:
    """Every stack asked for (all with a Pulumi.<stack>.yaml when none is), in that order."""
    return [stack_status(project_dir, s) for s in (stacks or stack_names(project_dir))]


# -- rendering -------------------------------------------------------------------------------


def _metric(gate: Mapping[str, Any], key: str) -> str:
    value = gate.get(key)
    return "—" if value is None else f"{float(value):.3f}"


def _percent(value: float | None) -> str:
    return "rules" if value is None else f"{value:g} %"


def render_text(found: Sequence[StackStatus]) -> str:
    lines: list[str] = []
    for s in found:
        where = f"project {s.project}{', emulator' if s.emulator else ''}" if s.project else ""
        lines.append(f"Stack {s.stack}" + (f" ({where})" if where else ""))
        if s.error is not None:
            lines += ["  not read (the reason is on stderr)", ""]
            continue
        for m in s.models:
            lines.append(f"  Model {m.name} (gs://{m.bucket}/models/{m.name}/)")
            if m.pointer is None:
                lines.append("    published: nothing")
            else:
                record, pointer = m.record, m.pointer
                gate = record.gate if record is not None else {}
                origin = {None: "no record", "trained": "trained on this stack"}.get(
                    m.origin, m.origin
                )
                lines.append(
                    f"    published as {pointer.get('displayName')} since "
                    f"{pointer.get('publishedAt') or '?'}: {origin}"
                )
                lines.append(f"      {pointer.get('fingerprint')}")
                lines.append(
                    f"      threshold {_metric(gate, 'threshold')}, precision "
                    f"{_metric(gate, 'precision')}, recall {_metric(gate, 'recall')}"
                    + (f" (gated {record.created})" if record is not None else "")
                )
            for p in m.publications:
                if p.live is None:
                    state = "not in the registry"
                else:
                    state = "published" if p.live.published else "uploaded, not published"
                    state += f", file sha256:{(p.live.sha256 or '?')[:12]}…"
                    if p.live.threshold is not None:
                        state += f", threshold {p.live.threshold:g}"
                lines.append(f"    {p.target} {p.display_name}: {state}")
        for r in s.rollouts:
            version = f", template version {r.template_version}" if r.template_version else ""
            lines.append(f"  Rollout {r.name} (Remote Config parameter {r.parameter}{version})")
            for share in r.shares:
                who = share.condition or "default"
                rules = f" ({share.rules})" if share.rules and share.percent is None else ""
                lines.append(f"    {_percent(share.percent):>7} {share.serves}: {who}{rules}")
        drift = s.drift
        lines.append("  drift: none" if not drift else "  DRIFT:")
        lines += [f"    - {d}" for d in drift]
        lines.append("")
    return "\n".join(lines)


def _live_json(model: PublishedModel | None) -> dict[str, Any] | None:
    if model is None:
        return None
    return {
        "name": model.name,
        "published": model.published,
        "sha256": model.sha256,
        "threshold": model.threshold,
        "updateTime": model.update_time,
    }


def _published_json(m: ModelStatus) -> dict[str, Any] | None:
    if m.pointer is None:
        return None
    gate = m.record.gate if m.record is not None else {}
    return {
        "fingerprint": m.pointer.get("fingerprint"),
        "displayName": m.pointer.get("displayName"),
        "publishedAt": m.pointer.get("publishedAt"),
        "origin": None if m.origin is None else m.origin.split(" ")[0],  # trained | promoted
        "promotedFrom": m.record.promoted_from if m.record is not None else None,
        "threshold": gate.get("threshold"),
        "precision": gate.get("precision"),
        "recall": gate.get("recall"),
        "gatedAt": m.record.created if m.record is not None else None,
    }


def _model_json(m: ModelStatus) -> dict[str, Any]:
    return {
        "model": m.name,
        "bucket": m.bucket,
        "published": _published_json(m),
        "publications": [
            {
                "publication": p.name,
                "displayName": p.display_name,
                "target": p.target,
                "live": _live_json(p.live),
                "drift": list(p.drift),
            }
            for p in m.publications
        ],
        "drift": list(m.drift),
    }


def _rollout_json(r: RolloutStatus) -> dict[str, Any]:
    return {
        "rollout": r.name,
        "parameter": r.parameter,
        "templateVersion": r.template_version,
        "shares": [
            {
                "condition": share.condition,
                "serves": share.serves,
                "publication": share.publication,
                "percent": share.percent,
                "rules": share.rules,
            }
            for share in r.shares
        ],
        "drift": list(r.drift),
    }


def to_json(found: Sequence[StackStatus]) -> list[dict[str, Any]]:
    """The documented JSON form (components/schemas/status.schema.json)."""
    return [
        {
            "stack": s.stack,
            "project": s.project,
            "error": s.error,
            "models": [_model_json(m) for m in s.models],
            "rollouts": [_rollout_json(r) for r in s.rollouts],
            "drift": s.drift,
        }
        for s in found
    ]


__all__ = ["StackStatus", "effective_shares", "render_text", "stack_status", "status", "to_json"]
