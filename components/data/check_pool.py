"""Checking many images on every core: decode and hash in worker processes.

Pillow parses headers (and PNG chunks) in Python, so threads check at most one small image at
a time: a first check of thousands of images is CPU-bound there. `check_in_processes` hands
batches of (name, bytes) to one worker process per core and gives the results back in the
order of the input, with a bounded number of batches in flight (memory stays flat however
many images there are). The caller reads the bytes (a read is I/O; the stat cache and the
verified re-read stay with it).

The workers are plain subprocesses (`python -m components.data.check_pool`) run by
components/process_pool.py (which says why not `multiprocessing`).
"""

import hashlib
from collections.abc import Iterable, Iterator

from components.data.images import check_image
from components.process_pool import batched, cores, run_in_processes, serve

__all__ = ["MIN_IMAGES", "check_in_processes", "check_one", "cores"]

# Below this many images, starting the workers (~0.2 s each, in parallel) costs more than
# their cores save.
MIN_IMAGES = 2_000
BATCH_IMAGES = 64
BATCH_BYTES = 16 * 1024 * 1024
# Result of one image: (sha256, format, size), or ("", problem kind, message).
Checked = tuple[str, str, int] | tuple[str, str, str]
# One image to check: its name, and its bytes or why they could not be read.
Read = tuple[str, bytes | str]


def check_one(name: str, data: bytes | str) -> Checked:
    """check_image and sha256 of one image's bytes (a str: why they could not be read)."""
    if isinstance(data, str):
        return ("", "unreadable", data)
    try:
        checked = check_image(data, name)
    except ValueError as exc:
        return ("", "image", str(exc))
    return (hashlib.sha256(data).hexdigest(), checked.format, len(data))


def check_in_processes(images: Iterable[Read], workers: int) -> Iterator[Checked]:
    """`check_one` of every (name, bytes), in order, in `workers` worker processes."""
    batches = batched(images, lambda read: len(read[1]), BATCH_IMAGES, BATCH_BYTES)
    for checked in run_in_processes("components.data.check_pool", batches, workers):
        assert isinstance(checked, list)
        yield from checked


def _check_batch(batch: object) -> list[Checked]:
    """The worker's work: check_one of each (name, bytes) of a batch."""
    assert isinstance(batch, list)
    return [check_one(name, data) for name, data in batch]


if __name__ == "__main__":
    serve(_check_batch)
