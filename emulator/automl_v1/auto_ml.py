"""gRPC facade of `google.cloud.automl.v1.AutoMl`: translates messages to core calls and back.

Served so that the unmodified `google-cloud-automl` client works over an insecure channel:
    AutoMlClient(transport=AutoMlGrpcTransport(channel=grpc.insecure_channel(endpoint)))
Datasets, import, export, annotation specs, models, model evaluations, model export and
deployment. Operations are served by the shared google.longrunning.Operations service
(emulator/longrunning.py) and rendered by emulator/automl_v1/operations.py. To add methods:
add entries to `AutoMlFacade.methods()`, and per operation kind to the tables of operations.py.
"""

from collections.abc import Callable
from typing import Any

from google.cloud.automl_v1 import types
from google.longrunning import operations_pb2

from emulator.automl_v1.filters import dataset_filter, parse_evaluation_filter, parse_model_filter
from emulator.automl_v1.operations import API, record, render_operation
from emulator.automl_v1.resources import ID_PREFIX, dataset_pb, evaluation_pb, model_pb
from emulator.core.backend import Backend
from emulator.core.datasets import ClassificationType, csv_sources
from emulator.core.errors import InvalidArgument, Unimplemented
from emulator.core.models.exports import ExportFields
from emulator.core.models.records import Model
from emulator.core.models.training import TrainingFields, TrainingRequest
from emulator.core.names import new_id, parse_location, parse_resource
from emulator.core.paging import paginate

SERVICE = "google.cloud.automl.v1.AutoMl"
# Where a CreateModel / ExportModel request holds what the core checks (its messages name them).
TRAINING_FIELDS = TrainingFields(
    display_name="model.display_name",
    labels="model.labels",
    dataset_id="model.dataset_id",
    metadata="model.image_classification_model_metadata",
)
EXPORT_FIELDS = ExportFields(
    model_format="output_config.model_format",
    output_uri_prefix="output_config.gcs_destination.output_uri_prefix",
)
_UPDATABLE_DATASET_FIELDS = ("display_name", "description", "labels")
_UPDATABLE_MODEL_FIELDS = ("display_name", "labels")


def _export_folder(model: Model, model_format: str, timestamp: str) -> str:
    """AutoML's export layout: `model-export/icn/<format>-<display name>-<timestamp>`."""
    return f"model-export/icn/{model_format}-{model.display_name}-{timestamp}"


def _update_paths(request_mask: Any, updatable: tuple[str, ...]) -> list[str]:
    paths = list(request_mask.paths)
    if not paths:
        raise InvalidArgument(
            "Field: update_mask; Message: required; list the fields to change: "
            + ", ".join(updatable)
        )
    unknown = [p for p in paths if p not in updatable]
    if unknown:
        raise InvalidArgument(
            f"Field: update_mask; Message: {', '.join(unknown)} cannot be updated; "
            f"updatable: {', '.join(updatable)}"
        )
    return paths


class AutoMlFacade:
    """One method per RPC: request message in, response message out, ServiceError on failure."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {
            "CreateDataset": (types.CreateDatasetRequest, self.create_dataset),
            "GetDataset": (types.GetDatasetRequest, self.get_dataset),
            "ListDatasets": (types.ListDatasetsRequest, self.list_datasets),
            "UpdateDataset": (types.UpdateDatasetRequest, self.update_dataset),
            "DeleteDataset": (types.DeleteDatasetRequest, self.delete_dataset),
            "ImportData": (types.ImportDataRequest, self.import_data),
            "ExportData": (types.ExportDataRequest, self.export_data),
            "GetAnnotationSpec": (types.GetAnnotationSpecRequest, self.get_annotation_spec),
            "CreateModel": (types.CreateModelRequest, self.create_model),
            "GetModel": (types.GetModelRequest, self.get_model),
            "ListModels": (types.ListModelsRequest, self.list_models),
            "UpdateModel": (types.UpdateModelRequest, self.update_model),
            "DeleteModel": (types.DeleteModelRequest, self.delete_model),
            "DeployModel": (types.DeployModelRequest, self.deploy_model),
            "UndeployModel": (types.UndeployModelRequest, self.undeploy_model),
            "ExportModel": (types.ExportModelRequest, self.export_model),
            "GetModelEvaluation": (types.GetModelEvaluationRequest, self.get_model_evaluation),
            "ListModelEvaluations": (
                types.ListModelEvaluationsRequest,
                self.list_model_evaluations,
            ),
        }

    def _record(self, parent: str, kind: str, resource: str, response: dict | None = None):
        return record(self.backend, parent, kind, resource, response)

    def create_dataset(self, request: types.CreateDatasetRequest) -> operations_pb2.Operation:
        location = parse_location(request.parent)
        which = types.Dataset.pb(request.dataset).WhichOneof("dataset_metadata")
        if which is None:
            raise InvalidArgument(
                "Field: dataset.dataset_metadata; Message: required; set "
                "image_classification_dataset_metadata"
            )
        if which != "image_classification_dataset_metadata":
            raise Unimplemented(
                f"The emulator implements image classification datasets only "
                f"(image_classification_dataset_metadata), not {which}"
            )
        kind = request.dataset.image_classification_dataset_metadata.classification_type
        if kind == types.ClassificationType.CLASSIFICATION_TYPE_UNSPECIFIED:
            raise InvalidArgument(
                "Field: dataset.image_classification_dataset_metadata.classification_type; "
                "Message: required; MULTICLASS or MULTILABEL"
            )
        dataset = self.backend.datasets.create(
            location,
            new_id(ID_PREFIX),
            request.dataset.display_name,
            ClassificationType(kind.name),
            description=request.dataset.description,
            labels=dict(request.dataset.labels),
        )
        return self._record(str(location), "create_dataset", dataset.name, dataset.to_json())

    def get_dataset(self, request: types.GetDatasetRequest) -> types.Dataset:
        return dataset_pb(self.backend.datasets.get(request.name))

    def list_datasets(self, request: types.ListDatasetsRequest) -> types.ListDatasetsResponse:
        location = parse_location(request.parent)
        matches = dataset_filter(request.filter)
        datasets = [d for d in self.backend.datasets.list_datasets(location) if matches(d)]
        page, token = paginate(datasets, request.page_size, request.page_token)
        return types.ListDatasetsResponse(
            datasets=[dataset_pb(d) for d in page], next_page_token=token
        )

    def update_dataset(self, request: types.UpdateDatasetRequest) -> types.Dataset:
        paths = _update_paths(request.update_mask, _UPDATABLE_DATASET_FIELDS)
        dataset = request.dataset
        updated = self.backend.datasets.update(
            dataset.name,
            display_name=dataset.display_name if "display_name" in paths else None,
            description=dataset.description if "description" in paths else None,
            labels=dict(dataset.labels) if "labels" in paths else None,
            etag=dataset.etag,
        )
        return dataset_pb(updated)

    def delete_dataset(self, request: types.DeleteDatasetRequest) -> operations_pb2.Operation:
        name = parse_resource(request.name, "datasets", "Dataset")
        self.backend.datasets.delete(request.name)
        return self._record(str(name.parent), "delete_dataset", request.name)

    def import_data(self, request: types.ImportDataRequest) -> operations_pb2.Operation:
        field = "input_config.gcs_source.input_uris"
        self.backend.datasets.get(request.name)  # NotFound before the URIs are checked
        op = self.backend.datasets.start_import(
            request.name,
            csv_sources(list(request.input_config.gcs_source.input_uris), field),
            uris_field=field,
            api=API,
            id_prefix=ID_PREFIX,
        )
        return render_operation(op)

    def export_data(self, request: types.ExportDataRequest) -> operations_pb2.Operation:
        prefix = request.output_config.gcs_destination.output_uri_prefix
        op = self.backend.datasets.start_export(
            request.name,
            prefix,
            prefix_field="output_config.gcs_destination.output_uri_prefix",
            api=API,
            id_prefix=ID_PREFIX,
        )
        return render_operation(op)

    def get_annotation_spec(self, request: types.GetAnnotationSpecRequest) -> types.AnnotationSpec:
        spec = self.backend.datasets.annotation_spec(request.name)
        return types.AnnotationSpec(
            name=spec.name, display_name=spec.display_name, example_count=spec.example_count
        )

    # ---- models -----------------------------------------------------------------------------

    def create_model(self, request: types.CreateModelRequest) -> operations_pb2.Operation:
        location = parse_location(request.parent)
        which = types.Model.pb(request.model).WhichOneof("model_metadata")
        if which is None:
            raise InvalidArgument(
                "Field: model.model_metadata; Message: required; set "
                "image_classification_model_metadata"
            )
        if which != "image_classification_model_metadata":
            raise Unimplemented(
                f"The emulator trains image classification models only "
                f"(image_classification_model_metadata), not {which}"
            )
        metadata = request.model.image_classification_model_metadata
        training = TrainingRequest(
            display_name=request.model.display_name,
            dataset_id=request.model.dataset_id,
            model_type=metadata.model_type,
            budget_milli_node_hours=metadata.train_budget_milli_node_hours or None,
            fields=TRAINING_FIELDS,
            base_model_id=metadata.base_model_id,
            labels=dict(request.model.labels),
        )
        op = self.backend.trainings.start(location, training, api=API, id_prefix=ID_PREFIX)
        return render_operation(op)

    def get_model(self, request: types.GetModelRequest) -> types.Model:
        return model_pb(self.backend.models.get(request.name))

    def list_models(self, request: types.ListModelsRequest) -> types.ListModelsResponse:
        models = self.backend.models.list_models(
            parse_location(request.parent), parse_model_filter(request.filter)
        )
        page, token = paginate(models, request.page_size, request.page_token)
        return types.ListModelsResponse(model=[model_pb(m) for m in page], next_page_token=token)

    def update_model(self, request: types.UpdateModelRequest) -> types.Model:
        paths = _update_paths(request.update_mask, _UPDATABLE_MODEL_FIELDS)
        model = request.model
        updated = self.backend.models.update(
            model.name,
            display_name=model.display_name if "display_name" in paths else None,
            labels=dict(model.labels) if "labels" in paths else None,
            etag=model.etag,
            resource_field="model",
        )
        return model_pb(updated)

    def delete_model(self, request: types.DeleteModelRequest) -> operations_pb2.Operation:
        name = parse_resource(request.name, "models", "Model")
        self.backend.models.delete(request.name)
        return self._record(str(name.parent), "delete_model", request.name)

    def deploy_model(self, request: types.DeployModelRequest) -> operations_pb2.Operation:
        which = types.DeployModelRequest.pb(request).WhichOneof("model_deployment_metadata")
        if which not in (None, "image_classification_model_deployment_metadata"):
            raise InvalidArgument(
                f"Field: {which}; Message: the model is an image classification model; use "
                "image_classification_model_deployment_metadata"
            )
        metadata = request.image_classification_model_deployment_metadata
        op = self.backend.serving.start_deployment(
            request.name,
            metadata.node_count or None,
            node_count_field="image_classification_model_deployment_metadata.node_count",
            api=API,
            id_prefix=ID_PREFIX,
        )
        return render_operation(op)

    def undeploy_model(self, request: types.UndeployModelRequest) -> operations_pb2.Operation:
        op = self.backend.serving.start_undeployment(request.name, api=API, id_prefix=ID_PREFIX)
        return render_operation(op)

    def export_model(self, request: types.ExportModelRequest) -> operations_pb2.Operation:
        config = request.output_config
        op = self.backend.model_exports.start_export(
            request.name,
            config.model_format,
            config.gcs_destination.output_uri_prefix,
            folder=_export_folder,
            fields=EXPORT_FIELDS,
            api=API,
            id_prefix=ID_PREFIX,
        )
        return render_operation(op)

    def get_model_evaluation(
        self, request: types.GetModelEvaluationRequest
    ) -> types.ModelEvaluation:
        return evaluation_pb(self.backend.models.get_evaluation(request.name))

    def list_model_evaluations(
        self, request: types.ListModelEvaluationsRequest
    ) -> types.ListModelEvaluationsResponse:
        evaluations = self.backend.models.list_evaluations(
            request.parent, parse_evaluation_filter(request.filter)
        )
        page, token = paginate(evaluations, request.page_size, request.page_token)
        return types.ListModelEvaluationsResponse(
            model_evaluation=[evaluation_pb(e) for e in page], next_page_token=token
        )
