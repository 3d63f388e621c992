"""The gRPC transport: one server for every gRPC API, unary methods registered per service.

A unary method is `(request type, handler)`: the handler takes the request message and returns
the response message (proto-plus or protobuf) or raises ServiceError, which becomes the gRPC
status of its code. Every method passes the call gate and the request log (transport/calls.py)
and fault injection, under its full name (`google.cloud.automl.v1.AutoMl/CreateModel`).

What the server serves is a GrpcServices table, given to `start()` and replaced whole by
`serve()` (the emulator's reset) while the server keeps listening.
"""

import logging
from collections.abc import Callable, Mapping
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.message import Message

from emulator.core.errors import ServiceError
from emulator.core.faults import FaultInjector
from emulator.transport.calls import Calls

log = logging.getLogger(__name__)

UnaryMethods = Mapping[str, tuple[Any, Callable[[Any], Any]]]
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Request fields that name what a call is about, in this order (for the request log).
_RESOURCE_FIELDS = ("name", "parent", "resource", "endpoint")


def _deserializer(message_type: Any) -> Callable[[bytes], Any]:
    """proto-plus types have `deserialize`, protobuf ones `FromString`."""
    return getattr(message_type, "FromString", None) or message_type.deserialize


def _serialize(message: Any) -> bytes:
    if isinstance(message, Message):
        return message.SerializeToString()
    return type(message).serialize(message)


def _resource(request: Any) -> str:
    for field in _RESOURCE_FIELDS:
        value = getattr(request, field, None)
        if isinstance(value, str) and value:
            return value
    return ""


class GrpcServices:
    """What one gRPC server serves: unary methods per service, and other handlers."""

    def __init__(self) -> None:
        self.unary: dict[str, dict[str, tuple[Any, Callable[[Any], Any]]]] = {}
        self.handlers: list[grpc.GenericRpcHandler] = []

    def add_unary_service(self, service: str, methods: UnaryMethods) -> None:
        """Serves unary methods of `service` (e.g. `google.cloud.automl.v1.AutoMl`).

        `methods` maps a method name to (request type, handler). Several calls for one service
        add methods (each name once).
        """
        table = self.unary.setdefault(service, {})
        for name, method in methods.items():
            if name in table:
                raise ValueError(f"{service}/{name} is registered twice")
            table[name] = method

    def add_handler(self, handler: grpc.GenericRpcHandler) -> None:
        """Adds any other gRPC handler (streaming methods, ...)."""
        self.handlers.append(handler)


class _Router(grpc.GenericRpcHandler):
    """The server's one handler: looks each call up in the table being served."""

    def __init__(self) -> None:
        self.methods: dict[str, grpc.RpcMethodHandler] = {}
        self.handlers: list[grpc.GenericRpcHandler] = []

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        methods, handlers = self.methods, self.handlers  # one table, even during a swap
        found = methods.get(handler_call_details.method)
        if found is not None:
            return found
        for handler in handlers:
            found = handler.service(handler_call_details)
            if found is not None:
                return found
        return None


class GrpcServer:
    """One gRPC server on host:port serving a GrpcServices table (replaceable while serving)."""

    def __init__(self, host: str, port: int, faults: FaultInjector, calls: Calls) -> None:
        self._host = host
        self._port = port
        self._faults = faults
        self._calls = calls
        self._router = _Router()
        # Full method name → handler of the table being served, looked up once a call has
        # passed the gate (a call that waited during a reset runs on the new services).
        self._functions: dict[str, Callable[[Any], Any]] = {}
        self._server: grpc.Server | None = None

    def _unary_handler(self, service: str, name: str, request_type: Any) -> grpc.RpcMethodHandler:
        faults, calls, full_name = self._faults, self._calls, f"{service}/{name}"

        def behaviour(request: Any, context: grpc.ServicerContext) -> Any:
            with calls.call("grpc", service, name, _resource(request)) as call:
                try:
                    fn = self._functions[full_name]
                    faults.check(full_name)
                    response = fn(request)
                    faults.respond(full_name)  # faults armed `after`: the answer fails or is held
                    call.status = "OK"
                    return response
                except ServiceError as exc:
                    call.status = exc.code.name
                    context.abort(grpc.StatusCode[exc.code.name], exc.message)
                except Exception as exc:
                    log.exception("gRPC %s failed", full_name)
                    call.status = "INTERNAL"
                    context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=_deserializer(request_type),
            response_serializer=_serialize,
        )

    def serve(self, services: GrpcServices) -> None:
        """Serves `services` from now on (calls already routed finish with the old table)."""
        self._functions = {
            f"{service}/{name}": fn
            for service, table in services.unary.items()
            for name, (_, fn) in table.items()
        }
        self._router.methods = {
            f"/{service}/{name}": self._unary_handler(service, name, request_type)
            for service, table in services.unary.items()
            for name, (request_type, _) in table.items()
        }
        self._router.handlers = list(services.handlers)

    def start(self, services: GrpcServices) -> int:
        """Listens on host:port (a free port for 0), serving `services`; returns the port."""
        self.serve(services)
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="grpc"),
            options=[
                ("grpc.so_reuseport", 0),  # never share a port with another process
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
            ],
        )
        server.add_generic_rpc_handlers((self._router,))
        port = server.add_insecure_port(f"{self._host}:{self._port}")
        if port == 0:
            raise RuntimeError("address in use")
        server.start()
        self._server = server
        return port

    def stop(self, grace: float = 1.0) -> None:
        """Stops listening; calls still running after `grace` seconds are cancelled."""
        if self._server is not None:
            self._server.stop(grace=grace).wait(grace + 5)
            self._server = None
