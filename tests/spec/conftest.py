"""Fixtures for the spec tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spec.spec_tree import BASE_YAML, write_tree


@pytest.fixture
def spec_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd = tmp_path with specs/base.yaml and an (empty) specs/data/digits.zip.

    Returns the relative Path("specs"), so messages read `specs/x.yaml:1:1: ...`.
    Only the zip's existence matters here: its contents are components/data's job.
    """
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path, {"specs/base.yaml": BASE_YAML, "specs/data/digits.zip": ""})
    return Path("specs")
