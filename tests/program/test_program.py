"""Program layer: `__main__.py` under `pulumi.runtime.set_mocks`, one process per stack."""

import json
import subprocess
import sys
from functools import cache

import pytest

from tests.program.run_program import ROOT


@cache
def declared(stack: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tests.program.run_program", stack],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["error"] is None, result["error"]
    return {r["name"]: r for r in result["resources"]}


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_every_spec_becomes_a_component_with_its_children(stack):
    resources = declared(stack)
    assert resources["ml-data"]["type"] == "edge-labeler:index:Bucket"
    assert resources["digits"]["type"] == "edge-labeler:index:Dataset"
    assert _short(resources["ml-data-bucket"]["parent"]) == "ml-data"
    dataset = resources["digits-dataset"]
    assert dataset["type"] == "pulumi-python:dynamic/edge-labeler:Dataset"
    assert _short(dataset["parent"]) == "digits"
    assert [_short(d) for d in dataset["dependencies"]] == ["ml-data-bucket"]
    assert dataset["serialized_provider"] is True  # the provider pickled by the SDK
    assert dataset["inputs"]["cloud"]["stack"] == stack  # never pulumi.get_stack() in the host
    # None values are not sent to the engine; the path is relative to the project.
    assert dataset["inputs"]["source"] == {"kind": "zip", "path": "specs/data/digits.zip"}


def test_local_stack_uses_the_emulator_bucket():
    bucket = declared("local")["ml-data-bucket"]
    assert bucket["type"] == "pulumi-python:dynamic/edge-labeler:Bucket"
    assert bucket["inputs"]["cloud"]["emulator"] is True
    assert bucket["inputs"]["bucketName"] == "local-project-ml-data"


@pytest.mark.parametrize(("stack", "protect"), [("dev", False), ("prod", True)])
def test_gcp_stacks_declare_a_private_bucket_and_training_access(stack, protect):
    resources = declared(stack)
    bucket = resources["ml-data-bucket"]
    assert bucket["type"] == "gcp:storage/bucket:Bucket"
    assert bucket["protect"] is protect
    assert bucket["inputs"]["uniformBucketLevelAccess"] is True
    assert bucket["inputs"]["publicAccessPrevention"] == "enforced"
    assert bucket["inputs"]["forceDestroy"] is False
    access = resources["ml-data-training-access"]
    assert access["inputs"]["role"] == "roles/storage.objectAdmin"
    assert access["inputs"]["member"] == (
        "serviceAccount:service-123456789012@gcp-sa-aiplatform.iam.gserviceaccount.com"
    )
    assert _short(access["parent"]) == "ml-data"
