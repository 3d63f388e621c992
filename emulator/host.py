"""What a facade registers into: the `ServiceHost` its `register(host)` function receives.

Each generation of the server's services (emulator/server.py `Services`) is one; facades type
against this protocol, never import the server, so the server can list them without an import
cycle.
"""

from collections.abc import Callable
from typing import Protocol

import grpc

from emulator.core.backend import Backend
from emulator.longrunning import OperationRenderer
from emulator.transport.grpc import UnaryMethods
from emulator.transport.rest import RouteHandler


class ServiceHost(Protocol):
    """The core, and where a facade adds its gRPC services, REST routes and operation renderers."""

    @property
    def backend(self) -> Backend:
        """The core (datasets, models, operations, ...) every facade translates to."""
        ...

    def add_unary_service(self, service: str, methods: UnaryMethods) -> None:
        """gRPC methods of `service`: {"Method": (RequestType, handler)}."""
        ...

    def add_grpc_handler(self, handler: grpc.GenericRpcHandler) -> None:
        """Any other gRPC handler (streaming methods, ...)."""
        ...

    def add_operation_renderer(self, api: str, render: OperationRenderer) -> None:
        """How google.longrunning.Operations shows the operations of `api`."""
        ...

    def add_route(
        self, method: str, template: str, handler: RouteHandler, name: str = "", gated: bool = True
    ) -> None:
        """A REST route (`/v1/projects/{project}/...`) on the REST server; `gated=False`: it is
        served even while a reset holds calls back (transport/calls.py)."""
        ...


# A facade: adds one API (its services, routes, renderers) to the host.
Facade = Callable[[ServiceHost], None]
