"""TrainingApi adapter for the AutoML v1 API (`google-cloud-automl`, module `automl_v1`).

Every call goes through `retry.call` (the client library's own retries are off: `retry=None`).
The API makes nothing idempotent, so:
- CreateDataset is retried after looking for a dataset with the request's labels;
- ImportData: an import already running on the dataset (ListOperations with the documented
  filter `worksOn = <dataset> AND done = false`) is joined instead of starting another, before
  the call and before each retry;
- CreateModel is retried only through the `recover` its caller gives (see `find_trainings`).
AutoML v1 has no labels on operations, and a model exists only once its training finished:
`find_trainings` lists the location's unfinished CreateModel operations created since a time
(ListOperations filter `done = false`; the metadata's `create_model_details` and
`create_time` are checked here), the candidates a caller waits for before it adopts by label.
"""

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from google.cloud import automl_v1

from components.cloud import retry
from components.cloud.clients import CloudTarget, automl_client
from components.cloud.errors import CloudError
from components.cloud.exports import AUTOML_FILES, VERTEX_FILES
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

_CLASSIFICATION = automl_v1.ClassificationType
# How far the local clock may be ahead of Google's: operations created up to this long before
# the caller's `since` are candidates too (waiting for a stranger costs time, missing ours money).
CLOCK_SKEW = timedelta(minutes=10)
# CreateModel answers once the training is validated and started; the library's default of
# 5 s would turn a slow answer into an ambiguous DEADLINE_EXCEEDED.
CREATE_TIMEOUT_S = 120.0


class AutoMlV1(TrainingApi):
    # `model-export/icn/<format>-<display name>-<time>/`: model.tflite (both TF Lite formats) or
    # saved_model.pb, with dict.txt and tflite_metadata.json.
    export_layouts = (AUTOML_FILES, VERTEX_FILES)

    def __init__(self, target: CloudTarget):
        self.target = target
        self.client = automl_client(target)
        self.parent = f"projects/{target.project}/locations/{target.region}"

    # --- datasets ---------------------------------------------------------------------------
    def _dataset(self, d: automl_v1.Dataset) -> CloudDataset:
        meta = d.image_classification_dataset_metadata
        return CloudDataset(
            name=d.name,
            display_name=d.display_name,
            example_count=d.example_count,
            multilabel=meta.classification_type == _CLASSIFICATION.MULTILABEL,
            labels=MappingProxyType(dict(d.labels)),
        )

    def create_dataset(
        self, display_name: str, multilabel: bool, labels: Mapping[str, str]
    ) -> CloudDataset:
        kind = _CLASSIFICATION.MULTILABEL if multilabel else _CLASSIFICATION.MULTICLASS
        dataset = automl_v1.Dataset(
            display_name=display_name,
            image_classification_dataset_metadata=automl_v1.ImageClassificationDatasetMetadata(
                classification_type=kind
            ),
            labels=dict(labels),
        )

        def attempt() -> CloudDataset:
            op = self.client.create_dataset(parent=self.parent, dataset=dataset, retry=None)
            return self._dataset(op.result(timeout=300))

        def made_anyway() -> CloudDataset | None:
            found = [d for d in self.find_datasets(labels) if d.display_name == display_name]
            return found[0] if found else None

        return retry.call(f"creating dataset {display_name}", attempt, recover=made_anyway)

    def start_import(self, dataset: str, csv_uri: str) -> str:
        running = self._running(f"worksOn = {dataset}", "import_data")
        if running:  # an earlier attempt's import (the API runs one at a time per dataset)
            return running[0]
        config = automl_v1.InputConfig(gcs_source=automl_v1.GcsSource(input_uris=[csv_uri]))
        operation: str = retry.call(
            f"importing {csv_uri} into {dataset}",
            lambda: (
                self.client.import_data(
                    name=dataset, input_config=config, retry=None
                ).operation.name
            ),
            recover=lambda: next(iter(self._running(f"worksOn = {dataset}", "import_data")), None),
        )
        return operation

    def get_dataset(self, name: str) -> CloudDataset | None:
        found = retry.call_missing_ok(
            f"reading dataset {name}", lambda: self.client.get_dataset(name=name, retry=None)
        )
        return None if found is None else self._dataset(found)

    def find_datasets(self, labels: Mapping[str, str]) -> list[CloudDataset]:
        found = retry.call(
            f"listing datasets in {self.parent}",
            lambda: list(self.client.list_datasets(parent=self.parent, retry=None)),
        )
        return [
            self._dataset(d) for d in found if all(d.labels.get(k) == v for k, v in labels.items())
        ]

    def delete_dataset(self, name: str) -> None:
        retry.call_missing_ok(
            f"deleting dataset {name}",
            lambda: self.client.delete_dataset(name=name, retry=None).result(timeout=300),
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
        model = automl_v1.Model(
            display_name=display_name,
            dataset_id=dataset.rsplit("/", 1)[-1],
            image_classification_model_metadata=automl_v1.ImageClassificationModelMetadata(
                model_type=model_type,
                train_budget_milli_node_hours=budget_milli_node_hours,
                base_model_id=base_model_id(base_model),
            ),
            labels=dict(labels),
        )
        operation: str = retry.create(
            f"starting training of {display_name}",
            lambda: (
                self.client.create_model(
                    parent=self.parent, model=model, retry=None, timeout=CREATE_TIMEOUT_S
                ).operation.name
            ),
            recover,
        )
        return operation

    def find_trainings(self, labels: Mapping[str, str], since: datetime | None = None) -> list[str]:
        if since is None:  # operations carry no labels: nothing to attribute without a time
            return []
        return self._running("", "create_model", since - CLOCK_SKEW)

    def _running(self, filter_: str, kind: str, since: datetime | None = None) -> list[str]:
        """Unfinished operations of `kind` (create_model, import_data) matching `filter_`."""
        detail = f"{kind}_details"
        query = " AND ".join(filter(None, (filter_, "done = false")))
        operations = self.client.transport.operations_client
        found = retry.call(
            f"listing operations in {self.parent} ({query})",
            lambda: list(operations.list_operations(self.parent, query, retry=None)),
        )
        names = []
        for op in found:
            meta = automl_v1.OperationMetadata.deserialize(op.metadata.value)
            if op.done or not automl_v1.OperationMetadata.pb(meta).HasField(detail):
                continue
            if since is not None and meta.create_time < since:
                continue
            names.append(op.name)
        return names

    def get_operation(self, name: str) -> OperationState:
        op = retry.call(
            f"reading operation {name}",
            lambda: self.client.transport.operations_client.get_operation(name, retry=None),
        )
        meta = automl_v1.OperationMetadata.deserialize(op.metadata.value) if op.metadata else None
        error, cancelled = operation_error(op)
        result = None
        if op.done and op.HasField("response"):
            type_url = op.response.type_url
            if type_url.endswith("automl.v1.Model"):
                result = automl_v1.Model.deserialize(op.response.value).name
            elif type_url.endswith("automl.v1.Dataset"):
                result = automl_v1.Dataset.deserialize(op.response.value).name
        detail = None
        if meta is not None and meta.export_model_details.output_info.gcs_output_directory:
            detail = meta.export_model_details.output_info.gcs_output_directory
        return OperationState(
            name=op.name,
            done=op.done,
            error=error,
            cancelled=cancelled,
            progress_percent=meta.progress_percent if meta is not None else None,
            result=result,
            detail=detail,
        )

    def cancel_operation(self, name: str) -> None:
        retry.call(
            f"cancelling operation {name}",
            lambda: self.client.transport.operations_client.cancel_operation(name, retry=None),
        )

    # --- models ----------------------------------------------------------------------------
    def _model(self, m: automl_v1.Model) -> CloudModel:
        meta = m.image_classification_model_metadata
        return CloudModel(
            name=m.name,
            display_name=m.display_name,
            dataset=f"{self.parent}/datasets/{m.dataset_id}",
            model_type=meta.model_type,
            labels=MappingProxyType(dict(m.labels)),
            train_budget_milli_node_hours=meta.train_budget_milli_node_hours,
            train_cost_milli_node_hours=meta.train_cost_milli_node_hours,
            stop_reason=meta.stop_reason,
            create_time=proto_time(m.create_time),
            deployed=m.deployment_state == automl_v1.Model.DeploymentState.DEPLOYED,
        )

    def get_model(self, name: str) -> CloudModel | None:
        found = retry.call_missing_ok(
            f"reading model {name}", lambda: self.client.get_model(name=name, retry=None)
        )
        return None if found is None else self._model(found)

    def find_models(self, labels: Mapping[str, str]) -> list[CloudModel]:
        # AutoML v1 filters models by dataset and metadata only; labels are matched here.
        found = retry.call(
            f"listing models in {self.parent}",
            lambda: list(self.client.list_models(parent=self.parent, retry=None)),
        )
        return [
            self._model(m) for m in found if all(m.labels.get(k) == v for k, v in labels.items())
        ]

    def delete_model(self, name: str) -> None:
        retry.call_missing_ok(
            f"deleting model {name}",
            lambda: self.client.delete_model(name=name, retry=None).result(timeout=300),
        )

    def evaluations(self, model: str) -> Evaluations:
        found: list[Any] = retry.call(
            f"reading evaluations of {model}",
            lambda: list(self.client.list_model_evaluations(parent=model, filter="", retry=None)),
        )
        overall = None
        per_label: dict[str, Evaluation] = {}
        for ev in found:
            converted = _evaluation(ev)
            if ev.annotation_spec_id:
                per_label[ev.display_name] = converted
            else:
                overall = converted
        if overall is None:
            raise CloudError(f"model {model} has no overall evaluation (was training finished?)")
        return Evaluations(overall=overall, per_label=MappingProxyType(per_label))

    def start_export(self, model: str, model_format: str, gcs_prefix: str) -> str:
        config = automl_v1.ModelExportOutputConfig(
            gcs_destination=automl_v1.GcsDestination(output_uri_prefix=gcs_prefix),
            model_format=model_format,
        )
        # Retried as it is: an export made twice only writes a second folder, and is not billed.
        operation: str = retry.call(
            f"exporting {model} as {model_format}",
            lambda: (
                self.client.export_model(
                    name=model, output_config=config, retry=None
                ).operation.name
            ),
        )
        return operation


def _evaluation(ev: automl_v1.ModelEvaluation) -> Evaluation:
    m = ev.classification_evaluation_metrics
    points = tuple(
        ConfidencePoint(
            threshold=round(e.confidence_threshold, 4),
            precision=e.precision,
            recall=e.recall,
            f1=e.f1_score,
            precision_at1=e.precision_at1,
            recall_at1=e.recall_at1,
            f1_at1=e.f1_score_at1,
            false_positive_rate=e.false_positive_rate,
            true_positives=e.true_positive_count,
            false_positives=e.false_positive_count,
            false_negatives=e.false_negative_count,
            true_negatives=e.true_negative_count,
        )
        for e in sorted(m.confidence_metrics_entry, key=lambda e: e.confidence_threshold)
    )
    cm = m.confusion_matrix
    return Evaluation(
        label=ev.display_name if ev.annotation_spec_id else None,
        au_prc=m.au_prc,
        au_roc=m.au_roc,
        log_loss=m.log_loss,
        example_count=ev.evaluated_example_count,
        points=points,
        confusion_labels=tuple(cm.display_name),
        confusion_rows=tuple(tuple(r.example_count) for r in cm.row),
    )
