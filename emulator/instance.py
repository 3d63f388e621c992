"""The instance running on a data directory, seen from outside it: its record, its lock, its env.

    emulator.json   written once every listener serves, removed on a clean stop:
                    {"pid", "env", "started_at", "stops_on"} — `stops_on` is "SIGTERM" for
                    `emulator start`'s own process, absent for an instance inside another
                    program (a test, `edgectl rehearse`), which `stop` must not signal
    emulator.lock   held (flock) while an instance runs on the directory; the kernel releases
                    it when the process ends, however it ends
Standard library only: the command line's `env`, `status`, `stop` and `reset` read it without
loading the server (gRPC, the facades, TensorFlow).
"""

import fcntl
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from emulator.core.persistence import CorruptStateError, read_json

STORAGE_ENV = "STORAGE_EMULATOR_HOST"
AUTOML_ENV = "EDGE_LABELER_AUTOML_ENDPOINT"
VERTEX_ENV = "EDGE_LABELER_VERTEX_ENDPOINT"
FIREBASE_ML_ENV = "EDGE_LABELER_FIREBASE_ML_ENDPOINT"
ENV_KEYS = (STORAGE_ENV, AUTOML_ENV, VERTEX_ENV, FIREBASE_ML_ENV)

STATE_FILE = "emulator.json"
LOCK_FILE = "emulator.lock"
STOPS_ON_SIGTERM = "SIGTERM"


class EmulatorError(Exception):
    """The emulator cannot start or be found; the message says why and what to do."""


class NotRunning(EmulatorError):
    """No emulator runs on a data directory: `reason` says why, the message how to start one."""

    def __init__(self, data_dir: Path, reason: str) -> None:
        super().__init__(f"{reason}; {start_hint(data_dir)}")
        self.reason = reason


@dataclass(frozen=True)
class Instance:
    """The emulator running on `data_dir`, as its record describes it."""

    data_dir: Path
    pid: int
    env: dict[str, str]
    started_at: datetime | None
    stops_on_sigterm: bool  # `emulator start`'s own process (else inside another program)

    @property
    def admin_url(self) -> str:
        """The base URL of its admin API (`/emulator/v1/...` is served on the REST server)."""
        return self.env[FIREBASE_ML_ENV].rstrip("/")


def start_hint(data_dir: Path) -> str:
    return f"start one with `edgectl emulator start --data-dir {data_dir}`"


def running(data_dir: Path) -> Instance:
    """The instance running on `data_dir`; NotRunning if none runs (EmulatorError if its
    record cannot be read)."""
    data_dir = Path(data_dir).resolve()
    try:
        state = read_json(data_dir / STATE_FILE)
    except CorruptStateError as exc:
        raise EmulatorError(str(exc)) from None
    if state is None:
        raise NotRunning(data_dir, f"no emulator is running on {data_dir} ({STATE_FILE} not found)")
    if not lock_held(data_dir):
        raise NotRunning(
            data_dir,
            f"the emulator recorded in {data_dir / STATE_FILE} (pid {state.get('pid')}) is not "
            "running any more (it did not stop cleanly)",
        )
    try:
        started = state.get("started_at")
        return Instance(
            data_dir=data_dir,
            pid=int(state["pid"]),
            env={str(k): str(v) for k, v in state["env"].items()},
            started_at=datetime.fromisoformat(started) if started else None,
            stops_on_sigterm=state.get("stops_on") == STOPS_ON_SIGTERM,
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        raise EmulatorError(
            f"{data_dir / STATE_FILE} is not what the emulator writes (pid, env, started_at); "
            "restart the emulator (end its process, then `edgectl emulator start --data-dir "
            f"{data_dir}`), which writes it again"
        ) from None


def lock_held(data_dir: Path) -> bool:
    """Whether a process holds the data directory's lock (an instance runs on it)."""
    try:
        fd = os.open(Path(data_dir) / LOCK_FILE, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we may have taken
    return False


def format_env(env: Mapping[str, str], export: bool = False) -> str:
    """`KEY=value` lines (the order of ENV_KEYS); `export KEY=value`, shell-quoted, with
    `export` (for `eval "$(edgectl emulator env --export)"`)."""
    if export:
        return "".join(f"export {key}={shlex.quote(env[key])}\n" for key in ENV_KEYS if key in env)
    return "".join(f"{key}={env[key]}\n" for key in ENV_KEYS if key in env)


def tree_size(*roots: Path) -> tuple[int, int]:
    """(files, bytes) under `roots` (missing ones count nothing; files that vanish while
    counted are skipped)."""
    files = size = 0
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                try:
                    size += os.stat(os.path.join(directory, name)).st_size
                except FileNotFoundError:
                    continue
                files += 1
    return files, size
