"""Two emulated stacks of one project (`local` and `staging-emu`), and the SDK's provider host.

Both stacks are `emulator: true` with their own GCP project ids, so their buckets, datasets,
models and Firebase ML models are separate, on the same emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.graph import Node
from components.review.plan import Checker, plan_stack, scan_cache_in
from components.review.rehearsal import Deployment, StepFailed, deploy
from components.spec import load_specs, load_stack_config
from emulator.core.trainer import SECONDS_PER_NODE_HOUR_ENV
from tests.fixtures.digits import digit_images, write_zip
from tests.fixtures.emulator import patched_environ
from tests.fixtures.provider_host import ProviderCallError, ProviderHost

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


class HostEngine:
    """The rehearsal's runner, through the Pulumi SDK's provider host (as `pulumi up`)."""

    def __init__(self, host: ProviderHost):
        self.host = host

    def _urn(self, node: Node) -> str:
        return self.host.urn(f"edge-labeler:{node.type}", node.name)

    def check(self, node: Node, props: dict[str, Any]) -> dict[str, Any]:
        inputs, failures = self.host.check(
            self._urn(node), self.host.inputs(node.provider(), props)
        )
        if failures:
            raise StepFailed("; ".join(reason for _, reason in failures))
        return inputs

    def create(self, node: Node, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        try:
            return self.host.create(self._urn(node), inputs)
        except ProviderCallError as err:
            raise StepFailed(err.details) from None


def deploy_stack(host: ProviderHost, root: Path, stack: str) -> Deployment:
    """`pulumi up` of one stack, resource by resource through the provider host."""
    config = load_stack_config(stack, root)
    with scan_cache_in(root.parent / "scan-cache"):  # not in the repository's .edge-labeler/
        plan = plan_stack(load_specs(root / config.specs, stack), config, root, Checker())
    assert plan.errors == () and plan.graph is not None
    return deploy(plan.graph, HostEngine(host), root)


@pytest.fixture(scope="module")
def fast_training() -> Iterator[None]:
    with patched_environ({SECONDS_PER_NODE_HOUR_ENV: "15"}):
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
