"""Cloud Storage at scale: thousands of writes, kill -9, and the on-disk records behind them."""

import hashlib
import http.client
import json
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

from emulator.gcs_storage import COMPACT_MIN_BYTES, LAYOUT, PACK_LIMIT
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


def record_log(data_dir: Path, bucket: str) -> Path:
    return gcs_store(data_dir) / "_objects" / bucket / "records.jsonl"


def log_records(data_dir: Path, bucket: str) -> list[dict]:
    return [json.loads(line) for line in record_log(data_dir, bucket).read_text().splitlines()]


def test_a_small_upload_creates_no_file_its_content_and_record_are_appended(
    tmp_path, emulator_factory
):
    """Each upload created a file for its content: on a disk where a create is slow (ext4
    without a journal, minutes after files were removed) 100-600 µs each, which took the first
    import of 10,000 images under 1,000 a second. Small contents are appended to the bucket's
    pack now, and the record says where; a larger one still gets a file of its own."""
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = storage_client(server.env).create_bucket("few-files")
    names = [f"images/{i}.png" for i in range(20)]
    for name in names:
        bucket.blob(name).upload_from_string(name.encode())
    bucket.blob("large.bin").upload_from_string(b"L" * (PACK_LIMIT + 1))
    objects = gcs_store(data_dir) / "_objects" / "few-files"
    files = sorted(p.relative_to(objects) for p in objects.rglob("*") if p.is_file())
    (large,) = [p for p in files if p.suffix == ".data"]
    assert sorted(map(str, set(files) - {large})) == ["content-1.pack", "records.jsonl"]
    records = log_records(data_dir, "few-files")
    assert [r["name"] for r in records] == [*names, "large.bin"]
    pack = (objects / "content-1.pack").read_bytes()
    for record in records[:-1]:
        place = record["content"]
        assert pack[place["offset"] : place["offset"] + place["size"]] == record["name"].encode()
    server.stop()
    env = emulator_factory(data_dir).env
    again = storage_client(env).bucket("few-files")
    assert [b.name for b in storage_client(env).list_blobs("few-files")] == sorted(
        [*names, "large.bin"]
    )
    assert [again.blob(n).download_as_bytes() for n in names] == [n.encode() for n in names]


def bucket_folder(data_dir: Path, bucket: str) -> Path:
    return gcs_store(data_dir) / "_objects" / bucket


def content_file(data_dir: Path, bucket: str, name: str) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return bucket_folder(data_dir, bucket) / digest[:2] / f"{digest}.data"


def test_a_record_whose_packed_content_is_not_all_there_is_dropped_on_start(
    tmp_path, emulator_factory, caplog
):
    """A machine crash before the group's sync can leave a record on disk without all of its
    content (the pack shorter than the record says): that object is dropped with a warning,
    the others are kept, and uploads go on after the pack's end."""
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = storage_client(server.env).create_bucket("cut")
    bucket.blob("whole").upload_from_string(b"whole content")
    bucket.blob("cut").upload_from_string(b"cut content")
    server.stop()
    pack = bucket_folder(data_dir, "cut") / "content-1.pack"
    with pack.open("r+b") as f:
        f.truncate(pack.stat().st_size - 1)

    env = emulator_factory(data_dir).env
    assert "gs://cut/cut: content missing after a crash" in caplog.text
    again = storage_client(env).bucket("cut")
    assert [b.name for b in again.list_blobs()] == ["whole"]
    assert again.blob("whole").download_as_bytes() == b"whole content"
    again.blob("next").upload_from_string(b"next content")
    assert again.blob("next").download_as_bytes() == b"next content"


def test_a_content_file_beside_a_packed_record_is_removed(tmp_path, emulator_factory):
    """A small content replacing a large one removes the large one's file once its record is
    written. A file beside a packed record on start is a larger upload that was not answered
    (the crash came before its record): removed, the recorded content kept."""
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = storage_client(server.env).create_bucket("replaced")
    bucket.blob("o").upload_from_string(b"L" * (PACK_LIMIT + 1))
    assert content_file(data_dir, "replaced", "o").exists()
    bucket.blob("o").upload_from_string(b"small now")
    assert not content_file(data_dir, "replaced", "o").exists()
    server.stop()
    content_file(data_dir, "replaced", "o").write_bytes(b"L" * (PACK_LIMIT + 2))

    env = emulator_factory(data_dir).env
    assert not content_file(data_dir, "replaced", "o").exists()
    assert storage_client(env).bucket("replaced").blob("o").download_as_bytes() == b"small now"


def test_packs_mostly_overwritten_are_compacted_on_start(tmp_path, emulator_factory):
    """Overwritten and deleted contents stay in the pack until the next start, which copies
    the live ones into a new pack when most bytes are dead (and more than COMPACT_MIN_BYTES),
    points the log there and removes the old pack. Soft-deleted contents (files) are kept."""
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = storage_client(server.env).create_bucket("churn")
    part = COMPACT_MIN_BYTES // 4
    for version in range(3):
        for i in range(4):
            bucket.blob(f"o{i}").upload_from_string(bytes([65 + version]) * part + bytes([i]))
    bucket.blob("o3").delete()  # soft-deleted: its content is a file of the soft-delete store
    before = snapshot(server.env, "churn"), snapshot(server.env, "churn", soft_deleted=True)
    server.stop()
    folder = bucket_folder(data_dir, "churn")
    assert (folder / "content-1.pack").stat().st_size == 12 * (part + 1)

    env = emulator_factory(data_dir).env
    assert sorted(p.name for p in folder.glob("*.pack")) == ["content-2.pack"]
    assert (folder / "content-2.pack").stat().st_size == 3 * (part + 1)
    assert (snapshot(env, "churn"), snapshot(env, "churn", soft_deleted=True)) == before
    again = storage_client(env).bucket("churn")
    for i in range(3):
        assert again.blob(f"o{i}").download_as_bytes() == b"C" * part + bytes([i])
    generation = before[1][("o3", next(iter(before[1]))[1])][0]
    restored = again.restore_blob("o3", generation=generation)
    assert restored.download_as_bytes() == b"C" * part + bytes([3])
    again.blob("o4").upload_from_string(b"appended to the new pack")
    assert (folder / "content-2.pack").read_bytes().endswith(b"appended to the new pack")


def test_a_log_is_rewritten_on_start_with_one_line_per_name(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = storage_client(server.env).create_bucket("busy")
    for i in range(3):
        bucket.blob("o").upload_from_string(f"version {i}".encode())
    bucket.blob("gone").upload_from_string(b"x")
    bucket.blob("gone").delete()  # soft-deleted: kept
    bucket.blob("kept").upload_from_string(b"kept")
    assert len(log_records(data_dir, "busy")) == 6
    server.stop()

    env = emulator_factory(data_dir).env
    records = log_records(data_dir, "busy")
    assert [(r["name"], r["object"] is None, bool(r["softDeleted"])) for r in records] == [
        ("gone", True, True),
        ("kept", False, False),
        ("o", False, False),
    ]
    assert storage_client(env).bucket("busy").blob("o").download_as_bytes() == b"version 2"
    assert (gcs_store(data_dir) / ".meta").read_text().count(f'"layout":{LAYOUT}') == 1


def test_an_unfinished_last_record_is_dropped_with_a_warning(tmp_path, emulator_factory, caplog):
    """The process died within an append (kill -9 between two pages of a long line): that
    upload was not answered; the records before it are kept and the log is made whole."""
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = storage_client(server.env).create_bucket("torn")
    bucket.blob("a").upload_from_string(b"a")
    server.stop()
    log = record_log(data_dir, "torn")
    with log.open("ab") as file:
        file.write(b'{"bucket":"torn","name":"b","object":{"na')

    server = emulator_factory(data_dir)
    assert f"the last record of {log} was not finished" in caplog.text
    bucket = storage_client(server.env).bucket("torn")
    assert [b.name for b in bucket.list_blobs()] == ["a"]
    bucket.blob("c").upload_from_string(b"c")  # appended to a log that ends with a whole line
    server.stop()
    env = emulator_factory(data_dir).env
    assert [b.name for b in storage_client(env).list_blobs("torn")] == ["a", "c"]


def test_a_damaged_object_record_is_named_and_nothing_starts(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    storage_client(server.env).create_bucket("damaged").blob("x").upload_from_string(b"x")
    server.stop()
    log = record_log(data_dir, "damaged")
    whole = log.read_text()
    log.write_text('{"bucket": "damaged", \n' + whole)
    with pytest.raises(EmulatorError, match=rf"{log}, line 1, is not valid JSON"):
        EmulatorServer(data_dir).start()
    log.write_text(whole + '{"bucket": "damaged"}\n')
    with pytest.raises(EmulatorError, match=rf"{log}, line 2, is not an object record"):
        EmulatorServer(data_dir).start()
    log.write_text(whole.replace('"bucket":"damaged"', '"bucket":"other"'))
    with pytest.raises(EmulatorError, match=rf"{log}, line 1, is not an object record"):
        EmulatorServer(data_dir).start()
    log.write_text(whole.replace('"offset":0', '"offset":-1'))  # a damaged place in its pack
    with pytest.raises(EmulatorError, match=rf"{log}, line 1, is not an object record"):
        EmulatorServer(data_dir).start()


@pytest.mark.parametrize("logs_written", [False, True], ids=["record files", "interrupted move"])
def test_a_data_directory_with_a_record_file_per_name_is_moved_to_logs(
    logs_written, tmp_path, emulator_factory
):
    """Layout 2 kept each name's record in a file beside its content. A start moves them into
    the bucket's log, then removes them; a start killed between the two finds both."""
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = storage_client(server.env).create_bucket("older")
    bucket.blob("kept").upload_from_string(b"kept")
    bucket.blob("patched").upload_from_string(b"patched")
    blob = bucket.get_blob("patched")
    blob.metadata = {"reviewed": "yes"}
    blob.patch()
    bucket.blob("deleted").upload_from_string(b"deleted")
    generation = bucket.get_blob("deleted").generation
    bucket.blob("deleted").delete()
    before = snapshot(server.env, "older"), snapshot(server.env, "older", soft_deleted=True)
    server.stop()
    # The same records as layout 2 wrote them: one file per name, `.meta` saying layout 2.
    for record in log_records(data_dir, "older"):
        digest = hashlib.sha256(record["name"].encode()).hexdigest()
        path = gcs_store(data_dir) / "_objects" / "older" / digest[:2] / f"{digest}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(record))
    if not logs_written:
        record_log(data_dir, "older").unlink()
    meta = gcs_store(data_dir) / ".meta"
    meta.write_text(meta.read_text().replace(f'"layout":{LAYOUT}', '"layout":2'))

    env = emulator_factory(data_dir).env
    assert (snapshot(env, "older"), snapshot(env, "older", soft_deleted=True)) == before
    assert not list((gcs_store(data_dir) / "_objects").rglob("*.json"))
    assert f'"layout":{LAYOUT}' in meta.read_text()
    restored = storage_client(env).bucket("older").restore_blob("deleted", generation=generation)
    assert restored.download_as_bytes() == b"deleted"


def test_a_deleted_bucket_leaves_no_records_behind(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = storage_client(server.env).create_bucket("gone")
    for i in range(3):
        bucket.blob(f"{i}").upload_from_string(b"x")
    for i in range(3):
        bucket.blob(f"{i}").delete()  # soft-deleted: their records stay until the bucket goes
    soft = {r["name"] for r in log_records(data_dir, "gone") if r["softDeleted"]}
    assert soft == {"0", "1", "2"}
    bucket.delete()
    assert not (gcs_store(data_dir) / "_objects" / "gone").exists()
    server.stop()

    # A crash after `.meta` dropped a bucket but before its records were removed.
    orphan = record_log(data_dir, "ghost")
    orphan.parent.mkdir(parents=True)
    orphan.write_text(
        '{"bucket":"ghost","name":"n","object":null,"softDeleted":{"1":{}},"content":null}\n'
    )
    env = emulator_factory(data_dir).env
    assert not orphan.parent.exists()
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
