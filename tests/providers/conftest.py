"""Provider-protocol layer: a scratch project, its specs, and the SDK's provider host."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cloud.clients import CloudTarget
from components.providers.bucket import BucketProvider, bucket_inputs
from components.spec import load_specs
from tests.fixtures.digits import digit_images, write_zip
from tests.fixtures.emulator import LOCATION, PROJECT
from tests.fixtures.provider_host import ProviderHost

SPECS = """\
apiVersion: edge-labeler/v1
kind: Bucket
metadata: {{name: data}}
spec: {{}}
---
apiVersion: edge-labeler/v1
kind: Dataset
metadata: {{name: {dataset}}}
spec:
  bucket: data
  source: {{zip: {zip}}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch project directory: the provider host's working directory."""
    return tmp_path_factory.mktemp("project")


@pytest.fixture(scope="module")
def target(emulator) -> CloudTarget:
    return CloudTarget(stack="local", project=PROJECT, region=LOCATION, emulator=True)


@pytest.fixture(scope="module")
def host(project: Path, emulator) -> Iterator[ProviderHost]:
    with ProviderHost(cwd=project) as h:
        h.configure({"edge-labeler:project": PROJECT})
        yield h


@pytest.fixture(scope="module")
def bucket(host: ProviderHost, project: Path, target: CloudTarget) -> str:
    """The stack's bucket, created through the Bucket provider."""
    write_zip(project / "data" / "placeholder.zip", digit_images(10, ("zero", "one")))
    directory = project / "specs-bucket"
    directory.mkdir(exist_ok=True)
    (directory / "all.yaml").write_text(SPECS.format(dataset="x", zip="../data/placeholder.zip"))
    spec = load_specs(directory).buckets["data"]
    props = host.inputs(BucketProvider(), bucket_inputs(spec, target))
    urn = host.urn("edge-labeler:Bucket", "data")
    inputs, failures = host.check(urn, props)
    assert failures == []
    id_, outs = host.create(urn, inputs)
    assert id_ == outs["bucketName"] == f"{target.project}-data"
    return id_
