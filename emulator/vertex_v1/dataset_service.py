"""gRPC facade of Vertex AI's `DatasetService`: CreateDataset, GetDataset, ListDatasets,
DeleteDataset, ImportData.

An image Dataset (metadata schema `image`) is a core dataset whose classification type is
set by the import schema (single-label → MULTICLASS, multi-label → MULTILABEL); the CSV's
ML_USE is Vertex AI's spelling (`training`, `validation`, `test`, any case), and it becomes
the data item label `aiplatform.googleapis.com/ml_use`. Imports are CSV only.
"""

from collections.abc import Callable
from typing import Any

from google.cloud.aiplatform import schema
from google.cloud.aiplatform_v1 import types
from google.longrunning import operations_pb2

from emulator.core.datasets import ClassificationType, Dataset
from emulator.core.errors import InvalidArgument, Unimplemented
from emulator.core.import_csv import MlUse
from emulator.core.names import new_id, parse_location, parse_resource
from emulator.core.paging import paginate
from emulator.vertex_v1.filters import Fields, not_emulated_order, parse_filter
from emulator.vertex_v1.operations import API, render_operation
from emulator.vertex_v1.resources import ID_PREFIX, dataset_pb
from emulator.vertex_v1.schemas import IMAGE_METADATA_SCHEMA, IMPORT_SCHEMAS, known_schema
from emulator.vertex_v1.service import VertexService

SERVICE = "google.cloud.aiplatform.v1.DatasetService"
# The ML_USE column of Vertex AI's CSV import (its documentation: TRAINING, TEST, VALIDATION).
ML_USES = {"TRAINING": MlUse.TRAIN, "VALIDATION": MlUse.VALIDATION, "TEST": MlUse.TEST}

DATASET_FIELDS: Fields[Dataset] = Fields(
    values={
        "display_name": lambda d: d.display_name,
        "metadata_schema_uri": lambda d: IMAGE_METADATA_SCHEMA,
    },
    labels=lambda d: d.labels,
)


def _import_kind(config: types.ImportDataConfig, where: str) -> ClassificationType:
    """The classification type one ImportDataConfig imports, if the emulator can import it."""
    uri = config.import_schema_uri
    if uri not in IMPORT_SCHEMAS:
        if not uri:
            raise InvalidArgument(
                f"Field: {where}.import_schema_uri; Message: required; for image "
                f"classification: {', '.join(IMPORT_SCHEMAS)}"
            )
        known = known_schema(uri, schema.dataset.ioformat)
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
            error = Unimplemented if known_schema(uri, schema.dataset.metadata) else InvalidArgument
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
        not_emulated_order(request.order_by)
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
            kinds.add(_import_kind(config, f"import_configs[{i}]"))
            uris += list(config.gcs_source.uris)
        if len(kinds) > 1:
            raise InvalidArgument(
                "Field: import_configs; Message: the emulator imports one classification schema "
                "per dataset (single-label or multi-label), not both"
            )
        self.backend.datasets.set_classification_type(request.name, kinds.pop())
        op = self.backend.datasets.start_import(
            request.name,
            uris,
            uris_field="import_configs.gcs_source.uris",  # each checked above, per config
            api=API,
            id_prefix=ID_PREFIX,
            ml_uses=ML_USES,
        )
        return render_operation(op)
