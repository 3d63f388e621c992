"""Dataset: labeled images checked, uploaded content-addressed, indexed and imported.

`check` reads the source (cached by file stat), applies every data rule and computes the
content fingerprint, so bad data fails the preview and creates nothing, and a changed
pixel shows as a replacement in the preview. `create` uploads the images the bucket does
not hold yet (and again any whose content address holds other bytes), writes the CSV index
and imports it into a cloud dataset labeled with the fingerprint. Never one dataset per
attempt: a labelled dataset that holds the images is adopted, an empty one is imported into,
and a failed import deletes the dataset it was made for.
"""

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Generic, Never, NotRequired, TypedDict

import pulumi

from components.cloud.adapters import training_api
from components.cloud.clients import STORAGE, TRAINING, CloudInputs, CloudTarget
from components.cloud.errors import CloudError, CloudNotFound
from components.cloud.storage import ObjectStore, Upload, read_uri, stat_objects
from components.cloud.training import (
    LABEL_FINGERPRINT,
    LABEL_MANAGED,
    LABEL_STACK,
    CloudDataset,
    TrainingApi,
    fingerprint_label,
)
from components.data.cache import ScanCache
from components.data.csv_index import parse_index, write_index
from components.data.errors import DatasetError, Problem
from components.data.manifest import (
    Item,
    Manifest,
    Progress,
    SplitSpec,
    Summary,
    scan_items,
    scan_local,
    summarize_local,
)
from components.providers.base import (
    DynamicResource,
    Outputs,
    Pending,
    Props,
    Provider,
    UserError,
)
from components.spec import Dataset as DatasetSpec
from components.spec.paths import root_relative

IMPORT_TIMEOUT_S = 6 * 3600
# Computed by the provider (declared so that they exist as outputs of the resource).
OUTPUTS = (
    "datasetName",
    "fingerprint",
    "labelCounts",
    "imageCount",
    "exampleCount",
    "uploadedImages",
    "indexUri",
    "labels",
    "warnings",
)


class SourceInputs(TypedDict):
    kind: str  # zip | directory | csv | images
    path: NotRequired[str | None]  # relative to the project root
    uri: NotRequired[str | None]  # a csv index's gs:// URI
    labels: NotRequired[str | None]  # the labels file of `images`


class SplitInputs(TypedDict):
    train: float
    validation: float
    test: float
    seed: int


class DatasetInputs(TypedDict, Generic[Pending]):
    name: str
    cloud: CloudInputs
    bucket: str | Pending
    displayName: str
    classification: str
    source: SourceInputs
    split: SplitInputs


class DatasetSummary(TypedDict):
    """What `check` computes from the source: the content fingerprint and the figures."""

    fingerprint: str
    imageCount: int
    labels: list[str]
    labelCounts: dict[str, dict[str, int]]
    warnings: list[str]


class DatasetOutputs(TypedDict, total=False):
    """What `create` adds (`read` refreshes datasetName and exampleCount)."""

    datasetName: str
    indexUri: str
    uploadedImages: int
    exampleCount: int


class DatasetCreated(DatasetSummary, DatasetOutputs):
    pass


class DatasetProps(DatasetInputs[Never], DatasetCreated):
    pass


def dataset_inputs(
    spec: DatasetSpec, target: CloudTarget, bucket: str | Pending, root: Path = Path(".")
) -> DatasetInputs[Pending]:
    """The provider's inputs for a Dataset spec (paths relative to the project root); `bucket`
    is the bucket's name, or in the graph the Ref to it."""

    def rel(path: Path | None) -> str | None:
        return None if path is None else root_relative(path, root)

    src = spec.source
    return {
        "name": spec.name,
        "cloud": target.as_inputs(STORAGE, TRAINING),
        "bucket": bucket,
        "displayName": spec.cloud_display_name(target.stack),
        "classification": spec.classification.value,
        "source": {
            "kind": src.kind.value,
            "path": rel(src.path),
            "uri": src.uri,
            "labels": rel(src.labels),
        },
        "split": {
            "train": spec.split.train,
            "validation": spec.split.validation,
            "test": spec.split.test,
            "seed": spec.split.seed,
        },
    }


def _split(props: DatasetInputs[Never]) -> SplitSpec:
    s = props["split"]
    return SplitSpec(float(s["train"]), float(s["validation"]), float(s["test"]), int(s["seed"]))


def _csv_items(target: CloudTarget, uri: str) -> list[Item]:
    """Items of a Cloud Storage CSV index: every row's image, its labels and ML_USE split."""
    try:
        text = read_uri(target, uri).decode("utf-8-sig")
    except CloudNotFound:
        raise UserError(f"the CSV index {uri} does not exist") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"the CSV index {uri} is not UTF-8 text ({exc.reason})") from None
    rows = parse_index(text, uri)
    stats = stat_objects(target, [r.uri for r in rows])
    missing = [r for r in rows if r.uri not in stats]
    if missing:
        raise DatasetError(
            Problem(f"{uri}:{r.line}", "missing", f"{r.uri} does not exist") for r in missing
        )
    return [
        Item(
            where=f"{uri}:{r.line}",
            name=r.uri,
            stamp=(stats[r.uri].generation, stats[r.uri].size),
            read=partial(read_uri, target, r.uri),
            labels=r.labels,
            split=r.ml_use,
        )
        for r in rows
    ]


def scan(
    props: DatasetInputs[Never], progress: Progress | None = None, trusted: str | None = None
) -> tuple[Manifest, Mapping[str, Item]]:
    """The manifest of the source, and its items by source name (to read them for upload).
    `trusted`: the fingerprint of content checked before (a local source's images the stat
    cache lacks are then hashed, not decoded, if they make it: manifest.scan_items)."""
    source = props["source"]
    path, uri, labels = source.get("path"), source.get("uri"), source.get("labels")
    if source["kind"] != "csv":
        assert path is not None  # the spec requires one of every local source
        return scan_local(
            source["kind"],
            Path(path),
            classification=props["classification"],
            split=_split(props),
            label=path,
            labels_file=Path(labels) if labels else None,
            progress=progress,
            trusted=trusted,
        )
    assert uri is not None  # the spec requires one of a csv source
    items = _csv_items(CloudTarget.from_inputs(props["cloud"]), uri)
    return scan_items(
        items,
        ScanCache(uri, None),
        classification=props["classification"],
        split=_split(props),
        label=uri,
        progress=progress,
    )


def summarize(props: DatasetInputs[Never], trusted: str | None = None) -> Summary:
    """The summary of `scan`'s manifest; for a local source, from the stat cache when no file
    changed (a no-op check reads no image and builds no manifest). `trusted`: as in scan."""
    source = props["source"]
    path, labels = source.get("path"), source.get("labels")
    if source["kind"] == "csv":
        return scan(props)[0].summary
    assert path is not None  # the spec requires one of every local source
    return summarize_local(
        source["kind"],
        Path(path),
        classification=props["classification"],
        split=_split(props),
        label=path,
        labels_file=Path(labels) if labels else None,
        trusted=trusted,
    )


def _summary(summary: Summary) -> DatasetSummary:
    return {
        "fingerprint": summary.fingerprint,
        "imageCount": summary.image_count,
        "labels": list(summary.labels),
        "labelCounts": {k: dict(v) for k, v in summary.label_counts.items()},
        "warnings": list(summary.warnings),
    }


class DatasetProvider(Provider[DatasetProps]):
    outputs = OUTPUTS
    kind = "Dataset"
    replace_on = ("fingerprint", "bucket", "classification", "displayName", "cloud")

    def _check(self, olds: Props, news: DatasetProps) -> DatasetProps:
        # The deployed dataset's fingerprint vouches for content an earlier check passed:
        # with no stat cache (a new clone, a CI runner), unchanged images are only hashed.
        summary = summarize(news, trusted=olds.get("fingerprint"))
        log = self.log(news)
        for warning in summary.warnings:
            log(f"warning: {warning}")
        return {**news, **_summary(summary)}

    def _failed_property(self, err: Exception) -> str:
        return "source"

    def _create(self, props: DatasetProps) -> tuple[str, DatasetCreated]:
        log = self.log(props)
        target = CloudTarget.from_inputs(props["cloud"])
        manifest, items = scan(
            props, lambda d, t: log(f"checked {d}/{t} images"), trusted=props["fingerprint"]
        )
        if manifest.fingerprint != props["fingerprint"]:
            raise UserError(
                f"the source {props['source'].get('path') or props['source'].get('uri')} "
                "changed since it was checked "
                "(fingerprint differs); run the deployment again"
            )
        store = ObjectStore(target, props["bucket"])
        uploads = [Upload(e.object_name, items[e.source].read) for e in manifest.entries]
        uploaded = store.upload_missing(
            uploads,
            "images/",
            lambda d, t: log(f"uploaded {d}/{t} new images"),
            lambda name: log(
                f"{store.uri(name)} held other bytes than its name says; uploaded again"
            ),
        )
        log(f"{uploaded} new images uploaded, {len(uploads) - uploaded} already in the bucket")
        short = fingerprint_label(manifest.fingerprint)
        index = f"datasets/{props['name']}/{short}.csv"
        store.write(index, write_index(props["bucket"], manifest.entries).encode())

        api = training_api(target)
        labels = {LABEL_MANAGED: "dataset", LABEL_STACK: target.stack, LABEL_FINGERPRINT: short}
        dataset = self._dataset(api, props, labels, len(uploads), log)
        if dataset.example_count != len(uploads):
            dataset = self._import(api, dataset, store.uri(index), len(uploads), log)
        outs: DatasetCreated = {
            **_summary(manifest.summary),
            "datasetName": dataset.name,
            "indexUri": store.uri(index),
            "uploadedImages": uploaded,
            "exampleCount": dataset.example_count,
        }
        return dataset.name, outs

    @staticmethod
    def _dataset(
        api: TrainingApi,
        props: DatasetProps,
        labels: Mapping[str, str],
        images: int,
        log: Callable[[str], None],
    ) -> CloudDataset:
        """The dataset labelled with this fingerprint (from an earlier attempt), or a new one."""
        for found in api.find_datasets(labels):
            if found.example_count == images:
                log(f"adopted {found.name} (same fingerprint, already imported)")
                return found
            if found.example_count == 0:
                log(f"adopted {found.name}: an earlier attempt left it empty")
                return found
            raise UserError(
                f"the cloud dataset {found.name} carries this fingerprint but holds "
                f"{found.example_count} images, not {images}; delete it and run again"
            )
        return api.create_dataset(
            props["displayName"], props["classification"] == "multilabel", labels
        )

    @staticmethod
    def _import(
        api: TrainingApi,
        dataset: CloudDataset,
        index_uri: str,
        images: int,
        log: Callable[[str], None],
    ) -> CloudDataset:
        """Imports the index into the (empty) dataset; if that fails, deletes the dataset."""
        log(f"importing {images} images into {dataset.name}")
        try:
            op = api.start_import(dataset.name, index_uri)
            api.wait(
                op,
                what=f"import into {dataset.name}",
                progress=log,
                timeout_seconds=IMPORT_TIMEOUT_S,
            )
        except CloudError as err:
            try:
                api.delete_dataset(dataset.name)
                left = f"the empty dataset {dataset.name} was deleted"
            except CloudError as cleanup:
                left = f"the empty dataset {dataset.name} is kept for the next run ({cleanup})"
            raise UserError(f"{err}; {left}") from err
        imported = api.get_dataset(dataset.name) or dataset
        if imported.example_count != images:
            raise UserError(
                f"the import into {dataset.name} holds {imported.example_count} images, "
                f"expected {images}"
            )
        return imported

    def _read(self, id_: str, props: DatasetProps) -> DatasetOutputs | None:
        dataset = training_api(CloudTarget.from_inputs(props["cloud"])).get_dataset(id_)
        if dataset is None:
            return None
        return {"datasetName": dataset.name, "exampleCount": dataset.example_count}

    def _update(self, id_: str, olds: DatasetProps, news: DatasetProps) -> Outputs:
        return {}  # every input that matters replaces; nothing to change in place

    def _delete(self, id_: str, props: DatasetProps) -> None:
        training_api(CloudTarget.from_inputs(props["cloud"])).delete_dataset(id_)


class Dataset(DynamicResource, module="edge-labeler", name="Dataset"):
    """A cloud image-classification dataset imported from a spec's source."""

    datasetName: pulumi.Output[str]
    fingerprint: pulumi.Output[str]

    provider_type = DatasetProvider
    computed_outputs = OUTPUTS
