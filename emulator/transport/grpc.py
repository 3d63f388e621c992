"""The gRPC transport: one server for every gRPC API, unary methods registered per service.

A unary method is `(request type, handler)`: the handler takes the request message and returns
the response message (proto-plus or protobuf) or raises ServiceError, which becomes the gRPC
status of its code. Every method passes fault injection first, under its full name
(`google.cloud.automl.v1.AutoMl/CreateModel`).
"""

import logging
from collections.abc import Callable, Mapping
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.message import Message

from emulator.core.errors import ServiceError
from emulator.core.faults import FaultInjector

log = logging.getLogger(__name__)

UnaryMethods = Mapping[str, tuple[Any, Callable[[Any], Any]]]
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _deserializer(message_type: Any) -> Callable[[bytes], Any]:
    """proto-plus types have `deserialize`, protobuf ones `FromString`."""
    return getattr(message_type, "FromString", None) or message_type.deserialize


def _serialize(message: Any) -> bytes:
    if isinstance(message, Message):
        return message.SerializeToString()
    return type(message).serialize(message)


class GrpcServer:
    """The unary services and other handlers of one gRPC server; registration before start()."""

    def __init__(self, host: str, port: int, faults: FaultInjector) -> None:
        self._host = host
        self._port = port
        self._faults = faults
        self._unary: dict[str, dict[str, tuple[Any, Callable[[Any], Any]]]] = {}
        self._handlers: list[grpc.GenericRpcHandler] = []
        self._server: grpc.Server | None = None

    def _check_not_started(self) -> None:
        if self._server is not None:
            raise RuntimeError("register services before start()")

    def add_unary_service(self, service: str, methods: UnaryMethods) -> None:
        """Serves unary methods of `service` (e.g. `google.cloud.automl.v1.AutoMl`).

        `methods` maps a method name to (request type, handler). Several calls for one service
        add methods (each name once).
        """
        self._check_not_started()
        table = self._unary.setdefault(service, {})
        for name, method in methods.items():
            if name in table:
                raise ValueError(f"{service}/{name} is registered twice")
            table[name] = method

    def add_handler(self, handler: grpc.GenericRpcHandler) -> None:
        """Adds any other gRPC handler (streaming methods, ...)."""
        self._check_not_started()
        self._handlers.append(handler)

    def _unary_handler(self, full_name: str, request_type: Any, fn: Callable[[Any], Any]):
        faults = self._faults

        def behaviour(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                faults.check(full_name)
                response = fn(request)
                faults.respond(full_name)  # faults armed `after`: the answer fails or is held
                return response
            except ServiceError as exc:
                context.abort(grpc.StatusCode[exc.code.name], exc.message)
            except Exception as exc:
                log.exception("gRPC %s failed", full_name)
                context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=_deserializer(request_type),
            response_serializer=_serialize,
        )

    def start(self) -> int:
        """Listens on host:port (a free port for 0) and returns the port."""
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="grpc"),
            options=[
                ("grpc.so_reuseport", 0),  # never share a port with another process
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
            ],
        )
        handlers = [
            grpc.method_handlers_generic_handler(
                service,
                {
                    name: self._unary_handler(f"{service}/{name}", request_type, fn)
                    for name, (request_type, fn) in methods.items()
                },
            )
            for service, methods in self._unary.items()
        ]
        server.add_generic_rpc_handlers((*handlers, *self._handlers))
        port = server.add_insecure_port(f"{self._host}:{self._port}")
        if port == 0:
            raise RuntimeError("address in use")
        server.start()
        self._server = server
        return port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=1).wait(5)
