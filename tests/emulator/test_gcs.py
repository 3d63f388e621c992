"""Cloud Storage on the emulator, through the real google-cloud-storage client."""

import uuid

import pytest
from google.api_core import exceptions
from google.cloud.storage.retry import DEFAULT_RETRY

from emulator.gcs_storage import PACK_LIMIT
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import admin, storage_client


def _bucket(env):
    return storage_client(env).create_bucket(f"gcs-{uuid.uuid4().hex[:12]}")


def test_upload_download_list_delete(emulator):
    bucket = _bucket(emulator.env)
    images = digit_images(2, ("zero", "one"))
    for image in images:
        bucket.blob(f"img/{image.index}.{image.extension}").upload_from_string(
            image.data, content_type=f"image/{image.extension}"
        )
    bucket.blob("index.csv").upload_from_string("a,b\n", content_type="text/csv")

    names = [b.name for b in storage_client(emulator.env).list_blobs(bucket.name, prefix="img/")]
    assert names == sorted(f"img/{i.index}.{i.extension}" for i in images)
    first = images[0]
    blob = bucket.get_blob(f"img/{first.index}.{first.extension}")
    assert blob.size == len(first.data)
    assert blob.content_type == f"image/{first.extension}"
    assert blob.download_as_bytes() == first.data

    blob.delete()
    assert bucket.get_blob(blob.name) is None
    with pytest.raises(exceptions.NotFound):
        bucket.blob(blob.name).download_as_bytes()
    assert len(list(bucket.list_blobs())) == len(images)


def test_missing_bucket_is_not_found(emulator):
    client = storage_client(emulator.env)
    with pytest.raises(exceptions.NotFound):
        client.get_bucket(f"missing-{uuid.uuid4().hex[:8]}")


def test_core_reads_what_the_client_wrote_and_the_client_reads_what_the_core_wrote(emulator):
    bucket = _bucket(emulator.env)
    bucket.blob("a/b.txt").upload_from_string(b"from the client")
    blobs = emulator.backend.blobs
    assert blobs.read(f"gs://{bucket.name}/a/b.txt") == b"from the client"
    assert blobs.stat(f"gs://{bucket.name}/a/b.txt").size == len(b"from the client")

    blobs.write(f"gs://{bucket.name}/out/c.json", b'{"x": 1}', "application/json")
    blob = bucket.get_blob("out/c.json")
    assert blob.content_type == "application/json"
    assert blob.download_as_bytes() == b'{"x": 1}'  # checksums match the content
    assert [i.uri for i in blobs.list(f"gs://{bucket.name}/out/")] == [
        f"gs://{bucket.name}/out/c.json"
    ]


def test_objects_survive_a_restart_and_download_on_the_new_port(emulator_factory, tmp_path):
    data_dir = tmp_path / "data"
    first = emulator_factory(data_dir)
    bucket = _bucket(first.env)
    bucket.blob("keep.bin").upload_from_string(b"\x00\x01persist")
    first.stop()

    second = emulator_factory(data_dir)
    blob = storage_client(second.env).bucket(bucket.name).get_blob("keep.bin")
    assert blob is not None
    # The stored mediaLink was rewritten to the new port, so this download reaches the server.
    assert blob.media_link.startswith(second.env["STORAGE_EMULATOR_HOST"] + "/")
    assert blob.download_as_bytes() == b"\x00\x01persist"


def test_an_index_older_than_the_content_is_repaired_on_start(emulator_factory, tmp_path):
    """A crash between writing new content and writing the index leaves them disagreeing (a
    content larger than PACK_LIMIT has a file of its own, renamed into place first)."""
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = _bucket(server.env)
    bucket.blob("obj.txt").upload_from_string(b"o" * (PACK_LIMIT + 1))
    server.stop()
    (content,) = (data_dir / "gcs").rglob("*.data")  # the only object's content file
    newer = b"newer content, longer" * (PACK_LIMIT // 20)
    content.write_bytes(newer)

    restarted = emulator_factory(data_dir)
    blob = storage_client(restarted.env).bucket(bucket.name).get_blob("obj.txt")
    assert blob.size == len(newer)
    assert blob.download_as_bytes() == newer  # checksum verified by client


def test_injected_faults_reach_the_client_and_its_retry_recovers(emulator_factory):
    server = emulator_factory()
    env = server.env
    bucket = _bucket(env)
    bucket.blob("x.txt").upload_from_string(b"x")

    status, _ = admin(
        env,
        "POST",
        "/emulator/v1/faults",
        {"method": "storage.objects.get", "effect": "UNAVAILABLE", "count": 2},
    )
    assert status == 200
    # Downloads are idempotent: the client retries 503 and succeeds on the third call.
    assert bucket.blob("x.txt").download_as_bytes(retry=DEFAULT_RETRY) == b"x"
    assert admin(env, "GET", "/emulator/v1/faults")[1]["faults"] == []

    admin(
        env,
        "POST",
        "/emulator/v1/faults",
        {"method": "storage.objects.insert", "effect": "RESOURCE_EXHAUSTED"},
    )
    # Without a retry policy the 429 reaches the caller.
    with pytest.raises(exceptions.TooManyRequests):
        bucket.blob("y.txt").upload_from_string(b"y", retry=None)
    bucket.blob("y.txt").upload_from_string(b"y")
    assert bucket.get_blob("y.txt").download_as_bytes() == b"y"


def test_the_packages_wipe_endpoint_is_not_served(emulator):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(emulator.env["STORAGE_EMULATOR_HOST"] + "/wipe", timeout=5)
    assert info.value.code == 404


def test_downloading_a_missing_object_is_a_404_and_not_an_error_in_the_emulators_log(
    emulator, caplog
):
    """A missing object's download is the client's 404, as on Cloud Storage: the package's
    "Resource not found:" ERROR lines (printed amid `edgectl rehearse`'s progress) are not
    logged for it."""
    bucket = _bucket(emulator.env)
    with caplog.at_level("DEBUG"), pytest.raises(exceptions.NotFound):
        bucket.blob("never-written.json").download_as_bytes()
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
