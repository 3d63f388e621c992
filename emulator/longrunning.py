"""google.longrunning.Operations: the one Operations service of every gRPC API (AutoML, Vertex).

It serves the core's operations; how an operation looks on the wire (metadata, response
types) is its API's: each facade adds a renderer for the operations it starts
(`add_renderer(api, render)`, keyed by `Operation.api`). The ListOperations filter grammar is
here too: the core lists operations by predicate.
"""

import re
from collections.abc import Callable

from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from emulator.core.errors import InvalidArgument, ServiceError
from emulator.core.names import parse_location
from emulator.core.operations import Operation, OperationStore
from emulator.core.paging import paginate
from emulator.transport.grpc import UnaryMethods

SERVICE = "google.longrunning.Operations"
MAX_WAIT_SECONDS = 60.0
# Whose operations ListOperations lists: a location, or a resource in it.
_OPERATIONS_PARENT = re.compile(r"projects/[^/]+/locations/[^/]+(/[A-Za-z]+/[^/]+)*")

OperationRenderer = Callable[[Operation], operations_pb2.Operation]


def parse_filter(text: str) -> Callable[[Operation], bool]:
    """AutoML's documented ListOperations filter: `operation_id`, `done` and `worksOn`, each
    with `=` or `!=`, joined by AND (e.g. `done = false AND worksOn = projects/.../datasets/5`);
    a predicate on operations."""
    checks: list[Callable[[Operation], bool]] = []
    for term in filter(None, (t.strip() for t in re.split(r"\s+AND\s+", text or ""))):
        match = re.fullmatch(r"(operation_id|done|worksOn)\s*(!=|=)\s*\"?([^\"]*)\"?", term)
        if match is None:
            raise InvalidArgument(
                f"Field: filter; Message: {term!r} is not supported; use operation_id, done "
                'and worksOn with = or != (e.g. done=false AND worksOn="projects/.../datasets/'
                '...") joined by AND'
            )
        key, op, value = match.groups()
        if key == "done" and value not in ("true", "false"):
            raise InvalidArgument(
                f"Field: filter; Message: done must be true or false, not {value!r}"
            )
        checks.append(_operation_term(key, value, equal=op == "="))
    return lambda o: all(check(o) for check in checks)


def _operation_term(key: str, value: str, *, equal: bool) -> Callable[[Operation], bool]:
    """`key = value` (or, not `equal`, `key != value`) of ListOperations' filter."""
    if key == "operation_id":
        return lambda o: (o.id == value) == equal
    if key == "done":
        return lambda o: (o.done == (value == "true")) == equal
    return lambda o: (value in o.resources) == equal  # worksOn


class OperationsService:
    """One method per RPC over the core's operations, rendered by each operation's API."""

    def __init__(self, operations: OperationStore) -> None:
        self._operations = operations
        self._renderers: dict[str, OperationRenderer] = {}

    def add_renderer(self, api: str, render: OperationRenderer) -> None:
        """How operations whose `api` is `api` look on the wire."""
        self._renderers[api] = render

    def render(self, op: Operation) -> operations_pb2.Operation:
        render = self._renderers.get(op.api)
        if render is None:
            raise ServiceError(f"no renderer for operations of api {op.api!r} ({op.name})")
        return render(op)

    def methods(self) -> UnaryMethods:
        return {
            "GetOperation": (operations_pb2.GetOperationRequest, self.get_operation),
            "ListOperations": (operations_pb2.ListOperationsRequest, self.list_operations),
            "DeleteOperation": (operations_pb2.DeleteOperationRequest, self.delete_operation),
            "CancelOperation": (operations_pb2.CancelOperationRequest, self.cancel_operation),
            "WaitOperation": (operations_pb2.WaitOperationRequest, self.wait_operation),
        }

    def get_operation(
        self, request: operations_pb2.GetOperationRequest
    ) -> operations_pb2.Operation:
        return self.render(self._operations.get(request.name))

    def list_operations(
        self, request: operations_pb2.ListOperationsRequest
    ) -> operations_pb2.ListOperationsResponse:
        """Operations of a location (every one in it, also those named under its resources),
        or of one resource (Vertex AI names operations `{resource}/operations/{id}`)."""
        parent = request.name
        if _OPERATIONS_PARENT.fullmatch(parent or "") is None:
            parse_location(parent, "name")  # raises, naming the expected form
        page, token = paginate(
            self._operations.list_operations(parent, matches=parse_filter(request.filter)),
            request.page_size,
            request.page_token,
        )
        return operations_pb2.ListOperationsResponse(
            operations=[self.render(op) for op in page], next_page_token=token
        )

    def delete_operation(self, request: operations_pb2.DeleteOperationRequest) -> empty_pb2.Empty:
        self._operations.delete(request.name)
        return empty_pb2.Empty()

    def cancel_operation(self, request: operations_pb2.CancelOperationRequest) -> empty_pb2.Empty:
        self._operations.cancel(request.name)
        return empty_pb2.Empty()

    def wait_operation(
        self, request: operations_pb2.WaitOperationRequest
    ) -> operations_pb2.Operation:
        timeout = MAX_WAIT_SECONDS
        if request.HasField("timeout"):
            timeout = min(request.timeout.ToTimedelta().total_seconds(), MAX_WAIT_SECONDS)
        return self.render(self._operations.wait(request.name, timeout))
