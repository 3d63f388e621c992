"""Benchmark: how long `edgectl --help` and `edgectl validate specs` take to start and answer.

Issue [4/8]: `edgectl validate specs` ≤ 2× `python -c "import yaml, jsonschema"` (the least
any validate must load), measured in the same run. Each figure is the median of 5 fresh
processes (page cache warm: one untimed run first). Prints BENCH_ROW lines (bench/table.py).

2026-12-05: validate read its YAML with PyYAML's Python parser, and took 0.196-0.197 s against
0.098-0.099 s (2.01× and 1.98× in two runs; 1.99× in that day's `make bench`); with libyaml's
events (components/spec/yaml_source.py) 0.154-0.156 s against 0.098-0.099 s (1.56-1.59×).
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.table import row  # noqa: E402

RUNS = 5


def median_seconds(command: list[str]) -> float:
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)  # warms the page cache
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    python = sys.executable
    baseline = median_seconds([python, "-c", "import yaml, jsonschema"])
    edgectl = [python, "-c", "import sys; from components.cli import main; sys.exit(main())"]
    validate = median_seconds([*edgectl, "validate", "specs"])
    help_ = median_seconds([*edgectl, "--help"])
    of = 'python -c "import yaml, jsonschema"'
    row(
        "edgectl validate specs",
        validate,
        "s",
        baseline=baseline,
        baseline_of=of,
        target="≤ 2× baseline",
        met=validate <= 2 * baseline,
    )
    row("edgectl --help", help_, "s", baseline=baseline, baseline_of=of)
    return 0


if __name__ == "__main__":
    sys.exit(main())
