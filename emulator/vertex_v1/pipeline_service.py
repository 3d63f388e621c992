"""gRPC facade of Vertex AI's `PipelineService`: CreateTrainingPipeline, GetTrainingPipeline,
ListTrainingPipelines, CancelTrainingPipeline, DeleteTrainingPipeline.

A TrainingPipeline (AutoML image classification definition) is a core training pipeline: a
record over one core training (emulator/core/pipelines.py); its FilterSplit / FractionSplit
choose the images' roles; the model it uploads is a core model. A pipeline's training is not
an operation in Vertex AI: clients read the TrainingPipeline.
"""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from google.cloud.aiplatform_v1 import types
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, json_format
from google.protobuf.message import Message

from emulator.core.datasets import ClassificationType, Dataset
from emulator.core.errors import InvalidArgument, Unimplemented
from emulator.core.models.training import TrainingFields, TrainingRequest
from emulator.core.names import LocationName, parse_location
from emulator.core.paging import paginate
from emulator.core.pipelines import PipelineStatus, TrainingPipeline
from emulator.core.trainer import budget_limits
from emulator.vertex_v1.filters import Fields, parse_filter
from emulator.vertex_v1.operations import API
from emulator.vertex_v1.resources import ID_PREFIX, PIPELINE_STATES, pipeline_pb
from emulator.vertex_v1.schemas import (
    TRAINING_DEFINITION,
    inputs_message,
    known_schema,
    model_types,
)
from emulator.vertex_v1.service import VertexService, validate_display_name
from emulator.vertex_v1.splits import filter_split, fraction_split

if TYPE_CHECKING:
    from emulator.vertex_v1.schemas import Inputs

SERVICE = "google.cloud.aiplatform.v1.PipelineService"

PIPELINE_FIELDS: Fields[tuple[TrainingPipeline, PipelineStatus]] = Fields(
    values={
        "display_name": lambda p: p[0].display_name,
        "state": lambda p: PIPELINE_STATES[p[1].state].name,
        "training_task_definition": lambda p: p[0].spec["training_task_definition"],
    },
    labels=lambda p: p[0].labels,
)


_PREFIX = "Field: training_pipeline"
# What the core checks after this facade's own checks, named as before the facade and the core
# were apart: the engine's AutoML spellings (only the seed label and a file:// base model can
# still fail there).
TRAINING_FIELDS = TrainingFields(
    display_name="model.display_name",
    labels="model.labels",
    dataset_id="model.dataset_id",
    metadata="model.image_classification_model_metadata",
)


def _definition(definition: str) -> str:
    """The training task definition, if it is the one the emulator trains."""
    if definition != TRAINING_DEFINITION:
        if not definition:
            raise InvalidArgument(
                f"{_PREFIX}.training_task_definition; Message: required; for image "
                f"classification: {TRAINING_DEFINITION}"
            )
        known = known_schema(definition, "training_job.definition")
        raise (Unimplemented if known else InvalidArgument)(
            f"{_PREFIX}.training_task_definition; Message: {definition} is not emulated; "
            f"the emulator trains {TRAINING_DEFINITION}"
        )
    return definition


def _model_name(pipeline: types.TrainingPipeline) -> str:
    """The display name of the model to upload (the pipeline's by default)."""
    for field in ("model_id", "parent_model"):
        if getattr(pipeline, field):
            raise Unimplemented(f"{_PREFIX}.{field}; Message: not emulated; leave it empty")
    model_name = pipeline.model_to_upload.display_name or pipeline.display_name
    validate_display_name(model_name, "training_pipeline.model_to_upload.display_name")
    return model_name


class PipelineService(VertexService):
    """One method per RPC: request message in, response message out, ServiceError on failure."""

    def methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {
            "CreateTrainingPipeline": (
                types.CreateTrainingPipelineRequest,
                self.create_training_pipeline,
            ),
            "GetTrainingPipeline": (types.GetTrainingPipelineRequest, self.get_training_pipeline),
            "ListTrainingPipelines": (
                types.ListTrainingPipelinesRequest,
                self.list_training_pipelines,
            ),
            "CancelTrainingPipeline": (
                types.CancelTrainingPipelineRequest,
                self.cancel_training_pipeline,
            ),
            "DeleteTrainingPipeline": (
                types.DeleteTrainingPipelineRequest,
                self.delete_training_pipeline,
            ),
        }

    def create_training_pipeline(self, request: types.CreateTrainingPipelineRequest) -> Message:
        location = parse_location(request.parent)
        pipeline = request.training_pipeline
        definition = _definition(pipeline.training_task_definition)
        raw_inputs = json_format.MessageToDict(
            types.TrainingPipeline.pb(pipeline).training_task_inputs
        )
        inputs = self._inputs(raw_inputs)
        config = pipeline.input_data_config
        dataset = self._input_dataset(location, config)
        multilabel = dataset.classification_type is ClassificationType.MULTILABEL
        if inputs.multi_label != multilabel:
            raise InvalidArgument(
                f"{_PREFIX}.training_task_inputs.multiLabel; Message: {inputs.multi_label} does "
                f"not match dataset {dataset.name}, which holds "
                f"{'multi-label' if multilabel else 'single-label'} classification annotations"
            )
        model_type = model_types().get(inputs.model_type, "cloud")  # unset: CLOUD, the default
        budget = self._budget(inputs, model_type)
        model_name = _model_name(pipeline)
        base_model_id = inputs.base_model_id
        if base_model_id and not base_model_id.startswith("file://"):
            self._model(str(location.child("models", base_model_id)), "baseModelId")
        upload = pipeline.model_to_upload
        spec = {
            "training_task_definition": definition,
            "training_task_inputs": raw_inputs,
            "input_data_config": json.loads(types.InputDataConfig.to_json(config)),
            "model_to_upload": {"display_name": model_name, "labels": dict(upload.labels)},
        }
        training = TrainingRequest(
            display_name=model_name,
            dataset_id=config.dataset_id,
            model_type=model_type,
            budget_milli_node_hours=budget,
            fields=TRAINING_FIELDS,
            base_model_id=base_model_id,
            labels=dict(upload.labels),
            split=self._split(config),
            check_display_name=validate_display_name,
        )
        created = self.backend.pipelines.create(
            location,
            display_name=pipeline.display_name,
            labels=dict(pipeline.labels),
            spec=spec,
            training=training,
            display_name_field="training_pipeline.display_name",
            api=API,
            id_prefix=ID_PREFIX,
        )
        return pipeline_pb(created, self.backend.pipelines.status(created))

    @staticmethod
    def _inputs(raw: Any) -> "Inputs":
        where = "Field: training_pipeline.training_task_inputs"
        if not isinstance(raw, dict):
            raise InvalidArgument(
                f"{where}; Message: required; an object with modelType, budgetMilliNodeHours, "
                "multiLabel (AutoMlImageClassificationInputs)"
            )
        inputs_type = inputs_message()
        message = inputs_type.pb()()
        try:
            json_format.ParseDict(raw, message)
        except json_format.ParseError as exc:
            raise InvalidArgument(f"{where}; Message: {exc}") from None
        inputs = inputs_type.wrap(message)
        if inputs.disable_early_stopping:
            raise Unimplemented(
                f"{where}.disableEarlyStopping; Message: not emulated: the emulator always "
                "stops early when the model converges"
            )
        return inputs

    @staticmethod
    def _budget(inputs: "Inputs", model_type: str) -> int | None:
        budget = inputs.budget_milli_node_hours
        if not budget:
            return None  # the service's default for the model type
        low, high = budget_limits(model_type)
        if not low <= budget <= high:
            model_type_name = inputs_message().ModelType(inputs.model_type).name
            raise InvalidArgument(
                "Field: training_pipeline.training_task_inputs.budgetMilliNodeHours; Message: "
                f"{budget} is out of range for modelType {model_type_name}; "
                f"allowed: {low:,}–{high:,}"
            )
        return budget

    def _input_dataset(self, location: LocationName, config: types.InputDataConfig) -> Dataset:
        where = "Field: training_pipeline.input_data_config"
        if not config.dataset_id:
            raise InvalidArgument(
                f"{where}.dataset_id; Message: required; the id of an image dataset of the "
                "same location"
            )
        message = types.InputDataConfig.pb(config)
        if message.WhichOneof("destination"):
            raise InvalidArgument(
                f"{where}.{message.WhichOneof('destination')}; Message: only applicable to "
                "custom training; leave it empty for AutoML"
            )
        for field in ("annotations_filter", "annotation_schema_uri", "saved_query_id"):
            if getattr(config, field):
                raise Unimplemented(f"{where}.{field}; Message: not emulated; leave it empty")
        return self._dataset(
            str(location.child("datasets", config.dataset_id)),
            "training_pipeline.input_data_config.dataset_id",
        )

    @staticmethod
    def _split(config: types.InputDataConfig):
        where = "training_pipeline.input_data_config"
        which = types.InputDataConfig.pb(config).WhichOneof("split")
        if which is None:
            return fraction_split(0, 0, 0, f"{where}.fraction_split")  # default 80/10/10
        if which == "fraction_split":
            f = config.fraction_split
            return fraction_split(
                f.training_fraction, f.validation_fraction, f.test_fraction, f"{where}.{which}"
            )
        if which == "filter_split":
            f = config.filter_split
            return filter_split(
                f.training_filter, f.validation_filter, f.test_filter, f"{where}.{which}"
            )
        raise InvalidArgument(
            f"Field: {where}.{which}; Message: supported only for tabular Datasets; use "
            "fraction_split or filter_split (e.g. on labels.aiplatform.googleapis.com/ml_use)"
        )

    def _pipeline(self, name: str) -> TrainingPipeline:
        self._name(name, "trainingPipelines", "TrainingPipeline")
        return self.backend.pipelines.get(name)

    def get_training_pipeline(self, request: types.GetTrainingPipelineRequest) -> Message:
        pipeline = self._pipeline(request.name)
        return pipeline_pb(pipeline, self.backend.pipelines.status(pipeline))

    def list_training_pipelines(
        self, request: types.ListTrainingPipelinesRequest
    ) -> types.ListTrainingPipelinesResponse:
        location = parse_location(request.parent)
        matches = parse_filter(request.filter, PIPELINE_FIELDS)
        found = [p for p in self.backend.pipelines.list_pipelines(location) if matches(p)]
        page, token = paginate(found, request.page_size, request.page_token)
        response = types.ListTrainingPipelinesResponse.pb(
            types.ListTrainingPipelinesResponse(next_page_token=token)
        )
        response.training_pipelines.extend(pipeline_pb(p, s) for p, s in page)
        return response

    def cancel_training_pipeline(
        self, request: types.CancelTrainingPipelineRequest
    ) -> empty_pb2.Empty:
        self._pipeline(request.name)
        self.backend.pipelines.cancel(request.name)
        return empty_pb2.Empty()

    def delete_training_pipeline(
        self, request: types.DeleteTrainingPipelineRequest
    ) -> operations_pb2.Operation:
        self._pipeline(request.name)
        self.backend.pipelines.delete(request.name)
        return self._record(request.name, "delete_training_pipeline", request.name)
