"""An import's images read, checked and hashed on every core.

ImportData reads each image its rows name, checks it (`images.inspect` decodes it whole) and
hashes it: Python-heavy work, which the threads of one process run one at a time (10,000
small images: ≈ 2 s on one core of a 2-core machine while the other idles). `ImageReader`
shares it between the import's own thread and a helper process per further core
(`python -m emulator.core.image_reader`), started by the first import of at least
`MIN_SHARED` images and kept until the emulator stops (`close`). Smaller imports are read by
their own thread: a helper's start (≈ 0.3 s) would cost more than it saves.

The helper reads contents where they are (`ContentLocation`: a range of a bucket's pack, or a
content file); the object records stay in the emulator's process. Bytes there are never
written again (a new content is appended elsewhere, or a new file renamed over the name), so
an object replaced while it is read is read as the old content, whole.

Helpers are plain subprocesses fed pickles over their stdin, not `multiprocessing`: its
`spawn` re-runs the parent's main script (a test runner's, a bench's) in each helper and its
`fork` would copy a process that runs gRPC threads. A helper that fails or ends leaves its
unfinished images to the import's thread, and is replaced by the next large import.
"""

import contextlib
import hashlib
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, NamedTuple

from emulator.core import images
from emulator.core.blobs import ContentLocation
from emulator.core.errors import Code

log = logging.getLogger(__name__)

MIN_SHARED = 512  # images in an import below which its own thread reads them all
CHUNK = 64  # images handed out at a time (to a helper, or taken by the import's thread)
_ROOT = Path(__file__).resolve().parents[2]  # where `emulator` is importable from


class ReadImage(NamedTuple):
    """One image as read, its checks passed (plain fields: a helper's results are unpickled
    by the import's process, where a Path or a nested dataclass each would cost ~20 µs)."""

    format: str
    width: int
    height: int
    sha256: str
    data: bytes


Result = ReadImage | tuple[Code, str]  # (code, reason) when the image cannot be used


def read_image(where: ContentLocation) -> Result:
    """Reads, checks and hashes the content at `where`."""
    try:
        fd = os.open(where.path, os.O_RDONLY)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return Code.NOT_FOUND, "file does not exist"
    try:
        size = os.fstat(fd).st_size if where.size is None else where.size
        try:
            images.check_size(size)  # before reading a huge object
        except images.ImageError as exc:
            return Code.INVALID_ARGUMENT, str(exc)
        if where.size is not None:
            data = os.pread(fd, size, where.offset)
            if len(data) != size:
                return Code.NOT_FOUND, "file does not exist"
        else:
            chunks = []
            while chunk := os.read(fd, max(size, 65536)):
                chunks.append(chunk)
            data = b"".join(chunks)
    finally:
        os.close(fd)
    try:
        info = images.inspect(data)
    except images.ImageError as exc:
        return Code.INVALID_ARGUMENT, str(exc)
    sha = hashlib.sha256(data).hexdigest()
    return ReadImage(info.format, info.width, info.height, sha, data)


def _read_chunk(places: list[ContentLocation]) -> list[Result]:
    return [read_image(where) for where in places]


class _Helper:
    """One helper process: chunks of content locations in, their results out, in order."""

    def __init__(self, command: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), *sys.path])}
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, paths: list[ContentLocation]) -> None:
        assert self.process.stdin is not None
        pickle.dump(paths, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.flush()

    def receive(self) -> list[Result]:
        assert self.process.stdout is not None
        results: list[Result] = pickle.load(self.process.stdout)
        return results

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()  # end of input: the helper exits
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class _Shared:
    """The chunks of one import: handed out once each; a helper's unfinished ones come back."""

    def __init__(self, paths: list[ContentLocation], stopping: Callable[[], bool]) -> None:
        self.paths = paths
        self.results: list[Result | None] = [None] * len(paths)
        self._next = iter(range(0, len(paths), CHUNK))
        self._returned: list[int] = []
        self._lock = threading.Lock()
        self._stopping = stopping
        self.done = 0

    def take(self) -> int | None:
        """The start of a chunk nobody has, or None when there is none (or the work stops)."""
        with self._lock:
            if self._stopping():
                return None
            if self._returned:
                return self._returned.pop()
            return next(self._next, None)

    def give_back(self, starts: Iterator[int]) -> None:
        with self._lock:
            self._returned.extend(starts)

    def chunk(self, start: int) -> list[ContentLocation]:
        return self.paths[start : start + CHUNK]

    def read_here(self, progress: Callable[[int], None]) -> None:
        """Reads the chunks left, on the calling thread, one at a time."""
        while (start := self.take()) is not None:
            self.finish(start, _read_chunk(self.chunk(start)))
            progress(self.done)

    def finish(self, start: int, results: list[Result]) -> None:
        with self._lock:
            self.results[start : start + len(results)] = results
            self.done += len(results)


class ImageReader:
    """Reads an import's images with the import's thread and `helpers` helper processes
    (default: one per further core), each running `command` (default: this module's loop)."""

    def __init__(self, helpers: int | None = None, command: list[str] | None = None) -> None:
        self._wanted = max(0, _cores() - 1) if helpers is None else helpers
        self._command = command or [sys.executable, "-m", __name__]
        self._helpers: list[_Helper] = []
        self._in_use = threading.Lock()  # one import at a time shares the helpers
        self._lock = threading.Lock()  # `_helpers` and `_closed`
        self._closed = False

    def prepare(self, count: int) -> None:
        """Starts the helpers an import of `count` images will share, so that they start
        while the import does its own work first (they serve later imports too)."""
        if count >= MIN_SHARED:
            self._started()

    def read(
        self,
        paths: list[ContentLocation],
        stopping: Callable[[], bool],
        progress: Callable[[int], None] = lambda done: None,
    ) -> list[Result | None]:
        """Each path's result, in order (None for those not read because `stopping()` became
        true). `progress(done)` is called from the calling thread as chunks finish. An import
        that starts while another one has the helpers is read by its own thread."""
        shared = _Shared(paths, stopping)
        sharing = len(paths) >= MIN_SHARED and self._in_use.acquire(blocking=False)
        try:
            helpers = self._started() if sharing else []
            threads = [
                threading.Thread(target=self._feed, args=(h, shared), daemon=True) for h in helpers
            ]
            for thread in threads:
                thread.start()
            shared.read_here(progress)
            for thread in threads:
                thread.join()
            shared.read_here(progress)  # what a helper that failed gave back after that
            progress(shared.done)
        finally:
            if sharing:
                self._in_use.release()
        return shared.results

    def _started(self) -> list[_Helper]:
        """The helpers, started (or replaced) as needed; none once closed."""
        with self._lock:
            if self._closed:
                return []
            for helper in [h for h in self._helpers if not h.alive]:
                self._helpers.remove(helper)
                helper.close()
            while len(self._helpers) < self._wanted:
                try:
                    self._helpers.append(_Helper(self._command))
                except OSError as exc:  # no process could be started: the import's thread reads
                    log.warning("image reader helper not started: %s", exc)
                    break
            return list(self._helpers)

    def _feed(self, helper: _Helper, shared: _Shared) -> None:
        """Keeps `helper` one chunk ahead until no chunk is left; on failure, gives its chunks
        back and stops the helper."""
        sent: list[int] = []
        try:
            while True:
                while len(sent) < 2 and (start := shared.take()) is not None:
                    sent.append(start)  # before the send: a failed send is given back too
                    helper.send(shared.chunk(start))
                if not sent:
                    return
                results = helper.receive()
                shared.finish(sent.pop(0), results)
        except Exception as exc:  # ended, killed, closed (ValueError), a result not unpickled
            log.warning("image reader helper %d failed (%s); reading on", helper.process.pid, exc)
            shared.give_back(iter(sent))
            helper.process.kill()

    def close(self) -> None:
        """Stops the helpers; later imports are read by their own thread."""
        with self._lock:
            self._closed = True
            helpers, self._helpers = self._helpers, []
        for helper in helpers:  # one still fed ends its input: its chunks come back
            helper.close()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """A helper's loop: lists of content locations in, their results out, until its input ends."""
    while True:
        try:
            paths = pickle.load(source)
        except EOFError:
            return
        pickle.dump(_read_chunk(paths), sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()


if __name__ == "__main__":
    # The results' classes are pickled by this module's name, not as `__main__`'s.
    from emulator.core.image_reader import _serve as serve

    _out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not end up in the results
    serve(sys.stdin.buffer, _out)
