"""`make bench`: runs every bench/bench_*.py and prints ONE table of the figures they report.

A bench script reports a figure by printing one line `BENCH_ROW {json}` (use `row()` below):
    figure    what was measured ("validate specs", "first import, 10,000 images")
    value     the figure (a number), unit its unit ("s", "images/s")
    baseline  the same-run baseline in the same unit (or null), baseline_of what it is
    target    the issue's acceptance figure as text ("≤ 2× baseline", "≥ 1000 images/s")
    met       whether the target is met (true / false / null when it has none)
Any other output of a script goes to its log (`--logs DIR`, default a temporary folder named
at the end), so a new bench script joins the table by printing rows: nothing to register.
The ratio column is value / baseline. The load average before and after each script is
printed with the table: the machine may be shared, and a figure is read with it.

    python bench/table.py [--only NAME ...] [--logs DIR]
    python bench/table.py --collect LOG ...    # the rows of earlier logs, as one table
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROW_PREFIX = "BENCH_ROW "
BENCH_DIR = Path(__file__).resolve().parent
# Run before the others, in this order. The first import's figure follows what a file create
# costs, and on an ext4 file system without a journal (this project's 2-core VM) a create
# costs several times more for up to six minutes after many files were removed near it (the
# inode allocator passes over every inode freed in that time: bench_dataset_import.py's
# docstring). The scripts sorted before it removed their scratch files just before it: a
# create measured 24 µs before bench_content_addresses.py, 189 µs after it and 297 µs after
# bench_crafted_specs.py (262 µs a minute later), and the import made 932 images/s in one
# `make bench` (2026-12-05). Run first, it meets the disk as `make venv` leaves it (23 µs).
FIRST = ("bench_dataset_import",)


def row(
    figure: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_of: str = "",
    target: str = "",
    met: bool | None = None,
) -> None:
    """Prints one figure for the table (flushed: a script that fails later keeps its rows)."""
    record = {
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_of": baseline_of,
        "target": target,
        "met": met,
        "load": round(os.getloadavg()[0], 2),
    }
    print(ROW_PREFIX + json.dumps(record, ensure_ascii=False), flush=True)


def rows_of(text: str) -> list[dict]:
    return [
        json.loads(line[len(ROW_PREFIX) :])
        for line in text.splitlines()
        if line.startswith(ROW_PREFIX)
    ]


def _number(value: float, unit: str) -> str:
    if value >= 100:
        text = f"{value:,.0f}"
    elif value >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}"


def render(rows: list[dict]) -> str:
    header = ("figure", "value", "baseline (same run)", "ratio", "target", "met", "load")
    lines = []
    for r in rows:
        baseline = r.get("baseline")
        ratio = ""
        if baseline:
            ratio = f"{r['value'] / baseline:.2f}x"
        shown_baseline = (
            f"{_number(baseline, r['unit'])} ({r['baseline_of']})" if baseline is not None else ""
        )
        met = {True: "yes", False: "NO", None: ""}[r.get("met")]
        lines.append(
            (
                r["figure"],
                _number(r["value"], r["unit"]),
                shown_baseline,
                ratio,
                r.get("target", ""),
                met,
                f"{r.get('load', '')}",
            )
        )
    widths = [max(len(x[i]) for x in (header, *lines)) for i in range(len(header))]
    out = []
    for cells in (header, tuple("-" * w for w in widths), *lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(out)


def bench_scripts() -> list[Path]:
    """Every bench/bench_*.py in the order `make bench` runs them: FIRST, then by name."""
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    first = [s for name in FIRST for s in scripts if s.stem == name]
    return first + [s for s in scripts if s not in first]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="bench script names to run")
    parser.add_argument("--logs", type=Path, default=None, help="folder for the scripts' output")
    parser.add_argument("--collect", nargs="*", type=Path, default=None, help="read these logs")
    args = parser.parse_args(argv)

    rows: list[dict] = []
    if args.collect is not None:
        for log in args.collect:
            rows += rows_of(log.read_text())
        print(render(rows))
        return 0

    logs = args.logs or Path(tempfile.mkdtemp(prefix="edge-labeler-bench-"))
    logs.mkdir(parents=True, exist_ok=True)
    scripts = bench_scripts()
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only or s.name in args.only]
    failed = []
    notes = []
    for script in scripts:
        log = logs / f"{script.stem}.log"
        before = os.getloadavg()[0]
        started = time.monotonic()
        with log.open("w") as out:
            status = subprocess.run(
                [sys.executable, str(script)],
                cwd=BENCH_DIR.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
        found = rows_of(log.read_text())
        rows += found
        notes.append(
            f"{script.name}: {time.monotonic() - started:.0f} s, {len(found)} rows, exit "
            f"{status}, load {before:.2f} → {os.getloadavg()[0]:.2f}"
        )
        if status:
            failed.append(script.name)
    print(render(rows))
    print()
    print("\n".join(notes))
    print(f"logs: {logs}  (load averages: 1 min, {os.cpu_count()} cores)")
    if failed:
        print(f"failed: {', '.join(failed)} (see their logs)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
