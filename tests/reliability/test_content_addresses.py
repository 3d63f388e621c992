"""Content addresses hold the bytes they name: archive names, verified re-reads, the scan cache."""

import hashlib
import io
import os
import uuid
import warnings
import zipfile

import pytest
from PIL import Image

from components.cloud.clients import CloudTarget
from components.cloud.storage import ObjectStore, Upload
from components.data.errors import DatasetError
from components.data.manifest import scan_local
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import LOCATION, PROJECT, storage_client

LABELS = ("zero", "one")


def _entries() -> list[tuple[str, bytes]]:
    return [(f"{i.label}/{i.index:04d}.{i.extension}", i.data) for i in digit_images(10, LABELS)]


def _zip(path, entries):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of a duplicate name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def _errors(path) -> str:
    with pytest.raises(DatasetError) as info:
        scan_local("zip", path, classification="multiclass", label=path.name, use_cache=False)
    return str(info.value)


def _tree(root, entries):
    for name, data in entries:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _bmp(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "BMP")
    return buf.getvalue()


def _next_tick(scratch, after_ns: int) -> None:
    """Returns once the file system's clock (coarse: a few ms) has passed `after_ns`.

    An edit within the same tick as the scan leaves every stamp as it was (git's "racily
    clean" files); that case is the verified read's to catch, not this test's.
    """
    probe = scratch / "tick"
    while True:
        probe.write_bytes(b"")
        if os.stat(probe).st_ctime_ns > after_ns:
            return


def test_a_zip_with_a_repeated_entry_name_is_refused(tmp_path):
    entries = _entries()
    name, _ = entries[0]
    other = next(data for n, data in entries[1:] if n.endswith(name[-4:]))
    message = _errors(_zip(tmp_path / "dup.zip", [*entries, (name, other)]))
    assert f"dup.zip:{name}: the archive has 2 entries named '{name}'" in message
    assert "entry names must be unique" in message


@pytest.mark.parametrize("alias", ["./{folder}/{file}", "{folder}//{file}", "{folder}/./{file}"])
def test_zip_names_that_name_the_same_file_are_refused(tmp_path, alias):
    entries = _entries()
    name, data = entries[0]
    folder, file = name.split("/")
    alias = alias.format(folder=folder, file=file)
    message = _errors(_zip(tmp_path / "alias.zip", [*entries, (alias, data)]))
    assert f"alias.zip:{alias}: names the same file as '{name}'" in message
    assert "entry names must be unique" in message


def test_an_upload_reads_only_the_bytes_that_were_hashed(tmp_path, emulator):
    root = _tree(tmp_path / "digits", [*_entries(), ("zero/red.bmp", _bmp((255, 0, 0)))])
    manifest, items = scan_local("directory", root, classification="multiclass", use_cache=False)
    red = next(e for e in manifest.entries if e.source == "zero/red.bmp")
    (root / "zero" / "red.bmp").write_bytes(_bmp((0, 255, 0)))  # edited after the check

    with pytest.raises(DatasetError) as info:
        items[red.source].read()
    assert str(info.value).startswith(f"{root}/zero/red.bmp: changed since it was checked")

    target = CloudTarget(stack="local", project=PROJECT, region=LOCATION, emulator=True)
    bucket = storage_client(emulator.env).create_bucket(f"trust-{uuid.uuid4().hex[:10]}").name
    store = ObjectStore(target, bucket)
    with pytest.raises(DatasetError, match="changed since it was checked"):
        store.upload_missing([Upload(red.object_name, items[red.source].read)], "images/")
    assert store.read(red.object_name) is None  # nothing stored under the red image's address
    unchanged = next(e for e in manifest.entries if e.source != "zero/red.bmp")
    data = items[unchanged.source].read()
    assert hashlib.sha256(data).hexdigest() == unchanged.sha256


def test_an_edit_that_restores_mtime_changes_the_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_LABELER_CACHE_DIR", str(tmp_path / "cache"))
    root = _tree(tmp_path / "digits", [*_entries(), ("zero/red.bmp", _bmp((255, 0, 0)))])
    victim = root / "zero" / "red.bmp"
    before = os.stat(victim)
    first, _ = scan_local("directory", root, classification="multiclass")

    green = _bmp((0, 255, 0))
    assert len(green) == before.st_size
    _next_tick(tmp_path, before.st_ctime_ns)
    with open(victim, "r+b") as fh:  # in place: same inode, same size
        fh.write(green)
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))  # as cp -p / rsync -t do
    after = os.stat(victim)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )

    second, _ = scan_local("directory", root, classification="multiclass")
    assert second.fingerprint != first.fingerprint
    green_sha = hashlib.sha256(green).hexdigest()
    assert any(e.sha256 == green_sha for e in second.entries)
