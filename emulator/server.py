"""The emulator process: GCS, one gRPC server (AutoML v1, Vertex AI) and one REST server.

Everything binds 127.0.0.1 (a loopback address is required). Ports: random free ones by
default; with `--port P` a fixed scheme: GCS on P, gRPC on P+1, REST (admin + Firebase ML)
on P+2. State lives under the data directory:
    emulator.json   the running instance (pid, env); `env` reads it
    emulator.lock   held (flock) while an instance runs on this directory
    gcs/            Cloud Storage buckets and objects (layout: emulator/gcs_storage.py)
    state/          the core's state (see emulator/core/backend.py)

Extension points, for the facades (each facade module has a `register(server)` function,
listed once in FACADES below; registration happens before start):
    server.backend                                   the core (datasets, operations, ...)
    server.add_unary_service(service, methods)       gRPC methods: {"Method": (RequestType, fn)}
    server.add_grpc_handler(handler)                 any other grpc.GenericRpcHandler
    server.add_operation_renderer(api, render)       google.longrunning rendering of an api's ops
    server.add_route(method, template, fn, name)     REST route on the REST server
"""

import fcntl
import ipaddress
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from emulator import automl_v1, firebase_ml, vertex_v1
from emulator.core.backend import Backend
from emulator.core.errors import Code, InvalidArgument, ServiceError
from emulator.core.faults import FAULTS_ENV, FaultInjector
from emulator.core.names import parse_location
from emulator.core.operations import Operation, parse_filter
from emulator.core.paging import paginate
from emulator.core.persistence import (
    CorruptStateError,
    atomic_write_json,
    read_json,
    remove_file,
)
from emulator.gcs import GcsServer
from emulator.transport.grpc import GrpcServer, UnaryMethods
from emulator.transport.rest import (
    HttpRequest,
    HttpResponse,
    RestServer,
    RouteHandler,
    json_response,
)

log = logging.getLogger(__name__)

STORAGE_ENV = "STORAGE_EMULATOR_HOST"
AUTOML_ENV = "EDGE_LABELER_AUTOML_ENDPOINT"
VERTEX_ENV = "EDGE_LABELER_VERTEX_ENDPOINT"
FIREBASE_ML_ENV = "EDGE_LABELER_FIREBASE_ML_ENDPOINT"
ENV_KEYS = (STORAGE_ENV, AUTOML_ENV, VERTEX_ENV, FIREBASE_ML_ENV)

STATE_FILE = "emulator.json"
LOCK_FILE = "emulator.lock"
# Offsets from --port P of each listener.
GCS_PORT_OFFSET, GRPC_PORT_OFFSET, REST_PORT_OFFSET = 0, 1, 2
MAX_WAIT_SECONDS = 60.0

# Every API the emulator serves: `register(server)` functions, called in this order.
FACADES: tuple[Callable[["EmulatorServer"], None], ...] = (
    automl_v1.register,
    vertex_v1.register,
    firebase_ml.register,
)


class EmulatorError(Exception):
    """The emulator cannot start or be found; the message says why and what to do."""


OperationRenderer = Callable[[Operation], operations_pb2.Operation]


def _loopback(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise EmulatorError(f"host {host!r} is not an IP address; use 127.0.0.1") from None
    if not address.is_loopback or address.version != 4:
        raise EmulatorError(
            f"host {host} is not an IPv4 loopback address: the emulator has no authentication "
            "and serves 127.0.0.1 only"
        )
    return host


class EmulatorServer:
    """GCS + gRPC + REST on 127.0.0.1 over one Backend, state under `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        facades: tuple[Callable[["EmulatorServer"], None], ...] = FACADES,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = _loopback(host)
        if port and not 0 < port <= 65535 - REST_PORT_OFFSET:
            raise EmulatorError(f"port {port} is out of range; use 1–{65535 - REST_PORT_OFFSET}")
        self._port = port
        self.faults = FaultInjector()
        self.gcs = GcsServer(
            self.data_dir / "gcs", host, self._port_for(GCS_PORT_OFFSET), self.faults
        )
        self.backend = Backend(self.data_dir / "state", self.gcs, self.faults)
        self.rest = RestServer(host, self._port_for(REST_PORT_OFFSET), self.faults)
        self.grpc = GrpcServer(host, self._port_for(GRPC_PORT_OFFSET), self.faults)
        self._renderers: dict[str, OperationRenderer] = {}
        self._lock_fd: int | None = None
        self._env: dict[str, str] | None = None
        self._stopped = False
        self._add_operations_service()
        self._add_admin_routes()
        for register in facades:
            register(self)

    def _port_for(self, offset: int) -> int:
        return self._port + offset if self._port else 0

    # ---- registration ---------------------------------------------------------------------

    def add_unary_service(self, service: str, methods: UnaryMethods) -> None:
        """Serves unary methods of `service` (e.g. `google.cloud.automl.v1.AutoMl`).

        `methods` maps a method name to (request type, handler); handlers take the request
        message and return the response message (proto-plus or protobuf) or raise
        ServiceError. Several calls for one service add methods (each name once). Every
        method passes fault injection first (full and short method name).
        """
        self.grpc.add_unary_service(service, methods)

    def add_grpc_handler(self, handler: grpc.GenericRpcHandler) -> None:
        """Adds any other gRPC handler (streaming methods, ...) to the one gRPC server."""
        self.grpc.add_handler(handler)

    def add_operation_renderer(self, api: str, render: OperationRenderer) -> None:
        """How google.longrunning.Operations shows operations whose `api` is `api`."""
        self._renderers[api] = render

    def add_route(self, method: str, template: str, handler: RouteHandler, name: str = "") -> None:
        """A REST route on the REST server (EDGE_LABELER_FIREBASE_ML_ENDPOINT)."""
        self.rest.add_route(method, template, handler, name)

    # ---- google.longrunning.Operations (shared by every API on the gRPC server) -------------

    def render_operation(self, op: Operation) -> operations_pb2.Operation:
        render = self._renderers.get(op.api)
        if render is None:
            raise ServiceError(f"no renderer for operations of api {op.api!r} ({op.name})")
        return render(op)

    def _add_operations_service(self) -> None:
        ops = self.backend.operations

        def get_operation(request: operations_pb2.GetOperationRequest) -> operations_pb2.Operation:
            return self.render_operation(ops.get(request.name))

        def list_operations(
            request: operations_pb2.ListOperationsRequest,
        ) -> operations_pb2.ListOperationsResponse:
            parent = parse_location(request.name, "name")
            page, token = paginate(
                ops.list_operations(str(parent), matches=parse_filter(request.filter)),
                request.page_size,
                request.page_token,
            )
            return operations_pb2.ListOperationsResponse(
                operations=[self.render_operation(op) for op in page], next_page_token=token
            )

        def delete_operation(request: operations_pb2.DeleteOperationRequest) -> empty_pb2.Empty:
            ops.delete(request.name)
            return empty_pb2.Empty()

        def cancel_operation(request: operations_pb2.CancelOperationRequest) -> empty_pb2.Empty:
            ops.cancel(request.name)
            return empty_pb2.Empty()

        def wait_operation(
            request: operations_pb2.WaitOperationRequest,
        ) -> operations_pb2.Operation:
            timeout = MAX_WAIT_SECONDS
            if request.HasField("timeout"):
                timeout = min(request.timeout.ToTimedelta().total_seconds(), MAX_WAIT_SECONDS)
            return self.render_operation(ops.wait(request.name, timeout))

        self.add_unary_service(
            "google.longrunning.Operations",
            {
                "GetOperation": (operations_pb2.GetOperationRequest, get_operation),
                "ListOperations": (operations_pb2.ListOperationsRequest, list_operations),
                "DeleteOperation": (operations_pb2.DeleteOperationRequest, delete_operation),
                "CancelOperation": (operations_pb2.CancelOperationRequest, cancel_operation),
                "WaitOperation": (operations_pb2.WaitOperationRequest, wait_operation),
            },
        )

    # ---- admin REST API (emulator-only) ----------------------------------------------------

    def _add_admin_routes(self) -> None:
        def faults_state() -> dict:
            return {
                "faults": [f.to_json() for f in self.faults.armed()],
                "held": self.faults.held(),
            }

        def arm(request: HttpRequest) -> HttpResponse:
            body = request.json()
            if not isinstance(body, dict):
                raise InvalidArgument("fault: the body must be a JSON object")
            fault = self.faults.arm(
                str(body.get("method", "")),
                str(body.get("effect") or body.get("code") or ""),
                body.get("count", 1),
                str(body.get("message", "")),
                body.get("after", False),
            )
            return json_response(fault.to_json())

        def wait_held(request: HttpRequest) -> HttpResponse:
            # A long poll: answers once one of the `step`s is held (the event a test waits
            # for), with `held` listing which; DEADLINE_EXCEEDED after `timeoutSeconds` (a hang
            # guard, default 600 s).
            steps = [s for s in request.query.get("step", []) if s]
            if not steps:
                raise InvalidArgument("faults:waitHeld: the query parameter 'step' is required")
            raw = request.query.get("timeoutSeconds", ["600"])[0]
            try:
                timeout = float(raw)
            except ValueError:
                raise InvalidArgument(
                    f"faults:waitHeld: timeoutSeconds {raw!r} is not a number"
                ) from None
            held = self.faults.wait_held(steps, timeout)
            if not held:
                raise ServiceError(
                    f"{' or '.join(steps)} was not held within {timeout:g} s (armed: "
                    f"{[f.method for f in self.faults.armed()]}, held: {self.faults.held()})",
                    Code.DEADLINE_EXCEEDED,
                )
            return json_response({"held": held})

        def clear(request: HttpRequest) -> HttpResponse:
            method = request.query.get("method", [None])[0]
            self.faults.clear(method)
            return json_response(faults_state())

        def annotation_specs(request: HttpRequest) -> HttpResponse:
            p = request.params
            name = f"projects/{p['project']}/locations/{p['location']}/datasets/{p['dataset']}"
            dataset = self.backend.datasets.get(name)
            return json_response(
                {
                    "annotationSpecs": [
                        {
                            "name": s.name,
                            "displayName": s.display_name,
                            "exampleCount": s.example_count,
                        }
                        for s in dataset.annotation_specs
                    ]
                }
            )

        admin = "/emulator/v1"
        self.add_route("GET", f"{admin}/health", lambda r: json_response({"status": "ok"}))
        self.add_route("GET", f"{admin}/env", lambda r: json_response(self.env))
        self.add_route("GET", f"{admin}/faults", lambda r: json_response(faults_state()))
        self.add_route("POST", f"{admin}/faults", arm)
        self.add_route("DELETE", f"{admin}/faults", clear)
        self.add_route("GET", f"{admin}/faults:waitHeld", wait_held)
        self.add_route(
            "GET",
            f"{admin}/projects/{{project}}/locations/{{location}}/datasets/{{dataset}}/annotationSpecs",
            annotation_specs,
        )

    # ---- lifecycle ------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The client environment (KEY → value) of the running instance."""
        if self._env is None:
            raise EmulatorError("the emulator is not running; call start() first")
        return dict(self._env)

    def start(self) -> dict[str, str]:
        """Starts every listener and returns the client environment."""
        if self._env is not None:
            return self.env
        if self._stopped:
            raise EmulatorError("this EmulatorServer was stopped; create a new one to restart")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            spec = os.environ.get(FAULTS_ENV, "")
            if spec:
                self.faults.arm_from_spec(spec)
            storage_url = self._bind("GCS", GCS_PORT_OFFSET, self.gcs.start)
            self.backend.open()
            grpc_port = self._bind("gRPC", GRPC_PORT_OFFSET, self.grpc.start)
            rest_url = self._bind("REST", REST_PORT_OFFSET, self.rest.start)
        except CorruptStateError as exc:
            self._shutdown()
            raise EmulatorError(str(exc)) from None
        except BaseException:
            self._shutdown()
            raise
        endpoint = f"{self.host}:{grpc_port}"
        self._env = {
            STORAGE_ENV: storage_url,
            AUTOML_ENV: endpoint,
            VERTEX_ENV: endpoint,
            FIREBASE_ML_ENV: rest_url,
        }
        atomic_write_json(
            self.data_dir / STATE_FILE,
            {"pid": os.getpid(), "env": self._env, "started_at": datetime.now(UTC).isoformat()},
        )
        log.info("emulator serving %s", self._env)
        return self.env

    def _bind(self, what: str, offset: int, start: Callable[[], Any]) -> Any:
        try:
            return start()
        except (OSError, RuntimeError) as exc:
            port = self._port_for(offset)
            where = f"{self.host}:{port}" if port else f"{self.host} (random port)"
            raise EmulatorError(
                f"cannot listen for {what} on {where}: {exc}; choose another --port "
                "or stop what uses it"
            ) from exc

    def stop(self) -> None:
        """Stops listening, ends background work (recorded as interrupted), releases the dir."""
        if self._env is None:
            return
        self._shutdown()
        remove_file(self.data_dir / STATE_FILE)
        self._env = None
        log.info("emulator stopped")

    def _shutdown(self) -> None:
        self._stopped = True
        self.faults.close()  # held calls and long polls end first, so the servers can stop
        self.rest.stop()
        self.grpc.stop()
        self.backend.close()
        self.gcs.stop()
        self._release_lock()

    def __enter__(self) -> "EmulatorServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _acquire_lock(self) -> None:
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            state = read_json(self.data_dir / STATE_FILE) or {}
            raise EmulatorError(
                f"data dir {self.data_dir} is in use by a running emulator (pid "
                f"{state.get('pid', '?')}); stop it or use another --data-dir"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None


def running_env(data_dir: Path) -> dict[str, str]:
    """The environment of the emulator running on `data_dir`; EmulatorError if none runs."""
    data_dir = Path(data_dir).resolve()
    try:
        state = read_json(data_dir / STATE_FILE)
    except CorruptStateError as exc:
        raise EmulatorError(str(exc)) from None
    start_hint = f"start one with `edgectl emulator start --data-dir {data_dir}`"
    if state is None:
        raise EmulatorError(
            f"no emulator is running on {data_dir} ({STATE_FILE} not found); {start_hint}"
        )
    if not _lock_held(data_dir):
        raise EmulatorError(
            f"the emulator recorded in {data_dir / STATE_FILE} (pid {state.get('pid')}) is not "
            f"running any more (it did not stop cleanly); {start_hint}"
        )
    return dict(state["env"])


def _lock_held(data_dir: Path) -> bool:
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we may have taken
    return False


def format_env(env: Mapping[str, str]) -> str:
    return "".join(f"{key}={env[key]}\n" for key in ENV_KEYS if key in env)
