"""TrainingApi adapter for Vertex AI, on the GAPIC clients of `google-cloud-aiplatform`.

`aiplatform_v1`'s DatasetServiceClient, PipelineServiceClient and ModelServiceClient (not the
high-level `aiplatform.init` layer, which calls more services than needed). How the port maps:
- dataset: an image dataset (metadata schema `…/dataset/metadata/image_1.0.0.yaml`). Vertex AI
  chooses single- or multi-label per import (by the import schema), so the classification the
  port asks for at creation is kept on the dataset as the label `edge-labeler-classification`.
- import: the tool's CSV index `[ML_USE,]gs://…,label…`, with the import schema matching the
  classification. Vertex AI spells ML_USE `training`, `validation`, `test` (AutoML: TRAIN,
  VALIDATION, TEST, UNASSIGNED), so the index is rewritten next to itself as `<name>.vertex.csv`.
- training: a TrainingPipeline with the AutoML image classification definition and inputs,
  split by the CSV's ML_USE (a FilterSplit on the data items' `aiplatform.googleapis.com/ml_use`
  label, so Vertex AI trains, validates and tests on exactly the images AutoML would), labels
  on the pipeline and on `model_to_upload`. The pipeline's resource name is the "operation"
  `start_training` returns; `get_operation` and `cancel_operation` accept it (so the providers
  record it and re-attach to it) as well as ordinary long-running operation names.
- model: a Vertex AI Model; its type, budget, cost and stop reason live on its pipeline.
- evaluations: the model's ModelEvaluation (overall) and one ModelEvaluationSlice per label
  (dimension `annotationSpec`), metrics in the classification metrics schema (a Struct).
- export: ExportModel to `artifact_destination`; the output folder is the operation's
  `output_info.artifact_output_uri` (`model-<MODEL_ID>/<format>/<timestamp>/`), read through
  Vertex AI's documented file names (`model.tflite`, `edgetpu_model.tflite`,
  `saved_model.pb`; labels inside the TF Lite file: components/cloud/exports.py).
The port's vocabulary stays AutoML's (model types `mobile-low-latency-1`…, formats `tflite`,
`edgetpu_tflite`, `tf_saved_model`); this adapter translates with the spec's
`OptimizeFor.vertex_model_type` and `ExportFormat.vertex_format`.

Every call goes through `retry.call` (the client library's own retries are off: `retry=None`).
CreateDataset is retried after looking for a dataset with the request's labels;
CreateTrainingPipeline through its caller's `recover`, which finds the pipeline by its labels
(`find_trainings`: ListTrainingPipelines with the documented `labels.key=value` filter, states
QUEUED, PENDING, RUNNING or SUCCEEDED). ImportData is retried as it is: Vertex AI keeps one data
item per content (ImportDataConfig: "If an identical DataItem as one being imported already
exists in the Dataset, then these labels will be appended"), so an import made twice adds
nothing; while the first still runs the service may refuse the second, and says so.

The schema URIs and the training definition's inputs and metadata (a Struct each on the
pipeline) are written here as Vertex AI documents them, not taken from the high-level SDK's
`google.cloud.aiplatform.schema` and `…v1.schema.trainingjob.definition_v1`: importing either
loads that whole SDK (`aiplatform_v1beta1` and a thousand more modules, ~1.2 s of CPU in every
provider host). tests/cloud/test_vertex_wire.py checks them against the SDK's.
"""

import csv
import io
import math
import re
import struct
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from google.cloud import aiplatform_v1
from google.longrunning import operations_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from components.cloud import retry
from components.cloud.clients import (
    CloudTarget,
    vertex_dataset_client,
    vertex_model_client,
    vertex_pipeline_client,
)
from components.cloud.errors import CloudError, CloudNotFound
from components.cloud.exports import AUTOML_FILES, VERTEX_FILES
from components.cloud.storage import ObjectStore, read_uri, split_uri
from components.cloud.training import (
    CloudDataset,
    CloudModel,
    OperationState,
    TrainingApi,
    base_model_id,
    operation_error,
    proto_time,
)
from components.evaluation.metrics import ConfidencePoint, Evaluation, Evaluations
from components.spec import ExportFormat, OptimizeFor

_SCHEMA = "gs://google-cloud-aiplatform/schema"
IMAGE_DATASET_SCHEMA = f"{_SCHEMA}/dataset/metadata/image_1.0.0.yaml"
IMPORT_SCHEMAS = {
    False: f"{_SCHEMA}/dataset/ioformat/image_classification_single_label_io_format_1.0.0.yaml",
    True: f"{_SCHEMA}/dataset/ioformat/image_classification_multi_label_io_format_1.0.0.yaml",
}
TRAINING_DEFINITION = f"{_SCHEMA}/trainingjob/definition/automl_image_classification_1.0.0.yaml"
# The enum values that mean "not set" in the definition's messages (AutoMlImageClassification
# Inputs.ModelType, AutoMlImageClassificationMetadata.SuccessfulStopReason).
_UNSET = ("", "MODEL_TYPE_UNSPECIFIED", "SUCCESSFUL_STOP_REASON_UNSPECIFIED")
PipelineState = aiplatform_v1.PipelineState

# The classification asked for at creation (Vertex AI datasets have none of their own).
LABEL_CLASSIFICATION = "edge-labeler-classification"
# The data item label Vertex AI sets from a CSV's ML_USE, and what it says for each split.
ML_USE_LABEL = "aiplatform.googleapis.com/ml_use"
VERTEX_ML_USE = {"TRAIN": "training", "VALIDATION": "validation", "TEST": "test"}
SLICE_DIMENSION = "annotationSpec"
# Metrics entries of the curve: for every label that scores above the threshold.
_ALL_PREDICTIONS = 2**31 - 1

_ENDED = (
    PipelineState.PIPELINE_STATE_SUCCEEDED,
    PipelineState.PIPELINE_STATE_FAILED,
    PipelineState.PIPELINE_STATE_CANCELLED,
)
# A pipeline in these states has made, or may still make, a model.
_MAY_PRODUCE = (
    PipelineState.PIPELINE_STATE_QUEUED,
    PipelineState.PIPELINE_STATE_PENDING,
    PipelineState.PIPELINE_STATE_RUNNING,
    PipelineState.PIPELINE_STATE_SUCCEEDED,
)
CREATE_TIMEOUT_S = 120.0  # the library's 5 s would make a slow answer an ambiguous one
_PIPELINE_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/trainingPipelines/[^/]+")
_VERTEX_MODEL_TYPES = {o.automl_model_type: o.vertex_model_type for o in OptimizeFor}
_AUTOML_MODEL_TYPES = {v: k for k, v in _VERTEX_MODEL_TYPES.items()}


class VertexAi(TrainingApi):
    export_layouts = (VERTEX_FILES, AUTOML_FILES)

    def __init__(self, target: CloudTarget):
        self.target = target
        self.datasets = vertex_dataset_client(target)
        self.pipelines = vertex_pipeline_client(target)
        self.models = vertex_model_client(target)
        self.parent = f"projects/{target.project}/locations/{target.region}"

    # --- datasets ---------------------------------------------------------------------------
    def _dataset(self, d: aiplatform_v1.Dataset) -> CloudDataset:
        return CloudDataset(
            name=d.name,
            display_name=d.display_name,
            example_count=d.data_item_count,
            multilabel=d.labels.get(LABEL_CLASSIFICATION) == "multilabel",
            labels=MappingProxyType(dict(d.labels)),
        )

    def create_dataset(
        self, display_name: str, multilabel: bool, labels: Mapping[str, str]
    ) -> CloudDataset:
        dataset = aiplatform_v1.Dataset(
            display_name=display_name,
            metadata_schema_uri=IMAGE_DATASET_SCHEMA,
            labels={**labels, LABEL_CLASSIFICATION: "multilabel" if multilabel else "multiclass"},
        )

        def attempt() -> CloudDataset:
            op = self.datasets.create_dataset(parent=self.parent, dataset=dataset, retry=None)
            return self._dataset(op.result(timeout=300))

        def made_anyway() -> CloudDataset | None:
            found = [d for d in self.find_datasets(labels) if d.display_name == display_name]
            return found[0] if found else None

        return retry.call(f"creating dataset {display_name}", attempt, recover=made_anyway)

    def _multilabel(self, dataset: str) -> bool:
        found = self.get_dataset(dataset)
        if found is None:
            raise CloudNotFound(f"dataset {dataset} does not exist")
        kind = found.labels.get(LABEL_CLASSIFICATION)
        if kind not in ("multiclass", "multilabel"):
            raise CloudError(
                f"dataset {dataset} has no label {LABEL_CLASSIFICATION}=multiclass|multilabel "
                "(it was not created by edge-labeler); label it, or let the tool create one"
            )
        return kind == "multilabel"

    def start_import(self, dataset: str, csv_uri: str) -> str:
        multilabel = self._multilabel(dataset)
        index = self._vertex_index(csv_uri)
        config = aiplatform_v1.ImportDataConfig(
            gcs_source=aiplatform_v1.GcsSource(uris=[index]),
            import_schema_uri=IMPORT_SCHEMAS[multilabel],
        )
        operation: str = retry.call(
            f"importing {index} into {dataset}",
            lambda: (
                self.datasets.import_data(
                    name=dataset, import_configs=[config], retry=None
                ).operation.name
            ),
        )
        return operation

    def _vertex_index(self, csv_uri: str) -> str:
        """The CSV index with Vertex AI's ML_USE spelling, written beside it; its gs:// URI."""
        bucket, name = split_uri(csv_uri)
        if not csv_uri.startswith("gs://") or not name.endswith(".csv"):
            raise CloudError(f"the CSV index {csv_uri} is not a gs://bucket/….csv URI")
        text = read_uri(self.target, csv_uri).decode("utf-8-sig")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in csv.reader(io.StringIO(text)):
            if not row or not any(cell.strip() for cell in row):
                continue
            ml_use = row[0].strip().upper()
            # UNASSIGNED is no ML_USE in Vertex AI. (The tool's index always has one: an image
            # without one would be left out by the ML_USE FilterSplit of start_training.)
            if ml_use == "UNASSIGNED":
                row = row[1:]
            elif ml_use in VERTEX_ML_USE:
                row = [VERTEX_ML_USE[ml_use], *row[1:]]
            writer.writerow(row)
        vertex_name = name.removesuffix(".csv") + ".vertex.csv"
        ObjectStore(self.target, bucket).write(vertex_name, out.getvalue().encode(), "text/csv")
        return f"gs://{bucket}/{vertex_name}"

    def get_dataset(self, name: str) -> CloudDataset | None:
        found = retry.call_missing_ok(
            f"reading dataset {name}", lambda: self.datasets.get_dataset(name=name, retry=None)
        )
        return None if found is None else self._dataset(found)

    def find_datasets(self, labels: Mapping[str, str]) -> list[CloudDataset]:
        request = aiplatform_v1.ListDatasetsRequest(parent=self.parent, filter=label_filter(labels))
        found = retry.call(
            f"listing datasets in {self.parent}",
            lambda: list(self.datasets.list_datasets(request=request, retry=None)),
        )
        return [self._dataset(d) for d in found]

    def delete_dataset(self, name: str) -> None:
        retry.call_missing_ok(
            f"deleting dataset {name}",
            lambda: self.datasets.delete_dataset(name=name, retry=None).result(timeout=300),
        )

    # --- training -------------------------------------------------------------------------
    def start_training(
        self,
        dataset: str,
        display_name: str,
        model_type: str,
        budget_milli_node_hours: int,
        labels: Mapping[str, str],
        base_model: str | None = None,
        recover: Callable[[], str | None] | None = None,
    ) -> str:
        inputs = training_task_inputs(
            model_type, budget_milli_node_hours, self._multilabel(dataset), base_model
        )
        split = aiplatform_v1.FilterSplit(
            training_filter=f"labels.{ML_USE_LABEL}=training",
            validation_filter=f"labels.{ML_USE_LABEL}=validation",
            test_filter=f"labels.{ML_USE_LABEL}=test",
        )
        pipeline = aiplatform_v1.TrainingPipeline(
            display_name=display_name,
            training_task_definition=TRAINING_DEFINITION,
            input_data_config=aiplatform_v1.InputDataConfig(
                dataset_id=dataset.rsplit("/", 1)[-1], filter_split=split
            ),
            model_to_upload=aiplatform_v1.Model(display_name=display_name, labels=dict(labels)),
            labels=dict(labels),
        )
        message = aiplatform_v1.TrainingPipeline.pb(pipeline)
        json_format.ParseDict(inputs, message.training_task_inputs)
        pipeline = aiplatform_v1.TrainingPipeline.wrap(message)
        return retry.create(
            f"starting training of {display_name}",
            lambda: (
                self.pipelines.create_training_pipeline(
                    parent=self.parent,
                    training_pipeline=pipeline,
                    retry=None,
                    timeout=CREATE_TIMEOUT_S,
                ).name
            ),
            recover,
        )

    def find_trainings(self, labels: Mapping[str, str], since: datetime | None = None) -> list[str]:
        request = aiplatform_v1.ListTrainingPipelinesRequest(
            parent=self.parent, filter=label_filter(labels)
        )
        found = retry.call(
            f"listing training pipelines in {self.parent}",
            lambda: list(self.pipelines.list_training_pipelines(request=request, retry=None)),
        )
        return [p.name for p in found if p.state in _MAY_PRODUCE]

    def get_operation(self, name: str) -> OperationState:
        if _PIPELINE_NAME.fullmatch(name):
            return self._pipeline_state(name)
        request = operations_pb2.GetOperationRequest(name=name)
        op = retry.call(
            f"reading operation {name}",
            lambda: self.datasets.get_operation(request, retry=None),
        )
        error, cancelled = operation_error(op)
        result = None
        if op.done and op.HasField("response") and _is(op.response, aiplatform_v1.Dataset):
            result = aiplatform_v1.Dataset.deserialize(op.response.value).name
        detail = None
        if _is(op.metadata, aiplatform_v1.ExportModelOperationMetadata):
            meta = aiplatform_v1.ExportModelOperationMetadata.deserialize(op.metadata.value)
            detail = meta.output_info.artifact_output_uri or None
        return OperationState(
            name=op.name,
            done=op.done,
            error=error,
            cancelled=cancelled,
            result=result,
            detail=detail,
        )

    def _pipeline_state(self, name: str) -> OperationState:
        pipeline = retry.call(
            f"reading training pipeline {name}",
            lambda: self.pipelines.get_training_pipeline(name=name, retry=None),
        )
        state = pipeline.state
        error = None
        if state == PipelineState.PIPELINE_STATE_FAILED:
            error = pipeline.error.message or f"failed with code {pipeline.error.code}"
        succeeded = state == PipelineState.PIPELINE_STATE_SUCCEEDED
        return OperationState(
            name=name,
            done=state in _ENDED,
            error=error,
            cancelled=state == PipelineState.PIPELINE_STATE_CANCELLED,
            result=(pipeline.model_to_upload.name or None) if succeeded else None,
        )

    def cancel_operation(self, name: str) -> None:
        def attempt() -> None:
            if _PIPELINE_NAME.fullmatch(name):
                self.pipelines.cancel_training_pipeline(name=name, retry=None)
            else:
                request = operations_pb2.CancelOperationRequest(name=name)
                self.datasets.cancel_operation(request, retry=None)

        retry.call(f"cancelling {name}", attempt)

    # --- models ----------------------------------------------------------------------------
    def _training_pipeline(self, name: str) -> aiplatform_v1.TrainingPipeline | None:
        if not name:
            return None
        # None when deleted: the model stays, without its training figures.
        return retry.call_missing_ok(
            f"reading training pipeline {name}",
            lambda: self.pipelines.get_training_pipeline(name=name, retry=None),
        )

    def _model(self, m: aiplatform_v1.Model) -> CloudModel:
        pipeline = self._training_pipeline(m.training_pipeline)
        inputs: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        dataset = ""
        if pipeline is not None:
            message = aiplatform_v1.TrainingPipeline.pb(pipeline)
            inputs = _struct_fields(message.training_task_inputs)
            metadata = _struct_fields(message.training_task_metadata)
            dataset = f"{self.parent}/datasets/{pipeline.input_data_config.dataset_id}"
        return CloudModel(
            name=m.name,
            display_name=m.display_name,
            dataset=dataset,
            model_type=_automl_model_type(_enum_name(inputs.get("modelType"))),
            labels=MappingProxyType(dict(m.labels)),
            train_budget_milli_node_hours=_int64(inputs.get("budgetMilliNodeHours")),
            train_cost_milli_node_hours=_int64(metadata.get("costMilliNodeHours")),
            stop_reason=_enum_name(metadata.get("successfulStopReason")),
            create_time=proto_time(m.create_time),
            deployed=bool(m.deployed_models),
        )

    def get_model(self, name: str) -> CloudModel | None:
        found = retry.call_missing_ok(
            f"reading model {name}", lambda: self.models.get_model(name=name, retry=None)
        )
        return None if found is None else self._model(found)

    def find_models(self, labels: Mapping[str, str]) -> list[CloudModel]:
        request = aiplatform_v1.ListModelsRequest(parent=self.parent, filter=label_filter(labels))
        found = retry.call(
            f"listing models in {self.parent}",
            lambda: list(self.models.list_models(request=request, retry=None)),
        )
        return [self._model(m) for m in found]

    def delete_model(self, name: str) -> None:
        retry.call_missing_ok(
            f"deleting model {name}",
            lambda: self.models.delete_model(name=name, retry=None).result(timeout=300),
        )

    def evaluations(self, model: str) -> Evaluations:
        found = retry.call(
            f"reading evaluations of {model}",
            lambda: list(self.models.list_model_evaluations(parent=model, retry=None)),
        )
        if not found:
            raise CloudError(f"model {model} has no evaluation (was training finished?)")
        request = aiplatform_v1.ListModelEvaluationSlicesRequest(
            parent=found[0].name, filter=f'slice.dimension="{SLICE_DIMENSION}"'
        )
        slices = retry.call(
            f"reading evaluations of {model}",
            lambda: list(self.models.list_model_evaluation_slices(request=request, retry=None)),
        )
        per_label = {
            s.slice_.value: evaluation(s.slice_.value, _metrics(s))
            for s in slices
            if s.slice_.dimension == SLICE_DIMENSION
        }
        overall = evaluation(None, _metrics(found[0]), label_count=len(per_label))
        return Evaluations(overall=overall, per_label=MappingProxyType(per_label))

    def start_export(self, model: str, model_format: str, gcs_prefix: str) -> str:
        try:
            export_format = ExportFormat(model_format).vertex_format
        except ValueError:
            allowed = ", ".join(f.value for f in ExportFormat)
            raise CloudError(
                f"exporting {model}: {model_format!r} is not an export format; allowed: {allowed}"
            ) from None
        config = aiplatform_v1.ExportModelRequest.OutputConfig(
            export_format_id=export_format,
            artifact_destination=aiplatform_v1.GcsDestination(output_uri_prefix=gcs_prefix),
        )
        # Retried as it is: an export made twice only writes a second folder, and is not billed.
        operation: str = retry.call(
            f"exporting {model} as {export_format}",
            lambda: (
                self.models.export_model(
                    name=model, output_config=config, retry=None
                ).operation.name
            ),
        )
        return operation


def vertex_model_type(model_type: str) -> str:
    """The port's (AutoML's) model type name → Vertex AI's `AutoMlImageClassificationInputs`
    ModelType name."""
    try:
        return _VERTEX_MODEL_TYPES[model_type]
    except KeyError:
        allowed = ", ".join(_VERTEX_MODEL_TYPES)
        raise CloudError(
            f"model type {model_type!r} has no Vertex AI edge equivalent; allowed: {allowed}"
        ) from None


def _automl_model_type(model_type: str) -> str:
    """Vertex AI's model type name → the port's (AutoML's); "" when unset (no pipeline), a
    type with no AutoML name (`CLOUD`) in lower case."""
    return _AUTOML_MODEL_TYPES.get(model_type, model_type.lower())


def training_task_inputs(
    model_type: str, budget_milli_node_hours: int, multilabel: bool, base_model: str | None
) -> dict[str, Any]:
    """A pipeline's `trainingTaskInputs`: AutoMlImageClassificationInputs in its JSON form
    (int64 as a string), every field written, as the SDK's message prints it."""
    return {
        "modelType": vertex_model_type(model_type),
        "baseModelId": base_model_id(base_model),
        "budgetMilliNodeHours": str(budget_milli_node_hours),
        "disableEarlyStopping": False,
        "multiLabel": multilabel,
    }


def label_filter(labels: Mapping[str, str]) -> str:
    """A list filter matching resources that carry all of `labels` (keys quoted: they have -)."""
    return " AND ".join(f'labels."{key}"="{value}"' for key, value in sorted(labels.items()))


def _is(any_message: Any, message_type: Any) -> bool:
    type_url: str = any_message.type_url
    return type_url.endswith("/" + message_type.pb().DESCRIPTOR.full_name)


def _struct_fields(value: Message) -> dict[str, Any]:
    """A Struct-valued field (Value) as a dict; {} when unset or not a Struct."""
    if not value.ListFields():
        return {}
    document = json_format.MessageToDict(value)
    return document if isinstance(document, dict) else {}


def _enum_name(value: Any) -> str:
    """An enum field of a Struct (its name); "" when unset."""
    return "" if not isinstance(value, str) or value in _UNSET else value


def _int64(value: Any) -> int:
    """An int64 field of a Struct: a string in proto JSON, a number where a writer put one;
    0 when unset or not a whole number."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)  # exact, beyond a float's 53 bits
    try:
        number = float(value) if isinstance(value, (int, float, str)) else math.nan
    except ValueError:
        return 0
    return int(number) if number.is_integer() else 0


def _metrics(evaluation: Any) -> dict[str, Any]:
    """The metrics Struct of a ModelEvaluation or ModelEvaluationSlice as a dict."""
    document = json_format.MessageToDict(type(evaluation).pb(evaluation).metrics)
    return document if isinstance(document, dict) else {}


def _float32(value: Any) -> float:
    """Metrics are float32 in both APIs (AutoML's fields, Vertex AI's printed decimals)."""
    single: float = struct.unpack("f", struct.pack("f", float(value or 0)))[0]
    return single


def _count(value: Any) -> int:
    return int(value or 0)  # int64 fields come as JSON strings


def evaluation(label: str | None, metrics: Mapping[str, Any], label_count: int = 0) -> Evaluation:
    """A classification metrics Struct as the port's Evaluation (what the gate reads).

    Vertex AI reports no evaluated example count; it is derived from the counts at the lowest
    threshold: a label's positives (TP + FN), or for the overall evaluation all decisions
    (TP + FP + FN + TN, one per image and label) divided by the number of labels.
    """
    entries = [
        e
        for e in metrics.get("confidenceMetrics", [])
        if int(e.get("maxPredictions", _ALL_PREDICTIONS)) == _ALL_PREDICTIONS
    ]
    points = tuple(
        sorted(
            (
                ConfidencePoint(
                    threshold=round(_float32(e.get("confidenceThreshold")), 4),
                    precision=_float32(e.get("precision")),
                    recall=_float32(e.get("recall")),
                    f1=_float32(e.get("f1Score")),
                    precision_at1=_float32(e.get("precisionAt1")),
                    recall_at1=_float32(e.get("recallAt1")),
                    f1_at1=_float32(e.get("f1ScoreAt1")),
                    false_positive_rate=_float32(e.get("falsePositiveRate")),
                    true_positives=_count(e.get("truePositiveCount")),
                    false_positives=_count(e.get("falsePositiveCount")),
                    false_negatives=_count(e.get("falseNegativeCount")),
                    true_negatives=_count(e.get("trueNegativeCount")),
                )
                for e in entries
            ),
            key=lambda p: p.threshold,
        )
    )
    example_count = 0
    if points:
        first = points[0]
        if label is not None:
            example_count = first.true_positives + first.false_negatives
        elif label_count:
            decisions = (
                first.true_positives
                + first.false_positives
                + first.false_negatives
                + first.true_negatives
            )
            example_count = decisions // label_count
    matrix = metrics.get("confusionMatrix") or {}
    return Evaluation(
        label=label,
        au_prc=_float32(metrics.get("auPrc")),
        au_roc=_float32(metrics.get("auRoc")),
        log_loss=_float32(metrics.get("logLoss")),
        example_count=example_count,
        points=points,
        confusion_labels=tuple(s.get("displayName", "") for s in matrix.get("annotationSpecs", [])),
        confusion_rows=tuple(tuple(_count(n) for n in row) for row in matrix.get("rows", [])),
    )
