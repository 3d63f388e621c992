"""What each everyday `edgectl` command imports: only what its own work needs.

`edgectl --help`, `validate`, `review`, `history` and `promote` run while people edit specs;
importing TensorFlow, the emulator or a cloud client they do not use cost them seconds each
time. Each command runs here in a fresh interpreter, on the example project, and the modules
it holds afterwards are checked (not its time):
- parsers (`--help` of edgectl and of every subcommand): the command-line modules only, no
  third-party package;
- `validate`: no third-party package beyond those `import yaml, jsonschema` loads;
- `review` (which checks every dataset's images through the Dataset provider's `check`): no
  cloud client library and no numeric or ML package;
- `history` and `promote` (which read a stack's bucket): Cloud Storage's client, and none of
  the training or publishing clients (AutoML, Vertex AI, Firebase), numpy or TensorFlow;
- `status` (which reads a stack's bucket, then its registries and Remote Config): Cloud
  Storage's client, firebase-admin for a `firebase-ml` publication and requests for a Rollout;
  never a training client, numpy, TensorFlow or the emulator.
- `predict` runs a model with LiteRT: with `--model-file`, no cloud client at all; with
  `--stack` (and `download`), Cloud Storage's client for the record; never TensorFlow, and the
  AutoML prediction client only with `--online`.
- `studio` serving its Datasets and Label pages: the data layer and Pillow, no cloud client,
  no numeric or ML package (LiteRT and numpy load when a model is evaluated or tested).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=Imports", "-c", "user.email=imports@example.com"]
# The modules that build the parser: edgectl's own and each subcommand's command module.
PARSER_MODULES = {
    "components",
    "components.cli",
    "components.review",
    "components.review.command",
    "components.promotion",
    "components.promotion.command",
    "components.delivery",
    "components.delivery.command",
    "components.studio",
    "components.studio.command",
    "emulator",
    "emulator.cli",
}
# Never needed by an everyday command: the ML stack, the emulator's servers and engine, and
# the clients of the training and publishing services.
HEAVY = (
    "tensorflow",
    "keras",
    "numpy",
    "ai_edge_litert",
    "matplotlib",
    "firebase_admin",
    "google.cloud.automl",
    "google.cloud.automl_v1",
    "google.cloud.aiplatform",
    "google.cloud.aiplatform_v1",
)
# Cloud client libraries: what a command that reads no bucket does not need.
CLIENTS = ("google.cloud", "google.api_core", "google.auth", "requests", "google_crc32c")

_SCRIPT = """\
import json, sys
before = set(sys.modules)
{setup}
try:
    status = {call}
except SystemExit as exit:
    status = exit.code
print(json.dumps({{"status": status, "modules": sorted(set(sys.modules) - before)}}))
"""


def _run(
    call: str, cwd: Path = ROOT, env: dict[str, str] | None = None, setup: str = ""
) -> tuple[object, set[str], str]:
    """(exit status, modules loaded, stderr) of `call` in a fresh interpreter; its own
    stdout is discarded (the last line printed is the report)."""
    script = _SCRIPT.format(setup=setup, call=call)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["status"], set(report["modules"]), done.stderr


def _edgectl(args: list[str], **kwargs: object) -> tuple[object, set[str], str]:
    call = f"__import__('components.cli').cli.main({args!r})"
    return _run(call, **kwargs)  # type: ignore[arg-type]


def _third_party(modules: set[str]) -> set[str]:
    """Top-level packages that are neither the standard library nor this project."""
    tops = {m.split(".")[0] for m in modules}
    return {t for t in tops if t not in sys.stdlib_module_names} - {
        "components",
        "emulator",
        "tflite_metadata",
    }


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(f"{p}.") for p in prefixes)}


def _emulator_beyond_its_parser(modules: set[str]) -> set[str]:
    return _loaded(modules, ("emulator",)) - {"emulator", "emulator.cli"}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["validate", "--help"],
        ["review", "--help"],
        ["rehearse", "--help"],
        ["promote", "--help"],
        ["history", "--help"],
        ["status", "--help"],
        ["predict", "--help"],
        ["download", "--help"],
        ["emulator", "--help"],
        ["studio", "--help"],
    ],
    ids=" ".join,
)
def test_help_loads_only_the_command_line_modules(args):
    status, modules, _ = _edgectl(args)
    assert status == 0
    assert _third_party(modules) == set()
    assert _loaded(modules, ("components", "emulator")) <= PARSER_MODULES


def test_validate_loads_no_more_than_yaml_and_jsonschema():
    _, baseline, _ = _run("0", setup="import yaml, jsonschema")
    status, modules, _ = _edgectl(["validate", "specs"])
    assert status == 0
    assert _third_party(modules) <= _third_party(baseline)
    project = _loaded(modules, ("components", "emulator")) - PARSER_MODULES
    assert {m for m in project if not m.startswith("components.spec")} == set()


def _example_project(root: Path) -> Path:
    """The example project (stack files and specs) in `root`, committed to git."""
    root.mkdir()
    for stack_file in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(stack_file, root / stack_file.name)
    shutil.copytree(ROOT / "specs", root / "specs")
    subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=root, check=True)
    _commit(root, "example project")
    return root


def _commit(root: Path, message: str) -> None:
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", message], cwd=root, check=True)


def test_review_checks_datasets_without_cloud_clients(tmp_path):
    project = _example_project(tmp_path / "project")
    spec = project / "specs" / "digits.yaml"
    spec.write_text(spec.read_text().replace("minPrecision: 0.85", "minPrecision: 0.8", 1))
    _commit(project, "loosen the gate")
    status, modules, stderr = _edgectl(
        ["review", "--base", "HEAD~1", "--head", "HEAD", "--project-dir", str(project)],
        env={"EDGE_LABELER_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert status == 0, stderr
    # It did check the datasets: the Dataset provider read the example's images.
    assert {"components.providers.dataset", "PIL.Image"} <= modules
    assert _loaded(modules, HEAVY + CLIENTS) == set()
    assert _emulator_beyond_its_parser(modules) == set()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STACK = """\
config:
  edge-labeler:project: {project}
  edge-labeler:emulator: "true"
{extra}"""


@pytest.mark.parametrize(
    "args",
    [
        ["history", "--model", "digits", "--stack", "emu-a"],
        ["promote", "--model", "digits", "--from", "emu-a", "--to", "emu-b"],
        ["status", "--stack", "emu-a", "--stack", "emu-b"],
        ["predict", "--model", "digits", "--stack", "emu-a", "image.png"],
        ["download", "--model", "digits", "--stack", "emu-a", "--out", "bundle"],
    ],
    ids=lambda args: args[0],
)
def test_commands_reading_a_bucket_load_the_storage_client_only(tmp_path, args):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project)
    shutil.copytree(ROOT / "specs", project / "specs")
    (project / "Pulumi.emu-a.yaml").write_text(STACK.format(project="emulated-a", extra=""))
    (project / "Pulumi.emu-b.yaml").write_text(
        STACK.format(project="emulated-b", extra="  edge-labeler:promoteFrom: [emu-a]\n")
    )
    # A storage endpoint nobody listens on: the command goes as far as reading the bucket.
    env = {
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{_closed_port()}",
        "EDGE_LABELER_RETRY": "initial=0.01,maximum=0.01,deadline=0.05",
    }
    status, modules, stderr = _edgectl([*args, "--project-dir", str(project)], env=env)
    assert status == 1
    assert "cannot reach the service" in stderr
    assert "google.cloud.storage" in modules
    # predict runs the model it reads with LiteRT (numpy); nothing else loads the ML stack.
    runtime = ("ai_edge_litert", "numpy") if args[0] == "predict" else ()
    assert _loaded(modules, HEAVY) - _loaded(modules, runtime) == set()
    assert _emulator_beyond_its_parser(modules) == set()


ROLLOUT = """\
---
apiVersion: edge-labeler/v1
kind: Rollout
metadata: {name: digits}
spec: {parameter: digits_model, publication: digits}
"""


def test_status_reads_registry_and_remote_config_without_ml_or_training_clients(tmp_path, emulator):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project)
    shutil.copytree(ROOT / "specs", project / "specs")
    with (project / "specs" / "digits.yaml").open("a") as specs:
        specs.write(ROLLOUT)
    (project / "Pulumi.emu-a.yaml").write_text(STACK.format(project="never-deployed", extra=""))
    # A stack never deployed, on the running emulator: every read answers (nothing there).
    status, modules, stderr = _edgectl(
        ["status", "--stack", "emu-a", "--project-dir", str(project)], env=dict(emulator.env)
    )
    assert status == 1, stderr  # drift: the Rollout's parameter is not in the template
    # What it reads: the bucket, Firebase ML (the publication's target), Remote Config.
    assert {"google.cloud.storage", "firebase_admin", "requests"} <= modules
    assert _loaded(modules, tuple(m for m in HEAVY if m != "firebase_admin")) == set()
    assert _emulator_beyond_its_parser(modules) == set()


def test_predict_of_a_model_file_loads_litert_and_no_cloud_client(tmp_path, tflite_files):
    model = tmp_path / "model.tflite"
    model.write_bytes(tflite_files[0].data)
    (tmp_path / "dict.txt").write_text("".join(f"{label}\n" for label in tflite_files[0].labels))
    image = tmp_path / "image.png"
    image.write_bytes(_png())
    status, modules, stderr = _edgectl(["predict", "--model-file", str(model), str(image)])
    assert status == 0, stderr
    assert {"ai_edge_litert.interpreter", "components.predict"} <= modules
    assert _loaded(modules, CLIENTS) == set()
    assert _loaded(modules, HEAVY) - _loaded(modules, ("ai_edge_litert", "numpy")) == set()
    assert _emulator_beyond_its_parser(modules) == set()


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


STUDIO_REQUESTS = """\
from pathlib import Path
from components.studio.server import Api, Studio
root = Path({root!r})
api = Api(Studio(root, root / "specs", None, None))
api.get(["overview"], {{}})
page = api.get(["datasets", "digits"], {{}})
name = __import__("json").loads(page[2])["contactSheet"]["zero"][0]
api.get(["image", "digits"], {{"name": [name]}})
"""


def test_studio_pages_load_no_cloud_client_and_no_ml_package(tmp_path):
    project = _example_project(tmp_path / "project")
    status, modules, stderr = _run(
        "0",
        setup=STUDIO_REQUESTS.format(root=str(project)),
        env={"EDGE_LABELER_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert status == 0, stderr
    assert {"components.studio.server", "components.data.manifest", "PIL.Image"} <= modules
    assert _loaded(modules, HEAVY + CLIENTS) == set()
    assert _emulator_beyond_its_parser(modules) == set()


def test_the_vertex_adapter_loads_the_gapic_clients_not_the_high_level_sdk():
    """The provider host that trains on Vertex AI (every `pulumi up` of a `vertex` stack) loads
    the GAPIC clients (`google.cloud.aiplatform_v1`), not the high-level SDK
    (`google.cloud.aiplatform`: v1beta1 and a thousand more modules, ~1.2 s of CPU per
    process) for four schema URIs and two messages."""
    status, modules, _ = _run("0", setup="import components.cloud.vertex")
    assert status == 0
    assert _loaded(modules, ("google.cloud.aiplatform_v1",))
    assert not _loaded(modules, ("google.cloud.aiplatform", "google.cloud.aiplatform_v1beta1"))
