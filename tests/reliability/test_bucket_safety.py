"""Objects are deleted with their bucket only when the spec says `forceDestroy: true`.

Before: the emulator Bucket's delete always force-deleted its objects, and a replacement that
kept the bucket's name (a location change) created the "new" bucket by adopting the old one,
then deleted the old one — the same bucket — with every image, export and record in it.
"""

from collections.abc import Iterator

import pytest

from components.cloud.clients import CloudTarget
from components.providers.bucket import BucketProvider, bucket_inputs
from components.spec import load_specs
from tests.fixtures.emulator import LOCATION, PROJECT, storage_client
from tests.fixtures.provider_host import ProviderCallError, ProviderHost

SPEC = """\
apiVersion: edge-labeler/v1
kind: Bucket
metadata: {{name: {name}}}
spec: {{location: {location}{extra}}}
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory, emulator) -> Iterator[ProviderHost]:
    with ProviderHost(cwd=tmp_path_factory.mktemp("project")) as h:
        h.configure({"edge-labeler:project": PROJECT})
        yield h


def _inputs(tmp_path, name: str, location: str = "US-CENTRAL1", extra: str = "") -> dict:
    directory = tmp_path / f"specs-{name}-{location}-{len(extra)}"
    directory.mkdir()
    (directory / "bucket.yaml").write_text(SPEC.format(name=name, location=location, extra=extra))
    spec = load_specs(directory).buckets[name]
    target = CloudTarget(stack="local", project=PROJECT, region=LOCATION, emulator=True)
    return ProviderHost.inputs(BucketProvider(), bucket_inputs(spec, target))


def _create_with_object(host: ProviderHost, props: dict, urn: str) -> tuple[str, dict]:
    inputs, failures = host.check(urn, props)
    assert failures == []
    id_, outs = host.create(urn, inputs)
    storage_client(_env()).bucket(id_).blob("images/keep.png").upload_from_string(b"png")
    return id_, outs


def _env() -> dict:
    import os

    return {"STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"]}


def _objects(bucket: str) -> list[str]:
    return [b.name for b in storage_client(_env()).list_blobs(bucket)]


def test_replacing_a_bucket_under_the_same_name_never_deletes_its_objects(host, tmp_path):
    urn = host.urn("edge-labeler:Bucket", "moved")
    id_, outs = _create_with_object(host, _inputs(tmp_path, "moved"), urn)
    news, _ = host.check(urn, _inputs(tmp_path, "moved", "EUROPE-WEST4"), outs)
    diff = host.diff(urn, id_, outs, news)
    assert diff.replaces == ("location",)
    # As the engine runs a replacement: delete first when the provider asks for it.
    steps = [lambda: host.create(urn, news), lambda: host.delete(urn, id_, outs)]
    if diff.delete_before_replace:
        steps.reverse()
    with pytest.raises(ProviderCallError) as refused:
        for step in steps:
            step()
    assert "forceDestroy" in refused.value.details
    assert f"gs://{id_}" in refused.value.details
    assert _objects(id_) == ["images/keep.png"]


def test_deleting_a_bucket_with_objects_needs_force_destroy(host, tmp_path):
    urn = host.urn("edge-labeler:Bucket", "kept")
    id_, outs = _create_with_object(host, _inputs(tmp_path, "kept"), urn)
    with pytest.raises(ProviderCallError) as refused:
        host.delete(urn, id_, outs)
    message = refused.value.details
    assert "Bucket 'kept'" in message and "1 object" in message
    assert "forceDestroy: true" in message and "Traceback" not in message
    assert _objects(id_) == ["images/keep.png"]

    forced, _ = host.check(urn, _inputs(tmp_path, "kept", extra=", forceDestroy: true"), outs)
    assert host.diff(urn, id_, outs, forced).changes  # an update, not a replacement
    outs = host.update(urn, id_, outs, forced)
    host.delete(urn, id_, outs)
    assert not storage_client(_env()).bucket(id_).exists()


def test_an_empty_bucket_is_deleted_without_force(host, tmp_path):
    urn = host.urn("edge-labeler:Bucket", "empty")
    inputs, _ = host.check(urn, _inputs(tmp_path, "empty"))
    id_, outs = host.create(urn, inputs)
    host.delete(urn, id_, outs)
    assert not storage_client(_env()).bucket(id_).exists()
