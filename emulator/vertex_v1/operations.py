"""Vertex AI's long-running operations on the wire: typed metadata and responses.

Served by the shared google.longrunning.Operations service (emulator/longrunning.py), which
renders operations whose `api` is API with `render_operation`.
"""

from collections.abc import Callable
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from emulator.core.backend import Backend
from emulator.core.datasets import Dataset
from emulator.core.endpoints import DeployedModel, Endpoint
from emulator.core.operations import Operation, Outcome
from emulator.vertex_v1.resources import ID_PREFIX, dataset_pb, deployed_model_pb, endpoint_pb

API = "vertex_v1"  # Operation.api of the operations this API starts


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
    "create_endpoint": lambda op: types.CreateEndpointOperationMetadata(
        generic_metadata=_generic(op)
    ),
    "delete_endpoint": lambda op: types.DeleteOperationMetadata(generic_metadata=_generic(op)),
    "deploy_model": lambda op: types.DeployModelOperationMetadata(generic_metadata=_generic(op)),
    "undeploy_model": lambda op: types.UndeployModelOperationMetadata(
        generic_metadata=_generic(op)
    ),
}
OPERATION_RESPONSES: dict[str, Callable[[Operation], Message]] = {
    "create_dataset": lambda op: types.Dataset.pb(dataset_pb(Dataset.from_json(op.result()))),
    "import_data": lambda op: types.ImportDataResponse.pb(types.ImportDataResponse()),
    "export_model": lambda op: types.ExportModelResponse.pb(types.ExportModelResponse()),
    "create_endpoint": lambda op: types.Endpoint.pb(endpoint_pb(Endpoint.from_json(op.result()))),
    "deploy_model": lambda op: types.DeployModelResponse.pb(
        types.DeployModelResponse(
            deployed_model=deployed_model_pb(DeployedModel.from_json(op.details["deployed_model"]))
        )
    ),
    "undeploy_model": lambda op: types.UndeployModelResponse.pb(types.UndeployModelResponse()),
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


def record(
    backend: Backend, parent: str, kind: str, resource: str, response: dict | None = None
) -> operations_pb2.Operation:
    """An operation that is done when it starts (the change already happened), rendered."""
    op = backend.operations.record(
        parent, API, kind, [resource], Outcome(response=response or {}), id_prefix=ID_PREFIX
    )
    return render_operation(op)
