"""Provider-protocol layer: a scratch project, its specs, and the SDK's provider host."""

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cloud.clients import CloudTarget
from tests.fixtures.digits import DigitImage
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


def write_zip(path: Path, images: tuple[DigitImage, ...]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in images:
            zf.writestr(f"{i.label}/{i.index:04d}.{i.extension}", i.data)
    return path


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
