"""Work on every core: batches handed to worker subprocesses, results back in input order.

Image checks (components/data/check_pool.py) and uploads (components/cloud/upload_pool.py)
spend most of their time in Python code, so threads of one process run them one at a time.
`run_in_processes` starts `workers` plain subprocesses (`python -m <module>`), sends each
batch pickled over a worker's stdin and hands the results back in the order of the batches,
with a bounded number of batches read ahead (memory stays flat however many there are). The
worker module's main calls `serve`.

The workers are plain subprocesses, not `multiprocessing`: its `spawn` re-runs the parent's
main script in each worker, which breaks callers whose script has no
`if __name__ == "__main__"` guard, and its `fork` would copy a process that runs gRPC threads
(the Pulumi provider host).

A worker answers each batch with its result or with the exception that ended it (pickled: it
is raised in the caller, without the worker's traceback). After an error no further batch is
handed out; when the caller stops early (an error, or it stops iterating), the workers are
killed, so nothing new starts.
"""

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_LENGTH = struct.Struct(">Q")
_PROJECT = Path(__file__).resolve().parents[1]  # where `components` is importable from


def cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def send(pipe: IO[bytes], value: object) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_LENGTH.pack(len(payload)) + payload)
    pipe.flush()


def receive(pipe: IO[bytes]) -> object | None:
    """The next value on `pipe`; None at its end."""
    header = pipe.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    value: object = pickle.loads(pipe.read(length))
    return value


def map_ahead(work: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """`work(item)` of each item, in order, run by `threads` threads at most 4 × `threads`
    items ahead of the consumer (reads of files, or of a network); when the consumer stops
    (or `work` raised), no further item starts."""
    pool = ThreadPoolExecutor(max_workers=threads)
    ahead: deque[Future[R]] = deque()
    try:
        for item in items:
            ahead.append(pool.submit(work, item))
            if len(ahead) >= 4 * threads:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def batched(
    items: Iterable[T], size: Callable[[T], int], most: int, most_bytes: int
) -> Iterator[list[T]]:
    """`items` in lists of `most` items, or fewer once their `size`s add up to `most_bytes`."""
    batch: list[T] = []
    total = 0
    for item in items:
        batch.append(item)
        total += size(item)
        if len(batch) >= most or total >= most_bytes:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


class _Ordered:
    """Results of numbered batches, handed out in number order as they arrive."""

    def __init__(self) -> None:
        self._done: dict[int, object] = {}
        self._total: int | None = None
        self._changed = threading.Condition()

    def put(self, index: int, result: object) -> None:
        with self._changed:
            self._done[index] = result
            self._changed.notify_all()

    def end(self, total: int) -> None:
        """There are `total` batches (the first to know says so)."""
        with self._changed:
            if self._total is None:
                self._total = total
            self._changed.notify_all()

    def take(self, index: int) -> tuple[bool, object]:
        """(True, batch `index`'s result) — its error raised — or (False, None) past the last."""
        with self._changed:
            self._changed.wait_for(
                lambda: index in self._done or (self._total is not None and index >= self._total)
            )
            if index not in self._done:
                return False, None
            result = self._done.pop(index)
        if isinstance(result, BaseException):
            raise result
        return True, result


def run_in_processes(
    module: str,
    batches: Iterable[object],
    workers: int,
    *,
    first: object = None,
    ahead: int = 1,
) -> Generator[object, None, None]:
    """Each batch's result from `python -m module` worker processes, in the order of
    `batches`. `first`, when given, is sent to every worker before its batches (what they
    all need, e.g. where to upload to); each worker holds up to `ahead` batches beyond the one
    it works on, so it never waits for the next. A result must fit a pipe's buffer (64 KiB on
    Linux; results here are a few KiB): while a worker answers, its next batch may still be
    being written to it."""
    # Long: the reader, the workers' hand-off and the ordered results share this function's
    # locks and counters; split up, they would be passed around as one object.
    source = iter(batches)
    pulling = threading.Lock()  # `batches` is read by one thread at a time
    pulled = [0]  # batches read so far
    results = _Ordered()
    window = threading.Semaphore(2 * workers * (1 + ahead))  # read, not yet handed out
    stop = threading.Event()

    def pull(wait: bool) -> tuple[int, object] | None:
        """The next batch and its index; None when there is none, or (without `wait`) no
        room for one yet. A failure to read a batch is that batch's result."""
        if stop.is_set() or not window.acquire(blocking=wait):
            return None
        with pulling:
            if stop.is_set():
                return None
            index = pulled[0]
            batch: object
            try:
                batch = next(source, _END)
            except BaseException as exc:  # reading the batches failed: the consumer's error
                results.put(index, exc)
                stop.set()
                return None
            if batch is _END:
                results.end(index)
                stop.set()
                return None
            pulled[0] += 1
            return index, batch

    def serve(process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        sent: deque[int] = deque()
        try:
            if first is not None:
                send(process.stdin, first)
            while True:
                while len(sent) <= ahead and (next_batch := pull(wait=not sent)) is not None:
                    index, batch = next_batch
                    sent.append(index)  # before the send: a failed send is this batch's error
                    send(process.stdin, batch)
                if not sent:
                    return
                result = receive(process.stdout)
                if result is None:
                    raise RuntimeError(f"worker {process.pid} ({module}) ended unexpectedly")
                index = sent.popleft()
                results.put(index, result)
                if isinstance(result, BaseException):
                    stop.set()  # nothing new starts
                    results.end(index + 1)
                    return
        except BaseException as exc:  # handed to the consumer, in order
            if isinstance(exc, BrokenPipeError):  # it died before reading its next batch
                exc = RuntimeError(f"worker {process.pid} ({module}) ended unexpectedly")
            stop.set()
            with pulling:  # once `stop` is set, no batch is read after this one
                index = sent[0] if sent else pulled[0]
            results.put(index, exc)
            results.end(index + 1)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_PROJECT), *sys.path])}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        for _ in range(workers)
    ]
    threads = [threading.Thread(target=serve, args=(p,), daemon=True) for p in processes]
    completed = False
    try:
        for thread in threads:
            thread.start()
        index = 0
        while True:
            more, result = results.take(index)
            if not more:
                break
            yield result
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
                with contextlib.suppress(BrokenPipeError):  # killed with input unread
                    process.stdin.close()  # end of input: the worker exits
        for thread in threads:
            thread.join()
        if isinstance(source, Generator):  # what it holds is let go now (e.g. a read-ahead)
            source.close()
        for process in processes:
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


_END = object()


def serve(work: Callable[[object], object]) -> None:
    """A worker's main loop: batches in on stdin, `work(batch)` out on stdout (or the
    exception it raised), until stdin closes."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not end up in the results
    while (batch := receive(source)) is not None:
        try:
            result = work(batch)
        except Exception as exc:  # the caller raises it
            result = _picklable(exc)
        send(sink, result)


def serve_overlapped(start: Callable[[object], Callable[[], object]]) -> None:
    """As `serve`, but each batch's work starts as soon as the batch arrives: `start(batch)`
    begins it and returns what waits for its result, while earlier batches are still worked
    on; results go out in the order of the batches. For work spread over a thread pool, whose
    threads would otherwise idle while a batch drains and the next one is read."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not end up in the results
    started: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()

    def read() -> None:
        try:
            while (batch := receive(source)) is not None:
                try:
                    started.put(start(batch))
                except Exception as exc:
                    started.put(partial(_raise, exc))
        finally:
            started.put(None)

    threading.Thread(target=read, name="batches", daemon=True).start()
    while (finish := started.get()) is not None:
        try:
            result = finish()
        except Exception as exc:  # the caller raises it
            result = _picklable(exc)
        send(sink, result)


def _raise(exc: Exception) -> object:
    raise exc


def _picklable(exc: Exception) -> Exception:
    """`exc`, or a RuntimeError with its message when it cannot be pickled (or unpickled)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
