"""`emulator env|status|stop|reset`: the instance running on a data directory, from outside it.

Each reads the instance's record (instance.py), then prints its environment, signals its
process, or calls its admin API (`/emulator/v1/health`, `/emulator/v1/reset`). Standard library
only, like instance.py: these commands never load the server. Errors are one line on stderr
saying what is wrong and what to do, exit status 1 (`status`: 3 when nothing runs).
"""

import argparse
import json
import os
import select
import signal
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emulator.instance import (
    EmulatorError,
    Instance,
    NotRunning,
    format_env,
    lock_held,
    running,
    tree_size,
)

EXIT_NOT_RUNNING = 3
EXIT_UNHEALTHY = 1
HEALTH_TIMEOUT_SECONDS = 5.0
RESET_TIMEOUT_SECONDS = 300.0  # the emulator waits up to 2 × 60 s for work and calls to end


def run(args: argparse.Namespace) -> int:
    """Runs `env`, `status`, `stop` or `reset` (parsed by emulator.cli.configure_parser)."""
    data_dir = Path(args.data_dir).resolve()
    try:
        if args.command == "env":
            sys.stdout.write(format_env(running(data_dir).env, export=args.export))
            return 0
        if args.command == "status":
            return status(data_dir, args.format)
        if args.command == "stop":
            return stop(data_dir, args.timeout)
        if args.command == "reset":
            return reset(data_dir, args.yes)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    raise ValueError(f"unknown command {args.command!r}")


# ---- status -------------------------------------------------------------------------------


def _http_json(url: str, method: str = "GET", timeout: float = HEALTH_TIMEOUT_SECONDS) -> Any:
    """One admin API call; EmulatorError naming the URL and what went wrong."""
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = error.reason
        raise EmulatorError(f"{method} {url} answered HTTP {error.code}: {message}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise EmulatorError(f"{method} {url} failed: {reason}") from None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    parts = [(seconds // 86400, "d"), (seconds // 3600 % 24, "h"), (seconds // 60 % 60, "min")]
    shown = [f"{n} {unit}" for n, unit in parts if n]
    return " ".join([*shown, f"{seconds % 60} s"])


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def status(data_dir: Path, output: str = "text") -> int:
    """Prints whether an emulator runs on `data_dir`; 0 healthy, 1 unhealthy, 3 not running."""
    try:
        instance = running(data_dir)
    except NotRunning as exc:
        if output == "json":
            print(json.dumps({"running": False, "dataDir": str(data_dir), "message": str(exc)}))
        else:
            print(f"not running: {exc}")
        return EXIT_NOT_RUNNING
    health_url = f"{instance.admin_url}/emulator/v1/health"
    try:
        health = str(_http_json(health_url).get("status", "?"))
    except EmulatorError as exc:
        health = f"not answering ({exc})"
    files, size = tree_size(data_dir / "gcs", data_dir / "state")
    uptime = (
        (datetime.now(UTC) - instance.started_at).total_seconds()
        if instance.started_at is not None
        else None
    )
    healthy = health == "ok"
    if output == "json":
        document = {
            "running": True,
            "dataDir": str(data_dir),
            "pid": instance.pid,
            "startedAt": instance.started_at.isoformat() if instance.started_at else None,
            "uptimeSeconds": round(uptime, 1) if uptime is not None else None,
            "health": health,
            "state": {"files": files, "bytes": size},
            "env": instance.env,
        }
        print(json.dumps(document, indent=2))
    else:
        started = (
            f"started {instance.started_at:%Y-%m-%d %H:%M:%S} UTC, up {_duration(uptime)}"
            if instance.started_at is not None and uptime is not None
            else "start time unknown"
        )
        print(f"running: pid {instance.pid} on {data_dir} ({started})")
        print(f"health: {health} (GET {health_url})")
        print(f"state: {_count(files, 'file')}, {_size(size)} (gcs/ and state/)")
        sys.stdout.write(format_env(instance.env))
    return 0 if healthy else EXIT_UNHEALTHY


# ---- stop ---------------------------------------------------------------------------------


def _wait_for_exit(instance: Instance, timeout: float) -> bool:
    """Whether the instance's process ended within `timeout` seconds: on Linux an event (a
    pidfd becomes readable when the process ends), elsewhere the data directory's lock,
    which the kernel releases when it ends, checked every 50 ms."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(instance.pid)
        except ProcessLookupError:
            return True
        except OSError:
            pass  # pidfds unavailable (an old kernel): watch the lock
        else:
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                return bool(poller.poll(max(0.0, timeout) * 1000))
            finally:
                os.close(fd)
    deadline = time.monotonic() + timeout
    while lock_held(instance.data_dir):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop(data_dir: Path, timeout: float = 30.0) -> int:
    """Stops the emulator running on `data_dir` (SIGTERM) and waits until its process ended."""
    try:
        instance = running(data_dir)
    except NotRunning as exc:
        print(f"nothing to stop: {exc.reason}")
        return 0
    if not instance.stops_on_sigterm:
        raise EmulatorError(
            f"the emulator on {data_dir} runs inside another program (pid {instance.pid}), "
            "not `edgectl emulator start`; it stops when that program stops it"
        )
    started = time.monotonic()
    try:
        os.kill(instance.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # it ended meanwhile
    except PermissionError:
        raise EmulatorError(
            f"not allowed to signal the emulator on {data_dir} (pid {instance.pid}, another "
            "user's process); stop it as that user"
        ) from None
    if not _wait_for_exit(instance, timeout):
        raise EmulatorError(
            f"the emulator on {data_dir} (pid {instance.pid}) did not stop within {timeout:g} s; "
            f"wait longer (--timeout) or end it with `kill -9 {instance.pid}` (its state "
            "survives: the next start finishes what it was doing)"
        )
    print(
        f"stopped the emulator on {data_dir} (pid {instance.pid}) in "
        f"{time.monotonic() - started:.2f} s"
    )
    return 0


# ---- reset --------------------------------------------------------------------------------


def reset(data_dir: Path, yes: bool) -> int:
    """Empties the state of the emulator running on `data_dir` (with `yes`)."""
    try:
        instance = running(data_dir)
    except NotRunning as exc:
        raise EmulatorError(f"nothing to reset: {exc}") from None
    if not yes:
        raise EmulatorError(
            f"reset deletes every bucket, object, dataset, model, operation, Firebase model and "
            f"Remote Config template of the emulator on {data_dir} (pid {instance.pid}); run "
            f"`edgectl emulator reset --yes --data-dir {data_dir}` to confirm"
        )
    try:
        answer = _http_json(
            f"{instance.admin_url}/emulator/v1/reset", "POST", timeout=RESET_TIMEOUT_SECONDS
        )
    except EmulatorError as exc:
        raise EmulatorError(
            f"the reset of the emulator on {data_dir} (pid {instance.pid}) failed: {exc}; its "
            "log (the stderr of `edgectl emulator start`) says why"
        ) from None
    removed = answer.get("removed", {})
    print(
        f"reset the emulator on {data_dir} (pid {instance.pid}): removed "
        f"{_count(int(removed.get('files', 0)), 'file')}, {_size(int(removed.get('bytes', 0)))}; "
        "it keeps "
        "serving on the same ports"
    )
    return 0
