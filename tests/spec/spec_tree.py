"""A tiny valid spec directory for tests: specs/base.yaml (a Bucket and a Dataset)."""

from __future__ import annotations

import textwrap
from pathlib import Path

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
