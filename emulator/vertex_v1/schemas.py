"""The aiplatform package's schemas the emulator serves: URIs, the training task's messages.

Image datasets (metadata schema `image`) imported with the single- or multi-label
classification schema, trained by the AutoML image classification definition; its
training task inputs and metadata are definition_v1's messages (`inputs_message()`,
`metadata_message()`).

The URIs are written out here (tests/emulator/test_vertex_sdk.py checks them against the
package's constants): the package's `schema` constants and definition_v1 come only with the
whole Vertex AI SDK (`google.cloud.aiplatform`: 1.0-1.5 s of CPU to import, of the ~2.7 s the
emulator's server took), so it is loaded when a request first needs it — a training pipeline's
task inputs, a trained model's task metadata, or a schema URI to refuse (known but not
emulated, or unknown) — not on every start.
"""

import functools
from typing import TYPE_CHECKING, Any

from emulator.core.datasets import ClassificationType

if TYPE_CHECKING:
    from google.cloud.aiplatform.v1.schema.trainingjob.definition_v1 import (
        AutoMlImageClassificationInputs as Inputs,
    )
    from google.cloud.aiplatform.v1.schema.trainingjob.definition_v1 import (
        AutoMlImageClassificationMetadata as Metadata,
    )

_SCHEMAS = "gs://google-cloud-aiplatform/schema"
IMAGE_METADATA_SCHEMA = f"{_SCHEMAS}/dataset/metadata/image_1.0.0.yaml"
IMPORT_SCHEMAS = {
    f"{_SCHEMAS}/dataset/ioformat/image_classification_single_label_io_format_1.0.0.yaml": (
        ClassificationType.MULTICLASS
    ),
    f"{_SCHEMAS}/dataset/ioformat/image_classification_multi_label_io_format_1.0.0.yaml": (
        ClassificationType.MULTILABEL
    ),
}
TRAINING_DEFINITION = f"{_SCHEMAS}/trainingjob/definition/automl_image_classification_1.0.0.yaml"
# Not among the package's constants (it has none for model evaluation schemas).
METRICS_SCHEMA = f"{_SCHEMAS}/modelevaluation/classification_metrics_1.0.0.yaml"
SLICE_DIMENSION = "annotationSpec"


def inputs_message() -> "type[Inputs]":
    """definition_v1's AutoMlImageClassificationInputs."""
    from google.cloud.aiplatform.v1.schema.trainingjob import definition_v1

    return definition_v1.AutoMlImageClassificationInputs


def metadata_message() -> "type[Metadata]":
    """definition_v1's AutoMlImageClassificationMetadata."""
    from google.cloud.aiplatform.v1.schema.trainingjob import definition_v1

    return definition_v1.AutoMlImageClassificationMetadata


@functools.cache
def model_types() -> dict[int, str]:
    """Vertex AI model types → the engine's (AutoML's names)."""
    model_type = inputs_message().ModelType
    return {
        model_type.CLOUD: "cloud",
        model_type.MOBILE_TF_LOW_LATENCY_1: "mobile-low-latency-1",
        model_type.MOBILE_TF_VERSATILE_1: "mobile-versatile-1",
        model_type.MOBILE_TF_HIGH_ACCURACY_1: "mobile-high-accuracy-1",
    }


def known_schema(uri: str, namespace: str) -> bool:
    """Whether `uri` is one of the package's schema constants under `namespace`, a dotted path
    in `google.cloud.aiplatform.schema` (`dataset.ioformat`, `training_job.definition`)."""
    from google.cloud.aiplatform import schema

    found: Any = schema
    for part in namespace.split("."):
        found = getattr(found, part)
    return _among(uri, found)


def _among(uri: str, namespace: Any) -> bool:
    values = [v for k, v in vars(namespace).items() if not k.startswith("_")]
    return any(
        uri == v if isinstance(v, str) else isinstance(v, type) and _among(uri, v) for v in values
    )
