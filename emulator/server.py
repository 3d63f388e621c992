"""The emulator instance: its listeners' lifecycle over one core, and the APIs it serves.

Everything binds 127.0.0.1 (a loopback address is required). Ports: random free ones by
default; with `--port P` a fixed scheme: GCS on P, gRPC on P+1, REST (admin + Firebase ML)
on P+2. State lives under the data directory:
    emulator.json   the running instance (pid, env); emulator/instance.py reads it
    emulator.lock   held (flock) while an instance runs on this directory
    gcs/            Cloud Storage buckets and objects (layout: emulator/gcs_storage.py)
    state/          the core's state (see emulator/core/backend.py)
    reset.pending   only while a reset moves gcs/ and state/ aside (into .reset-<id>/); a start
                    that finds it finishes that reset first

The plumbing is elsewhere: emulator/transport/ (the gRPC and REST servers, the call gate and
the request log), longrunning.py (the shared Operations service), admin.py (the admin REST
API), instance.py (the instance's record, read from outside), cli.py (the command line).
Every API is a facade listed once in FACADES: a `register(host)` function that adds its
services to an emulator.host.ServiceHost — a `Services` generation here. A reset replaces the
generation (a new core over empty directories, the facades registered anew) while the
listeners keep their ports.
"""

import fcntl
import ipaddress
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from emulator import admin, automl_v1, firebase_ml, longrunning, remote_config, vertex_v1
from emulator.core.backend import Backend
from emulator.core.faults import FAULTS_ENV, FaultInjector
from emulator.core.persistence import (
    CorruptStateError,
    GroupSync,
    atomic_write_json,
    fsync_directory,
    read_json,
    remove_file,
)
from emulator.gcs import GcsServer
from emulator.instance import (
    AUTOML_ENV,
    ENV_KEYS,
    FIREBASE_ML_ENV,
    LOCK_FILE,
    STATE_FILE,
    STOPS_ON_SIGTERM,
    STORAGE_ENV,
    VERTEX_ENV,
    EmulatorError,
    format_env,
    running,
    tree_size,
)
from emulator.longrunning import OperationRenderer, OperationsService
from emulator.transport.calls import Calls, RequestLog
from emulator.transport.grpc import GrpcServer, GrpcServices, UnaryMethods
from emulator.transport.rest import RestRoutes, RestServer, RouteHandler

__all__ = [
    "AUTOML_ENV",
    "ENV_KEYS",
    "FACADES",
    "FIREBASE_ML_ENV",
    "STATE_FILE",
    "STORAGE_ENV",
    "VERTEX_ENV",
    "EmulatorError",
    "EmulatorServer",
    "Services",
    "format_env",
    "running_env",
]

log = logging.getLogger(__name__)

RESET_MARKER = "reset.pending"
ASIDE_PREFIX = ".reset-"
# Offsets from --port P of each listener.
GCS_PORT_OFFSET, GRPC_PORT_OFFSET, REST_PORT_OFFSET = 0, 1, 2
# How long a stop waits for background work (trainings, imports) to end by default, and a
# reset for it and the calls in flight; `emulator start` stops with a shorter grace (cli.py).
STOP_GRACE_SECONDS = 10.0
RESET_GRACE_SECONDS = 60.0

# Every API the emulator serves: `register(host)` functions (emulator.host.Facade), called in
# this order.
FACADES: tuple[Callable[["Services"], None], ...] = (
    automl_v1.register,
    vertex_v1.register,
    firebase_ml.register,
    remote_config.register,
)


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


class Services:
    """One generation of the core and of the APIs over it: what facades register into.

    An emulator.host.ServiceHost: facades read `backend` and add gRPC services, REST routes
    and operation renderers; the listeners serve the tables of the current generation.
    """

    def __init__(
        self,
        backend: Backend,
        facades: tuple[Callable[["Services"], None], ...],
        admin_hooks: admin.Hooks,
    ) -> None:
        self.backend = backend
        self.grpc = GrpcServices()
        self.rest = RestRoutes()
        self.operations = OperationsService(backend.operations)
        self.add_unary_service(longrunning.SERVICE, self.operations.methods())
        admin.register(self, admin_hooks)
        for register in facades:
            register(self)

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

    def add_route(
        self, method: str, template: str, handler: RouteHandler, name: str = "", gated: bool = True
    ) -> None:
        """A REST route on the REST server (EDGE_LABELER_FIREBASE_ML_ENDPOINT)."""
        self.rest.add_route(method, template, handler, name, gated)


class EmulatorServer:
    """GCS + gRPC + REST on 127.0.0.1 over one Backend, state under `data_dir`.

    `request_log`: every call is logged there (`start --log-requests`). `stops_on_sigterm`:
    this is `emulator start`'s own process, which `emulator stop` may signal (recorded in
    emulator.json).
    """

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        facades: tuple[Callable[[Services], None], ...] = FACADES,
        request_log: RequestLog | None = None,
        stops_on_sigterm: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = _loopback(host)
        if port and not 0 < port <= 65535 - REST_PORT_OFFSET:
            raise EmulatorError(f"port {port} is out of range; use 1–{65535 - REST_PORT_OFFSET}")
        self._port = port
        self._facades = facades
        self._stops_on_sigterm = stops_on_sigterm
        self.faults = FaultInjector()
        self.calls = Calls(request_log)
        # Objects and imported images are synced together, within a second (persistence.py).
        self.group_sync = GroupSync(self.data_dir)
        self.gcs = GcsServer(
            self.data_dir / "gcs",
            host,
            self._port_for(GCS_PORT_OFFSET),
            self.faults,
            self.calls,
            self.group_sync,
        )
        self.rest = RestServer(host, self._port_for(REST_PORT_OFFSET), self.faults, self.calls)
        self.grpc = GrpcServer(host, self._port_for(GRPC_PORT_OFFSET), self.faults, self.calls)
        self._services = self._new_services()
        self._lifecycle = threading.Lock()  # a reset and a stop, one at a time
        self._lock_fd: int | None = None
        self._env: dict[str, str] | None = None
        self._stopped = False

    def _port_for(self, offset: int) -> int:
        return self._port + offset if self._port else 0

    def _new_services(self) -> Services:
        backend = Backend(self.data_dir / "state", self.gcs, self.faults, self.group_sync)
        return Services(backend, self._facades, admin.Hooks(env=lambda: self.env, reset=self.reset))

    @property
    def backend(self) -> Backend:
        """The core being served (a reset replaces it)."""
        return self._services.backend

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
            self._finish_reset()
            spec = os.environ.get(FAULTS_ENV, "")
            if spec:
                self.faults.arm_from_spec(spec)
            self.group_sync.start()
            storage_url = self._bind("GCS", GCS_PORT_OFFSET, self.gcs.start)
            self.backend.open()
            grpc_port = self._bind(
                "gRPC", GRPC_PORT_OFFSET, lambda: self.grpc.start(self._services.grpc)
            )
            rest_url = self._bind(
                "REST", REST_PORT_OFFSET, lambda: self.rest.start(self._services.rest)
            )
        except CorruptStateError as exc:
            self._shutdown(STOP_GRACE_SECONDS)
            raise EmulatorError(str(exc)) from None
        except BaseException:
            self._shutdown(STOP_GRACE_SECONDS)
            raise
        endpoint = f"{self.host}:{grpc_port}"
        self._env = {
            STORAGE_ENV: storage_url,
            AUTOML_ENV: endpoint,
            VERTEX_ENV: endpoint,
            FIREBASE_ML_ENV: rest_url,
        }
        record: dict[str, Any] = {
            "pid": os.getpid(),
            "env": self._env,
            "started_at": datetime.now(UTC).isoformat(),
        }
        if self._stops_on_sigterm:
            record["stops_on"] = STOPS_ON_SIGTERM
        atomic_write_json(self.data_dir / STATE_FILE, record)
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

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stops listening and ends background work, then releases the data directory.

        Background work (a training, an import) that ends within `grace` seconds records
        itself as interrupted; work still running after it is left as a crash leaves it: its
        operation is finished by the next start's recovery (see core/operations.py).
        """
        with self._lifecycle:
            if self._env is None:
                return
            self._shutdown(grace)
            remove_file(self.data_dir / STATE_FILE)
            self._env = None
        log.info("emulator stopped")

    def _shutdown(self, grace: float) -> None:
        self._stopped = True
        self.faults.close()  # held calls and long polls end first ...
        self.rest.stop()
        self.backend.close(grace)  # ... and waits for operations, so the gRPC calls end too
        self.grpc.stop(min(grace, 1.0))
        self.gcs.stop()
        self.group_sync.close()  # what was written since the last sync is on disk
        self._release_lock()

    def reset(self) -> dict[str, int]:
        """Empties every service's state while the listeners keep serving; what it removed
        ({"files": n, "bytes": n}).

        New calls wait at the gate; background work ends (recorded as interrupted); armed
        faults are disarmed, so held calls go on, and calls in flight finish; gcs/ and state/
        are moved aside (a start finishes a reset that a crash cut short); a new core and new
        facades over empty directories are served; what was moved aside is deleted.
        """
        with self._lifecycle:
            if self._env is None:
                raise EmulatorError("the emulator is not running; nothing to reset")
            with self.calls.gate.closed() as gate:
                # Background work first: a held checkpoint sees the stop and ends interrupted
                # (released before it, it could go on and commit) ...
                self.backend.close(RESET_GRACE_SECONDS)
                # ... then held calls are released and answered, by the old core, before
                # anything is moved (one that would start work is told the emulator is
                # shutting down: UNAVAILABLE, which a client may retry on the new core).
                self.faults.clear()
                left = gate.drain(RESET_GRACE_SECONDS)
                if left:
                    log.warning("reset: %d calls still running; they may fail", left)
                files, size = tree_size(self.data_dir / "gcs", self.data_dir / "state")
                aside = self._move_aside()
                self._services = self._new_services()
                self.backend.open()
                self.grpc.serve(self._services.grpc)
                self.rest.serve(self._services.rest)
            shutil.rmtree(aside, ignore_errors=True)
        log.info("emulator reset: removed %d files (%d bytes)", files, size)
        return {"files": files, "bytes": size}

    def _move_aside(self) -> Path:
        """Moves gcs/ and state/ into a new `.reset-<id>/` (the marker makes it crash-safe)."""
        aside = self.data_dir / f"{ASIDE_PREFIX}{uuid.uuid4().hex[:12]}"
        marker = self.data_dir / RESET_MARKER
        atomic_write_json(marker, {"aside": aside.name})
        aside.mkdir()
        state = self.data_dir / "state"
        if state.exists():
            state.rename(aside / "state")
        self.gcs.empty(aside / "gcs")
        fsync_directory(self.data_dir)
        remove_file(marker)
        return aside

    def _finish_reset(self) -> None:
        """Before anything loads: completes a reset a crash interrupted, deletes what resets
        moved aside."""
        marker = self.data_dir / RESET_MARKER
        if marker.exists():
            aside = self.data_dir / f"{ASIDE_PREFIX}{uuid.uuid4().hex[:12]}"
            aside.mkdir()
            for name in ("state", "gcs"):
                if (self.data_dir / name).exists():
                    (self.data_dir / name).rename(aside / name)
            fsync_directory(self.data_dir)
            remove_file(marker)
            log.warning("finished a reset that was interrupted: the state is empty")
        for leftover in self.data_dir.glob(f"{ASIDE_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)

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
            try:
                state = read_json(self.data_dir / STATE_FILE) or {}
            except CorruptStateError:
                state = {}
            raise EmulatorError(
                f"data dir {self.data_dir} is in use by a running emulator (pid "
                f"{state.get('pid', '?')}); stop it (`edgectl emulator stop --data-dir "
                f"{self.data_dir}`) or use another --data-dir"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None


def running_env(data_dir: Path) -> dict[str, str]:
    """The environment of the emulator running on `data_dir`; EmulatorError if none runs."""
    return running(data_dir).env
