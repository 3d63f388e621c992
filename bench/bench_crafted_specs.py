"""Benchmark: `edgectl validate` of crafted specs against the example specs' validate.

Issue [1/8]: each crafted spec (billion laughs, 50 MB, NUL byte, huge int, deep nesting, path
escapes) "exits 1 with `file:line`, taking at most 2 s and 200 MB more than `edgectl validate`
of the example specs".

Inputs: the table of tests/reliability/test_crafted_specs.py (one scratch project per case),
plus files at the edges of components/spec/yaml_source.py's bounds, which are read in full:
1 MiB of comments (MAX_FILE_BYTES), a list of MAX_NODES - 3 numbers, aliases expanding to
MAX_ALIAS_NODES nodes, nesting MAX_DEPTH deep.

The run: each case is one fresh process that imports what every edgectl command imports
today, then runs `edgectl validate specs` in the case's project (components.cli.main, this
checkout's code). It reports the validate call's time and the process's peak RSS
(VmHWM, imports included). Baseline, measured in the same run: the same process on the
repository's example specs (median time of 3 runs, highest peak RSS of them). No assertions:
this prints figures, the budget column only compares them with the issue's numbers.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from components.spec.yaml_source import (  # noqa: E402
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
)
from tests.reliability.test_crafted_specs import BUCKET, CASES, Case, _project  # noqa: E402

CHILD = r"""
import contextlib, io, json, sys, time
from components.cli import build_parser, main
build_parser()  # the imports every edgectl command pays today
out = io.StringIO()
start = time.perf_counter()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    code = main(["validate", "specs"])
seconds = time.perf_counter() - start
# VmHWM: this process image's own peak. (ru_maxrss is not: Linux carries it over fork and exec,
# so a child of a bench that just built a 50 MB string would report the bench's size.)
status = open("/proc/self/status").read()
peak = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1]) * 1024
lines = out.getvalue().splitlines()
print(json.dumps({"code": code, "seconds": seconds, "peak": peak, "lines": lines[:1]}))
"""
BUDGET_S, BUDGET_B = 2.0, 200 * 1000 * 1000


def _writer(name: str, text: str) -> Case:
    def write(project: Path) -> None:
        (project / "specs" / "x.yaml").write_text(text)

    return Case(name, write, "")


def _edge_cases() -> list[Case]:
    """Valid YAML right at each bound: read in full, then refused or checked by the schema."""
    comments = BUCKET + "  {}\n" + "#" * (MAX_FILE_BYTES - len(BUCKET) - 6) + "\n"
    numbers = "a: [" + ",".join("1" * (MAX_NODES - 3)) + "]\n"
    block = "[" + ", ".join(["0"] * 99) + "]"  # 100 nodes
    aliases = f"s: &s {block}\nu: [" + ", ".join(["*s"] * (MAX_ALIAS_NODES // 100)) + "]\n"
    depth = MAX_DEPTH - 1
    nested = "a: " + "[" * depth + "]" * depth + "\n"
    return [
        _writer(f"edge: {len(comments):,} bytes of comments", comments),
        _writer(f"edge: {MAX_NODES - 3:,} numbers in a list", numbers),
        _writer(f"edge: aliases adding {MAX_ALIAS_NODES:,} nodes", aliases),
        _writer(f"edge: {MAX_DEPTH} levels of nesting", nested),
    ]


def _run(project: Path) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=project,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    stdout, _ = proc.communicate(timeout=900)
    return json.loads(stdout.decode().splitlines()[-1])


def main() -> None:
    runs = [_run(REPO) for _ in range(3)]
    base_s = statistics.median(r["seconds"] for r in runs)
    base_b = max(r["peak"] for r in runs)
    print(
        f"baseline: edgectl validate of the example specs: {base_s:.3f} s (median of 3), "
        f"peak RSS {base_b / 1e6:.0f} MB (imports included)"
    )
    header = (
        f"{'case':44} {'exit':>4} {'validate s':>10} {'+s':>7} {'peak MB':>8} {'+MB':>6}  budget"
    )
    print(header)
    with tempfile.TemporaryDirectory(prefix="bench-crafted-") as scratch:
        for case in [*CASES, *_edge_cases()]:
            base = Path(scratch) / str(len(os.listdir(scratch)))
            base.mkdir()
            project = _project(base)
            case.write(project)
            result = _run(project)
            more_s, more_b = result["seconds"] - base_s, result["peak"] - base_b
            within = "ok" if more_s <= BUDGET_S and more_b <= BUDGET_B else "OVER"
            print(
                f"{case.id[:44]:44} {result['code']!s:>4} {result['seconds']:10.3f} "
                f"{more_s:+7.3f} {result['peak'] / 1e6:8.0f} {more_b / 1e6:+6.0f}  {within}"
            )
            print(f"    {(result['lines'] or [''])[0][:150]}")


if __name__ == "__main__":
    main()
