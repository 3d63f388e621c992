"""Publication: the gated model's TF Lite file where apps download it, via the Registry port.

Targets: Firebase ML custom models (`firebase-ml`) or a versioned object + manifest in a
bucket (`storage`). The file, the tags, the published flag and the chosen confidence
threshold (with the labels) are converged in place; the file is replaced only when its
sha256 changed. Each publication also records which fingerprint this stack serves
(`models/<model>/published.json`), which `noWorseThan: published` gates compare against.
"""

from typing import Generic, Never, NotRequired, TypedDict

import pulumi

from components.cloud.adapters import open_registry
from components.cloud.clients import REGISTRY, STORAGE, CloudInputs, CloudTarget
from components.cloud.records import now, published_path
from components.cloud.registry import ModelFile, PublishedModel, PublishedModelSpec, Registry
from components.cloud.storage import ObjectStore
from components.providers.base import DynamicResource, Pending, Provider, UserError
from components.spec import Publication as PublicationSpec

OUTPUTS = ("registryName", "version", "modelHash", "servedSha256", "updateTime", "state")


class PublicationInputs(TypedDict):
    name: str
    cloud: CloudInputs
    target: str  # firebase-ml | storage
    displayName: str
    tags: list[str]
    published: bool
    model: str  # the Model document's name


class PublishedModelLinks(TypedDict, Generic[Pending]):
    """The model published: its file (from a ModelExport or a PromotedModel), its fingerprint,
    and the threshold and labels its gate chose."""

    modelFile: NotRequired[str | Pending | None]
    modelSha256: NotRequired[str | Pending | None]
    modelSize: NotRequired[int | Pending | None]
    fingerprint: str | Pending
    threshold: NotRequired[float | Pending | None]
    labels: list[str] | Pending


class PublicationLinks(PublishedModelLinks[Pending], Generic[Pending]):
    registryBucket: str | Pending  # where a `storage` target keeps the published models
    recordBucket: str | Pending  # the model's registry records (`published.json` goes there)


class PublicationOutputs(TypedDict, total=False):
    registryName: str
    version: str | int | None
    modelHash: str | None
    servedSha256: str | None
    updateTime: str | None
    state: str


class PublicationLive(PublicationOutputs):
    """The outputs, and what is live of the inputs, so that a refresh shows drift."""

    published: bool
    tags: list[str]


class PublicationRead(PublicationLive):
    """What a read finds: also the file served — its sha256 when this tool sent it, None when
    it changed by hand (a model uploaded in the console and adopted: the next update sends the
    gated file)."""

    modelSha256: str | None


class PublicationProps(PublicationInputs, PublicationLinks[Never], PublicationOutputs):
    pass


def publication_inputs(spec: PublicationSpec, target: CloudTarget) -> PublicationInputs:
    return {
        "name": spec.name,
        "cloud": target.as_inputs(STORAGE, REGISTRY),
        "target": spec.target.value,
        "displayName": spec.display_name,
        "tags": list(spec.tags),
        "published": spec.published,
        "model": spec.model,
    }


def _registry(props: PublicationProps) -> Registry:
    return open_registry(
        props["target"], CloudTarget.from_inputs(props["cloud"]), props["registryBucket"]
    )


def published_model_spec(props: PublicationProps) -> PublishedModelSpec:
    """What the registry is to serve; UserError when the model has no file apps can load."""
    uri, sha256, threshold = props.get("modelFile"), props.get("modelSha256"), props["threshold"]
    if uri is None or sha256 is None:  # exported as tf_saved_model only
        raise UserError(
            f"model '{props['model']}' has no TF Lite export to publish: add tflite or "
            "edgetpu_tflite to its spec.export"
        )
    return PublishedModelSpec(
        display_name=props["displayName"],
        model=ModelFile.from_gcs(uri, sha256, int(props.get("modelSize") or 0) or None),
        tags=tuple(props.get("tags") or ()),
        published=bool(props["published"]),
        threshold=None if threshold is None else float(threshold),
        labels=tuple(props.get("labels") or ()),
    )


def _outputs(model: PublishedModel) -> PublicationLive:
    return {
        "registryName": model.name,
        "version": model.version,
        "modelHash": model.model_hash,
        "servedSha256": model.sha256,
        "updateTime": model.update_time,
        "state": "published" if model.published else "unpublished",
        # What is live, so that a refresh shows drift (unpublished or retagged by hand).
        "published": model.published,
        "tags": list(model.tags),
    }


class PublicationProvider(Provider[PublicationProps]):
    outputs = OUTPUTS
    kind = "Publication"
    replace_on = ("target", "displayName", "cloud", "registryBucket")
    update_on = ("tags", "published", "modelSha256", "threshold", "labels")

    def _apply(self, props: PublicationProps) -> PublicationLive:
        log = self.log(props)
        spec = published_model_spec(props)
        model = _registry(props).apply(spec, progress=log)
        target = CloudTarget.from_inputs(props["cloud"])
        store = ObjectStore(target, props["recordBucket"])
        if model.published:
            store.write_json(
                published_path(props["model"]),
                {
                    "fingerprint": props["fingerprint"],
                    "displayName": props["displayName"],
                    "target": props["target"],
                    "registryName": model.name,
                    "sha256": props["modelSha256"],
                    "threshold": props["threshold"],
                    "publishedAt": now(),
                },
            )
        state = "published" if model.published else "not published"
        log(
            f"{props['displayName']} {state} on {props['target']} ({model.name}), threshold "
            f"{props['threshold']:g}"
        )
        return _outputs(model)

    def _create(self, props: PublicationProps) -> tuple[str, PublicationLive]:
        outs = self._apply(props)
        return outs["registryName"], outs

    def _update(self, id_: str, olds: PublicationProps, news: PublicationProps) -> PublicationLive:
        return self._apply(news)

    def _read(self, id_: str, props: PublicationProps) -> PublicationRead | None:
        model = _registry(props).read(props["displayName"])
        if model is None:
            return None
        return {**_outputs(model), "modelSha256": model.sha256}

    def _delete(self, id_: str, props: PublicationProps) -> None:
        _registry(props).delete(props["displayName"])
        store = ObjectStore(CloudTarget.from_inputs(props["cloud"]), props["recordBucket"])
        pointer = store.read_json(published_path(props["model"]))
        if pointer and pointer.get("displayName") == props["displayName"]:
            store.delete([published_path(props["model"])])
        self.log(props)(f"{props['displayName']} removed from {props['target']}")


class Publication(DynamicResource, module="edge-labeler", name="Publication"):
    """A model published for apps (Firebase ML or Cloud Storage)."""

    registryName: pulumi.Output[str]
    state: pulumi.Output[str]

    provider_type = PublicationProvider
    computed_outputs = OUTPUTS
