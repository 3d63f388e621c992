"""Crafted specs: each one makes `edgectl validate` exit 1 with `file:line`, never a traceback.

The table runs in one subprocess (the CLI's imports are paid once) whose address space is
capped at 200 MiB above what validating the example specs needed: a case that blows up
memory (billion laughs, a 50 MB file) fails with a MemoryError there, deterministically,
instead of eating the machine. The timeout is only a hang guard.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CEILING = 200 * 1024 * 1024  # bytes of address space above the example specs' validate

RUNNER = r"""
import contextlib, io, json, os, resource, sys, traceback
from components.cli import main

def vm_size():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

def validate():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(["validate", "specs"])
        except BaseException:
            traceback.print_exc()
            code = None
    return {"code": code, "output": out.getvalue()}

repo, ceiling, cases = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
os.chdir(repo)
baseline = validate()
assert baseline["code"] == 0, baseline
_, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (vm_size() + ceiling, hard))
results = {}
for name, project in cases.items():
    os.chdir(project)
    results[name] = validate()
print(json.dumps(results))
"""

LOLS = 'lol: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10)
)
B = "apiVersion: edge-labeler/v1\nkind: Bucket\nmetadata: {name: b}\nspec:\n"
BUCKET = "apiVersion: edge-labeler/v1\nkind: Bucket\nmetadata: {name: ml-data}\nspec:\n"
DATASET = (
    "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: d}\nspec:\n"
    "  bucket: ml-data\n  source: SOURCE\n"
)
MODEL = (
    "apiVersion: edge-labeler/v1\nkind: Model\nmetadata: {name: m}\nspec:\n"
    "  dataset: d\n  budget: {nodeHours: 1}\n  baseModel: {path: 'VALUE'}\n"
    "  acceptance: {threshold: {maximize: f1}}\n"
)


@dataclass(frozen=True)
class Case:
    id: str
    write: Callable[[Path], None]  # writes the crafted files into a fresh project
    expected: str  # a regex the output must contain; {root}/{outside} are filled in


def _project(base: Path) -> Path:
    """<base>/project (Pulumi.yaml, specs/, data/) next to <base>/outside (not theirs)."""
    project, outside = base / "project", base / "outside"
    for folder in (project / "specs", project / "data" / "imgs", outside / "imgs"):
        folder.mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: crafted\nruntime: python\n")
    for place in (project / "data", outside):
        (place / "x.zip").write_bytes(b"PK\x05\x06" + bytes(18))
        (place / "labels.csv").write_text("a.png,cat\n")
        (place / "base.keras").write_bytes(b"")
    (project / "data" / "link.zip").symlink_to(outside / "x.zip")
    (project / "data" / "linkdir").symlink_to(outside / "imgs", target_is_directory=True)
    (project / "data" / "link.csv").symlink_to(outside / "labels.csv")
    (project / "data" / "link.keras").symlink_to(outside / "base.keras")
    return project


def _spec(text: str, name: str = "x.yaml") -> Callable[[Path], None]:
    def write(project: Path) -> None:
        (project / "specs" / name).write_text(BUCKET + "  {}\n---\n" + text)

    return write


def _raw(data: bytes, name: str = "x.yaml") -> Callable[[Path], None]:
    def write(project: Path) -> None:
        (project / "specs" / name).write_bytes(data)

    return write


def _big(project: Path) -> None:
    with (project / "specs" / "big.yaml").open("w") as out:
        line = "# padding padding padding padding padding padding padding padding\n"
        out.write(line * (50 * 1024 * 1024 // len(line)))


def _big_overlay(project: Path) -> None:
    (project / "specs" / "x.yaml").write_text(BUCKET + "  {}\n")
    (project / "specs" / "envs").mkdir()
    (project / "specs" / "envs" / "dev.yaml").write_text("#" * (8 * 1024 * 1024) + "\n")


def _escape_cases() -> list[Case]:
    """Every local path field, escaping by `..` and by a symlink inside the root."""
    fields = {
        "zip": ("{zip: 'VALUE'}", "../../outside/x.zip", "../data/link.zip", "x.zip"),
        "directory": ("{directory: 'VALUE'}", "../../outside/imgs", "../data/linkdir", "imgs"),
        "images": ("{images: 'VALUE'}", "../../outside/imgs", "../data/linkdir", "imgs"),
        "labels": (
            "{images: ../data/imgs, labels: 'VALUE'}",
            "../../outside/labels.csv",
            "../data/link.csv",
            "labels.csv",
        ),
        "baseModel.path": (None, "../../outside/base.keras", "../data/link.keras", "base.keras"),
    }
    cases = []
    for field, (source, dotdot, link, target) in fields.items():
        for how, value in (("dotdot", dotdot), ("symlink", link)):
            if source is None:
                text = DATASET.replace("SOURCE", "{zip: ../data/x.zip}") + "---\n" + MODEL
                kind, where = "Model 'm' spec.baseModel.path", 20
            else:
                text = DATASET.replace("SOURCE", source)
                kind, where = f"Dataset 'd' spec.source.{field}", 12
            cases.append(
                Case(
                    f"{field}-escape-by-{how}",
                    _spec(text.replace("VALUE", value)),
                    rf"specs/x\.yaml:{where}:\d+: {re.escape(kind)}: '{re.escape(value)}' "
                    rf"resolves to {{outside}}/{re.escape(target)}, outside the project root "
                    rf"{{root}}; paths in specs must stay inside {{root}}",
                )
            )
    return cases


CASES = [
    Case(
        "billion-laughs",
        _spec(LOLS.replace("lol: ", "x: ", 1)),
        r"specs/x\.yaml:(9|1[0-4]):\d+: YAML aliases expand to more than [\d,]+ nodes",
    ),
    Case("50-MB-file", _big, r"specs/big\.yaml:1:1: the file is 52,428,\d+ bytes"),
    Case("8-MB-overlay", _big_overlay, r"specs/envs/dev\.yaml:1:1: the file is 8,388,609 bytes"),
    Case(
        "NUL-byte",
        _raw(BUCKET.encode() + b"  versioning: tr\x00ue\n"),
        r"specs/x\.yaml:5:17: control character U\+0000 is not allowed in YAML",
    ),
    Case(
        "NUL-escape-in-a-path",
        _spec(DATASET.replace("SOURCE", '{zip: "../data/x\\0.zip"}')),
        r"specs/x\.yaml:12:17: Dataset 'd' spec\.source\.zip: control character U\+0000 "
        r"is not allowed in text",
    ),
    Case(
        "invalid-UTF-8",
        _raw(BUCKET.encode() + b"  labels: {team: caf\xe9}\n"),
        r"specs/x\.yaml:5:21: not UTF-8 text",
    ),
    Case(
        "5000-digit-integer",
        _spec(B + "  lifecycle: {deleteAfterDays: " + "9" * 5000 + "}"),
        r"specs/x\.yaml:11:32: Bucket 'b' spec\.lifecycle\.deleteAfterDays: a number of 5000 "
        r"characters",
    ),
    Case(
        "bad-bool-tag",
        _spec(B + "  versioning: !!bool maybe\n"),
        r"specs/x\.yaml:11:15: Bucket 'b' spec\.versioning: invalid YAML value",
    ),
    Case(
        "5000-deep-flow-nesting",
        _spec(B + "  labels: " + "[" * 5000 + "]" * 5000),
        r"specs/x\.yaml:11:\d+: YAML nested deeper than \d+ levels",
    ),
    Case(
        "1000-deep-block-nesting",
        _spec(B + "".join(f"{' ' * i} k:\n" for i in range(1000))),
        r"specs/x\.yaml:\d+:\d+: YAML nested deeper than \d+ levels",
    ),
    Case(
        "deep-nesting-through-aliases",
        _spec(
            "".join(
                f"a{i}: &a{i} " + "[" * 30 + (f"*a{i - 1}" if i else "0") + "]" * 30 + "\n"
                for i in range(20)
            )
        ),
        r"specs/x\.yaml:\d+:\d+: YAML nested deeper than \d+ levels",
    ),
    Case(
        "absolute-path-outside",
        lambda project: _spec(
            DATASET.replace("SOURCE", "{zip: '" + str(project.parent / "outside" / "x.zip") + "'}")
        )(project),
        r"specs/x\.yaml:12:17: Dataset 'd' spec\.source\.zip: '.*' resolves to "
        r"{outside}/x\.zip, outside the project root {root}",
    ),
    *_escape_cases(),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every case's exit code and output, from one `edgectl validate` process per table."""
    projects = {}
    for case in CASES:
        project = _project(tmp_path_factory.mktemp(case.id))
        case.write(project)
        projects[case.id] = str(project)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(REPO), str(CEILING), json.dumps(projects)],
        capture_output=True,
        text=True,
        timeout=900,  # hang guard only
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {**json.loads(done.stdout.splitlines()[-1]), "_projects": projects}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_crafted_spec_exits_1_with_file_line_and_no_traceback(case: Case, results: dict):
    result = results[case.id]
    project = Path(results["_projects"][case.id]).resolve()
    expected = case.expected.replace("{root}", re.escape(str(project))).replace(
        "{outside}", re.escape(str(project.parent / "outside"))
    )
    output = result["output"]
    assert "Traceback" not in output and "Error:" not in output, output[-2000:]
    assert result["code"] == 1, output[-2000:]
    assert re.search(expected, output), output[-2000:]
    assert output.splitlines()[-1].startswith("invalid: ")


def test_provider_inputs_hold_no_absolute_path(tmp_path: Path):
    """Paths reach providers (and so Pulumi state) relative to the Pulumi project, even when
    the specs are beside it in the repository (`edge-labeler:specs: ../specs`) or absolute."""
    from components.cloud.clients import CloudTarget
    from components.providers.dataset import dataset_inputs
    from components.providers.trained_model import trained_model_inputs
    from components.spec import load_specs

    repo = tmp_path / "repo"
    for folder in (repo / ".git", repo / "infra", repo / "specs", repo / "data"):
        folder.mkdir(parents=True)
    (repo / "infra" / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (repo / "data" / "x.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (repo / "data" / "base.keras").write_bytes(b"")
    absolute = (repo / "data" / "x.zip").resolve()
    (repo / "specs" / "all.yaml").write_text(
        BUCKET
        + "  {}\n---\n"
        + DATASET.replace("SOURCE", "{zip: ../data/x.zip}")
        + "---\n"
        + DATASET.replace("SOURCE", f"{{zip: '{absolute}'}}").replace("name: d}", "name: a}")
        + "---\n"
        + MODEL.replace("VALUE", "../data/base.keras")
    )
    specs = load_specs(repo / "specs")
    target = CloudTarget(stack="local", project="p", emulator=True)
    pulumi_project = repo / "infra"
    for name in ("d", "a"):
        inputs = dataset_inputs(specs.datasets[name], target, "bucket", pulumi_project)
        assert inputs["source"]["path"] == "../data/x.zip"
    model = trained_model_inputs(specs.models["m"], target, pulumi_project)
    assert model["baseModelPath"] == "../data/base.keras"
    inputs = dataset_inputs(specs.datasets["a"], target, "bucket", repo)
    assert inputs["source"]["path"] == "data/x.zip"
