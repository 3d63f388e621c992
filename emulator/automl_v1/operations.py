"""AutoML v1's long-running operations on the wire: OperationMetadata and typed responses.

Served by the shared google.longrunning.Operations service (emulator/longrunning.py), which
renders operations whose `api` is API with `render_operation`. A new operation kind adds its
OperationMetadata `details` member to OPERATION_DETAILS and its response to OPERATION_RESPONSES.
"""

from collections.abc import Callable

from google.cloud.automl_v1 import types
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from emulator.automl_v1.resources import ID_PREFIX, dataset_pb, model_pb
from emulator.core.backend import Backend
from emulator.core.datasets import Dataset
from emulator.core.models.records import Model
from emulator.core.operations import Operation, Outcome

API = "automl_v1"  # Operation.api of the operations this API starts


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
    "create_model": lambda op: {"create_model_details": {}},
    "delete_model": lambda op: {"delete_details": {}},
    "deploy_model": lambda op: {"deploy_model_details": {}},
    "undeploy_model": lambda op: {"undeploy_model_details": {}},
    "export_model": lambda op: {
        "export_model_details": {
            "output_info": {"gcs_output_directory": op.details["gcs_output_directory"]}
        }
    },
    "batch_predict": lambda op: {
        "batch_predict_details": {
            "input_config": {"gcs_source": {"input_uris": op.details["input_uris"]}},
            "output_info": {"gcs_output_directory": op.details["gcs_output_directory"]},
        }
    },
}
OPERATION_RESPONSES: dict[str, Callable[[Operation], Message]] = {
    "create_dataset": lambda op: types.Dataset.pb(dataset_pb(Dataset.from_json(op.result()))),
    "create_model": lambda op: types.Model.pb(model_pb(Model.from_json(op.result()))),
    "batch_predict": lambda op: types.BatchPredictResult.pb(types.BatchPredictResult()),
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


def record(
    backend: Backend, parent: str, kind: str, resource: str, response: dict | None = None
) -> operations_pb2.Operation:
    """An operation that is done when it starts (the change already happened), rendered."""
    op = backend.operations.record(
        parent, API, kind, [resource], Outcome(response=response or {}), id_prefix=ID_PREFIX
    )
    return render_operation(op)
