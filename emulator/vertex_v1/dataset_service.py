"""gRPC facade of Vertex AI's `DatasetService`: CreateDataset, GetDataset, ListDatasets,
DeleteDataset, ImportData.

An image Dataset (metadata schema `image`) is a core dataset whose classification type is
set by the import schema (single-label → MULTICLASS, multi-label → MULTILABEL). Import files
are CSV or JSON Lines (emulator/vertex_v1/imports.py); an image's ML_USE (`training`,
`validation`, `test`) is its data item label `aiplatform.googleapis.com/ml_use`, other data
item labels are kept for FilterSplit. Operations are named under the dataset
(`{dataset}/operations/{id}`), as Vertex AI names them.
"""

from collections.abc import Callable
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.longrunning import operations_pb2

from emulator.core.datasets import ClassificationType, Dataset, ImportSource
from emulator.core.errors import InvalidArgument, Unimplemented
from emulator.core.names import new_id, parse_location
from emulator.core.paging import paginate
from emulator.vertex_v1.filters import Fields, parse_filter, parse_order_by
from emulator.vertex_v1.imports import import_sources
from emulator.vertex_v1.operations import API, render_operation
from emulator.vertex_v1.resources import ID_PREFIX, dataset_pb
from emulator.vertex_v1.schemas import IMAGE_METADATA_SCHEMA, IMPORT_SCHEMAS, known_schema
from emulator.vertex_v1.service import VertexService, validate_display_name

SERVICE = "google.cloud.aiplatform.v1.DatasetService"

DATASET_FIELDS: Fields[Dataset] = Fields(
    values={
        "display_name": lambda d: d.display_name,
        "metadata_schema_uri": lambda d: IMAGE_METADATA_SCHEMA,
    },
    labels=lambda d: d.labels,
)

# ListDatasets' order_by fields (a dataset's update time is shown as its create time).
DATASET_ORDER = {
    "display_name": lambda d: d.display_name,
    "create_time": lambda d: d.create_time,
    "update_time": lambda d: d.create_time,
}


def _import_kind(config: types.ImportDataConfig, where: str) -> ClassificationType:
    """The classification type one ImportDataConfig imports, if the emulator can import it."""
    uri = config.import_schema_uri
    if uri not in IMPORT_SCHEMAS:
        if not uri:
            raise InvalidArgument(
                f"Field: {where}.import_schema_uri; Message: required; for image "
                f"classification: {', '.join(IMPORT_SCHEMAS)}"
            )
        known = known_schema(uri, "dataset.ioformat")
        raise (Unimplemented if known else InvalidArgument)(
            f"Field: {where}.import_schema_uri; Message: {uri} is not emulated; the "
            f"emulator imports image classification: {', '.join(IMPORT_SCHEMAS)}"
        )
    if not config.gcs_source.uris:
        raise InvalidArgument(
            f"Field: {where}.gcs_source.uris; Message: at least one gs:// URI of an "
            "import file is required"
        )
    return IMPORT_SCHEMAS[uri]


class DatasetService(VertexService):
    """One method per RPC: request message in, response message out, ServiceError on failure."""

    def methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {
            "CreateDataset": (types.CreateDatasetRequest, self.create_dataset),
            "GetDataset": (types.GetDatasetRequest, self.get_dataset),
            "ListDatasets": (types.ListDatasetsRequest, self.list_datasets),
            "DeleteDataset": (types.DeleteDatasetRequest, self.delete_dataset),
            "ImportData": (types.ImportDataRequest, self.import_data),
        }

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
            error = Unimplemented if known_schema(uri, "dataset.metadata") else InvalidArgument
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
            check_display_name=validate_display_name,
        )
        return self._record(created.name, "create_dataset", created.name, created.to_json())

    def get_dataset(self, request: types.GetDatasetRequest) -> types.Dataset:
        return dataset_pb(self._dataset(request.name))

    def list_datasets(self, request: types.ListDatasetsRequest) -> types.ListDatasetsResponse:
        location = parse_location(request.parent)
        order = parse_order_by(request.order_by, DATASET_ORDER)
        matches = parse_filter(request.filter, DATASET_FIELDS)
        datasets = order(
            [
                d
                for d in self.backend.datasets.list_datasets(location)
                if d.id.isdigit() and matches(d)
            ]
        )
        page, token = paginate(datasets, request.page_size, request.page_token)
        return types.ListDatasetsResponse(
            datasets=[dataset_pb(d) for d in page], next_page_token=token
        )

    def delete_dataset(self, request: types.DeleteDatasetRequest) -> operations_pb2.Operation:
        self._dataset(request.name)
        self.backend.datasets.delete(request.name)
        return self._record(request.name, "delete_dataset", request.name)

    def import_data(self, request: types.ImportDataRequest) -> operations_pb2.Operation:
        self._dataset(request.name)
        configs = list(request.import_configs)
        if not configs:
            raise InvalidArgument(
                "Field: import_configs; Message: at least one ImportDataConfig is required"
            )
        sources: list[ImportSource] = []
        kinds: set[ClassificationType] = set()
        for i, config in enumerate(configs):
            where = f"import_configs[{i}]"
            kind = _import_kind(config, where)
            kinds.add(kind)
            sources += import_sources(
                list(config.gcs_source.uris),
                multilabel=kind is ClassificationType.MULTILABEL,
                data_item_labels=config.data_item_labels,
                where=where,
            )
        if len(kinds) > 1:
            raise InvalidArgument(
                "Field: import_configs; Message: the emulator imports one classification schema "
                "per dataset (single-label or multi-label), not both"
            )
        self.backend.datasets.set_classification_type(request.name, kinds.pop())
        op = self.backend.datasets.start_import(
            request.name,
            sources,
            uris_field="import_configs.gcs_source.uris",  # each checked above, per config
            api=API,
            id_prefix=ID_PREFIX,
            parent=request.name,  # Vertex AI names operations under their resource
            relabel=True,
        )
        return render_operation(op)
