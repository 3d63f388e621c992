"""Helpers for the spec tests: a tiny valid spec directory built in tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

BASE_YAML = """\
apiVersion: edge-labeler/v1
kind: Bucket
metadata: {name: ml-data}
spec: {}
---
apiVersion: edge-labeler/v1
kind: Dataset
metadata: {name: digits}
spec:
  bucket: ml-data
  source: {zip: data/digits.zip}
"""


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Write {relative path: text} under root (text is dedented)."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def spec_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd = tmp_path with specs/base.yaml (a Bucket and a Dataset) and specs/data/digits.zip.

    Returns the relative Path("specs"), so messages read `specs/x.yaml:1:1: ...`.
    """
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path, {"specs/base.yaml": BASE_YAML})
    # Only existence is checked by the spec layer; zip contents are components/data's job.
    (tmp_path / "specs" / "data").mkdir()
    (tmp_path / "specs" / "data" / "digits.zip").write_bytes(b"")
    return Path("specs")
