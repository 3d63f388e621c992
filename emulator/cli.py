"""The emulator's command line: `start`, `stop`, `status`, `reset`, `env` (`python -m emulator`,
`edgectl emulator`).

Argument parsing only needs argparse: `configure_parser` builds the subcommands without
importing the server (gRPC, the facades, TensorFlow); `run` imports it when `start` runs. The
other commands talk to a running instance from outside it (emulator/control.py: its record,
its process, its admin API) and never load the server.
"""

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, TextIO

DEFAULT_DATA_DIR = Path(".emulator-data")
# `start`: how long background work (a training) gets to end on SIGTERM before the process
# exits anyway (what is left is finished by the next start, as after a crash).
STOP_GRACE_SECONDS = 1.0

DESCRIPTION = (
    "Local stand-in for Cloud Storage, AutoML v1, Vertex AI and Firebase ML "
    "(127.0.0.1 only; state survives restarts)."
)
STATUS_EPILOG = (
    "exit status: 0 running and healthy, 1 running but not answering its health check, "
    "3 not running."
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the subcommands (shared by `edgectl emulator` and `python -m emulator`)."""
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="state directory (default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = commands.add_parser(
        "start",
        parents=[data_dir],
        help="run the emulator in the foreground (Ctrl-C or `emulator stop` stops it)",
        description="Run the emulator in the foreground; print its environment once it "
        "serves. Ctrl-C, SIGTERM or `emulator stop` stop it.",
    )
    start.add_argument(
        "--port",
        type=int,
        default=0,
        help="fixed ports: GCS on PORT, gRPC on PORT+1, REST on PORT+2 (default: random ones)",
    )
    start.add_argument(
        "--log-requests",
        nargs="?",
        const="-",
        metavar="FILE",
        help="log every call as one JSON line (transport, service, method, resource, status, "
        "ms) to FILE, appended (default: stderr)",
    )
    stop = commands.add_parser(
        "stop",
        parents=[data_dir],
        help="stop the emulator running on the data directory",
        description="Stop the emulator running on the data directory (SIGTERM to its "
        "process) and wait until it has exited. Nothing running: says so, exit status 0.",
    )
    stop.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for it to exit (default: %(default)s)",
    )
    status = commands.add_parser(
        "status",
        parents=[data_dir],
        help="whether an emulator runs on the data directory: pid, env, uptime, health",
        description="Whether an emulator runs on the data directory: its pid, environment, "
        "uptime, health (GET /emulator/v1/health) and the size of its state.",
        epilog=STATUS_EPILOG,
    )
    status.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="output format (default: %(default)s)",
    )
    reset = commands.add_parser(
        "reset",
        parents=[data_dir],
        help="empty the running emulator's state (it keeps running); needs --yes",
        description="Empty the state of the emulator running on the data directory: every "
        "bucket, object, dataset, model, operation, Firebase model and Remote Config "
        "template, and its armed faults (POST /emulator/v1/reset). It keeps running on the "
        "same ports.",
    )
    reset.add_argument("--yes", action="store_true", help="confirm: delete everything")
    env = commands.add_parser(
        "env",
        parents=[data_dir],
        help="print the environment of the running emulator",
        description="Print the client environment of the emulator running on the data "
        "directory, KEY=value lines.",
    )
    env.add_argument(
        "--export",
        action="store_true",
        help='`export KEY=value` lines, for eval "$(edgectl emulator env --export)"',
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgectl emulator", description=DESCRIPTION)
    configure_parser(parser)
    return parser


@contextlib.contextmanager
def _stop_signals(stop: threading.Event) -> Iterator[None]:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in handlers:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The storage package logs every response at WARNING; keep its real errors only.
    for name in ("gcp_storage_emulator", "api.object", "api.bucket", "api.storage"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """`start`, `stop`, `status`, `reset` or `env` (see configure_parser); the exit status."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Runs parsed arguments (see configure_parser)."""
    if args.command != "start":
        from emulator import control  # the standard library only

        return control.run(args)
    return _start(args)


def _start(args: argparse.Namespace) -> int:
    from emulator import server  # the servers, facades and engine: only once `start` runs
    from emulator.transport.calls import RequestLog

    log_file: TextIO | None = None
    try:
        if args.log_requests not in (None, "-"):
            try:
                log_file = open(args.log_requests, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise server.EmulatorError(
                    f"cannot write the request log to {args.log_requests}: {exc.strerror}; "
                    "choose another file"
                ) from None
        request_log = None if args.log_requests is None else RequestLog(log_file or sys.stderr)
        _configure_logging()
        stop = threading.Event()
        with _stop_signals(stop):
            emulator = server.EmulatorServer(
                args.data_dir, port=args.port, request_log=request_log, stops_on_sigterm=True
            )
            env = emulator.start()
            try:
                sys.stdout.write(server.format_env(env))
                sys.stdout.write(
                    f"# edge-labeler emulator ready (pid {os.getpid()}, data dir "
                    f"{emulator.data_dir}); Ctrl-C or `edgectl emulator stop --data-dir "
                    f"{emulator.data_dir}` stops it\n"
                )
                sys.stdout.flush()
                while not stop.wait(0.5):
                    pass
            finally:
                emulator.stop(STOP_GRACE_SECONDS)
    except server.EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _exit_process(0, log_file)


def _exit_process(status: int, log_file: TextIO | None) -> NoReturn:
    """Ends the process now that the emulator has stopped (its state is on disk, its lock
    released), skipping the interpreter's teardown.

    That teardown is what kept the process alive for seconds (≈ 25 s on a loaded machine)
    after SIGTERM: with TensorFlow, Keras and gRPC loaded, finalising the modules and their
    garbage walks millions of objects, and library exit handlers run; none of it writes
    anything the emulator needs.
    """
    logging.shutdown()
    for stream in (log_file, sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(status)
