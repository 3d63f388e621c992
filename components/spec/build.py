"""Valid entries → typed documents (documents.py) and the SpecSet that holds them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from components.spec.documents import (
    Acceptance,
    BaseModel,
    Bucket,
    Budget,
    Classification,
    Dataset,
    DatasetSource,
    Deploy,
    Document,
    ExportFormat,
    LabelMinimums,
    Lifecycle,
    Model,
    OptimizeFor,
    Promotion,
    Publication,
    Rollout,
    RolloutCondition,
    SourceKind,
    SpecSet,
    Split,
    StorageClass,
    Target,
    ThresholdKind,
    ThresholdPolicy,
    freeze,
)
from components.spec.entry import Entry
from components.spec.errors import SpecIssue, sort_issues
from components.spec.schema import KINDS, format_path
from components.spec.yaml_source import FieldPath

_T = TypeVar("_T")
# The documents built so far: kind → name → document.
Built = dict[str, dict[str, Document]]


def build_spec_set(
    entries: Sequence[Entry],
    directory: Path,
    stack: str | None,
    files: Iterable[Path],
    warnings: Iterable[SpecIssue],
) -> SpecSet:
    """The SpecSet of entries that passed every rule, with the files read and the warnings."""
    built: Built = {kind: {} for kind in KINDS}
    for entry in entries:
        if entry.kind != "Publication":
            built[entry.kind][entry.name or ""] = _typed(entry, built)
    for entry in entries:  # publications default to their model's dataset's bucket
        if entry.kind == "Publication":
            built[entry.kind][entry.name or ""] = _typed(entry, built)
    return SpecSet(
        directory=directory,
        stack=stack,
        buckets=freeze(built["Bucket"]),
        datasets=freeze(built["Dataset"]),
        models=freeze(built["Model"]),
        publications=freeze(built["Publication"]),
        rollouts=freeze(built["Rollout"]),
        files=tuple(files),
        warnings=sort_issues(warnings),
    )


def _typed(entry: Entry, built: Built) -> Document:
    if entry.kind == "Bucket":
        return _bucket(entry)
    if entry.kind == "Dataset":
        return _dataset(entry)
    if entry.kind == "Model":
        return _model(entry)
    if entry.kind == "Rollout":
        return _rollout(entry)
    return _publication(entry, built)


def _opt(value: Any, convert: Callable[[Any], _T]) -> _T | None:
    return None if value is None else convert(value)


def _resolved(entry: Entry, path: FieldPath) -> Path | None:
    """A local path of the spec, resolved against the directory of the file it is written in."""
    value = entry.value(path)
    if value is None:
        return None
    resolved: Path = (Path(entry.doc.value_location(path).file).parent / value).resolve()
    return resolved


def _common(entry: Entry) -> dict[str, Any]:
    """The fields every Document has."""
    doc = entry.doc
    return {
        "name": entry.name,
        "origin": doc.start,
        "spec": freeze(entry.data["spec"]),
        "locations": freeze({format_path(p): loc for p, loc in doc.values.items() if p}),
    }


def _bucket(entry: Entry) -> Bucket:
    spec = entry.data["spec"]
    return Bucket(
        **_common(entry),
        location=spec["location"],
        storage_class=StorageClass(spec["storageClass"]),
        versioning=spec["versioning"],
        force_destroy=spec["forceDestroy"],
        lifecycle=_opt(
            spec.get("lifecycle"), lambda v: Lifecycle(delete_after_days=v["deleteAfterDays"])
        ),
        labels=freeze(spec["labels"]),
        bucket_name=spec.get("bucketName"),
    )


def _dataset(entry: Entry) -> Dataset:
    spec = entry.data["spec"]
    source = spec["source"]
    kind = next(SourceKind(k) for k in source if k != "labels")
    local = kind != SourceKind.CSV
    return Dataset(
        **_common(entry),
        bucket=spec["bucket"],
        classification=Classification(spec["classification"]),
        source=DatasetSource(
            kind=kind,
            path=_resolved(entry, ("spec", "source", kind.value)) if local else None,
            uri=None if local else source["csv"],
            labels=_resolved(entry, ("spec", "source", "labels")),
        ),
        split=Split(**{k: spec["split"][k] for k in ("train", "validation", "test", "seed")}),
    )


def _model(entry: Entry) -> Model:
    spec = entry.data["spec"]
    return Model(
        **_common(entry),
        dataset=spec["dataset"],
        optimize_for=OptimizeFor(spec["optimizeFor"]),
        budget=Budget(node_hours=float(spec["budget"]["nodeHours"])),
        export=tuple(ExportFormat(f) for f in spec["export"]),
        base_model=_opt(
            spec.get("baseModel"),
            lambda v: BaseModel(
                path=_resolved(entry, ("spec", "baseModel", "path")), model=v.get("model")
            ),
        ),
        deploy=_opt(spec.get("deploy"), lambda v: Deploy(nodes=v["nodes"])),
        seed=spec["seed"],
        retain_on_delete=spec["retainOnDelete"],
        acceptance=_acceptance(spec["acceptance"]),
        promoted=_opt(
            spec.get("promoted"),
            lambda v: Promotion(from_stack=v["from"], fingerprint=v["fingerprint"]),
        ),
    )


def _acceptance(acceptance: Mapping[str, Any]) -> Acceptance:
    ((policy, setting),) = acceptance["threshold"].items()
    is_metric = policy == ThresholdKind.MAXIMIZE
    return Acceptance(
        threshold=ThresholdPolicy(
            kind=ThresholdKind(policy),
            value=None if is_metric else float(setting),
            metric=setting if is_metric else None,
        ),
        min_precision=_opt(acceptance.get("minPrecision"), float),
        min_recall=_opt(acceptance.get("minRecall"), float),
        min_au_prc=_opt(acceptance.get("minAuPrc"), float),
        per_label=freeze(
            {
                label: LabelMinimums(
                    min_precision=_opt(v.get("minPrecision"), float),
                    min_recall=_opt(v.get("minRecall"), float),
                )
                for label, v in acceptance.get("perLabel", {}).items()
            }
        ),
        no_worse_than=acceptance.get("noWorseThan"),
    )


def _publication(entry: Entry, built: Built) -> Publication:
    spec = entry.data["spec"]
    model = built["Model"][spec["model"]]
    assert isinstance(model, Model)
    default_bucket = built["Dataset"][model.dataset]
    assert isinstance(default_bucket, Dataset)
    return Publication(
        **_common(entry),
        model=spec["model"],
        target=Target(spec["target"]),
        display_name=spec["displayName"],
        tags=tuple(spec["tags"]),
        published=spec["published"],
        bucket=spec.get("bucket") or default_bucket.bucket,
    )


def _rollout(entry: Entry) -> Rollout:
    spec = entry.data["spec"]
    return Rollout(
        **_common(entry),
        parameter=spec["parameter"],
        description=spec["description"],
        group=spec.get("group"),
        publication=spec["publication"],
        conditions=tuple(
            RolloutCondition(
                name=c["name"],
                publication=c["publication"],
                percent=_opt(c.get("percent"), float),
                seed=c.get("seed") or spec["parameter"],
                app_id=c.get("appId"),
                app_versions=tuple(c.get("appVersions", ())),
                min_app_version=c.get("minAppVersion"),
                countries=tuple(code.lower() for code in c.get("countries", ())),
            )
            for c in spec["conditions"]
        ),
    )
