"""A project directory as it was at a git revision, read from git without touching the work tree.

`checkout(project_dir, rev, into)` extracts the project's tree at `rev` (`git archive
<commit>:<path>`) into a temporary directory; nothing in the repository or its work tree is
written. `rev=None` means the working tree itself, as it is now (uncommitted edits included).
"""

from __future__ import annotations

import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path


class RevisionError(Exception):
    """A revision that cannot be read (unknown, or the project is not in it)."""


@dataclass(frozen=True)
class Checkout:
    """The project directory at one revision."""

    rev: str | None  # as given; None for the working tree
    commit: str | None  # full commit id; None for the working tree
    root: Path  # the project directory (Pulumi.*.yaml, specs/) of that revision

    @property
    def label(self) -> str:
        if self.rev is None:
            return "working tree"
        return f"{self.rev} ({self.commit[:12]})" if self.commit else self.rev


def _git(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise RevisionError("git is not installed (it is needed to read revisions)") from None
    if done.returncode != 0:
        raise RevisionError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout.strip()


def repository_prefix(project_dir: Path) -> tuple[Path, str]:
    """The repository's top directory and the project directory's path inside it."""
    project_dir = Path(project_dir).resolve()
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], project_dir)).resolve()
    except RevisionError as err:
        raise RevisionError(f"{project_dir} is not inside a git repository ({err})") from None
    return top, project_dir.relative_to(top).as_posix()


def resolve_commit(project_dir: Path, rev: str) -> str:
    """The full commit id of `rev`; RevisionError naming the revision when it is unknown."""
    try:
        return _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], Path(project_dir))
    except RevisionError:
        raise RevisionError(
            f"revision {rev!r} is not a commit of the repository at {project_dir} "
            "(fetch it first, e.g. `git fetch origin main`, or use a commit id)"
        ) from None


def checkout(project_dir: Path, rev: str | None, into: Path) -> Checkout:
    """The project directory at `rev`, extracted under `into` (the working tree when None)."""
    if rev is None:
        return Checkout(None, None, Path(project_dir).resolve())
    top, prefix = repository_prefix(project_dir)
    commit = resolve_commit(top, rev)
    tree = f"{commit}:{prefix}" if prefix not in ("", ".") else commit
    into.mkdir(parents=True, exist_ok=True)
    with subprocess.Popen(
        ["git", "archive", "--format=tar", tree],
        cwd=top,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                archive.extractall(into, filter="data")  # no links out, no absolute paths
        except tarfile.ReadError:
            pass  # reported below from git's exit status
        error = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    if proc.returncode != 0:
        raise RevisionError(
            f"cannot read {prefix or 'the repository'} at {rev} ({commit[:12]}): "
            f"{error or 'git archive failed'}"
        )
    return Checkout(rev, commit, into.resolve())
