"""Benchmark: how long `edgectl emulator start`'s process lives after SIGTERM, and `emulator stop`.

The process used to live ≈ 25 s after SIGTERM with a training running (issue [3/8]): up to
10 s per unfinished operation, then the interpreter's teardown of TensorFlow, Keras and gRPC.
It now ends its work with a 1 s grace and exits without that teardown. Printed, per case,
the median of `--repeat` runs of the time from SIGTERM to the process's end:
- idle: just started;
- training: a training in its first epochs (real digits, budget far from spent);
- `emulator stop` during a training: the command's own wall time (it returns once the
  process ended);
- baseline, in the same run: the training case with the interpreter's teardown put back
  (`os._exit` replaced by `sys.exit` in the emulator's process) — what the old exit cost.
Load average printed alongside. No assertions on time.

    python -m bench.bench_emulator_stop [--repeat 3]
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from google.cloud import automl_v1

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.core.trainer import SECONDS_PER_NODE_HOUR_ENV
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import (
    PARENT,
    admin,
    automl_client,
    create_dataset,
    patched_environ,
    start_cli,
    start_import,
    storage_client,
    wait_for,
)

LABELS = ("zero", "one", "two")
REPO = Path(__file__).resolve().parents[1]
# The emulator's process with the interpreter's teardown put back: what exiting cost before.
WITH_TEARDOWN = (
    "import os, sys\n"
    "os._exit = sys.exit\n"
    "from emulator.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _start_training(env: dict[str, str]) -> None:
    """Imports 30 digits and starts a training; returns once it finished its first epoch."""
    bucket_name = f"bench-{uuid.uuid4().hex[:8]}"
    bucket = storage_client(env).create_bucket(bucket_name)
    lines = []
    for i, image in enumerate(digit_images(10, LABELS)):
        name = f"{image.index}.{image.extension}"
        bucket.blob(name).upload_from_string(image.data)
        split = "TEST" if i % 5 == 0 else "VALIDATION" if i % 5 == 1 else "TRAIN"
        lines.append(f"{split},gs://{bucket_name}/{name},{image.label}")
    bucket.blob("index.csv").upload_from_string("\n".join(lines) + "\n")
    client = automl_client(env)
    dataset = create_dataset(client, "bench")
    wait_for(start_import(client, dataset.name, f"gs://{bucket_name}/index.csv"))
    metadata = automl_v1.ImageClassificationModelMetadata(
        model_type="mobile-low-latency-1", train_budget_milli_node_hours=100_000
    )
    model = automl_v1.Model(
        display_name="bench",
        dataset_id=dataset.name.rsplit("/", 1)[1],
        image_classification_model_metadata=metadata,
    )
    operation = client.create_model(parent=PARENT, model=model).operation.name
    status, body = admin(
        env, "GET", f"/emulator/v1/{operation}/details?minEpoch=1&timeoutSeconds=600", timeout=660
    )
    assert status == 200 and body["details"].get("epoch", 0) >= 1, body


def _run(training: bool, stop: Callable[[subprocess.Popen, Path], None], **start: object) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        with patched_environ({SECONDS_PER_NODE_HOUR_ENV: "3600"}):
            process, env = start_cli(data_dir, Path(tmp) / "stderr.log", **start)  # type: ignore[arg-type]
        try:
            if training:
                _start_training(env)
            began = time.perf_counter()
            stop(process, data_dir)
            process.wait(timeout=600)
            return time.perf_counter() - began
        finally:
            process.kill()
            process.wait()


def _sigterm(process: subprocess.Popen, data_dir: Path) -> None:
    process.send_signal(signal.SIGTERM)


def _stop_command(process: subprocess.Popen, data_dir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "emulator", "stop", "--data-dir", str(data_dir)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
        capture_output=True,
        timeout=600,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases: list[tuple[str, Callable[[], float]]] = [
        ("idle, SIGTERM → exit", lambda: _run(False, _sigterm)),
        ("training, SIGTERM → exit", lambda: _run(True, _sigterm)),
        ("training, `emulator stop` wall time", lambda: _run(True, _stop_command)),
        (
            "baseline: training, SIGTERM → exit with the interpreter's teardown",
            lambda: _run(True, _sigterm, python_args=("-c", WITH_TEARDOWN)),
        ),
    ]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for label, case in cases:
        times = [case() for _ in range(args.repeat)]
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"{label}: median {statistics.median(times):.2f} s ({runs})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
