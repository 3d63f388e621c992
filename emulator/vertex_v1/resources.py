"""Vertex AI's resources on the wire: the core's datasets, models, evaluations, training
pipelines and endpoints as aiplatform_v1 messages (Dataset, Model, ModelEvaluation(Slice),
TrainingPipeline, Endpoint, DeployedModel).
"""

import json
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2

from emulator.core.architectures import MOBILE_MODEL_TYPES
from emulator.core.datasets import Dataset
from emulator.core.endpoints import DeployedModel, Endpoint
from emulator.core.models.records import Model, ModelEvaluation
from emulator.core.pipelines import PipelineState, PipelineStatus, TrainingPipeline
from emulator.proto_enums import member
from emulator.vertex_v1.schemas import (
    IMAGE_METADATA_SCHEMA,
    METRICS_SCHEMA,
    SLICE_DIMENSION,
    metadata_message,
)
from emulator.vertex_v1.values import metrics_json, to_value

ID_PREFIX = ""  # Vertex AI ids are numbers
# Every trained model is version 1 of its model, with the alias `default` (service.py).
VERSION_ID = "1"
VERSION_ALIASES = ("default",)

# Vertex AI export format ids → the engine's formats ("Export AutoML Edge models": image
# classification Edge models export as TF Lite, Edge TPU TF Lite, Container, Core ML, TF.js).
EXPORT_FORMATS = {
    "tflite": "tflite",
    "edgetpu-tflite": "edgetpu_tflite",
    "tf-saved-model": "tf_saved_model",
}
UNEMULATED_EXPORT_FORMATS = ("core-ml", "tf-js")  # listed as supported, refused on export
# The engine's files as that page names them; the labels are inside the TF Lite file ("does
# not produce a label file (dict.txt)"), so neither dict.txt nor tflite_metadata.json is kept.
_VERTEX_FILE_NAMES = {"edgetpu_tflite": {"model.tflite": "edgetpu_model.tflite"}}
_NOT_EXPORTED = ("dict.txt", "tflite_metadata.json")


def export_file_name(engine_format: str, name: str) -> str | None:
    """An engine export file's name in Vertex AI's export folder (None: not written)."""
    if name in _NOT_EXPORTED:
        return None
    name = name.removeprefix("saved_model/")  # saved_model.pb and variables/ at the top
    return _VERTEX_FILE_NAMES.get(engine_format, {}).get(name, name)


# QUEUED → PIPELINE_STATE_QUEUED, … (every state of the core has its Vertex AI name).
PIPELINE_STATES = {
    state: member(types.PipelineState, f"PIPELINE_STATE_{state.value}") for state in PipelineState
}


def dataset_pb(dataset: Dataset) -> types.Dataset:
    return types.Dataset(
        name=dataset.name,
        display_name=dataset.display_name,
        description=dataset.description,
        metadata_schema_uri=IMAGE_METADATA_SCHEMA,
        data_item_count=dataset.example_count,
        create_time=dataset.create_time,
        update_time=dataset.create_time,
        etag=dataset.etag,
        labels=dataset.labels,
    )


def model_pb(model: Model, training_pipeline: str) -> types.Model:
    exportable = model.model_type in MOBILE_MODEL_TYPES
    artifact = types.Model.ExportFormat.ExportableContent.ARTIFACT
    return types.Model(
        name=model.name,
        display_name=model.display_name,
        labels=model.labels,
        create_time=model.create_time,
        update_time=model.update_time,
        etag=model.etag,
        version_id=VERSION_ID,
        version_aliases=list(VERSION_ALIASES),
        version_create_time=model.create_time,
        version_update_time=model.update_time,
        training_pipeline=training_pipeline,
        supported_export_formats=[
            types.Model.ExportFormat(id=fmt, exportable_contents=[artifact])
            for fmt in ((*EXPORT_FORMATS, *UNEMULATED_EXPORT_FORMATS) if exportable else ())
        ],
        # Edge models are exported, CLOUD ones deployed to an endpoint ("You cannot use an
        # Edge model in Vertex AI to serve predictions").
        supported_deployment_resources_types=[]
        if exportable
        else [types.Model.DeploymentResourcesType.AUTOMATIC_RESOURCES],
    )


def deployed_model_pb(deployed: DeployedModel) -> types.DeployedModel:
    return types.DeployedModel(
        id=deployed.id,
        model=deployed.model,
        model_version_id=VERSION_ID,
        display_name=deployed.display_name,
        create_time=deployed.create_time,
        automatic_resources=types.AutomaticResources(min_replica_count=1, max_replica_count=1),
    )


def endpoint_pb(endpoint: Endpoint) -> types.Endpoint:
    return types.Endpoint(
        name=endpoint.name,
        display_name=endpoint.display_name,
        description=endpoint.description,
        labels=endpoint.labels,
        create_time=endpoint.create_time,
        update_time=endpoint.update_time,
        deployed_models=[deployed_model_pb(d) for d in endpoint.deployed_models],
        traffic_split=endpoint.traffic_split,
    )


def id_of(evaluation: ModelEvaluation) -> str:
    """The last segment of an evaluation's name (its id under its model or evaluation)."""
    return evaluation.name.rsplit("/", 1)[-1]


def evaluation_pb(model: str, overall: ModelEvaluation) -> Message:
    message = types.ModelEvaluation.pb(
        types.ModelEvaluation(
            name=f"{model}/evaluations/{id_of(overall)}",
            metrics_schema_uri=METRICS_SCHEMA,
            create_time=overall.create_time,
            slice_dimensions=[SLICE_DIMENSION],
        )
    )
    message.metrics.CopyFrom(to_value(metrics_json(overall.metrics)))
    return message


def slice_pb(evaluation_name: str, per_label: ModelEvaluation) -> Message:
    message = types.ModelEvaluationSlice.pb(
        types.ModelEvaluationSlice(
            name=f"{evaluation_name}/slices/{id_of(per_label)}",
            slice_=types.ModelEvaluationSlice.Slice(
                dimension=SLICE_DIMENSION, value=per_label.display_name
            ),
            metrics_schema_uri=METRICS_SCHEMA,
            create_time=per_label.create_time,
        )
    )
    message.metrics.CopyFrom(to_value(metrics_json(per_label.metrics)))
    return message


def pipeline_pb(pipeline: TrainingPipeline, status: PipelineStatus) -> Message:
    spec = pipeline.spec
    upload = spec["model_to_upload"]
    fields: dict[str, Any] = {
        "name": pipeline.name,
        "display_name": pipeline.display_name,
        "input_data_config": types.InputDataConfig.from_json(json.dumps(spec["input_data_config"])),
        "training_task_definition": spec["training_task_definition"],
        "model_to_upload": types.Model(
            name=status.model,
            # The trained model's version, as the SDK reads it (AutoMLImageTrainingJob.run).
            version_id=VERSION_ID if status.model else "",
            display_name=upload["display_name"],
            labels=upload["labels"],
        ),
        "state": PIPELINE_STATES[status.state],
        "create_time": pipeline.create_time,
        "update_time": status.update_time,
        "labels": pipeline.labels,
    }
    if status.start_time is not None:  # "when the pipeline for the first time entered RUNNING"
        fields["start_time"] = status.start_time
    if status.end_time is not None:
        fields["end_time"] = status.end_time
    message = types.TrainingPipeline.pb(types.TrainingPipeline(**fields))
    message.training_task_inputs.CopyFrom(to_value(spec["training_task_inputs"]))
    if status.state is PipelineState.SUCCEEDED:
        metadata_type = metadata_message()
        metadata = metadata_type(
            cost_milli_node_hours=status.train_cost_milli_node_hours,
            successful_stop_reason=member(metadata_type.SuccessfulStopReason, status.stop_reason),
        )
        message.training_task_metadata.CopyFrom(
            to_value(json_format.MessageToDict(metadata_type.pb(metadata)))
        )
    if status.error is not None:
        message.error.CopyFrom(
            status_pb2.Status(code=int(status.error.code), message=status.error.message)
        )
    return message
