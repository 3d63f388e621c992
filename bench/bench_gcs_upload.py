"""Benchmark: the emulator's CPU per Cloud Storage upload of a small object (issue [4/8]).

The emulator runs in a process of its own (this script with `--serve`), so its CPU time
(os.times of that process: user + system, every thread) is apart from the client's. The
client is the project's own storage client (components/cloud/clients.py, 32 kept-alive
connections) uploading N distinct 5 KB objects with `ifGenerationMatch=0`, as the Dataset
provider uploads images, from 32 threads and then from 1 (no contention: the cost of one
request alone). 200 uploads warm each run up first.

Baseline, measured in the same run: the CPU of what every upload must at least do on disk,
one grouped atomic write of the same bytes (emulator/core/persistence.atomic_write_bytes:
a temporary file, then a rename). No assertions on time: this prints figures, and BENCH_ROW
lines for bench/table.py. The machine may be shared: read the figures with the load average.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import row

SIZE = 5_000
WARM_UP = 200


def serve() -> None:
    """The emulator, answering each line on stdin with its process's CPU times (JSON)."""
    from emulator.server import EmulatorServer

    with tempfile.TemporaryDirectory(prefix="bench-gcs-") as tmp:
        server = EmulatorServer(Path(tmp) / "data")
        print(json.dumps(server.start()), flush=True)
        try:
            for _ in sys.stdin:
                times = os.times()
                print(json.dumps([times.user, times.system]), flush=True)
        finally:
            server.stop()


class Emulator:
    """The emulator process, asked for its CPU time."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.env: dict[str, str] = self._answer()

    def _answer(self):
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise SystemExit("the emulator process ended")
        return json.loads(line)

    def cpu(self) -> float:
        assert self._process.stdin is not None
        self._process.stdin.write("\n")
        self._process.stdin.flush()
        user, system = self._answer()
        return user + system

    def stop(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(60)


def upload_cpu(emulator: Emulator, count: int, threads: int, run: int) -> tuple[float, float]:
    """(emulator CPU s per upload, uploads per s) for `count` uploads from `threads` threads."""
    from components.cloud.clients import CloudTarget, storage_client

    bucket = storage_client(CloudTarget(stack="local", project="bench", emulator=True)).bucket(
        "bench-uploads"
    )

    def upload(i: int) -> None:
        data = i.to_bytes(8, "big", signed=True) * (SIZE // 8)  # distinct per object
        bucket.blob(f"images/{run}/{i:06d}.png").upload_from_string(
            data, content_type="image/png", if_generation_match=0, retry=None
        )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(upload, range(-WARM_UP, 0)))
        before, started = emulator.cpu(), time.perf_counter()
        list(pool.map(upload, range(count)))
        wall, after = time.perf_counter() - started, emulator.cpu()
    return (after - before) / count, count / wall


def write_cpu(count: int) -> float:
    """CPU s per grouped atomic write of SIZE bytes (this process)."""
    from emulator.core.persistence import GroupSync, atomic_write_bytes

    with tempfile.TemporaryDirectory(prefix="bench-gcs-files-") as tmp:
        group = GroupSync(Path(tmp))
        folders = [Path(tmp) / f"{i:02x}" for i in range(256)]
        for folder in folders:
            folder.mkdir()
        before = os.times()
        for i in range(count):
            data = i.to_bytes(8, "big") * (SIZE // 8)
            atomic_write_bytes(folders[i % 256] / f"{i:06d}.data", data, group)
        after = os.times()
    return (after.user + after.system - before.user - before.system) / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=5_000, help="uploads per run (5000)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0

    baseline = write_cpu(min(args.uploads, 2_000))  # before: no emulator writes meanwhile
    emulator = Emulator()
    os.environ.update(emulator.env)
    try:
        from components.cloud.clients import CloudTarget, storage_client

        target = CloudTarget(stack="local", project="bench", emulator=True)
        storage_client(target).create_bucket("bench-uploads")
        load = os.getloadavg()[0]
        runs = {
            threads: upload_cpu(emulator, args.uploads, threads, threads) for threads in (32, 1)
        }
    finally:
        emulator.stop()
    print(f"load average before/after: {load:.2f} / {os.getloadavg()[0]:.2f} (2 cores)")
    print(f"atomic write of {SIZE:,} bytes (baseline): {baseline * 1e3:.3f} ms CPU")
    for threads, (cpu, rate) in runs.items():
        print(
            f"{args.uploads:,} uploads from {threads} threads: {rate:,.0f} uploads/s, emulator "
            f"CPU {cpu * 1e3:.3f} ms per upload"
        )
        row(
            f"emulator CPU per 5 KB upload, {threads} client threads",
            cpu * 1e3,
            "ms",
            baseline=baseline * 1e3,
            baseline_of="one atomic write of the bytes",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
