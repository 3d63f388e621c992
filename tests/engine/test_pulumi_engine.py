"""Engine layer: the real `pulumi` CLI on the `local` stack (file backend) against the emulator.

Runs only where a `pulumi` CLI is installed (`make up` installs one on a machine with
internet); otherwise it is skipped and pytest's summary prints why.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.cloud.clients import CloudTarget
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from tests.fixtures.emulator import patched_environ
from tests.fixtures.trainings import training_operations

ROOT = Path(__file__).resolve().parents[2]
PULUMI = shutil.which("pulumi") or next(
    (str(p) for p in [Path.home() / ".pulumi" / "bin" / "pulumi"] if p.exists()), None
)

pytestmark = pytest.mark.skipif(
    PULUMI is None,
    reason="no `pulumi` CLI on PATH: the engine layer (pulumi up / up again / refresh / "
    "destroy on the local stack) runs only where the CLI is installed",
)


@pytest.fixture(autouse=True)
def epoch_budget():
    """1 node hour = 10 epochs: the example's gate passes on any machine. Set in this process,
    where the session's emulator trains (not in the `pulumi` subprocess's environment)."""
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "10"}):
        yield


def _project(tmp_path: Path) -> Path:
    """A copy of the project (the stack file gets an encryption salt; the repo's must not)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.local.yaml", "__main__.py"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "specs", project / "specs")
    (project / ".venv").symlink_to(ROOT / ".venv")
    return project


def _trainings() -> int:
    """CreateModel operations the emulator has run for the example's `local` stack."""
    target = CloudTarget(stack="local", project="local-project", emulator=True)
    return len(training_operations(target))


def _pulumi(project: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PULUMI, *args, "--stack", "local", "--non-interactive"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, f"pulumi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_up_again_refresh_destroy(tmp_path, emulator):
    project = _project(tmp_path)
    (tmp_path / "state").mkdir()
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "engine-test",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    subprocess.run(
        [PULUMI, "stack", "init", "local", "--non-interactive"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    _pulumi(project, env, "up", "--yes", "--skip-preview")
    outputs = json.loads(_pulumi(project, env, "stack", "output", "--json"))
    model = outputs["model/digits"]
    assert model["fingerprint"].startswith("sha256:") and 0 <= model["threshold"] <= 1
    assert outputs["publication/digits"]["state"] == "published"
    trainings = _trainings()
    _pulumi(project, env, "preview", "--expect-no-changes")
    _pulumi(project, env, "up", "--yes", "--skip-preview")
    assert _trainings() == trainings  # nothing is trained (or billed) twice
    _pulumi(project, env, "refresh", "--yes", "--skip-preview")
    _pulumi(project, env, "preview", "--expect-no-changes")
    _pulumi(project, env, "destroy", "--yes", "--skip-preview")
