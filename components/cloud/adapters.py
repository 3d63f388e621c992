"""Chooses the adapter of each port from the stack's configuration.

An adapter's module (and its client library) is imported when the adapter is chosen: the
providers import this module, and a stack uses one training API and one or two registries.
"""

from components.cloud.clients import CloudTarget
from components.cloud.errors import CloudError
from components.cloud.registry import InvalidPublication, Registry
from components.cloud.training import TrainingApi

TRAINING_APIS = ("automl_v1", "vertex")


def training_api(target: CloudTarget) -> TrainingApi:
    """The TrainingApi adapter named by the stack's `api` setting."""
    if target.api == "automl_v1":
        from components.cloud.automl_v1 import AutoMlV1

        return AutoMlV1(target)
    if target.api == "vertex":
        from components.cloud.vertex import VertexAi

        return VertexAi(target)
    raise CloudError(
        f"stack '{target.stack}': training API '{target.api}' is not available; allowed: "
        + ", ".join(TRAINING_APIS)
    )


def open_registry(kind: str, target: CloudTarget, bucket: str) -> Registry:
    """The Registry adapter for `kind` (firebase_ml | firebase-ml | storage) of a stack and its
    bucket."""
    normalised = kind.replace("-", "_")
    if normalised == "firebase_ml":
        from components.cloud.firebase_ml import FirebaseMlRegistry

        return FirebaseMlRegistry(target, bucket)
    if normalised == "storage":
        from components.cloud.storage_registry import StorageRegistry

        return StorageRegistry(target, bucket)
    raise InvalidPublication(f"registry {kind!r} is unknown; use firebase_ml or storage")
