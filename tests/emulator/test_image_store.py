"""The emulator's store of imported images (emulator/core/image_store.py): an import appends
each image to the store's pack instead of creating a file for it, keeps the bytes it read and
checked whatever happens to the objects afterwards, and a restart after a crash finds every
image a dataset refers to."""

import hashlib
import logging
import os
import uuid

import pytest

from emulator.core.errors import Internal
from emulator.core.image_store import COMPACT_MIN_BYTES, INDEX, ImageStore
from emulator.core.persistence import CorruptStateError
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import (
    automl_client,
    create_dataset,
    start_import,
    storage_client,
    wait_for,
)


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_an_import_creates_no_file_per_image_and_keeps_them_after_a_change(emulator_factory):
    """A file per image cost a create each (100-600 µs on a disk where creates are slow, 25 µs
    at best); the images are appended to one pack now. Overwriting or deleting the objects
    afterwards leaves the dataset's images as they were imported; so does a restart."""
    emulator = emulator_factory()
    bucket = storage_client(emulator.env).create_bucket(f"packed-{uuid.uuid4().hex[:10]}")
    images = digit_images(3, ("zero", "one"))
    lines = []
    for image in images:
        name = f"img/{image.index}.{image.extension}"
        bucket.blob(name).upload_from_string(image.data)
        lines.append(f"TRAIN,gs://{bucket.name}/{name},{image.label}")
    bucket.blob("index.csv").upload_from_string("\n".join(lines) + "\n")
    automl = automl_client(emulator.env)
    dataset = create_dataset(automl, "packed")
    wait_for(start_import(automl, dataset.name, f"gs://{bucket.name}/index.csv"))

    root = emulator.backend.images._root
    assert _files(root) == ["images-1.pack", INDEX]
    first, second = images[:2]
    bucket.blob(f"img/{first.index}.{first.extension}").upload_from_string(b"other bytes")
    bucket.blob(f"img/{second.index}.{second.extension}").delete()
    for image in images:
        assert emulator.backend.images.read(hashlib.sha256(image.data).hexdigest()) == image.data
    emulator.stop()
    again = ImageStore(root)
    for image in images:
        assert again.read(hashlib.sha256(image.data).hexdigest()) == image.data


def test_an_image_stored_already_is_not_written_again(tmp_path):
    store = ImageStore(tmp_path / "images")
    sha = store.put(b"the same bytes")
    size = (tmp_path / "images" / "images-1.pack").stat().st_size
    assert store.put(b"the same bytes") == sha
    assert (tmp_path / "images" / "images-1.pack").stat().st_size == size
    assert (tmp_path / "images" / INDEX).read_text().count(sha) == 1


def test_an_unfinished_index_line_and_bytes_not_in_the_pack_are_dropped_on_open(tmp_path, caplog):
    """kill -9 within an index append; a machine crash before the group's sync (the index
    line on disk, not all of its image's bytes). Neither image is referred to by a dataset
    (an import syncs before it commits): dropped with a warning, the rest kept."""
    root = tmp_path / "images"
    store = ImageStore(root)
    kept, cut = store.put(b"kept image"), store.put(b"cut image")
    store.close()
    pack = root / "images-1.pack"
    with pack.open("r+b") as f:
        f.truncate(pack.stat().st_size - 3)
    with (root / INDEX).open("ab") as f:
        f.write(b"0123abc")
    caplog.set_level(logging.WARNING)
    again = ImageStore(root)
    again.load()
    assert "the last line was not finished" in caplog.text
    assert f"imported image {cut}: its bytes are not all in" in caplog.text
    assert again.read(kept) == b"kept image"
    with pytest.raises(Internal, match=f"imported image {cut} is missing"):
        again.read(cut)
    assert (root / INDEX).read_text().splitlines() == [f"{kept} 1 0 10"]
    assert again.put(b"next") == hashlib.sha256(b"next").hexdigest()  # appended after a whole line
    again.close()
    assert ImageStore(root).read(hashlib.sha256(b"next").hexdigest()) == b"next"


def test_a_damaged_index_line_is_named_and_refused(tmp_path):
    root = tmp_path / "images"
    store = ImageStore(root)
    store.put(b"an image")
    store.close()
    with (root / INDEX).open("ab") as f:
        f.write(b"not an index line\n")
    with pytest.raises(CorruptStateError, match=rf"{root / INDEX}, line 2, is not an index line"):
        ImageStore(root).load()


def test_images_no_dataset_refers_to_are_dropped_and_their_bytes_compacted_on_open(tmp_path):
    root = tmp_path / "images"
    store = ImageStore(root)
    big = [os.urandom(COMPACT_MIN_BYTES // 4) for _ in range(8)]
    shas = [store.put(data) for data in big]
    keep = {shas[1], shas[6]}
    assert store.retain_only(keep) == 6
    with pytest.raises(Internal):
        store.read(shas[0])
    assert store.read(shas[6]) == big[6]
    store.close()

    again = ImageStore(root)
    again.load()
    assert _files(root) == ["images-2.pack", INDEX]
    assert (root / "images-2.pack").stat().st_size == 2 * len(big[0])
    assert [again.read(sha) for sha in (shas[1], shas[6])] == [big[1], big[6]]
    after = again.put(b"after")
    assert again.read(after) == b"after"


def test_packs_the_index_does_not_name_are_appended_to_when_last_else_removed(tmp_path):
    """A crash during a compaction, after the new pack was written, before the index named
    it: appends go to that pack (the last), and the images named are read where they are. A
    pack whose images were all collected is removed on the next open."""
    root = tmp_path / "images"
    store = ImageStore(root)
    first = store.put(b"first image")
    store.close()
    (root / "images-2.pack").write_bytes(b"first image")  # the interrupted compaction's copy
    store = ImageStore(root)
    assert store.read(first) == b"first image"
    second = store.put(b"second image")
    assert (root / INDEX).read_text().splitlines()[-1] == f"{second} 2 11 12"
    assert store.retain_only({second}) == 1
    store.close()
    again = ImageStore(root)
    again.load()
    assert _files(root) == ["images-2.pack", INDEX]
    assert again.read(second) == b"second image"


def test_images_of_earlier_emulators_a_file_each_are_read_and_collected(tmp_path):
    root = tmp_path / "images"
    old = hashlib.sha256(b"stored by an earlier emulator").hexdigest()
    (root / old[:2]).mkdir(parents=True)
    (root / old[:2] / old).write_bytes(b"stored by an earlier emulator")
    store = ImageStore(root)
    assert store.read(old) == b"stored by an earlier emulator"
    assert store.put(b"stored by an earlier emulator") == old
    assert not (root / "images-1.pack").exists()  # not written again
    new = store.put(b"a new image")
    assert store.retain_only({new}) == 1
    assert not (root / old[:2] / old).exists()
    assert store.read(new) == b"a new image"
