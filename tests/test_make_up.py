"""`make up` checks for the Pulumi CLI first (seconds), before building the virtualenv
(minutes), and installs the CLI at the pinned SDK's version.

Before: `make up` built the 2.5 GB venv, then found the CLI missing, then installed the latest
CLI with `curl | sh`.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDK = re.search(r"^pulumi==([0-9.]+)", (ROOT / "requirements.txt").read_text(), re.M)


def _project(tmp_path: Path) -> Path:
    """What `make up` reads, in a fresh folder (no .venv)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "scripts", project / "scripts")
    return project


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No `pulumi` anywhere (HOME without ~/.pulumi), an installer URL nothing answers."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p)
    assert not any((Path(p) / "pulumi").exists() for p in path.split(os.pathsep))
    return {
        "PATH": path,
        "HOME": str(tmp_path / "home"),
        "PULUMI_INSTALLER_URL": "http://127.0.0.1:9/install.sh",
        **extra,
    }


def test_make_up_without_a_cli_stops_before_building_the_venv(tmp_path):
    assert SDK is not None
    project = _project(tmp_path)
    done = subprocess.run(
        ["make", "up"],
        cwd=project,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,  # hang guard: building the venv first would take minutes
    )
    assert done.returncode != 0
    assert "the Pulumi CLI is required" in done.stderr
    assert f"v{SDK[1]}" in done.stderr  # the version to install: the pinned SDK's
    assert "Nothing was built yet" in done.stderr
    assert not (project / ".venv").exists()


def test_a_cli_on_path_is_used_and_its_version_shown_next_to_the_sdks(tmp_path):
    assert SDK is not None
    project = _project(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "pulumi"  # a stand-in for the CLI binary: `pulumi version` only
    cli.write_text("#!/bin/sh\necho v3.999.0\n")
    cli.chmod(0o755)
    env = _env(tmp_path)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "scripts/pulumi-cli.sh"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"Pulumi CLI 3.999.0 at {cli} (the pinned SDK is {SDK[1]})" in done.stdout
