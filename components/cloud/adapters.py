"""Chooses the adapter of each port from the stack's configuration."""

from components.cloud.clients import CloudTarget
from components.cloud.errors import CloudError
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
