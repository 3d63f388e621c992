"""Benchmark: what checking content addresses costs when every image is already uploaded.

`ObjectStore.upload_missing` used to trust an object under `images/<sha256>.<ext>` to hold
those bytes; it now reads each local image and compares its MD5 with the one the service
computed (issue [1/8]). This prints, for N small real images all present in the bucket:
- baseline: the listing alone (what the old code did before deciding there was nothing to do);
- now: `upload_missing` (listing + reading and hashing every local image, nothing uploaded).
Both against an in-process emulator, in the same run, median of 3. No assertions on time.

    python -m bench.bench_content_addresses [--images 1797]
"""

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.cloud.clients import CloudTarget
from components.cloud.storage import ObjectStore, Upload
from emulator.server import EmulatorServer
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import LOCATION, PROJECT, patched_environ, storage_client

LABELS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _median(run, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1797)
    args = parser.parse_args()
    per_label = max(1, args.images // len(LABELS))
    images = digit_images(per_label, LABELS)
    uploads = [
        Upload(
            f"images/{hashlib.sha256(i.data).hexdigest()}.{i.extension}",
            lambda data=i.data: data,
        )
        for i in images
    ]
    with (
        tempfile.TemporaryDirectory() as data_dir,
        EmulatorServer(Path(data_dir)) as server,
        patched_environ(server.env),
    ):
        storage_client(server.env).create_bucket("bench")
        target = CloudTarget(stack="bench", project=PROJECT, region=LOCATION, emulator=True)
        store = ObjectStore(target, "bench")
        first = time.perf_counter()
        sent = store.upload_missing(uploads, "images/")
        first = time.perf_counter() - first
        listing = _median(lambda: store.listing("images/"))
        checked = _median(lambda: store.upload_missing(uploads, "images/"))
    print(f"{len(uploads)} images ({sent} uploaded in {first:.2f} s)")
    print(f"baseline, listing only:           {listing:.3f} s")
    print(f"upload_missing, all present:      {checked:.3f} s  ({checked / listing:.2f}x)")


if __name__ == "__main__":
    main()
