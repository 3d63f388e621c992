"""Benchmark: where a warm no-op Check + Diff of a 10,000-image directory Dataset spends its time.

Issue [4/8]: "No-op check+diff of 10,000 unchanged images ≤ 3× `git status` on the same tree".
bench_dataset_import.py measures the whole (with a first import into the emulator); this one
takes it apart, each part timed in turns with `git status` of the same tree (its index in a
git directory outside the tree, so that the tree the Dataset reads is unchanged), so that a
shared machine's load weighs on all alike:

- in this process: the stat walk (archive.walk_directory), the scan's key, and the
  provider's whole check (`summarize`: walk, key, cached summary);
- over gRPC, through the Pulumi SDK's dynamic provider host in its own process
  (tests/fixtures/provider_host.py): the raw Check and Diff calls (requests serialized once,
  beforehand), then Check + Diff as bench_dataset_import.py times them (the requests'
  property serialization in this process included: the engine does that in Go);
- the sizes of the Check and Diff requests and responses.

Check and Diff do not reach the cloud: the state's outputs are the Check's with the values a
Create adds (a dataset name, an index URI, counts), so no emulator runs. Inputs: the images of
bench_dataset_import.py (same renders, same directory layout). Prints medians and minimums
of ROUNDS turns (the minimum is what the work costs when nothing else runs), and the load
average, and a BENCH_ROW of the whole against git status; no assertions on time.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi.runtime import proto

from bench.bench_dataset_import import GitStatus, distinct_images, scratch_project, write_sources
from bench.table import row
from components.cloud.clients import CloudTarget
from components.data.archive import walk_directory
from components.data.manifest import SplitSpec, _LocalSource
from components.providers.dataset import DatasetProvider, dataset_inputs, summarize
from components.spec import load_specs
from tests.fixtures.provider_host import ProviderHost, _serialize

# What a Create adds to the checked inputs (values of the right kind; Diff compares inputs).
CREATED = {
    "datasetName": "projects/p/locations/us-central1/datasets/ICN0000000000000000000",
    "indexUri": "gs://bench/datasets/digits-directory/0000.csv",
    "uploadedImages": 10_000,
    "exampleCount": 10_000,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=41, help="turns of each part (41)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-noop-") as tmp_name:
        tmp = Path(tmp_name)
        project = scratch_project(tmp)
        directory, _ = write_sources(project / "data", distinct_images(args.images))
        os.environ["EDGE_LABELER_CACHE_DIR"] = str(tmp / "cache")  # the host inherits it
        git = GitStatus(directory, tmp / "git")
        run(project, directory, git, args.rounds)
    return 0


def run(project: Path, directory: Path, git: GitStatus, rounds: int) -> None:
    spec = load_specs(project / "specs").datasets["digits-directory"]
    target = CloudTarget(stack="local", project="bench", emulator=True)
    props = dataset_inputs(spec, target, "bench", root=project)
    os.chdir(project)  # the inputs' paths are relative to the project, as the host's
    source = _LocalSource(
        "directory", Path(str(props["source"]["path"])), "d", None, "multiclass", SplitSpec()
    )
    with ProviderHost(cwd=project) as host:
        host.configure({"edge-labeler:project": "bench"})
        news = host.inputs(DatasetProvider(), props)
        urn = host.urn("edge-labeler:Dataset", spec.name)
        checked, failures = host.check(urn, news)  # the first check: the stat cache filled
        assert not failures, failures
        olds = {**checked, **CREATED}
        check = proto.CheckRequest(urn=urn, olds=_serialize(olds), news=_serialize(news))
        check_response = host.stub.Check(check)  # type: ignore[union-attr]
        diff = proto.DiffRequest(urn=urn, id="d", olds=_serialize(olds), news=check_response.inputs)
        diff_response = host.stub.Diff(diff)  # type: ignore[union-attr]
        assert diff_response.changes == proto.DiffResponse.DIFF_NONE
        summarize(props)  # this process's stat cache filled too
        walk = walk_directory(source.path, "d")

        def check_and_diff() -> None:
            again, _ = host.check(urn, news, olds=olds)
            assert host.diff(urn, "d", olds, again).changes is False

        parts: dict[str, Callable[[], Any]] = {
            "git status (baseline)": git.status,
            "walk_directory": lambda: walk_directory(source.path, "d"),
            "key of the walk": lambda: source.key(walk),
            "summarize (the whole check)": lambda: summarize(props),
            "Check over gRPC": lambda: host.stub.Check(check),  # type: ignore[union-attr]
            "Diff over gRPC": lambda: host.stub.Diff(diff),  # type: ignore[union-attr]
            "Check + Diff as bench_dataset_import": check_and_diff,
        }
        load = os.getloadavg()[0]
        times = _turns(parts, rounds)
    print(f"{len(walk.names):,} images; load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    print(
        f"bytes: Check request {check.ByteSize():,}, response {check_response.ByteSize():,}; "
        f"Diff request {diff.ByteSize():,}, response {diff_response.ByteSize():,}"
    )
    git_median = statistics.median(times["git status (baseline)"])
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:38s} median {median * 1000:6.2f} ms, min {min(values) * 1000:6.2f} ms"
            f"  ({median / git_median:.2f}× git status)"
        )
    ours = statistics.median(times["Check + Diff as bench_dataset_import"])
    row(
        f"no-op check+diff, {len(walk.names):,} images (directory), cache warm, "
        f"{rounds} turns with git status",
        ours,
        "s",
        baseline=git_median,
        baseline_of="git status, warm, in turns",
        target="≤ 3× baseline",
        met=ours <= 3 * git_median,
    )


def _turns(parts: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Each part once per round, in turns, timed."""
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(rounds):
        for name, part in parts.items():
            started = time.perf_counter()
            part()
            times[name].append(time.perf_counter() - started)
    return times


if __name__ == "__main__":
    sys.exit(main())
