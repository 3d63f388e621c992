"""Benchmark: `edgectl rehearse` of the example specs (specs/ on the local stack).

Issue [4/8]: the rehearsal (a fresh emulator, every resource's check and create in order:
the dataset's upload and import, the training, the gate, the report) ≤ 90 s, with [5/8]'s
trainer. One run, as a user runs it (`edgectl rehearse --out DIR`, default training budget),
in a fresh process; the exit status is printed (1: the gate failed, which still times the
pipeline). Prints a BENCH_ROW line (bench/table.py).
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.table import row  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-rehearse-") as out:
        command = [
            sys.executable,
            "-c",
            "import sys; from components.cli import main; sys.exit(main())",
            "rehearse",
            "--out",
            out,
        ]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, check=False)
        seconds = time.perf_counter() - started
    print(f"edgectl rehearse: exit {done.returncode} after {seconds:.1f} s")
    if done.returncode not in (0, 1):
        return done.returncode
    row("edgectl rehearse (example specs)", seconds, "s", target="≤ 90 s", met=seconds <= 90)
    return 0


if __name__ == "__main__":
    sys.exit(main())
