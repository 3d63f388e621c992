"""Checking many images on every core: decode and hash in worker processes.

Pillow parses headers (and PNG chunks) in Python, so threads check at most one small image at
a time: a first check of thousands of images is CPU-bound there. `check_in_processes` hands
batches of (name, bytes) to one worker process per core and gives the results back in the
order of the input, with a bounded number of batches in flight (memory stays flat however
many images there are). The caller reads the bytes (a read is I/O; the stat cache and the
verified re-read stay with it).

The workers are plain subprocesses (`python -m components.data.check_pool`, batches pickled
over their pipes), not `multiprocessing`: its `spawn` re-runs the parent's main script in each
worker, which breaks callers whose script has no `if __name__ == "__main__"` guard, and its
`fork` would copy a process that runs gRPC threads (the Pulumi provider host).
"""

import hashlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from components.data.images import check_image

# Below this many images, starting the workers (~0.2 s each, in parallel) costs more than
# their cores save.
MIN_IMAGES = 2_000
BATCH_IMAGES = 64
BATCH_BYTES = 16 * 1024 * 1024
# Result of one image: (sha256, format, size), or ("", problem kind, message).
Checked = tuple[str, str, int] | tuple[str, str, str]
# One image to check: its name, and its bytes or why they could not be read.
Read = tuple[str, bytes | str]
_LENGTH = struct.Struct(">Q")
_PROJECT = Path(__file__).resolve().parents[2]  # where `components` is importable from


def cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_one(name: str, data: bytes | str) -> Checked:
    """check_image and sha256 of one image's bytes (a str: why they could not be read)."""
    if isinstance(data, str):
        return ("", "unreadable", data)
    try:
        checked = check_image(data, name)
    except ValueError as exc:
        return ("", "image", str(exc))
    return (hashlib.sha256(data).hexdigest(), checked.format, len(data))


def _batches(images: Iterable[Read]) -> Iterator[list[Read]]:
    batch: list[Read] = []
    size = 0
    for name, data in images:
        batch.append((name, data))
        size += len(data)
        if len(batch) >= BATCH_IMAGES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _send(pipe: IO[bytes], value: object) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_LENGTH.pack(len(payload)) + payload)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> object | None:
    header = pipe.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    value: object = pickle.loads(pipe.read(length))
    return value


class _Ordered:
    """Results of numbered batches, handed out in number order as they arrive."""

    def __init__(self) -> None:
        self._done: dict[int, list[Checked] | BaseException] = {}
        self._total: int | None = None
        self._changed = threading.Condition()

    def put(self, index: int, result: list[Checked] | BaseException) -> None:
        with self._changed:
            self._done[index] = result
            self._changed.notify_all()

    def end(self, total: int) -> None:
        """There are `total` batches (the first to know says so)."""
        with self._changed:
            if self._total is None:
                self._total = total
            self._changed.notify_all()

    def take(self, index: int) -> list[Checked] | None:
        """Batch `index`'s results (its error raised), or None past the last batch."""
        with self._changed:
            self._changed.wait_for(
                lambda: index in self._done or (self._total is not None and index >= self._total)
            )
            if index not in self._done:
                return None
            result = self._done.pop(index)
        if isinstance(result, BaseException):
            raise result
        return result


def check_in_processes(images: Iterable[Read], workers: int) -> Iterator[Checked]:
    """`check_one` of every (name, bytes), in order, in `workers` worker processes."""
    # Long: the reader thread, the workers' hand-off and the ordered results share this
    # function's locks and counters; split up, they would be passed around as one object.
    batches = _batches(images)
    pulling = threading.Lock()  # `images` is read by one thread at a time
    pulled = [0]  # batches read so far
    results = _Ordered()
    window = threading.Semaphore(4 * workers)  # batches read but not yet handed out
    stop = threading.Event()

    def serve(process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        while True:
            window.acquire()
            with pulling:
                if stop.is_set():
                    return
                index = pulled[0]
                batch: list[Read] | BaseException | None
                try:
                    batch = next(batches, None)
                except BaseException as exc:  # reading the images failed: the consumer's error
                    batch = exc
                if batch is None:
                    results.end(index)
                    return
                pulled[0] += 1
            try:
                if isinstance(batch, BaseException):
                    raise batch
                _send(process.stdin, batch)
                checked = _receive(process.stdout)
                if not isinstance(checked, list):
                    raise RuntimeError(f"image check worker {process.pid} ended unexpectedly")
                results.put(index, checked)
            except BaseException as exc:  # handed to the consumer, in order
                results.put(index, exc)
                results.end(index + 1)
                return

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_PROJECT), *sys.path])}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "components.data.check_pool"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(workers)
    ]
    threads = [threading.Thread(target=serve, args=(p,), daemon=True) for p in processes]
    completed = False
    try:
        for thread in threads:
            thread.start()
        index = 0
        while (checked := results.take(index)) is not None:
            yield from checked
            window.release()
            index += 1
        completed = True
    finally:
        stop.set()
        for _ in threads:
            window.release()  # wakes a thread waiting for room: it sees `stop`
        for process in processes:
            if not completed:
                process.kill()
            if process.stdin is not None:
                process.stdin.close()  # end of input: the worker exits
        for thread in threads:
            thread.join()
        for process in processes:
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _serve_batches() -> None:
    """The worker: batches in on stdin, results out on stdout, until stdin closes."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while (batch := _receive(source)) is not None:
        assert isinstance(batch, list)
        _send(sink, [check_one(name, data) for name, data in batch])


if __name__ == "__main__":
    _serve_batches()
