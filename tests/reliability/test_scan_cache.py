"""A stamp the scan cache cannot see past: the upload refuses the bytes and the cache forgets."""

import hashlib
import io
import json
import os

import pytest
from PIL import Image

from components.data.cache import file_stamp
from components.data.errors import DatasetError
from components.data.manifest import scan_local
from tests.fixtures.digits import digit_images


def _bmp(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "BMP")
    return buf.getvalue()


def _tree(root, images, extra):
    for i in images:
        (root / i.label).mkdir(parents=True, exist_ok=True)
        (root / i.label / f"{i.index:04d}.{i.extension}").write_bytes(i.data)
    for name, data in extra.items():
        (root / name).write_bytes(data)
    return root


def test_a_stale_cache_entry_is_refused_at_upload_and_then_forgotten(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_LABELER_CACHE_DIR", str(tmp_path / "cache"))
    root = _tree(
        tmp_path / "digits", digit_images(10, ("zero", "one")), {"zero/red.bmp": _bmp((255, 0, 0))}
    )
    victim = root / "zero" / "red.bmp"
    red = hashlib.sha256(victim.read_bytes()).hexdigest()
    scan_local("directory", root, classification="multiclass")
    green = _bmp((0, 255, 0))
    victim.write_bytes(green)
    # What a scan in the same timestamp tick as this edit would have cached: the new stamp
    # with the old content's result.
    (cache_file,) = (tmp_path / "cache").glob("scan-*.json")
    cached = json.loads(cache_file.read_text())
    cached["entries"]["zero/red.bmp"][0] = list(file_stamp(os.stat(victim)))
    cache_file.write_text(json.dumps(cached))

    stale, items = scan_local("directory", root, classification="multiclass")
    assert any(e.sha256 == red for e in stale.entries)  # the cache could not see the edit
    with pytest.raises(DatasetError, match=r"zero/red\.bmp: changed since it was checked"):
        items["zero/red.bmp"].read()
    fresh, items = scan_local("directory", root, classification="multiclass")
    green_sha = hashlib.sha256(green).hexdigest()
    assert {e.sha256 for e in fresh.entries} - {e.sha256 for e in stale.entries} == {green_sha}
    assert items["zero/red.bmp"].read() == green
