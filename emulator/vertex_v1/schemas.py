"""The aiplatform package's schemas the emulator serves: URIs, the training task's messages.

Image datasets (metadata schema `image`) imported with the single- or multi-label
classification schema, trained by the AutoML image classification definition; its
training task inputs and metadata are `Inputs` and `Metadata` (definition_v1).
"""

from google.cloud.aiplatform import schema
from google.cloud.aiplatform.v1.schema.trainingjob import definition_v1

from emulator.core.datasets import ClassificationType

IMAGE_METADATA_SCHEMA = schema.dataset.metadata.image
IMPORT_SCHEMAS = {
    schema.dataset.ioformat.image.single_label_classification: ClassificationType.MULTICLASS,
    schema.dataset.ioformat.image.multi_label_classification: ClassificationType.MULTILABEL,
}
TRAINING_DEFINITION = schema.training_job.definition.automl_image_classification
# Not among the package's constants (it has none for model evaluation schemas).
METRICS_SCHEMA = (
    "gs://google-cloud-aiplatform/schema/modelevaluation/classification_metrics_1.0.0.yaml"
)
SLICE_DIMENSION = "annotationSpec"

Inputs = definition_v1.AutoMlImageClassificationInputs
Metadata = definition_v1.AutoMlImageClassificationMetadata
# Vertex AI model types → the engine's (AutoML's names).
MODEL_TYPES = {
    Inputs.ModelType.CLOUD: "cloud",
    Inputs.ModelType.MOBILE_TF_LOW_LATENCY_1: "mobile-low-latency-1",
    Inputs.ModelType.MOBILE_TF_VERSATILE_1: "mobile-versatile-1",
    Inputs.ModelType.MOBILE_TF_HIGH_ACCURACY_1: "mobile-high-accuracy-1",
}


def known_schema(uri: str, namespace: type) -> bool:
    """Whether `uri` is one of the package's schema constants under `namespace`."""
    values = [v for k, v in vars(namespace).items() if not k.startswith("_")]
    return any(
        uri == v if isinstance(v, str) else isinstance(v, type) and known_schema(uri, v)
        for v in values
    )
