"""gRPC facade of Vertex AI (`google.cloud.aiplatform.v1`): the subset that trains Edge models.

Served so that the unmodified `google-cloud-aiplatform` GAPIC clients work over an insecure
channel, e.g. `DatasetServiceClient(transport=DatasetServiceGrpcTransport(channel=...))`:
- DatasetService: CreateDataset, GetDataset, ListDatasets, DeleteDataset, ImportData
- PipelineService: CreateTrainingPipeline, GetTrainingPipeline, ListTrainingPipelines,
  CancelTrainingPipeline, DeleteTrainingPipeline
- ModelService: GetModel, ListModels, DeleteModel, ListModelEvaluations, GetModelEvaluation,
  ListModelEvaluationSlices, GetModelEvaluationSlice, ExportModel
Long-running operations are served by the shared google.longrunning.Operations service
(emulator/server.py) and rendered by `render_operation`.

Translation only, over the same core as the AutoML v1 facade (one training engine, two wire
protocols). How Vertex AI's resources map onto the core:
- an image Dataset (metadata schema `image`) is a core dataset whose classification type is
  set by the import schema (single-label → MULTICLASS, multi-label → MULTILABEL); the CSV's
  ML_USE is Vertex AI's spelling (`training`, `validation`, `test`, any case), and it becomes
  the data item label `aiplatform.googleapis.com/ml_use`;
- a TrainingPipeline (AutoML image classification definition) is a core training pipeline: a
  record over one core training (emulator/core/pipelines.py); its FilterSplit / FractionSplit
  choose the images' roles; the model it uploads is a core model;
- a Model's overall ModelEvaluation is the core's overall evaluation, and its
  ModelEvaluationSlices (dimension `annotationSpec`) are the core's per-label evaluations,
  rendered in the classification metrics schema (Struct): floats at float32 precision as the
  service prints them, int64 counts as strings, zero values left out (proto3 JSON);
- ExportModel writes `<prefix>/model-export-<display name>-<timestamp>/` as the API documents.
Vertex AI resources have numeric ids; resources of the AutoML facade (ids `ICN…`) are not
visible here.

Emulator limits (beyond the core's): display names of datasets and models must also be valid
AutoML names (`[A-Za-z][A-Za-z0-9_]{0,31}`); imports are CSV only; `disableEarlyStopping`,
`model_id`, `parent_model`, annotation filters and list ordering are not emulated (refused).
"""

import json
from collections.abc import Callable
from typing import Any

import numpy as np
from google.cloud.aiplatform import schema
from google.cloud.aiplatform.v1.schema.trainingjob import definition_v1
from google.cloud.aiplatform_v1 import types
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, json_format, struct_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from emulator.core.architectures import MOBILE_MODEL_TYPES
from emulator.core.backend import Backend
from emulator.core.datasets import ClassificationType, Dataset
from emulator.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from emulator.core.evaluator import ClassificationEvaluationMetrics, ConfidenceMetricsEntry
from emulator.core.import_csv import MlUse
from emulator.core.models import MODEL_DISPLAY_NAME, Model, ModelEvaluation
from emulator.core.names import (
    LocationName,
    ResourceName,
    new_id,
    parse_location,
    parse_resource,
)
from emulator.core.operations import Operation, Outcome
from emulator.core.paging import paginate
from emulator.core.pipelines import (
    PipelineState,
    PipelineStatus,
    TrainingPipeline,
    filter_split,
    fraction_split,
)
from emulator.core.resource_filter import Fields, parse_filter
from emulator.core.trainer import budget_limits
from emulator.host import ServiceHost

DATASET_SERVICE = "google.cloud.aiplatform.v1.DatasetService"
PIPELINE_SERVICE = "google.cloud.aiplatform.v1.PipelineService"
MODEL_SERVICE = "google.cloud.aiplatform.v1.ModelService"
API = "vertex_v1"
ID_PREFIX = ""  # Vertex AI ids are numbers

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
# The ML_USE column of Vertex AI's CSV import (its documentation: TRAINING, TEST, VALIDATION).
ML_USES = {"TRAINING": MlUse.TRAIN, "VALIDATION": MlUse.VALIDATION, "TEST": MlUse.TEST}

Inputs = definition_v1.AutoMlImageClassificationInputs
Metadata = definition_v1.AutoMlImageClassificationMetadata
# Vertex AI model types → the engine's (AutoML's names).
MODEL_TYPES = {
    Inputs.ModelType.CLOUD: "cloud",
    Inputs.ModelType.MOBILE_TF_LOW_LATENCY_1: "mobile-low-latency-1",
    Inputs.ModelType.MOBILE_TF_VERSATILE_1: "mobile-versatile-1",
    Inputs.ModelType.MOBILE_TF_HIGH_ACCURACY_1: "mobile-high-accuracy-1",
}
# Vertex AI export format ids → the engine's formats.
EXPORT_FORMATS = {
    "tflite": "tflite",
    "edgetpu-tflite": "edgetpu_tflite",
    "tf-saved-model": "tf_saved_model",
}
UNEMULATED_EXPORT_FORMATS = ("tf-js", "core-ml")

PIPELINE_STATES = {
    PipelineState.QUEUED: types.PipelineState.PIPELINE_STATE_QUEUED,
    PipelineState.RUNNING: types.PipelineState.PIPELINE_STATE_RUNNING,
    PipelineState.CANCELLING: types.PipelineState.PIPELINE_STATE_CANCELLING,
    PipelineState.SUCCEEDED: types.PipelineState.PIPELINE_STATE_SUCCEEDED,
    PipelineState.FAILED: types.PipelineState.PIPELINE_STATE_FAILED,
    PipelineState.CANCELLED: types.PipelineState.PIPELINE_STATE_CANCELLED,
}


def register(server: ServiceHost) -> None:
    """Adds Vertex AI's Dataset, Pipeline and Model services (and operation rendering)."""
    facade = VertexFacade(server.backend)
    server.add_unary_service(DATASET_SERVICE, facade.dataset_methods())
    server.add_unary_service(PIPELINE_SERVICE, facade.pipeline_methods())
    server.add_unary_service(MODEL_SERVICE, facade.model_methods())
    server.add_operation_renderer(API, render_operation)


# ---- core → wire ----------------------------------------------------------------------------


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
        version_id="1",
        version_create_time=model.create_time,
        version_update_time=model.update_time,
        training_pipeline=training_pipeline,
        supported_export_formats=[
            types.Model.ExportFormat(id=fmt, exportable_contents=[artifact])
            for fmt in (EXPORT_FORMATS if exportable else ())
        ],
    )


def _float32(value: float) -> float:
    """The service computes metrics in float32 and prints each as its shortest decimal."""
    return float(str(np.float32(value)))


def _entry(entry: ConfidenceMetricsEntry) -> dict[str, Any]:
    fields = {
        "confidenceThreshold": _float32(entry.confidence_threshold),
        "maxPredictions": entry.position_threshold,
        "recall": _float32(entry.recall),
        "precision": _float32(entry.precision),
        "falsePositiveRate": _float32(entry.false_positive_rate),
        "f1Score": _float32(entry.f1_score),
        "recallAt1": _float32(entry.recall_at1),
        "precisionAt1": _float32(entry.precision_at1),
        "falsePositiveRateAt1": _float32(entry.false_positive_rate_at1),
        "f1ScoreAt1": _float32(entry.f1_score_at1),
        # int64 fields: strings in JSON.
        "truePositiveCount": str(entry.true_positive_count),
        "falsePositiveCount": str(entry.false_positive_count),
        "falseNegativeCount": str(entry.false_negative_count),
        "trueNegativeCount": str(entry.true_negative_count),
    }
    return {key: value for key, value in fields.items() if value not in (0, 0.0, "0")}


def metrics_json(metrics: ClassificationEvaluationMetrics) -> dict[str, Any]:
    """The classification metrics schema's Struct (proto3 JSON: zero values left out)."""
    document: dict[str, Any] = {
        key: value
        for key, value in (
            ("auPrc", _float32(metrics.au_prc)),
            ("auRoc", _float32(metrics.au_roc)),
            ("logLoss", _float32(metrics.log_loss)),
        )
        if value
    }
    document["confidenceMetrics"] = [_entry(e) for e in metrics.confidence_metrics_entry]
    matrix = metrics.confusion_matrix
    if matrix is not None:
        document["confusionMatrix"] = {
            "annotationSpecs": [
                {"id": spec_id, "displayName": name}
                for spec_id, name in zip(
                    matrix.annotation_spec_id, matrix.display_name, strict=True
                )
            ],
            "rows": [list(row) for row in matrix.row],
        }
    return document


def _value(document: Any) -> struct_pb2.Value:
    """A JSON document as google.protobuf.Value."""
    return json_format.ParseDict(document, struct_pb2.Value())


def _evaluation_id(evaluation: ModelEvaluation) -> str:
    return evaluation.name.rsplit("/", 1)[-1]


def evaluation_pb(model: str, overall: ModelEvaluation) -> Message:
    message = types.ModelEvaluation.pb(
        types.ModelEvaluation(
            name=f"{model}/evaluations/{_evaluation_id(overall)}",
            metrics_schema_uri=METRICS_SCHEMA,
            create_time=overall.create_time,
            slice_dimensions=[SLICE_DIMENSION],
        )
    )
    message.metrics.CopyFrom(_value(metrics_json(overall.metrics)))
    return message


def slice_pb(evaluation_name: str, per_label: ModelEvaluation) -> Message:
    message = types.ModelEvaluationSlice.pb(
        types.ModelEvaluationSlice(
            name=f"{evaluation_name}/slices/{_evaluation_id(per_label)}",
            slice_=types.ModelEvaluationSlice.Slice(
                dimension=SLICE_DIMENSION, value=per_label.display_name
            ),
            metrics_schema_uri=METRICS_SCHEMA,
            create_time=per_label.create_time,
        )
    )
    message.metrics.CopyFrom(_value(metrics_json(per_label.metrics)))
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
            name=status.model, display_name=upload["display_name"], labels=upload["labels"]
        ),
        "state": PIPELINE_STATES[status.state],
        "create_time": pipeline.create_time,
        "update_time": status.update_time,
        "labels": pipeline.labels,
    }
    if status.state is not PipelineState.QUEUED:
        fields["start_time"] = status.start_time
    if status.end_time is not None:
        fields["end_time"] = status.end_time
    message = types.TrainingPipeline.pb(types.TrainingPipeline(**fields))
    message.training_task_inputs.CopyFrom(_value(spec["training_task_inputs"]))
    if status.state is PipelineState.SUCCEEDED:
        metadata = Metadata(
            cost_milli_node_hours=status.train_cost_milli_node_hours,
            successful_stop_reason=Metadata.SuccessfulStopReason[status.stop_reason],
        )
        message.training_task_metadata.CopyFrom(
            _value(json_format.MessageToDict(Metadata.pb(metadata)))
        )
    if status.error is not None:
        message.error.CopyFrom(
            status_pb2.Status(code=int(status.error.code), message=status.error.message)
        )
    return message


def _generic(op: Operation) -> types.GenericOperationMetadata:
    return types.GenericOperationMetadata(
        partial_failures=[
            status_pb2.Status(code=int(s.code), message=s.message) for s in op.partial_failures
        ],
        create_time=op.create_time,
        update_time=op.update_time,
    )


def _export_metadata(op: Operation) -> types.ExportModelOperationMetadata:
    return types.ExportModelOperationMetadata(
        generic_metadata=_generic(op),
        output_info=types.ExportModelOperationMetadata.OutputInfo(
            artifact_output_uri=op.details["gcs_output_directory"]
        ),
    )


# Per operation kind: its metadata message, and its response message once done.
OPERATION_METADATA: dict[str, Callable[[Operation], Any]] = {
    "create_dataset": lambda op: types.CreateDatasetOperationMetadata(
        generic_metadata=_generic(op)
    ),
    "import_data": lambda op: types.ImportDataOperationMetadata(generic_metadata=_generic(op)),
    "delete_dataset": lambda op: types.DeleteOperationMetadata(generic_metadata=_generic(op)),
    "delete_model": lambda op: types.DeleteOperationMetadata(generic_metadata=_generic(op)),
    "delete_training_pipeline": lambda op: types.DeleteOperationMetadata(
        generic_metadata=_generic(op)
    ),
    "export_model": _export_metadata,
}
OPERATION_RESPONSES: dict[str, Callable[[Operation], Message]] = {
    "create_dataset": lambda op: types.Dataset.pb(dataset_pb(Dataset.from_json(op.response))),
    "import_data": lambda op: types.ImportDataResponse.pb(types.ImportDataResponse()),
    "export_model": lambda op: types.ExportModelResponse.pb(types.ExportModelResponse()),
}


def render_operation(op: Operation) -> operations_pb2.Operation:
    """google.longrunning.Operation with Vertex AI's metadata and typed response.

    A pipeline's training (kind `create_model`) is not an operation in Vertex AI (clients read
    the TrainingPipeline); listed operations show it with GenericOperationMetadata.
    """
    metadata = OPERATION_METADATA.get(op.kind, _generic)(op)
    message = operations_pb2.Operation(name=op.name, done=op.done)
    message.metadata.Pack(type(metadata).pb(metadata))
    if op.done and op.error is not None:
        message.error.CopyFrom(status_pb2.Status(code=int(op.error.code), message=op.error.message))
    elif op.done:
        message.response.Pack(OPERATION_RESPONSES.get(op.kind, lambda _: empty_pb2.Empty())(op))
    return message


# ---- wire → core ----------------------------------------------------------------------------

DATASET_FIELDS: Fields[Dataset] = Fields(
    values={
        "display_name": lambda d: d.display_name,
        "metadata_schema_uri": lambda d: IMAGE_METADATA_SCHEMA,
    },
    labels=lambda d: d.labels,
)
MODEL_FIELDS: Fields[Model] = Fields(
    values={"model": lambda m: m.id, "display_name": lambda m: m.display_name},
    labels=lambda m: m.labels,
)
PIPELINE_FIELDS: Fields[tuple[TrainingPipeline, PipelineStatus]] = Fields(
    values={
        "display_name": lambda p: p[0].display_name,
        "state": lambda p: PIPELINE_STATES[p[1].state].name,
        "training_task_definition": lambda p: p[0].spec["training_task_definition"],
    },
    labels=lambda p: p[0].labels,
)
SLICE_FIELDS: Fields[ModelEvaluation] = Fields(
    values={"slice.dimension": lambda e: SLICE_DIMENSION}, labels=lambda e: {}
)


def _not_emulated_order(order_by: str) -> None:
    if order_by.strip():
        raise Unimplemented(
            f"Field: order_by; Message: ordering ({order_by!r}) is not emulated; lists are "
            "ordered by create_time"
        )


def _known_schema(uri: str, namespace: type) -> bool:
    """Whether `uri` is one of the package's schema constants under `namespace`."""
    values = [v for k, v in vars(namespace).items() if not k.startswith("_")]
    return any(
        uri == v if isinstance(v, str) else isinstance(v, type) and _known_schema(uri, v)
        for v in values
    )


class VertexFacade:
    """One method per RPC: request message in, response message out, ServiceError on failure."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def dataset_methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {
            "CreateDataset": (types.CreateDatasetRequest, self.create_dataset),
            "GetDataset": (types.GetDatasetRequest, self.get_dataset),
            "ListDatasets": (types.ListDatasetsRequest, self.list_datasets),
            "DeleteDataset": (types.DeleteDatasetRequest, self.delete_dataset),
            "ImportData": (types.ImportDataRequest, self.import_data),
        }

    def pipeline_methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
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

    def model_methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {
            "GetModel": (types.GetModelRequest, self.get_model),
            "ListModels": (types.ListModelsRequest, self.list_models),
            "DeleteModel": (types.DeleteModelRequest, self.delete_model),
            "ListModelEvaluations": (
                types.ListModelEvaluationsRequest,
                self.list_model_evaluations,
            ),
            "GetModelEvaluation": (types.GetModelEvaluationRequest, self.get_model_evaluation),
            "ListModelEvaluationSlices": (
                types.ListModelEvaluationSlicesRequest,
                self.list_model_evaluation_slices,
            ),
            "GetModelEvaluationSlice": (
                types.GetModelEvaluationSliceRequest,
                self.get_model_evaluation_slice,
            ),
            "ExportModel": (types.ExportModelRequest, self.export_model),
        }

    # ---- names and visibility -------------------------------------------------------------

    @staticmethod
    def _name(name: str, collection: str, kind: str, field: str = "name") -> ResourceName:
        """A Vertex AI resource name; NotFound for ids that are not Vertex AI's (numeric)."""
        parsed = parse_resource(name, collection, kind, field)
        if not parsed.id.isdigit():
            raise NotFound(f"{kind} {name} does not exist.")
        return parsed

    def _dataset(self, name: str, field: str = "name") -> Dataset:
        self._name(name, "datasets", "Dataset", field)
        try:
            return self.backend.datasets.get(name)
        except NotFound:
            raise NotFound(f"Dataset {name} does not exist.") from None

    def _model(self, name: str, field: str = "name") -> Model:
        self._name(name, "models", "Model", field)
        try:
            return self.backend.models.get(name)
        except NotFound:
            raise NotFound(f"Model {name} does not exist.") from None

    def _record(self, parent: str, kind: str, resource: str, response: dict | None = None):
        op = self.backend.operations.record(
            parent, API, kind, [resource], Outcome(response=response or {}), id_prefix=ID_PREFIX
        )
        return render_operation(op)

    # ---- DatasetService ---------------------------------------------------------------------

    def create_dataset(self, request: types.CreateDatasetRequest) -> operations_pb2.Operation:
        location = parse_location(request.parent)
        dataset = request.dataset
        uri = dataset.metadata_schema_uri
        if not uri:
            raise InvalidArgument(
                "Field: dataset.metadata_schema_uri; Message: required; for images: "
                f"{IMAGE_METADATA_SCHEMA}"
            )
        if uri != IMAGE_METADATA_SCHEMA:
            error = (
                Unimplemented if _known_schema(uri, schema.dataset.metadata) else InvalidArgument
            )
            raise error(
                f"Field: dataset.metadata_schema_uri; Message: {uri} is not emulated; the "
                f"emulator holds image datasets ({IMAGE_METADATA_SCHEMA})"
            )
        created = self.backend.datasets.create(
            location,
            new_id(ID_PREFIX),
            dataset.display_name,
            ClassificationType.MULTICLASS,  # until an import chooses (see set_classification_type)
            description=dataset.description,
            labels=dict(dataset.labels),
        )
        return self._record(str(location), "create_dataset", created.name, created.to_json())

    def get_dataset(self, request: types.GetDatasetRequest) -> types.Dataset:
        return dataset_pb(self._dataset(request.name))

    def list_datasets(self, request: types.ListDatasetsRequest) -> types.ListDatasetsResponse:
        location = parse_location(request.parent)
        _not_emulated_order(request.order_by)
        matches = parse_filter(request.filter, DATASET_FIELDS)
        datasets = [
            d
            for d in self.backend.datasets.list_datasets(location)
            if d.id.isdigit() and matches(d)
        ]
        page, token = paginate(datasets, request.page_size, request.page_token)
        return types.ListDatasetsResponse(
            datasets=[dataset_pb(d) for d in page], next_page_token=token
        )

    def delete_dataset(self, request: types.DeleteDatasetRequest) -> operations_pb2.Operation:
        self._dataset(request.name)
        self.backend.datasets.delete(request.name)
        parent = str(parse_resource(request.name, "datasets", "Dataset").parent)
        return self._record(parent, "delete_dataset", request.name)

    def import_data(self, request: types.ImportDataRequest) -> operations_pb2.Operation:
        self._dataset(request.name)
        configs = list(request.import_configs)
        if not configs:
            raise InvalidArgument(
                "Field: import_configs; Message: at least one ImportDataConfig is required"
            )
        uris: list[str] = []
        kinds: set[ClassificationType] = set()
        for i, config in enumerate(configs):
            where = f"import_configs[{i}]"
            uri = config.import_schema_uri
            if uri not in IMPORT_SCHEMAS:
                if not uri:
                    raise InvalidArgument(
                        f"Field: {where}.import_schema_uri; Message: required; for image "
                        f"classification: {', '.join(IMPORT_SCHEMAS)}"
                    )
                known = _known_schema(uri, schema.dataset.ioformat)
                raise (Unimplemented if known else InvalidArgument)(
                    f"Field: {where}.import_schema_uri; Message: {uri} is not emulated; the "
                    f"emulator imports image classification: {', '.join(IMPORT_SCHEMAS)}"
                )
            if config.data_item_labels or config.annotation_labels:
                raise Unimplemented(
                    f"Field: {where}; Message: data_item_labels and annotation_labels are not "
                    "emulated; give each image's ML_USE in the CSV's first column"
                )
            if not config.gcs_source.uris:
                raise InvalidArgument(
                    f"Field: {where}.gcs_source.uris; Message: at least one gs:// URI of an "
                    "import file is required"
                )
            for source in config.gcs_source.uris:
                if source.lower().endswith(".jsonl"):
                    raise Unimplemented(
                        f"Field: {where}.gcs_source.uris; Message: {source}: JSON Lines imports "
                        "are not emulated; use the CSV form [ML_USE,]gs://…[,LABEL…]"
                    )
                if not source.lower().endswith(".csv"):
                    raise InvalidArgument(
                        f"Field: {where}.gcs_source.uris; Message: {source} must be a .csv file"
                    )
            uris += list(config.gcs_source.uris)
            kinds.add(IMPORT_SCHEMAS[uri])
        if len(kinds) > 1:
            raise InvalidArgument(
                "Field: import_configs; Message: the emulator imports one classification schema "
                "per dataset (single-label or multi-label), not both"
            )
        self.backend.datasets.set_classification_type(request.name, kinds.pop())
        op = self.backend.datasets.start_import(
            request.name, uris, api=API, id_prefix=ID_PREFIX, ml_uses=ML_USES
        )
        return render_operation(op)

    # ---- PipelineService --------------------------------------------------------------------

    def create_training_pipeline(self, request: types.CreateTrainingPipelineRequest) -> Message:
        location = parse_location(request.parent)
        pipeline = request.training_pipeline
        prefix = "Field: training_pipeline"
        definition = pipeline.training_task_definition
        if definition != TRAINING_DEFINITION:
            if not definition:
                raise InvalidArgument(
                    f"{prefix}.training_task_definition; Message: required; for image "
                    f"classification: {TRAINING_DEFINITION}"
                )
            known = _known_schema(definition, schema.training_job.definition)
            raise (Unimplemented if known else InvalidArgument)(
                f"{prefix}.training_task_definition; Message: {definition} is not emulated; "
                f"the emulator trains {TRAINING_DEFINITION}"
            )
        raw_inputs = json_format.MessageToDict(
            types.TrainingPipeline.pb(pipeline).training_task_inputs
        )
        inputs = self._inputs(raw_inputs)
        config = pipeline.input_data_config
        dataset = self._input_dataset(location, config)
        multilabel = dataset.classification_type is ClassificationType.MULTILABEL
        if inputs.multi_label != multilabel:
            raise InvalidArgument(
                f"{prefix}.training_task_inputs.multiLabel; Message: {inputs.multi_label} does "
                f"not match dataset {dataset.name}, which holds "
                f"{'multi-label' if multilabel else 'single-label'} classification annotations"
            )
        model_type = MODEL_TYPES.get(inputs.model_type, "cloud")  # unset: CLOUD, the default
        budget = self._budget(inputs, model_type)
        upload = pipeline.model_to_upload
        for field in ("model_id", "parent_model"):
            if getattr(pipeline, field):
                raise Unimplemented(f"{prefix}.{field}; Message: not emulated; leave it empty")
        model_name = upload.display_name or pipeline.display_name
        if MODEL_DISPLAY_NAME.fullmatch(model_name) is None:
            raise InvalidArgument(
                f"{prefix}.model_to_upload.display_name; Message: {model_name!r}: the emulator "
                "needs 1 to 32 ASCII letters, digits and underscores, starting with a letter "
                "(Vertex AI itself allows up to 128 characters)"
            )
        base_model_id = inputs.base_model_id
        if base_model_id and not base_model_id.startswith("file://"):
            self._model(str(location.child("models", base_model_id)), "baseModelId")
        spec = {
            "training_task_definition": definition,
            "training_task_inputs": raw_inputs,
            "input_data_config": json.loads(types.InputDataConfig.to_json(config)),
            "model_to_upload": {"display_name": model_name, "labels": dict(upload.labels)},
        }
        created = self.backend.pipelines.create(
            location,
            display_name=pipeline.display_name,
            labels=dict(pipeline.labels),
            spec=spec,
            training={
                "display_name": model_name,
                "dataset_id": config.dataset_id,
                "model_type": model_type,
                "budget_milli_node_hours": budget,
                "base_model_id": base_model_id,
                "labels": dict(upload.labels),
                "split": self._split(config),
            },
            api=API,
            id_prefix=ID_PREFIX,
        )
        status = self.backend.pipelines.status(created)
        return pipeline_pb(created, status)

    @staticmethod
    def _inputs(raw: Any) -> Inputs:
        where = "Field: training_pipeline.training_task_inputs"
        if not isinstance(raw, dict):
            raise InvalidArgument(
                f"{where}; Message: required; an object with modelType, budgetMilliNodeHours, "
                "multiLabel (AutoMlImageClassificationInputs)"
            )
        message = Inputs.pb()()
        try:
            json_format.ParseDict(raw, message)
        except json_format.ParseError as exc:
            raise InvalidArgument(f"{where}; Message: {exc}") from None
        inputs = Inputs.wrap(message)
        if inputs.disable_early_stopping:
            raise Unimplemented(
                f"{where}.disableEarlyStopping; Message: not emulated: the emulator always "
                "stops early when the model converges"
            )
        return inputs

    @staticmethod
    def _budget(inputs: Inputs, model_type: str) -> int | None:
        budget = inputs.budget_milli_node_hours
        if not budget:
            return None  # the service's default for the model type
        low, high = budget_limits(model_type)
        if not low <= budget <= high:
            raise InvalidArgument(
                "Field: training_pipeline.training_task_inputs.budgetMilliNodeHours; Message: "
                f"{budget} is out of range for modelType "
                f"{Inputs.ModelType(inputs.model_type).name}; allowed: {low:,}–{high:,}"
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
        parent = str(parse_resource(request.name, "trainingPipelines", "TrainingPipeline").parent)
        return self._record(parent, "delete_training_pipeline", request.name)

    # ---- ModelService -----------------------------------------------------------------------

    def _model_pb(self, model: Model) -> types.Model:
        pipeline = self.backend.pipelines.for_model(model.name)
        return model_pb(model, pipeline.name if pipeline else "")

    def get_model(self, request: types.GetModelRequest) -> types.Model:
        return self._model_pb(self._model(request.name))

    def list_models(self, request: types.ListModelsRequest) -> types.ListModelsResponse:
        location = parse_location(request.parent)
        _not_emulated_order(request.order_by)
        matches = parse_filter(request.filter, MODEL_FIELDS)
        models = [
            m for m in self.backend.models.list_models(location) if m.id.isdigit() and matches(m)
        ]
        page, token = paginate(models, request.page_size, request.page_token)
        return types.ListModelsResponse(
            models=[self._model_pb(m) for m in page], next_page_token=token
        )

    def delete_model(self, request: types.DeleteModelRequest) -> operations_pb2.Operation:
        self._model(request.name)
        self.backend.models.delete(request.name)
        parent = str(parse_resource(request.name, "models", "Model").parent)
        return self._record(parent, "delete_model", request.name)

    def _evaluations(self, model: str) -> tuple[ModelEvaluation, list[ModelEvaluation]]:
        """The model's overall evaluation and its per-label ones."""
        self._model(model, "parent")
        found = self.backend.models.list_evaluations(model)
        overall = next(e for e in found if not e.annotation_spec_id)
        return overall, [e for e in found if e.annotation_spec_id]

    def _evaluation_name(self, name: str, field: str) -> tuple[str, str]:
        """`{model}/evaluations/{id}` → (model, id)."""
        model, sep, evaluation_id = name.rpartition("/evaluations/")
        if not sep or not evaluation_id.isdigit():
            raise InvalidArgument(
                f"Field: {field}; Message: {name!r} is not a valid ModelEvaluation name; "
                "expected projects/{project}/locations/{location}/models/{model}/evaluations/"
                "{evaluation}"
            )
        self._model(model, field)
        return model, evaluation_id

    def list_model_evaluations(
        self, request: types.ListModelEvaluationsRequest
    ) -> types.ListModelEvaluationsResponse:
        if request.filter.strip():
            raise Unimplemented(
                "Field: filter; Message: not emulated; a model has one evaluation (its "
                "per-label metrics are ModelEvaluationSlices)"
            )
        overall, _ = self._evaluations(request.parent)
        page, token = paginate([overall], request.page_size, request.page_token)
        response = types.ListModelEvaluationsResponse.pb(
            types.ListModelEvaluationsResponse(next_page_token=token)
        )
        response.model_evaluations.extend(evaluation_pb(request.parent, e) for e in page)
        return response

    def get_model_evaluation(self, request: types.GetModelEvaluationRequest) -> Message:
        model, evaluation_id = self._evaluation_name(request.name, "name")
        overall, _ = self._evaluations(model)
        if _evaluation_id(overall) != evaluation_id:
            raise NotFound(f"ModelEvaluation {request.name} does not exist.")
        return evaluation_pb(model, overall)

    def list_model_evaluation_slices(
        self, request: types.ListModelEvaluationSlicesRequest
    ) -> types.ListModelEvaluationSlicesResponse:
        model, evaluation_id = self._evaluation_name(request.parent, "parent")
        overall, per_label = self._evaluations(model)
        if _evaluation_id(overall) != evaluation_id:
            raise NotFound(f"ModelEvaluation {request.parent} does not exist.")
        matches = parse_filter(request.filter, SLICE_FIELDS)
        page, token = paginate(
            [e for e in per_label if matches(e)], request.page_size, request.page_token
        )
        response = types.ListModelEvaluationSlicesResponse.pb(
            types.ListModelEvaluationSlicesResponse(next_page_token=token)
        )
        response.model_evaluation_slices.extend(slice_pb(request.parent, e) for e in page)
        return response

    def get_model_evaluation_slice(self, request: types.GetModelEvaluationSliceRequest) -> Message:
        evaluation, sep, slice_id = request.name.rpartition("/slices/")
        if not sep:
            raise InvalidArgument(
                f"Field: name; Message: {request.name!r} is not a valid ModelEvaluationSlice "
                "name; expected …/models/{model}/evaluations/{evaluation}/slices/{slice}"
            )
        model, evaluation_id = self._evaluation_name(evaluation, "name")
        overall, per_label = self._evaluations(model)
        if _evaluation_id(overall) == evaluation_id:
            for e in per_label:
                if _evaluation_id(e) == slice_id:
                    return slice_pb(evaluation, e)
        raise NotFound(f"ModelEvaluationSlice {request.name} does not exist.")

    def export_model(self, request: types.ExportModelRequest) -> operations_pb2.Operation:
        model = self._model(request.name)
        config = request.output_config
        fmt = config.export_format_id or next(iter(EXPORT_FORMATS))  # the first supported
        where = "Field: output_config"
        if model.model_type not in MOBILE_MODEL_TYPES:
            raise FailedPrecondition(
                f"Model {request.name} has no supported export formats (it was trained as a "
                "CLOUD model); train a MOBILE_TF_* model type to export it"
            )
        if fmt in UNEMULATED_EXPORT_FORMATS:
            raise Unimplemented(
                f"{where}.export_format_id; Message: {fmt} exports are not emulated; the "
                f"emulator exports {', '.join(EXPORT_FORMATS)}"
            )
        if fmt not in EXPORT_FORMATS:
            raise InvalidArgument(
                f"{where}.export_format_id; Message: {fmt!r} is not a supported export format "
                f"of {request.name}; supported: {', '.join(EXPORT_FORMATS)}"
            )
        if config.image_destination.output_uri:
            raise InvalidArgument(
                f"{where}.image_destination; Message: {fmt} exports an ARTIFACT, not an IMAGE: "
                "use artifact_destination"
            )
        op = self.backend.models.start_export(
            request.name,
            EXPORT_FORMATS[fmt],
            config.artifact_destination.output_uri_prefix,
            api=API,
            id_prefix=ID_PREFIX,
            folder=lambda m, _fmt, stamp: f"model-export-{m.display_name}-{stamp}",
            prefix_field="output_config.artifact_destination.output_uri_prefix",
        )
        return render_operation(op)
