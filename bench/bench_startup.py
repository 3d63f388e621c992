"""Benchmark: how long `edgectl --help` and `edgectl validate specs` take to start and answer.

Issue [4/8]: `edgectl validate specs` ≤ 2× `python -c "import yaml, jsonschema"` (the least
any validate must load), measured in the same run. Each figure is the median of 7 fresh
processes, the three commands run in turns (page cache warm: one untimed turn first), so
that a shared machine's load weighs on all alike. Prints BENCH_ROW lines (bench/table.py).

2026-12-05: validate read its YAML with PyYAML's Python parser, and took 0.196-0.197 s against
0.098-0.099 s (2.01× and 1.98× in two runs; 1.99× in that day's `make bench`); with libyaml's
events (components/spec/yaml_source.py) 0.154-0.156 s against 0.098-0.099 s (1.56-1.59×).
Later that day, each command's five runs one after the other: the baseline 0.101, 0.114 and
0.146 s in three runs of this script (validate 0.158-0.177 s: 1.09× to 1.63×), 1.79× in a
`make bench` — measured in turns since.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.table import row  # noqa: E402

RUNS = 7


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def medians_in_turns(commands: list[list[str]]) -> list[float]:
    """The median seconds of each command, the commands run in turns RUNS times after one
    untimed turn (it warms the page cache)."""
    for command in commands:
        seconds(command)
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(RUNS):
        for command, taken in zip(commands, times, strict=True):
            taken.append(seconds(command))
    return [statistics.median(taken) for taken in times]


def main() -> int:
    python = sys.executable
    edgectl = [python, "-c", "import sys; from components.cli import main; sys.exit(main())"]
    baseline, validate, help_ = medians_in_turns(
        [
            [python, "-c", "import yaml, jsonschema"],
            [*edgectl, "validate", "specs"],
            [*edgectl, "--help"],
        ]
    )
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
