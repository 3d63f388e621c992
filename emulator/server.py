"""The emulator instance: its listeners' lifecycle over one core, and the APIs it serves.

Everything binds 127.0.0.1 (a loopback address is required). Ports: random free ones by
default; with `--port P` a fixed scheme: GCS on P, gRPC on P+1, REST (admin + Firebase ML)
on P+2. State lives under the data directory:
    emulator.json   the running instance (pid, env); `env` reads it
    emulator.lock   held (flock) while an instance runs on this directory
    gcs/            Cloud Storage buckets and objects (layout: emulator/gcs_storage.py)
    state/          the core's state (see emulator/core/backend.py)

The plumbing is elsewhere: emulator/transport/ (the gRPC and REST servers), longrunning.py
(the shared Operations service), admin.py (the admin REST API), cli.py (the command line).
Every API is a facade listed once in FACADES: a `register(host)` function that adds its
services to an emulator.host.ServiceHost (this server is one) before start.
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

from emulator import admin, automl_v1, firebase_ml, longrunning, remote_config, vertex_v1
from emulator.core.backend import Backend
from emulator.core.faults import FAULTS_ENV, FaultInjector
from emulator.core.persistence import (
    CorruptStateError,
    atomic_write_json,
    read_json,
    remove_file,
)
from emulator.gcs import GcsServer
from emulator.longrunning import OperationRenderer, OperationsService
from emulator.transport.grpc import GrpcServer, UnaryMethods
from emulator.transport.rest import RestServer, RouteHandler

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

# Every API the emulator serves: `register(host)` functions (emulator.host.Facade), called in
# this order.
FACADES: tuple[Callable[["EmulatorServer"], None], ...] = (
    automl_v1.register,
    vertex_v1.register,
    firebase_ml.register,
    remote_config.register,
)


class EmulatorError(Exception):
    """The emulator cannot start or be found; the message says why and what to do."""


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
        self.operations = OperationsService(self.backend.operations)
        self._lock_fd: int | None = None
        self._env: dict[str, str] | None = None
        self._stopped = False
        self.add_unary_service(longrunning.SERVICE, self.operations.methods())
        admin.register(self, lambda: self.env)
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
        self.operations.add_renderer(api, render)

    def add_route(self, method: str, template: str, handler: RouteHandler, name: str = "") -> None:
        """A REST route on the REST server (EDGE_LABELER_FIREBASE_ML_ENDPOINT)."""
        self.rest.add_route(method, template, handler, name)

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
