"""Uploads on every core: the worker process of `ObjectStore.upload_missing` (storage.py).

The parent's side is storage.py's `_upload_in_processes`, which starts this module as
`python -m` (WORKER_MODULE) without importing it (this module imports storage.py).

The storage client spends 0.75-1.0 ms of CPU per small upload when 32 threads of one process
share its GIL, most of it in Python (requests, urllib3, http.client), so they send at most
~1,200 small objects a second. The parent reads each image (the caller's `Upload.read`:
the verified re-read, so an edited file is refused before anything is sent; UPLOAD_WORKERS
reads at a time, as the threads read, since a CSV index's images are network reads), checks
the bytes of objects the listing found, and hands batches of (name, content type, what to do,
bytes) to one `python -m components.cloud.upload_pool` worker per core
(components/process_pool.py). Each worker gets this process's CloudTarget and Access
(`clients.current_access`), so its storage client is the one `storage_client(target)` builds
here, and runs the same `ObjectStore.create` (`ifGenerationMatch=0`, the content check of an
object that exists, replaced when it holds other bytes) and `ObjectStore.replace` as the
threads do, under the same raised cycle-collector threshold (`fewer_collections`). Outcomes
come back in the order of the uploads.

Each worker runs UPLOAD_WORKERS / workers uploads at a time: as many requests in flight as the
threads keep, which is what a distant service's round trip asks for (the bench's import
through a 40 ms round trip took 31.7 s with 8 per worker, 18.0-18.3 s with 16; on the local
emulator 4, 8 and 16 measured alike). Workers spend 0.61-0.68 ms of CPU per small upload
against a server that costs nothing, 0.70-0.81 ms next to the local emulator (both with their
start, ~0.25 s of imports each).

A worker starts a batch's uploads as soon as the batch arrives (`serve_overlapped`): they queue
behind those of the batch before, so its threads never idle while a batch drains and the next
is read. On an error (a CloudError: its message, no traceback) a worker starts nothing more of
any batch it holds, and no further batch is handed out; the other workers are stopped
(killed: a request they have in flight is cut off, which an emulator may log).
"""

import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import cast

from components.cloud.clients import CloudTarget, set_access
from components.cloud.storage import (
    PRESENT,
    REPLACED,
    Action,
    ObjectStore,
    Setup,
    fewer_collections,
)
from components.process_pool import receive, serve_overlapped


class _Worker:
    """A worker process's uploads: its own storage client, `threads` uploads at a time."""

    def __init__(self, target: CloudTarget, bucket: str, threads: int):
        self.store = ObjectStore(target, bucket)
        self.pool = ThreadPoolExecutor(max_workers=threads)
        self.failed = False
        self.lock = threading.Lock()
        self.pending: set[Future[str]] = set()  # every batch's uploads not yet done

    def start(self, batch: object) -> Callable[[], list[str]]:
        """Queues the batch's uploads behind those of the batches before it (the threads go
        from one batch to the next without a pause); returns what waits for their outcomes."""
        assert isinstance(batch, list)
        with self.lock:
            if self.failed:  # the batch sent ahead of an error: nothing new starts
                raise RuntimeError("not started: an upload before it failed")
            futures = [self.pool.submit(self._one, *job) for job in batch]
            self.pending.update(futures)
        return partial(self._outcomes, futures)

    def _outcomes(self, futures: list[Future[str]]) -> list[str]:
        try:
            return [future.result() for future in futures]
        except BaseException:
            with self.lock:  # on an error, what has not started is not started
                self.failed = True
                for future in self.pending:
                    future.cancel()
            raise
        finally:
            with self.lock:
                self.pending.difference_update(futures)

    def _one(self, name: str, content_type: str, action: Action, data: bytes) -> str:
        if action == "present":
            return PRESENT
        if action == "replace":
            self.store.replace(name, data, content_type)
            return REPLACED
        return self.store.create(name, data, content_type)


def _main() -> None:
    setup = receive(sys.stdin.buffer)
    if setup is None:
        return
    target, access, bucket, threads = cast(Setup, setup)
    set_access(access)
    with fewer_collections():
        serve_overlapped(_Worker(target, bucket, threads).start)


if __name__ == "__main__":
    _main()
