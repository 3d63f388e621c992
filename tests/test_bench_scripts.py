"""Every bench script imports what it needs however it is started (`make bench` runs
`python bench/<script>.py` from the repository, with only the venv's packages importable).

Before: with the project installed by uv (`make venv`), whose editable install maps only the
declared packages, bench_content_addresses.py and bench_emulator_stop.py failed at their first
import of `tests.fixtures` (ModuleNotFoundError) and `make bench` lost their rows.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "bench").glob("bench_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_bench_script_imports_from_another_directory(script: Path, tmp_path: Path):
    """Loads the script as a module (its imports, not its `main`) from an empty folder, without
    the repository on PYTHONPATH: what is importable is what `python bench/<script>.py` gets
    from its own sys.path handling."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    load = (
        "import importlib.util, sys; "
        f"sys.path[0] = {str(script.parent)!r}; "  # as `python bench/<script>.py` sets it
        f"spec = importlib.util.spec_from_file_location('bench_script', {str(script)!r}); "
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))"
    )
    done = subprocess.run(
        [sys.executable, "-c", load], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_make_bench_runs_the_first_import_before_the_scripts_that_remove_files():
    """The scripts sorted before bench_dataset_import.py remove thousands of scratch files at
    their end; on ext4 without a journal the creates that follow cost 8-12 times more for
    minutes (measured: 24 → 189 → 297 µs), and the first import's figure with them. `make bench`
    runs the import first. Before: bench/table.py ran the scripts by name only."""
    sys.path.insert(0, str(ROOT))
    try:
        from bench.table import bench_scripts
    finally:
        sys.path.remove(str(ROOT))
    names = [script.stem for script in bench_scripts()]
    assert names[0] == "bench_dataset_import"
    assert sorted(names) == sorted(script.stem for script in SCRIPTS)  # each once
