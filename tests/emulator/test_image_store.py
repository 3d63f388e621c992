"""The emulator's store of imported images (emulator/core/image_store.py): an import links
each image to its Cloud Storage object's content file instead of writing a copy, and what it
keeps is always the bytes the import read and checked."""

import hashlib
import uuid

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
        content = emulator.gcs.content_file(uri)
        assert content is not None
        assert store._path(sha).stat().st_ino == content.stat().st_ino  # one file, two names
    first, second = images[:2]
    bucket.blob(f"img/{first.index}.{first.extension}").upload_from_string(b"other bytes")
    bucket.blob(f"img/{second.index}.{second.extension}").delete()
    for image in images:
        assert store.read(hashlib.sha256(image.data).hexdigest()) == image.data


def test_a_file_that_holds_other_bytes_by_the_time_it_is_linked_is_not_kept(tmp_path):
    store = ImageStore(tmp_path / "images")
    changed = tmp_path / "content"
    changed.write_bytes(b"written after the import read the object")
    data = b"the bytes the import read"
    sha = store.put(data, linked_from=changed)
    assert store.read(sha) == data
    assert store._path(sha).stat().st_ino != changed.stat().st_ino
    gone = store.put(b"another image", linked_from=tmp_path / "deleted-meanwhile")
    assert store.read(gone) == b"another image"
