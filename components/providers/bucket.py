"""Bucket on the emulator stack (GCP stacks use `pulumi_gcp.storage.Bucket`, see resources.py).

Uniform bucket-level access and public-access prevention are always on. A bucket that holds
objects is deleted (or replaced) with them only when its spec says `forceDestroy: true`;
otherwise the deletion fails, naming the bucket, and nothing is lost.
"""

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi

from components.cloud.clients import STORAGE, CloudInputs, CloudTarget
from components.cloud.storage import BucketAdmin, BucketSettings
from components.providers.base import DynamicResource, Outputs, Provider
from components.spec import Bucket as BucketSpec


class BucketInputs(TypedDict):
    """A Bucket's properties: all from its spec (it takes no other resource's outputs)."""

    name: str
    cloud: CloudInputs
    bucketName: str
    location: str
    storageClass: str
    versioning: bool
    forceDestroy: bool
    deleteAfterDays: NotRequired[int | None]
    labels: dict[str, str]


class BucketLive(TypedDict):
    """What a refresh reads back: the settings the spec controls, as they are."""

    storageClass: str
    versioning: bool
    labels: dict[str, str]
    deleteAfterDays: int | None


def bucket_inputs(spec: BucketSpec, target: CloudTarget) -> BucketInputs:
    return {
        "name": spec.name,
        "cloud": target.as_inputs(STORAGE),
        "bucketName": spec.cloud_name(target.project),
        "location": spec.location.upper(),
        "storageClass": spec.storage_class.value,
        "versioning": spec.versioning,
        "forceDestroy": spec.force_destroy,
        "deleteAfterDays": spec.lifecycle.delete_after_days if spec.lifecycle else None,
        "labels": dict(spec.labels),
    }


def _settings(props: BucketInputs) -> BucketSettings:
    days = props.get("deleteAfterDays")
    return BucketSettings(
        location=props["location"],
        storage_class=props["storageClass"],
        versioning=bool(props["versioning"]),
        delete_after_days=int(days) if days else None,
        labels=tuple(sorted((props.get("labels") or {}).items())),
    )


def _admin(props: BucketInputs) -> BucketAdmin:
    return BucketAdmin(CloudTarget.from_inputs(props["cloud"]), props["bucketName"])


class BucketProvider(Provider[BucketInputs]):
    kind = "Bucket"
    replace_on = ("bucketName", "location", "cloud")
    update_on = ("storageClass", "versioning", "deleteAfterDays", "labels", "forceDestroy")

    def _same_physical(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
        # A new location under the same name: the old bucket must go first (and is refused
        # while it holds objects, unless forceDestroy), or "creating" the new one would adopt
        # the old one and the old one's deletion would then delete it.
        return olds.get("bucketName") == news.get("bucketName") and olds.get("cloud") == news.get(
            "cloud"
        )

    def _create(self, props: BucketInputs) -> tuple[str, Outputs]:
        created = _admin(props).create(_settings(props))
        if not created:
            self.log(props)(f"adopted existing bucket gs://{props['bucketName']}")
        return props["bucketName"], {}

    def _read(self, id_: str, props: BucketInputs) -> BucketLive | None:
        live = _admin(props).get()
        if live is None:
            return None
        days = live["deleteAfterDays"]
        return {
            "storageClass": live["storageClass"],
            "versioning": live["versioning"],
            "labels": live["labels"],
            "deleteAfterDays": int(days) if days else None,
        }

    def _update(self, id_: str, olds: BucketInputs, news: BucketInputs) -> Outputs:
        _admin(news).update(_settings(news))
        return {}

    def _delete(self, id_: str, props: BucketInputs) -> None:
        _admin(props).delete(force=bool(props.get("forceDestroy")))


class Bucket(DynamicResource, module="edge-labeler", name="Bucket"):
    """A Cloud Storage bucket in the local emulator."""

    bucketName: pulumi.Output[str]

    provider_type = BucketProvider
