"""gRPC facade of `google.cloud.automl.v1.AutoMl`: translates messages to core calls and back.

Served so that the unmodified `google-cloud-automl` client works over an insecure channel:
    AutoMlClient(transport=AutoMlGrpcTransport(channel=grpc.insecure_channel(endpoint)))
Datasets, import, export and annotation specs are here; operations are served by the
shared google.longrunning.Operations service (emulator/server.py) and rendered by
`render_operation`. To add methods (models, evaluations, ...): add entries to
`AutoMlFacade.methods()`, and per operation kind to OPERATION_DETAILS / OPERATION_RESPONSES.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from google.cloud.automl_v1 import types
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, timestamp_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from emulator.core.backend import Backend
from emulator.core.datasets import ClassificationType, Dataset
from emulator.core.errors import InvalidArgument, Unimplemented
from emulator.core.names import new_id, parse_location, parse_resource
from emulator.core.operations import Operation, Outcome
from emulator.core.paging import paginate

if TYPE_CHECKING:
    from emulator.server import EmulatorServer

SERVICE = "google.cloud.automl.v1.AutoMl"
API = "automl_v1"
# Image classification resources are named ICN<digits> by the service.
ID_PREFIX = "ICN"


def register(server: "EmulatorServer") -> None:
    """Adds the AutoMl service and the rendering of its operations to the emulator."""
    server.add_unary_service(SERVICE, AutoMlFacade(server.backend).methods())
    server.add_operation_renderer(API, render_operation)


# ---- core → wire ----------------------------------------------------------------------------


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
            classification_type=types.ClassificationType[dataset.classification_type.value]
        ),
    )


def _timestamp(value: Any) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


# Per operation kind: the OperationMetadata `details` oneof member, and the response message.
OPERATION_DETAILS: dict[str, Callable[[Operation], dict]] = {
    "create_dataset": lambda op: {"create_dataset_details": {}},
    "delete_dataset": lambda op: {"delete_details": {}},
    "import_data": lambda op: {"import_data_details": {}},
    "export_data": lambda op: {
        "export_data_details": {
            "output_info": {"gcs_output_directory": op.details["gcs_output_directory"]}
        }
    },
}
OPERATION_RESPONSES: dict[str, Callable[[Operation], Message]] = {
    "create_dataset": lambda op: types.Dataset.pb(dataset_pb(Dataset.from_json(op.response))),
}


def render_operation(op: Operation) -> operations_pb2.Operation:
    """google.longrunning.Operation with AutoML's OperationMetadata and typed response."""
    metadata = types.OperationMetadata(
        progress_percent=op.progress_percent,
        partial_failures=[
            status_pb2.Status(code=int(s.code), message=s.message) for s in op.partial_failures
        ],
        create_time=op.create_time,
        update_time=op.update_time,
        **OPERATION_DETAILS.get(op.kind, lambda _: {})(op),
    )
    message = operations_pb2.Operation(name=op.name, done=op.done)
    message.metadata.Pack(types.OperationMetadata.pb(metadata))
    if op.done and op.error is not None:
        message.error.CopyFrom(status_pb2.Status(code=int(op.error.code), message=op.error.message))
    elif op.done:
        response = OPERATION_RESPONSES.get(op.kind, lambda _: empty_pb2.Empty())(op)
        message.response.Pack(response)
    return message


# ---- wire → core ----------------------------------------------------------------------------

_UPDATABLE_DATASET_FIELDS = ("display_name", "description", "labels")


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
        }

    def _record(self, parent: str, kind: str, resource: str, response: dict | None = None):
        op = self.backend.operations.record(
            parent, API, kind, [resource], Outcome(response=response or {}), id_prefix=ID_PREFIX
        )
        return render_operation(op)

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
        datasets = self.backend.datasets.list_datasets(location)
        text = request.filter.strip()
        if text:
            match = text.replace(" ", "")
            if not (match.endswith("_dataset_metadata:*") and match.count(":") == 1):
                raise InvalidArgument(
                    f"Field: filter; Message: {text!r} is not supported; use "
                    "image_classification_dataset_metadata:* (or another *_dataset_metadata:*)"
                )
            if match != "image_classification_dataset_metadata:*":
                datasets = []
        page, token = paginate(datasets, request.page_size, request.page_token)
        return types.ListDatasetsResponse(
            datasets=[dataset_pb(d) for d in page], next_page_token=token
        )

    def update_dataset(self, request: types.UpdateDatasetRequest) -> types.Dataset:
        paths = list(request.update_mask.paths)
        if not paths:
            raise InvalidArgument(
                "Field: update_mask; Message: required; list the fields to change: "
                + ", ".join(_UPDATABLE_DATASET_FIELDS)
            )
        unknown = [p for p in paths if p not in _UPDATABLE_DATASET_FIELDS]
        if unknown:
            raise InvalidArgument(
                f"Field: update_mask; Message: {', '.join(unknown)} cannot be updated; "
                f"updatable: {', '.join(_UPDATABLE_DATASET_FIELDS)}"
            )
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
        op = self.backend.datasets.start_import(
            request.name,
            list(request.input_config.gcs_source.input_uris),
            api=API,
            id_prefix=ID_PREFIX,
        )
        return render_operation(op)

    def export_data(self, request: types.ExportDataRequest) -> operations_pb2.Operation:
        prefix = request.output_config.gcs_destination.output_uri_prefix
        if not prefix:
            raise InvalidArgument(
                "Field: output_config.gcs_destination.output_uri_prefix; Message: required "
                "(gs://bucket/folder)"
            )
        op = self.backend.datasets.start_export(request.name, prefix, api=API, id_prefix=ID_PREFIX)
        return render_operation(op)

    def get_annotation_spec(self, request: types.GetAnnotationSpecRequest) -> types.AnnotationSpec:
        spec = self.backend.datasets.annotation_spec(request.name)
        return types.AnnotationSpec(
            name=spec.name, display_name=spec.display_name, example_count=spec.example_count
        )
