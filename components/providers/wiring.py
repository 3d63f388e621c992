"""Each resource's inputs with the outputs it takes from other resources, as the program wires them.

`components/resources.py` passes Outputs; the review's plan (`components/review/plan.py`) can
pass plain values or its placeholders, so the two declare the same inputs.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.cloud.clients import CloudTarget
from components.providers.base import Props
from components.providers.export import export_inputs
from components.providers.gate import gate_inputs
from components.providers.publication import publication_inputs
from components.providers.trained_model import trained_model_inputs
from components.spec import Model as ModelSpec
from components.spec import Publication as PublicationSpec

TRAINING_OUTPUTS = ("stopReason", "trainCostMilliNodeHours")  # TrainedModel → ModelExport
MODEL_FILE_OUTPUTS = ("modelFile", "modelSha256", "modelSize")  # → Publication


def wire_trained_model(
    spec: ModelSpec,
    target: CloudTarget,
    root: Path,
    *,
    bucket: Any,
    dataset_name: Any,
    dataset_fingerprint: Any,
    base_model_name: Any = None,
    base_model_fingerprint: Any = None,
) -> Props:
    """A TrainedModel's inputs: its dataset's, and (`baseModel: {model: …}`) its base model's."""
    props = {
        **trained_model_inputs(spec, target, root),
        "bucket": bucket,
        "datasetName": dataset_name,
        "datasetFingerprint": dataset_fingerprint,
    }
    if base_model_name is not None:
        props["baseModelName"] = base_model_name
        props["baseModelFingerprint"] = base_model_fingerprint
    return props


def wire_gate(
    spec: ModelSpec, target: CloudTarget, *, bucket: Any, model_name: Any, fingerprint: Any
) -> Props:
    """An AcceptanceGate's inputs: the trained model it judges."""
    return {
        **gate_inputs(spec, target),
        "bucket": bucket,
        "modelName": model_name,
        "fingerprint": fingerprint,
    }


def wire_export(
    spec: ModelSpec,
    target: CloudTarget,
    *,
    bucket: Any,
    model_name: Any,
    fingerprint: Any,
    dataset_fingerprint: Any,
    base_model: Any,
    training: Any,
    gate: Any,
) -> Props:
    """A ModelExport's inputs: the trained model, its training config and figures (for the
    registry record) and the gate's outputs, so nothing is exported before the gate passed."""
    return {
        **export_inputs(spec, target),
        "bucket": bucket,
        "modelName": model_name,
        "fingerprint": fingerprint,
        "datasetFingerprint": dataset_fingerprint,
        "config": {
            "modelType": spec.optimize_for.automl_model_type,
            "budgetMilliNodeHours": spec.budget.milli_node_hours,
            "baseModel": base_model,
            "seed": spec.seed,
        },
        "training": training,
        "gate": gate,
    }


def wire_publication(
    spec: PublicationSpec,
    target: CloudTarget,
    *,
    registry_bucket: Any,
    record_bucket: Any,
    model: Mapping[str, Any],
) -> Props:
    """A Publication's inputs: `model` holds MODEL_FILE_OUTPUTS, fingerprint, threshold, labels."""
    return {
        **publication_inputs(spec, target),
        "registryBucket": registry_bucket,
        "recordBucket": record_bucket,
        **model,
    }
