"""The emulator's command line: `start` and `env` (`python -m emulator`, `edgectl emulator`).

Argument parsing only needs argparse: `configure_parser` builds the subcommands without
importing the server (gRPC, the facades, TensorFlow); `run` imports it when a command runs.
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

DEFAULT_DATA_DIR = Path(".emulator-data")

DESCRIPTION = (
    "Local stand-in for Cloud Storage, AutoML v1, Vertex AI and Firebase ML "
    "(127.0.0.1 only; state survives restarts)."
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the `start` and `env` subcommands (shared by `edgectl emulator` and `python -m`)."""
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="state directory (default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = commands.add_parser(
        "start", parents=[data_dir], help="run the emulator in the foreground (Ctrl-C stops)"
    )
    start.add_argument(
        "--port",
        type=int,
        default=0,
        help="fixed ports: GCS on PORT, gRPC on PORT+1, REST on PORT+2 (default: random ones)",
    )
    commands.add_parser(
        "env", parents=[data_dir], help="print the environment of the running emulator"
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
    """`start [--data-dir D] [--port P]` or `env [--data-dir D]`; returns the exit status."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Runs parsed `start` / `env` arguments (see configure_parser)."""
    from emulator import server  # the servers, facades and engine: only once a command runs

    try:
        if args.command == "env":
            sys.stdout.write(server.format_env(server.running_env(args.data_dir)))
            return 0
        _configure_logging()
        stop = threading.Event()
        with _stop_signals(stop):
            emulator = server.EmulatorServer(args.data_dir, port=args.port)
            env = emulator.start()
            try:
                sys.stdout.write(server.format_env(env))
                sys.stdout.write(
                    f"# edge-labeler emulator ready (pid {os.getpid()}, data dir "
                    f"{emulator.data_dir}); Ctrl-C stops it\n"
                )
                sys.stdout.flush()
                while not stop.wait(0.5):
                    pass
            finally:
                emulator.stop()
        return 0
    except server.EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
