"""A temporary git repository holding the example project, to review changes between commits."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.cli import main

ROOT = Path(__file__).resolve().parents[2]
GIT_IDENTITY = ["-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com"]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@dataclass
class Repo:
    """The example project (Pulumi.*.yaml + specs/) committed once; tests commit a change."""

    root: Path

    def edit(self, path: str, old: str, new: str) -> None:
        file = self.root / path
        text = file.read_text()
        assert old in text, f"{old!r} not in {path}"
        file.write_text(text.replace(old, new, 1))

    def commit(self, message: str) -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)
        return git(self.root, "rev-parse", "HEAD")

    def review(
        self, capsys: pytest.CaptureFixture[str], *args: str, fmt: str = "json"
    ) -> tuple[int, object]:
        """`edgectl review --base HEAD~1 --head HEAD ...`: (exit status, parsed output)."""
        code = main(
            [
                "review",
                "--project-dir",
                str(self.root),
                "--base",
                "HEAD~1",
                "--head",
                "HEAD",
                "--format",
                fmt,
                *args,
            ]
        )
        out = capsys.readouterr().out
        return code, (json.loads(out) if fmt == "json" else out)


@pytest.fixture(scope="session")
def example_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("review-template") / "project"
    root.mkdir()
    for stack_file in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(stack_file, root / stack_file.name)
    shutil.copytree(ROOT / "specs", root / "specs")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "example project")
    return root


@pytest.fixture
def repo(example_repo: Path, tmp_path: Path) -> Repo:
    """A fresh copy of the committed example project (its own .git)."""
    root = tmp_path / "project"
    shutil.copytree(example_repo, root)
    return Repo(root)


def change(report: dict, stack: str, kind: str, name: str) -> dict:
    """The change of one document on one stack (AssertionError listing what there is)."""
    stacks = {s["stack"]: s for s in report["stacks"]}
    changes = {(c["kind"], c["name"]): c for c in stacks[stack]["changes"]}
    assert (kind, name) in changes, f"{kind} {name} unchanged on {stack}: {sorted(changes)}"
    return changes[(kind, name)]
