"""Bucket and object names on the emulated Cloud Storage: every name Google accepts is its own
object, every name Google refuses is refused the way Google refuses it.

Rules: https://cloud.google.com/storage/docs/buckets#naming (bucket names) and
https://cloud.google.com/storage/docs/objects#naming (object names); error shape:
https://cloud.google.com/storage/docs/json_api/v1/status-codes.
"""

import hashlib
import json
import uuid

import pytest
from gcp_storage_emulator.handlers.buckets import create_bucket
from gcp_storage_emulator.handlers.objects import _checksums, _make_object_resource
from gcp_storage_emulator.settings import STORAGE_DIR
from gcp_storage_emulator.storage import Storage
from google.api_core import exceptions

from emulator.core.errors import InvalidArgument
from emulator.gcs_storage import LAYOUT
from emulator.server import EmulatorError
from tests.fixtures.emulator import PROJECT, json_call, storage_client


def _bucket(env):
    return storage_client(env).create_bucket(f"names-{uuid.uuid4().hex[:12]}")


def _assert_invalid(status: int, body: dict, starts: str, rule: str) -> None:
    """Cloud Storage's JSON error: code 400, reason `invalid`, a message naming the rule."""
    assert status == 400, body
    error = body["error"]
    assert error["code"] == 400
    assert error["errors"][0]["domain"] == "global"
    assert error["errors"][0]["reason"] == "invalid"
    message = error["message"]
    assert error["errors"][0]["message"] == message
    assert message.startswith(starts), message
    assert rule in message, message


def _json_api(env, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """A raw JSON API call, for names the client refuses to send (it checks bucket names)."""
    return json_call(env["STORAGE_EMULATOR_HOST"] + path, method, body, empty={})


def _create_bucket(env, name: str) -> tuple[int, dict]:
    return _json_api(env, "POST", f"/storage/v1/b?project={PROJECT}", {"name": name})


def _bucket_names(env) -> list[str]:
    return [b.name for b in storage_client(env).list_buckets()]


# ---- buckets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["_objects", "_softdelete", "_resumable"])
def test_a_bucket_named_like_the_emulators_own_folders_is_refused(name, emulator_factory, tmp_path):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    kept = _bucket(server.env)
    kept.blob("kept.txt").upload_from_string(b"kept", retry=None)

    status, body = _create_bucket(server.env, name)
    _assert_invalid(status, body, f"Invalid bucket name: '{name}'", "start and end with")
    assert _json_api(server.env, "GET", f"/storage/v1/b/{name}")[0] == 404
    assert name not in _bucket_names(server.env)
    server.stop()

    restarted = emulator_factory(data_dir)
    assert storage_client(restarted.env).bucket(kept.name).blob("kept.txt").download_as_bytes() == (
        b"kept"
    )


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a/b", "lowercase letters, digits"),
        ("UPPER", "lowercase letters, digits"),
        ("with space", "lowercase letters, digits"),
        ("x", "3-63 characters"),
        ("ab", "3-63 characters"),
        ("a" * 64, "3-63 characters"),
        (".".join(["a" * 63] * 3) + ".bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "222 characters"),
        ("a" * 64 + ".com", "63 characters"),
        ("-abc", "start and end with"),
        ("abc-", "start and end with"),
        ("abc.", "start and end with"),
        ("goog-x", "goog"),
        ("googbucket", "goog"),
        ("my-google-data", "google"),
        ("my-g00gle-data", "google"),
        ("192.168.5.4", "IP address"),
    ],
)
def test_bucket_names_cloud_storage_refuses_are_refused_with_the_rule(name, rule, emulator):
    status, body = _create_bucket(emulator.env, name)
    _assert_invalid(status, body, f"Invalid bucket name: '{name}'", rule)
    assert name not in _bucket_names(emulator.env)


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "a" * 63,
        "a_b-c.d",
        "1.2.3",  # dotted, but not an IP address
        ".".join(["a" * 63] * 3) + "." + "b" * 30,  # 222 characters, parts of 63
    ],
)
def test_bucket_names_cloud_storage_accepts_are_accepted(name, emulator_factory):
    env = emulator_factory().env
    bucket = storage_client(env).create_bucket(name)
    bucket.blob("x").upload_from_string(b"x")
    assert storage_client(env).bucket(name).blob("x").download_as_bytes() == b"x"


# ---- object names ----------------------------------------------------------------------------

# Distinct names a file system would merge into one path (or fail to store).
LOOK_ALIKES = [
    "a/b",
    "./a/b",
    "a/./b",
    "a//b",
    "/a/b",
    "//a/b",
    "a\\b",
    "a/b/",
    "a/b//",
    "a/b/.",
    "a/b/..",
    "../a/b",
    "a/b ",
    "A/B",
    "a/%2Fb",
    "a/b?c",
    "a/b#c",
    "a/b+c",
    "a/é",  # NFC
    "a/e\u0301",  # NFD: another name in Cloud Storage
    "a/" + "n" * 300,  # one path segment longer than a file name may be
]


def _check_objects(server, bucket: str, contents: dict[str, bytes]) -> None:
    """Every object is listed once and reads back its own bytes, by client and by the core."""
    client = storage_client(server.env)
    listed = list(client.list_blobs(bucket))
    assert sorted(b.name for b in listed) == sorted(contents)
    for blob in listed:  # through the mediaLink the listing gives
        assert blob.size == len(contents[blob.name]), blob.name
        assert blob.download_as_bytes() == contents[blob.name], blob.name
    for name, content in contents.items():  # through the object's own path
        assert client.bucket(bucket).blob(name).download_as_bytes() == content, name
        assert server.backend.blobs.read(f"gs://{bucket}/{name}") == content, name


def test_object_names_a_file_system_would_merge_are_distinct_objects(emulator_factory, tmp_path):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = _bucket(server.env)
    contents = {name: f"content of {name!r}".encode() for name in LOOK_ALIKES}
    for name, content in contents.items():
        bucket.blob(name).upload_from_string(content, retry=None)

    _check_objects(server, bucket.name, contents)
    server.stop()
    _check_objects(emulator_factory(data_dir), bucket.name, contents)


def test_a_resumable_upload_keeps_its_exact_name_and_refuses_a_bad_one_at_the_start(emulator):
    bucket = _bucket(emulator.env)
    content = bytes(range(256)) * 2048  # 512 KiB in two 256 KiB chunks
    for name in ["a/b", "a/b/"]:
        blob = bucket.blob(name, chunk_size=256 * 1024)  # a chunk size makes it resumable
        blob.upload_from_string(content + name.encode(), retry=None)
    _check_objects(emulator, bucket.name, {n: content + n.encode() for n in ["a/b", "a/b/"]})

    with pytest.raises(exceptions.BadRequest) as info:
        bucket.blob("..", chunk_size=256 * 1024).upload_from_string(content, retry=None)
    response = info.value.response
    _assert_invalid(response.status_code, response.json(), "Invalid object name: '..'", "cannot")


def test_deleting_restoring_and_copying_a_name_leaves_its_look_alikes_alone(emulator):
    bucket = _bucket(emulator.env)
    contents = {name: f"content of {name!r}".encode() for name in ["a/b", "./a/b", "a/b/"]}
    for name, content in contents.items():
        bucket.blob(name).upload_from_string(content, retry=None)

    generation = bucket.get_blob("./a/b").generation
    bucket.blob("./a/b").delete()
    assert sorted(b.name for b in bucket.list_blobs()) == ["a/b", "a/b/"]
    assert bucket.blob("a/b").download_as_bytes() == contents["a/b"]
    restored = bucket.restore_blob("./a/b", generation=generation)
    assert restored.download_as_bytes() == contents["./a/b"]
    bucket.copy_blob(bucket.blob("a/b"), bucket, "a//b")
    _check_objects(emulator, bucket.name, {**contents, "a//b": contents["a/b"]})


@pytest.mark.parametrize("order", [("p", "p/q"), ("p/q", "p"), ("a/b/c", "a/b/c/d/e", "a/b")])
def test_an_object_and_objects_under_its_name_as_a_folder_coexist(
    order, emulator_factory, tmp_path
):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    bucket = _bucket(server.env)
    contents = {name: f"content of {name}".encode() for name in order}
    for name in order:
        bucket.blob(name).upload_from_string(contents[name], retry=None)

    _check_objects(server, bucket.name, contents)
    server.stop()
    _check_objects(emulator_factory(data_dir), bucket.name, contents)


def test_listing_by_prefix_and_delimiter_keeps_look_alike_names_apart(emulator):
    bucket = _bucket(emulator.env)
    for name in ["a/b", "a//b", "a/b/", "a/b/c", "a/c", "/a/b", "b"]:
        bucket.blob(name).upload_from_string(name.encode(), retry=None)

    listing = storage_client(emulator.env).list_blobs(bucket.name, prefix="a/", delimiter="/")
    assert [b.name for b in listing] == ["a/b", "a/c"]
    assert listing.prefixes == {"a//", "a/b/"}
    everything = storage_client(emulator.env).list_blobs(bucket.name, prefix="/")
    assert [b.name for b in everything] == ["/a/b"]


@pytest.mark.parametrize(
    "name",
    [
        "é" * 512,  # 1,024 bytes in UTF-8: the longest name
        ".well-known/acme-challenge",  # only names *starting* with ".../" are reserved
        "...",
        ".x",
        "a/..",
        "tab\there",
        " ",
    ],
)
def test_object_names_at_the_edges_of_the_rules_are_accepted(name, emulator):
    bucket = _bucket(emulator.env)
    bucket.blob(name).upload_from_string(b"edge", retry=None)
    assert [b.name for b in bucket.list_blobs()] == [name]
    assert bucket.blob(name).download_as_bytes() == b"edge"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        (".", "cannot be . or .."),
        ("..", "cannot be . or .."),
        ("a\rb", "carriage return or line feed"),
        ("a\nb", "carriage return or line feed"),
        (".well-known/acme-challenge/token", ".well-known/acme-challenge/"),
        ("é" * 512 + "a", "1-1024 bytes"),
    ],
)
def test_object_names_cloud_storage_refuses_are_refused_with_the_rule(name, rule, emulator):
    bucket = _bucket(emulator.env)
    with pytest.raises(exceptions.BadRequest) as info:
        bucket.blob(name).upload_from_string(b"x", retry=None)
    response = info.value.response  # the upload's error: the client keeps the raw response
    _assert_invalid(response.status_code, response.json(), f"Invalid object name: {name!r}", rule)
    assert list(bucket.list_blobs()) == []
    with pytest.raises(InvalidArgument):
        emulator.backend.blobs.write(f"gs://{bucket.name}/{name}", b"x")


# ---- data directories written before names were kept apart ------------------------------------


def _package_storage(data_dir):
    """The package's own Storage on `data_dir`: content files at paths made of object names."""
    return Storage(data_dir=str((data_dir / "gcs").resolve()))


def _package_write(storage: Storage, bucket: str, name: str, content: bytes) -> dict:
    obj = _make_object_resource("http://127.0.0.1:1", bucket, name, "text/plain", str(len(content)))
    storage.create_file(bucket, name, content, _checksums(content, obj))
    return obj


def test_a_previous_data_directory_loads_and_names_it_had_merged_are_not_mixed_up(
    tmp_path, emulator_factory
):
    """Before, `a/b` and `/a/b` shared one file: the later write owns it, the other is gone."""
    data_dir = tmp_path / "data"
    package = _package_storage(data_dir)
    create_bucket("legacy", package)
    _package_write(package, "legacy", "keep/me.txt", b"kept")
    _package_write(package, "legacy", "a/b", b"first")
    _package_write(package, "legacy", "/a/b", b"second, overwrote the first")

    env = emulator_factory(data_dir).env
    bucket = storage_client(env).bucket("legacy")
    assert sorted(b.name for b in bucket.list_blobs()) == ["/a/b", "keep/me.txt"]
    assert bucket.blob("/a/b").download_as_bytes() == b"second, overwrote the first"
    assert bucket.blob("keep/me.txt").download_as_bytes() == b"kept"
    bucket.blob("a/b").upload_from_string(b"first again", retry=None)  # now a name of its own
    assert bucket.blob("/a/b").download_as_bytes() == b"second, overwrote the first"


@pytest.mark.parametrize("name", ["_objects", "a/b", "UPPER"])
def test_a_previous_data_directory_with_a_bucket_name_google_refuses_is_named_at_start(
    name, tmp_path, emulator_factory
):
    data_dir = tmp_path / "data"
    create_bucket(name, _package_storage(data_dir))
    with pytest.raises(EmulatorError, match=rf"bucket '{name}'.*Invalid bucket name"):
        emulator_factory(data_dir)


def test_a_start_interrupted_while_moving_a_previous_data_directory_finishes_the_move(
    tmp_path, emulator_factory
):
    """A kill during the move leaves some content in its new file and the rest in the old."""
    data_dir = tmp_path / "data"
    package = _package_storage(data_dir)
    create_bucket("legacy", package)
    _package_write(package, "legacy", "moved/first.txt", b"moved before the kill")
    _package_write(package, "legacy", "left/second.txt", b"not moved yet")
    store = data_dir / "gcs" / STORAGE_DIR
    digest = hashlib.sha256(b"moved/first.txt").hexdigest()
    moved = store / "_objects" / "legacy" / digest[:2] / f"{digest}.data"
    moved.parent.mkdir(parents=True)
    (store / "legacy" / "moved" / "first.txt").rename(moved)

    env = emulator_factory(data_dir).env
    bucket = storage_client(env).bucket("legacy")
    assert bucket.blob("moved/first.txt").download_as_bytes() == b"moved before the kill"
    assert bucket.blob("left/second.txt").download_as_bytes() == b"not moved yet"
    assert sorted(p.name for p in store.iterdir()) == [".meta", "_objects"]


def test_a_data_directory_in_a_newer_layout_is_refused_at_start(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    storage_client(server.env).create_bucket("newer")
    server.stop()
    meta = data_dir / "gcs" / STORAGE_DIR / ".meta"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "layout": LAYOUT + 1}))
    with pytest.raises(EmulatorError, match=rf"{meta} has Cloud Storage layout {LAYOUT + 1}"):
        emulator_factory(data_dir)
