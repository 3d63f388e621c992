"""The committed example zip is exactly what scripts/make_example_data.py generates."""

import hashlib
import zipfile
from pathlib import Path

from scripts.make_example_data import build

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "specs" / "data" / "digits.zip"


def test_regenerated_zip_is_byte_identical(tmp_path):
    out = tmp_path / "digits.zip"
    counts = build(out)
    assert sum(counts.values()) == 1797
    assert min(counts.values()) >= 100  # no "fewer than 100 images" warning for the example
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(COMMITTED.read_bytes()).hexdigest(), (
        "specs/data/digits.zip is stale: run `make example-data` and commit it"
    )


def test_zip_is_structured_one_folder_per_label():
    with zipfile.ZipFile(COMMITTED) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
    labels = {n.split("/")[1] for n in names}
    assert labels == {
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
    }
    assert {n.rsplit(".", 1)[1] for n in names} == {"png", "jpg"}
