"""The emulator's store of imported images (emulator/core/image_store.py): an import links
each image to its Cloud Storage object's content file instead of writing a copy, and what it
keeps is always the bytes the import read and checked."""

import hashlib
import os
import uuid

import pytest

from emulator.core.blobs import ContentFile
from emulator.core.image_store import ImageStore
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import (
    automl_client,
    create_dataset,
    start_import,
    storage_client,
    wait_for,
)


def test_an_import_links_each_image_to_its_objects_content_and_keeps_it_after_a_change(
    emulator_factory,
):
    """A copy per image was ~200 µs of a new file's blocks here (half of an import's time);
    a link is ~15 µs. Overwriting or deleting the object afterwards leaves the dataset's
    image as it was imported. A fresh emulator: the shared one may hold these images from
    another test's import already (then there is nothing to link)."""
    emulator = emulator_factory()
    bucket = storage_client(emulator.env).create_bucket(f"links-{uuid.uuid4().hex[:10]}")
    images = digit_images(2, ("zero", "one"))
    lines = []
    for image in images:
        name = f"img/{image.index}.{image.extension}"
        bucket.blob(name).upload_from_string(image.data)
        lines.append(f"TRAIN,gs://{bucket.name}/{name},{image.label}")
    bucket.blob("index.csv").upload_from_string("\n".join(lines) + "\n")
    automl = automl_client(emulator.env)
    dataset = create_dataset(automl, "linked")
    wait_for(start_import(automl, dataset.name, f"gs://{bucket.name}/index.csv"))

    store = emulator.backend.images
    for image in images:
        sha = hashlib.sha256(image.data).hexdigest()
        uri = f"gs://{bucket.name}/img/{image.index}.{image.extension}"
        content = os.stat(emulator.gcs.content_path(uri))
        assert store._path(sha).stat().st_ino == content.st_ino  # one file, two names
    first, second = images[:2]
    bucket.blob(f"img/{first.index}.{first.extension}").upload_from_string(b"other bytes")
    bucket.blob(f"img/{second.index}.{second.extension}").delete()
    for image in images:
        assert store.read(hashlib.sha256(image.data).hexdigest()) == image.data


def _read(path):
    """The bytes of `path` and the file they were read from, as an import reads an object."""
    return path.read_bytes(), ContentFile.of(path, os.stat(path))


def test_the_file_an_image_was_read_from_is_linked(tmp_path):
    store = ImageStore(tmp_path / "images")
    content = tmp_path / "content"
    content.write_bytes(b"the bytes the import read")
    data, read_from = _read(content)
    sha = store.put(data, linked_from=read_from)
    assert store._path(sha).stat().st_ino == content.stat().st_ino
    assert store.read(sha) == data


def _replace(content):
    """A new upload of the object renames a new file over its content file."""
    newer = content.with_name("newer")
    newer.write_bytes(b"written after the import read the object")
    os.replace(newer, content)


def _write_into(content):
    """The store never does so; should anything else, the link would not vouch for it."""
    with open(content, "r+b") as f:
        f.write(b"THE")
    os.utime(content, ns=(1, 1))


@pytest.mark.parametrize("change", [_replace, _write_into], ids=["replaced", "written-into"])
def test_a_file_changed_by_the_time_it_is_linked_is_not_kept(tmp_path, change):
    store = ImageStore(tmp_path / "images")
    content = tmp_path / "content"
    content.write_bytes(b"the bytes the import read")
    data, read_from = _read(content)
    change(content)
    sha = store.put(data, linked_from=read_from)
    assert store.read(sha) == data
    assert store._path(sha).stat().st_ino != content.stat().st_ino


def test_an_image_stored_already_is_neither_linked_nor_written_again(tmp_path):
    store = ImageStore(tmp_path / "images")
    first = tmp_path / "first"
    first.write_bytes(b"the same bytes")
    sha = store.put(*_read(first))
    second = tmp_path / "second"
    second.write_bytes(b"the same bytes")
    assert store.put(*_read(second)) == sha
    assert store._path(sha).stat().st_ino == first.stat().st_ino
