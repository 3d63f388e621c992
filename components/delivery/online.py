"""`edgectl predict --online`: the images sent to the deployed model instead of run locally.

Only a Model whose spec has `deploy` is served online. AutoML v1 (`api: automl_v1`) answers
through its PredictionService (`predict` on the model, after DeployModel). Vertex AI serves no
online predictions for Edge models ("You cannot use an Edge model in Vertex AI to serve
predictions": they are exported, not deployed to an endpoint; the emulator refuses the same),
so `--online` on a Vertex AI stack is refused with that reason.
"""

from __future__ import annotations

from components.cloud.clients import CloudTarget, automl_prediction_client
from components.cloud.errors import cloud_errors


def online_labels(
    target: CloudTarget, model_name: str, image: bytes, threshold: float
) -> list[tuple[str, float]]:
    """The deployed model's labels scoring at least `threshold`, highest first."""
    from google.cloud import automl_v1

    client = automl_prediction_client(target)
    payload = automl_v1.ExamplePayload(image=automl_v1.Image(image_bytes=image))
    with cloud_errors(f"online prediction by {model_name}"):
        response = client.predict(
            name=model_name, payload=payload, params={"score_threshold": f"{threshold:g}"}
        )
    found = [(p.display_name, float(p.classification.score)) for p in response.payload]
    return sorted(found, key=lambda pair: -pair[1])


def refusal(target: CloudTarget, deploy_nodes: int | None, model: str) -> str | None:
    """Why the model cannot be asked online on this stack, or None."""
    if deploy_nodes is None:
        return (
            f"Model '{model}' on stack '{target.stack}' has no spec.deploy, so it is not served "
            "online; add `deploy: {nodes: 1}` to serve it, or drop --online to run the gated "
            "file locally"
        )
    if target.api == "vertex":
        return (
            f"stack '{target.stack}' trains on Vertex AI, which serves no online predictions "
            "for Edge models (they are exported, not deployed to an endpoint); drop --online "
            "to run the gated file locally, as the app does"
        )
    return None
