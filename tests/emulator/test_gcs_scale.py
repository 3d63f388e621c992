"""Cloud Storage at scale: thousands of writes, kill -9, and the on-disk records behind them."""

import http.client
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gcp_storage_emulator.handlers.buckets import create_bucket
from gcp_storage_emulator.handlers.objects import _checksums, _make_object_resource
from gcp_storage_emulator.settings import STORAGE_DIR
from gcp_storage_emulator.storage import Storage

from emulator.server import EmulatorError, EmulatorServer
from tests.fixtures.emulator import start_cli, storage_client

NEW, OVERWRITTEN, PATCHED, DELETED = 1_800, 100, 100, 100  # 2,100 writes


def gcs_store(data_dir: Path) -> Path:
    """Where the emulator keeps Cloud Storage under a data directory (the package's layout)."""
    return data_dir / "gcs" / STORAGE_DIR


def snapshot(env: dict[str, str], bucket: str, soft_deleted: bool = False) -> dict:
    """name → (generation, metageneration, md5, size, custom metadata) as the client lists them."""
    return {
        (b.name, b.generation) if soft_deleted else b.name: (
            b.generation,
            b.metageneration,
            b.md5_hash,
            b.size,
            b.metadata,
        )
        for b in storage_client(env).list_blobs(bucket, soft_deleted=soft_deleted or None)
    }


def in_parallel(env: dict[str, str], fn: Callable, items) -> None:
    local = threading.local()

    def run(item) -> None:
        if not hasattr(local, "bucket"):
            local.bucket = storage_client(env).bucket("scale")
        fn(local.bucket, item)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(run, items))


def test_thousands_of_writes_survive_kill_9_with_their_generations(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    process, env = start_cli(data_dir, tmp_path / "emulator.log")
    try:
        storage_client(env).create_bucket("scale")
        names = [f"o/{i:05d}" for i in range(NEW)]
        in_parallel(env, lambda b, n: b.blob(n).upload_from_string(f"first {n}".encode()), names)
        overwritten = names[:OVERWRITTEN]
        in_parallel(
            env, lambda b, n: b.blob(n).upload_from_string(f"second {n}".encode()), overwritten
        )

        def patch(bucket, name):
            blob = bucket.blob(name)
            blob.metadata = {"reviewed": "yes"}
            blob.patch()

        patched = names[OVERWRITTEN : OVERWRITTEN + PATCHED]
        in_parallel(env, patch, patched)
        deleted = names[-DELETED:]
        in_parallel(env, lambda b, n: b.blob(n).delete(), deleted)

        before = snapshot(env, "scale")
        soft_before = snapshot(env, "scale", soft_deleted=True)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    assert len(before) == NEW - DELETED and len(soft_before) == DELETED
    untouched = before[names[NEW // 2]][1]
    assert {before[n][1] for n in patched} == {untouched + 1}
    assert before[patched[0]][4] == {"reviewed": "yes"}
    # The global index holds buckets only: its size does not grow with the objects.
    assert (gcs_store(data_dir) / ".meta").stat().st_size < 4096

    env = emulator_factory(data_dir).env
    assert snapshot(env, "scale") == before
    assert snapshot(env, "scale", soft_deleted=True) == soft_before
    bucket = storage_client(env).bucket("scale")
    for name, content in [
        (overwritten[0], f"second {overwritten[0]}"),
        (patched[0], f"first {patched[0]}"),
        (names[NEW // 2], f"first {names[NEW // 2]}"),
    ]:
        # Downloads check the stored checksums against the bytes.
        assert bucket.blob(name).download_as_bytes() == content.encode()

    # A soft-deleted generation is restorable after the restart, as a new generation.
    name, generation = next(iter(soft_before))
    restored = bucket.restore_blob(name, generation=generation)
    assert restored.download_as_bytes() == f"first {name}".encode()
    assert restored.generation != generation


def test_an_index_in_the_packages_own_format_is_taken_over(tmp_path, emulator_factory):
    """A data directory whose `.meta` lists every object, as the package writes it."""
    data_dir = tmp_path / "data"
    package = Storage(data_dir=str((data_dir / "gcs").resolve()))
    create_bucket("legacy", package)
    obj = _make_object_resource("http://127.0.0.1:1", "legacy", "a/b.txt", "text/plain", "5")
    package.create_file("legacy", "a/b.txt", b"hello", _checksums(b"hello", obj))

    server = emulator_factory(data_dir)
    blob = storage_client(server.env).bucket("legacy").get_blob("a/b.txt")
    generation = int(obj["generation"])
    assert (blob.generation, blob.download_as_bytes()) == (generation, b"hello")
    assert b'"objects"' not in (gcs_store(data_dir) / ".meta").read_bytes()
    server.stop()

    again = emulator_factory(data_dir).env
    assert storage_client(again).bucket("legacy").get_blob("a/b.txt").generation == generation


def test_a_damaged_object_record_is_named_and_nothing_starts(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    storage_client(server.env).create_bucket("damaged").blob("x").upload_from_string(b"x")
    server.stop()
    (record,) = (gcs_store(data_dir) / "_objects").rglob("*.json")
    record.write_text('{"bucket": "damaged", ')
    with pytest.raises(EmulatorError, match=rf"{record} is not valid JSON"):
        EmulatorServer(data_dir).start()
    record.write_text('{"bucket": "damaged"}')
    with pytest.raises(EmulatorError, match=rf"{record} is not an object record"):
        EmulatorServer(data_dir).start()


def test_a_deleted_bucket_leaves_no_records_behind(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = storage_client(server.env).create_bucket("gone")
    for i in range(3):
        bucket.blob(f"{i}").upload_from_string(b"x")
    for i in range(3):
        bucket.blob(f"{i}").delete()  # soft-deleted: their records stay until the bucket goes
    assert len(list((gcs_store(data_dir) / "_objects" / "gone").rglob("*.json"))) == 3
    bucket.delete()
    assert not (gcs_store(data_dir) / "_objects" / "gone").exists()
    server.stop()

    # A crash after `.meta` dropped a bucket but before its records were removed.
    orphan = gcs_store(data_dir) / "_objects" / "ghost" / "ab" / "ab.json"
    orphan.parent.mkdir(parents=True)
    orphan.write_text('{"bucket":"ghost","name":"n","object":null,"softDeleted":{},"content":null}')
    env = emulator_factory(data_dir).env
    assert not orphan.exists()
    recreated = storage_client(env).create_bucket("gone")
    assert list(storage_client(env).list_blobs(recreated, soft_deleted=True)) == []


def test_a_refused_write_does_not_break_the_writes_after_it(tmp_path, emulator_factory):
    """A write the package refuses (its bucket does not exist) leaves nothing to persist."""
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    host = server.env["STORAGE_EMULATOR_HOST"].removeprefix("http://")
    for bucket in ("missing", ".."):  # ".." is no bucket name, and no path on disk either
        connection = http.client.HTTPConnection(host, timeout=10)
        connection.request("POST", f"/upload/storage/v1/b/{bucket}/o?uploadType=media&name=x", b"x")
        assert connection.getresponse().status == 404
        connection.close()

    bucket = storage_client(server.env).create_bucket("after")
    bucket.blob("y").upload_from_string(b"y")
    server.stop()
    env = emulator_factory(data_dir).env
    assert storage_client(env).bucket("after").blob("y").download_as_bytes() == b"y"
