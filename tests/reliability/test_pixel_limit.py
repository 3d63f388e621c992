"""The check and the import agree on one pixel limit; the import's refusal names the image."""

import struct
import uuid
import zipfile
import zlib

import pytest
from PIL import Image

from components.data import images as check_rules
from components.data.errors import DatasetError
from components.data.manifest import scan_local
from emulator.core import images as import_rules
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import (
    automl_client,
    create_dataset,
    start_import,
    storage_client,
    wait_for,
)

LABELS = ("zero", "one")
LIMIT = 178_956_970  # what Pillow decodes by default; README "Bad input creates nothing"


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of width × height px: a few KB, built without decoding it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


OVER = {"196 megapixels": (14_000, 14_000), "one pixel over": (LIMIT + 1, 1)}


def test_the_check_and_the_import_state_the_same_limit():
    assert check_rules.MAX_IMAGE_PIXELS == import_rules.MAX_IMAGE_PIXELS == LIMIT


@pytest.mark.parametrize("size", list(OVER.values()), ids=list(OVER))
def test_the_check_refuses_what_the_import_refuses(tmp_path, size):
    width, height = size
    png = huge_png(width, height)
    assert len(png) < 64 * 1024
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in digit_images(10, LABELS):
            zf.writestr(f"{i.label}/{i.index:04d}.{i.extension}", i.data)
        zf.writestr("zero/huge.png", png)
    with pytest.raises(DatasetError) as info:
        scan_local("zip", path, classification="multiclass", label="big.zip", use_cache=False)
    assert str(info.value) == (
        f"big.zip:zero/huge.png: has {width * height:,} pixels; images may have at most "
        f"{LIMIT:,} pixels"
    )

    with pytest.raises(import_rules.ImageError) as refused:
        import_rules.inspect(png)
    assert f"image has {width * height:,} pixels; the limit is {LIMIT:,} pixels" in str(
        refused.value
    )


@pytest.mark.parametrize("pillow_setting", [None, 10**12], ids=["unset", "raised"])
def test_the_limit_holds_whatever_pillow_is_set_to(monkeypatch, pillow_setting):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_setting)  # Pillow's, process-wide
    png = huge_png(LIMIT + 1, 1)
    with pytest.raises(ValueError, match=f"has {LIMIT + 1:,} pixels; images may have at most"):
        check_rules.check_image(png, "huge.png")
    with pytest.raises(import_rules.ImageError, match=f"image has {LIMIT + 1:,} pixels"):
        import_rules.inspect(png)


def test_the_import_names_the_image_over_the_limit(emulator):
    bucket = storage_client(emulator.env).create_bucket(f"pixels-{uuid.uuid4().hex[:10]}")
    rows = []
    for i in digit_images(10, LABELS):
        name = f"digits/{i.label}/{i.index}.{i.extension}"
        bucket.blob(name).upload_from_string(i.data, content_type=f"image/{i.extension}")
        rows.append(f"TRAIN,gs://{bucket.name}/{name},{i.label}")
    bucket.blob("digits/zero/huge.png").upload_from_string(
        huge_png(14_000, 14_000), content_type="image/png"
    )
    rows.insert(5, f"TRAIN,gs://{bucket.name}/digits/zero/huge.png,zero")
    bucket.blob("index.csv").upload_from_string("\n".join(rows) + "\n")
    automl = automl_client(emulator.env)
    dataset = create_dataset(automl, "pixels")

    op = start_import(automl, dataset.name, f"gs://{bucket.name}/index.csv")
    wait_for(op)  # one bad row of 21 (under 10 %): the rest is imported, the row is named
    (failure,) = op.metadata.partial_failures
    assert failure.message == (
        f"gs://{bucket.name}/index.csv line 6: gs://{bucket.name}/digits/zero/huge.png: "
        f"image has 196,000,000 pixels; the limit is {LIMIT:,} pixels per image"
    )
    assert automl.get_dataset(name=dataset.name).example_count == 20
