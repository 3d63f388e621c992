"""Emulator-only (admin REST API, read-only): `GET /emulator/v1/{operation name}/details`.

Returns an operation's details; for a training (`create_model`): model_id, budget_seconds
(budget_epochs with an epoch budget), and after each epoch `epoch`, `elapsed_seconds`,
`train_loss`, `val_loss`, `train_accuracy`, `val_accuracy` — what AutoML's empty
CreateModelOperationMetadata has no field for. With `?minEpoch=N` and/or
`?minProgressPercent=P` (and `timeoutSeconds=S`) it is a long poll: it answers once the
training reported epoch N and P % of its budget, or ended, or S seconds (default 600)
passed — tests wait on that event, not on a polling window.
"""

from emulator.core.errors import InvalidArgument
from emulator.core.operations import OperationStore
from emulator.host import ServiceHost
from emulator.transport.rest import HttpRequest, HttpResponse, json_response

ROUTE = "/emulator/v1/projects/{project}/locations/{location}/operations/{operation}/details"
MAX_WAIT_SECONDS = 3600.0


def operation_details(operations: OperationStore, request: HttpRequest) -> HttpResponse:
    name = request.path.removeprefix("/emulator/v1/").removesuffix("/details")
    op = operations.get(name)
    query = request.query
    if "minEpoch" in query or "minProgressPercent" in query:  # a long poll
        try:
            epoch = int(query.get("minEpoch", ["0"])[0])
            percent = int(query.get("minProgressPercent", ["0"])[0])
            timeout = float(query.get("timeoutSeconds", ["600"])[0])
        except ValueError:
            raise InvalidArgument(
                "minEpoch and minProgressPercent must be integers, timeoutSeconds a number"
            ) from None
        op = operations.wait_until(
            name,
            lambda o: o.details.get("epoch", 0) >= epoch and o.progress_percent >= percent,
            min(timeout, MAX_WAIT_SECONDS),
        )
    return json_response(
        {
            "name": op.name,
            "kind": op.kind,
            "done": op.done,
            "progressPercent": op.progress_percent,
            "details": op.details,
        }
    )


def register(host: ServiceHost) -> None:
    operations = host.backend.operations
    host.add_route("GET", ROUTE, lambda request: operation_details(operations, request))
