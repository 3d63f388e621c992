"""Local paths in specs: confined to the project root, symlinks resolved.

The root is the nearest directory, from the spec directory up, that holds `Pulumi.yaml`
or `.git` (the Pulumi project or the repository the specs are reviewed in); without
either, the spec directory's parent (the layout `<project>/specs/`, with data beside
it). A spec may name `../data/x.zip`, never `/etc/passwd` or a symlink that leads out.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_MARKERS = ("Pulumi.yaml", ".git")
ROOT_RULE = (
    "the project root is the nearest directory above the specs holding Pulumi.yaml or "
    ".git, else the spec directory's parent"
)


def project_root(spec_directory: Path) -> Path:
    """The resolved directory every local path of these specs must stay inside."""
    start = Path(spec_directory).resolve()
    for candidate in (start, *start.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    return start.parent


def outside_root(path: Path, root: Path) -> Path | None:
    """`path` with every symlink resolved when that leads outside `root`, else None.

    Raises OSError or RuntimeError when the path cannot be resolved (a symlink loop).
    """
    resolved = Path(path).resolve()
    return None if resolved.is_relative_to(root.resolve()) else resolved


def root_relative(path: Path, root: Path) -> str:
    """`path` relative to `root` in POSIX form: what provider inputs, and so Pulumi state,
    hold instead of an absolute path of this machine (`../x` if `root` is not the specs')."""
    return Path(os.path.relpath(Path(path).resolve(), Path(root).resolve())).as_posix()


def root_problem(written: str, path: Path, root: Path) -> str | None:
    """Why `path` (written as `written`) may not be used, or None when it stays inside.

    It may lead outside `root`, or not resolve at all (a symlink loop).
    """
    try:
        escaped = outside_root(path, root)
    except (OSError, RuntimeError) as exc:  # a symlink loop
        return f"{written!r} cannot be resolved: {exc}"
    if escaped is None:
        return None
    return (
        f"{written!r} resolves to {escaped}, outside the project root {root}; "
        f"paths in specs must stay inside {root} ({ROOT_RULE})"
    )
