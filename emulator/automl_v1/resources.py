"""AutoML v1's resources on the wire: the core's Dataset, Model and ModelEvaluation as messages."""

from dataclasses import asdict
from typing import Any

from google.cloud.automl_v1 import types

from emulator.core.datasets import Dataset
from emulator.core.models.records import Model, ModelEvaluation
from emulator.proto_enums import member

# Image classification resources are named ICN<digits> by the service.
ID_PREFIX = "ICN"


def dataset_pb(dataset: Dataset) -> types.Dataset:
    return types.Dataset(
        name=dataset.name,
        display_name=dataset.display_name,
        description=dataset.description,
        example_count=dataset.example_count,
        create_time=dataset.create_time,
        etag=dataset.etag,
        labels=dataset.labels,
        image_classification_dataset_metadata=types.ImageClassificationDatasetMetadata(
            classification_type=member(types.ClassificationType, dataset.classification_type.value)
        ),
    )


def model_pb(model: Model) -> types.Model:
    return types.Model(
        name=model.name,
        display_name=model.display_name,
        dataset_id=model.dataset_id,
        create_time=model.create_time,
        update_time=model.update_time,
        deployment_state=member(types.Model.DeploymentState, model.deployment_state.value),
        etag=model.etag,
        labels=model.labels,
        image_classification_model_metadata=types.ImageClassificationModelMetadata(
            base_model_id=model.base_model_id,
            train_budget_milli_node_hours=model.train_budget_milli_node_hours,
            train_cost_milli_node_hours=model.train_cost_milli_node_hours,
            stop_reason=model.stop_reason,
            model_type=model.model_type,
            node_qps=model.node_qps,
            node_count=model.node_count,
        ),
    )


def evaluation_pb(evaluation: ModelEvaluation) -> types.ModelEvaluation:
    metrics = evaluation.metrics
    wire = types.ClassificationEvaluationMetrics
    fields: dict[str, Any] = {
        "au_prc": metrics.au_prc,
        "au_roc": metrics.au_roc,
        "log_loss": metrics.log_loss,
        "confidence_metrics_entry": [
            wire.ConfidenceMetricsEntry(**asdict(entry))
            for entry in metrics.confidence_metrics_entry
        ],
        "annotation_spec_id": list(metrics.annotation_spec_id),
    }
    if metrics.confusion_matrix is not None:
        matrix = metrics.confusion_matrix
        fields["confusion_matrix"] = wire.ConfusionMatrix(
            annotation_spec_id=list(matrix.annotation_spec_id),
            display_name=list(matrix.display_name),
            row=[wire.ConfusionMatrix.Row(example_count=list(row)) for row in matrix.row],
        )
    return types.ModelEvaluation(
        name=evaluation.name,
        annotation_spec_id=evaluation.annotation_spec_id,
        display_name=evaluation.display_name,
        create_time=evaluation.create_time,
        evaluated_example_count=evaluation.evaluated_example_count,
        classification_evaluation_metrics=wire(**fields),
    )
