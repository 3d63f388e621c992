"""An import's images read on every core (emulator/core/image_reader.py): a helper process
reads what the import's own thread would, a helper that fails loses no image, and the
emulator's stop ends its helpers."""

import hashlib
import logging
import sys
import uuid

from emulator.core import image_reader
from emulator.core.blobs import ContentLocation
from emulator.core.errors import Code
from emulator.core.image_reader import CHUNK, MIN_SHARED, ImageReader, ReadImage, read_image
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import (
    automl_client,
    create_dataset,
    start_import,
    storage_client,
    wait_for,
)


def _files(tmp_path, count):
    """`count` real images (PNG and JPEG): the first a file of its own, the others ranges of
    one pack (as Cloud Storage keeps small objects); then a text file named .png, a file that
    does not exist and a range past the pack's end."""
    images = digit_images(count // 10 + 1)[:count]
    first = tmp_path / f"first.{images[0].extension}"
    first.write_bytes(images[0].data)
    pack = tmp_path / "content-1.pack"
    places = []
    with open(pack, "wb") as f:
        for image in images[1:]:
            places.append(ContentLocation(str(pack), f.tell(), len(image.data)))
            f.write(image.data)
    (tmp_path / "notes.png").write_bytes(b"notes, not a photo\n")
    return [
        ContentLocation(str(first)),
        *places,
        ContentLocation(str(tmp_path / "notes.png")),
        ContentLocation(str(tmp_path / "gone.png")),
        ContentLocation(str(pack), pack.stat().st_size - 5, 10),
    ]


def test_a_helper_reads_a_chunk_as_the_import_thread_does(tmp_path):
    paths = _files(tmp_path, 30)
    helper = image_reader._Helper([sys.executable, "-m", image_reader.__name__])
    try:
        helper.send(paths)
        results = helper.receive()
    finally:
        helper.close()
    assert results == [read_image(path) for path in paths]
    assert isinstance(results[0], ReadImage)  # by this module's class, not `__main__`'s
    images = digit_images(4)[:30]
    assert [r.sha256 for r in results[:30]] == [hashlib.sha256(i.data).hexdigest() for i in images]
    assert [r.data for r in results[:30]] == [i.data for i in images]
    assert results[-3][0] is Code.INVALID_ARGUMENT and "not an image" in results[-3][1]
    assert results[-2] == (Code.NOT_FOUND, "file does not exist")
    assert results[-1] == (Code.NOT_FOUND, "file does not exist")  # not all in its pack
    assert helper.process.returncode == 0  # its input ended: it exited


def test_the_chunks_of_a_helper_that_ends_go_back_to_the_import_thread(tmp_path, caplog):
    """The helper reads one byte and exits: the chunks it was handed come back, and a whole
    read still returns every image."""
    paths = _files(tmp_path, 4 * CHUNK)
    dying = [sys.executable, "-c", "import sys; sys.stdin.buffer.read(1)"]
    reader = ImageReader(helpers=1, command=dying)
    shared = image_reader._Shared(paths, lambda: False)
    helper = image_reader._Helper(dying)
    with caplog.at_level(logging.WARNING, logger=image_reader.__name__):
        reader._feed(helper, shared)  # on this thread: it takes chunks, then its helper ends
    assert "failed" in caplog.text
    back = []
    while (start := shared.take()) is not None:
        back.append(start)
    assert sorted(back) == list(range(0, len(paths), CHUNK))  # every chunk, none read twice
    helper.close()

    results = reader.read(paths, lambda: False)
    assert results == [read_image(path) for path in paths]
    reader.close()


def test_a_read_stopped_returns_none_for_what_it_did_not_read(tmp_path):
    paths = _files(tmp_path, 3 * CHUNK)
    calls = []

    def stopping():
        calls.append(1)
        return len(calls) > 1  # after the first chunk

    results = ImageReader(helpers=0).read(paths, stopping)
    assert results[:CHUNK] == [read_image(path) for path in paths[:CHUNK]]
    assert results[CHUNK:] == [None] * (len(paths) - CHUNK)


def test_a_large_import_is_shared_with_a_helper_that_the_stop_ends(emulator_factory):
    """Through the AutoML client: ≥ MIN_SHARED images, one not an image and one missing,
    reported on their lines; the dataset holds the others' bytes."""
    emulator = emulator_factory()
    bucket = storage_client(emulator.env).create_bucket(f"shared-{uuid.uuid4().hex[:10]}")
    images = digit_images(MIN_SHARED // 10 + 2)
    lines = []
    for image in images:
        name = f"img/{image.index}.{image.extension}"
        bucket.blob(name).upload_from_string(image.data)
        lines.append(f"TRAIN,gs://{bucket.name}/{name},{image.label}")
    bucket.blob("img/notes.jpg").upload_from_string(b"notes, not a photo\n")
    lines.insert(300, f"TRAIN,gs://{bucket.name}/img/notes.jpg,zero")
    lines.insert(450, f"TRAIN,gs://{bucket.name}/img/gone.png,zero")
    bucket.blob("index.csv").upload_from_string("\n".join(lines) + "\n")
    automl = automl_client(emulator.env)
    dataset = create_dataset(automl, "shared")
    op = start_import(automl, dataset.name, f"gs://{bucket.name}/index.csv")
    wait_for(op)

    failures = [f.message for f in op.metadata.partial_failures]
    assert len(failures) == 2
    assert "line 301" in failures[0] and "not an image" in failures[0]
    assert "line 451" in failures[1] and "does not exist" in failures[1]
    assert automl.get_dataset(name=dataset.name).example_count == len(images)
    store = emulator.backend.images
    for image in images:
        assert store.read(hashlib.sha256(image.data).hexdigest()) == image.data
    helpers = list(emulator.backend.datasets._reader._helpers)
    assert len(helpers) == image_reader._cores() - 1
    emulator.stop()
    assert all(helper.process.poll() is not None for helper in helpers)
