"""Two emulated stacks of one project (`local` and `staging-emu`), and the SDK's provider host.

Both stacks are `emulator: true` with their own GCP project ids, so their buckets, datasets,
models and Firebase ML models are separate, on the same emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from tests.fixtures.digits import digit_images, write_zip
from tests.fixtures.emulator import patched_environ
from tests.fixtures.provider_host import ProviderHost

LABELS = ("zero", "one", "two")
STACK_FILE = """\
config:
  edge-labeler:project: {project}
  edge-labeler:emulator: "true"
  edge-labeler:registry: firebase_ml
"""
SPECS = """\
apiVersion: edge-labeler/v1
kind: Bucket
metadata: {name: data}
spec: {}
---
apiVersion: edge-labeler/v1
kind: Dataset
metadata: {name: digits}
spec:
  bucket: data
  source: {zip: data/digits.zip}
---
apiVersion: edge-labeler/v1
kind: Model
metadata: {name: digits}
spec:
  dataset: digits
  optimizeFor: latency
  budget: {nodeHours: 1}
  export: [tflite]
  acceptance:
    threshold: {maximize: f1}
    minPrecision: 0.3
---
apiVersion: edge-labeler/v1
kind: Publication
metadata: {name: digits}
spec:
  model: digits
  target: firebase-ml
  displayName: promo_digits
  tags: [digits]
"""
# The target's overlay, with comments and formatting that a promotion must keep.
STAGING_OVERLAY = """\
# Stack `staging-emu`: the last stop before prod (emulated).
#   Promotions land here as one-line pull requests.

apiVersion: edge-labeler/v1
kind: Model
metadata:
  name: digits
spec:
  acceptance:
    # Stricter than local, on purpose.
    minPrecision: 0.31   # keep in sync with prod
---
apiVersion: edge-labeler/v1
kind: Publication
metadata: {name: digits}
spec:
  tags: [digits, staging]     # aligned comment
"""


@pytest.fixture(scope="module")
def fast_training() -> Iterator[None]:
    # 1 node hour = 40 epochs: the same model on any machine, however busy.
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "40"}):
        yield


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("promotion") / "project"
    (root / "specs" / "envs").mkdir(parents=True)
    write_zip(root / "specs" / "data" / "digits.zip", digit_images(20, LABELS))
    (root / "Pulumi.yaml").write_text("name: edge-labeler\nruntime: python\n")
    (root / "Pulumi.local.yaml").write_text(STACK_FILE.format(project="promo-local"))
    (root / "Pulumi.staging-emu.yaml").write_text(
        STACK_FILE.format(project="promo-staging") + "  edge-labeler:promoteFrom: [local]\n"
    )
    (root / "specs" / "all.yaml").write_text(SPECS)
    (root / "specs" / "envs" / "staging-emu.yaml").write_text(STAGING_OVERLAY)
    return root


@pytest.fixture(scope="module")
def host(project: Path, emulator, fast_training) -> Iterator[ProviderHost]:
    with ProviderHost(cwd=project) as h:
        h.configure({})
        yield h
