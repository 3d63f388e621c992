"""`edgectl predict --model-file` and the prediction core (components/predict.py) on small
real TF Lite models: labels from the file's TF Lite metadata or dict.txt, the dataset checks'
messages for bad images, the options' limits."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from components.cli import main
from components.data.images import check_image
from components.predict import ImageRejected, PredictError, Predictor
from tflite_metadata import read_metadata, with_metadata


def _edgectl(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _image(fmt: str = "PNG", size: int = 20, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def model_dir(tmp_path: Path, tflite_files) -> Path:
    """A plain export: model.tflite (no metadata) and dict.txt beside it."""
    model = tflite_files[0]
    (tmp_path / "model.tflite").write_bytes(model.data)
    (tmp_path / "dict.txt").write_text("".join(f"{label}\n" for label in model.labels))
    return tmp_path


def test_labels_come_from_dict_txt_beside_a_plain_file(model_dir: Path):
    predictor = Predictor.from_file(model_dir / "model.tflite")
    assert predictor.labels == ("zero", "one", "two") and predictor.input_size == 8
    found = predictor.label(_image(), threshold=0.0)
    assert sorted(label for label, _ in found) == ["one", "two", "zero"]
    assert [score for _, score in found] == sorted((s for _, s in found), reverse=True)
    assert sum(score for _, score in found) == pytest.approx(1.0, abs=1e-5)
    assert predictor.label(_image(), threshold=0.0, top=1) == found[:1]
    assert predictor.label(_image(), threshold=1.0) == []


def test_labels_and_threshold_come_from_embedded_metadata(tmp_path: Path, tflite_files):
    model = tflite_files[0]
    path = tmp_path / "model.tflite"  # no dict.txt beside it: the file is self-contained
    path.write_bytes(with_metadata(model.data, name="digits", labels=model.labels, threshold=0.4))
    assert Predictor.from_file(path).labels == model.labels
    image = tmp_path / "red.png"
    image.write_bytes(_image())
    code, out, err = _edgectl("predict", "--model-file", str(path), "--format", "json", str(image))
    assert code == 0, err
    report = json.loads(out)
    assert report["threshold"] == pytest.approx(0.4) and report["model"]["model"] == "digits"
    plain = Predictor(model.data, model.labels).label(image, threshold=0.4)
    assert [(a["label"], a["score"]) for a in report["images"][0]["labels"]] == [
        (label, pytest.approx(score, abs=1e-6)) for label, score in plain
    ]


def test_a_file_without_labels_is_refused(tmp_path: Path, tflite_files):
    path = tmp_path / "model.tflite"
    path.write_bytes(tflite_files[0].data)
    with pytest.raises(PredictError, match=r"embeds no labels .* pass the export's dict\.txt"):
        Predictor.from_file(path)
    with pytest.raises(PredictError, match="gives 3 scores per image but 2 labels"):
        Predictor(tflite_files[0].data, ["a", "b"])
    with pytest.raises(PredictError, match="is not a loadable TF Lite model"):
        Predictor(b"not a model", ["a"])


BAD_IMAGES = {
    "notes.png": b"these are not pixels",
    "empty.jpg": b"",
    "truncated.png": _image()[:60],
    "misnamed.jpg": _image("PNG"),
}


def test_bad_images_get_the_dataset_checks_messages(model_dir: Path, tmp_path: Path):
    images = tmp_path / "images"
    images.mkdir()
    for name, data in BAD_IMAGES.items():
        (images / name).write_bytes(data)
    (images / "good.bmp").write_bytes(_image("BMP"))
    code, out, err = _edgectl(
        "predict", "--model-file", str(model_dir / "model.tflite"), "--threshold", "0", str(images)
    )
    assert code == 1, err  # some images refused; the good one is still labeled
    lines = dict(line.split(": ", 1) for line in out.splitlines()[1:])
    assert lines[str(images / "good.bmp")].count(" ") == 5  # three "label score" pairs
    for name, data in BAD_IMAGES.items():
        with pytest.raises(ValueError) as checked:
            check_image(data, str(images / name))
        assert lines[str(images / name)] == f"refused: {checked.value}"
    with pytest.raises(ImageRejected, match=r"missing\.png: cannot be read"):
        Predictor.from_file(model_dir / "model.tflite").label(tmp_path / "missing.png")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "1.5"], "--threshold 1.5: 0 to 1 is allowed"),
        (["--top", "0"], "--top 0: at least 1 is allowed"),
        (["--stack", "local"], "--model-file runs a local file: it goes without --stack"),
    ],
)
def test_option_limits(model_dir: Path, args, message):
    code, out, err = _edgectl(
        "predict", "--model-file", str(model_dir / "model.tflite"), *args, "x.png"
    )
    assert (code, out) == (2, "") and message in err


def test_an_empty_directory_names_no_image(model_dir: Path, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    code, out, err = _edgectl(
        "predict", "--model-file", str(model_dir / "model.tflite"), str(tmp_path / "empty")
    )
    assert (code, out) == (2, "") and f"no file in {tmp_path / 'empty'}" in err


def test_unreadable_metadata_is_named(tmp_path: Path, tflite_files):
    model = tflite_files[0]
    good = with_metadata(model.data, name="x", labels=model.labels)
    # The metadata's M001 file identifier overwritten: not a metadata flatbuffer any more.
    assert good.count(b"M001") == 1
    broken = good.replace(b"M001", b"XXXX")
    path = tmp_path / "model.tflite"
    path.write_bytes(bytes(broken))
    code, out, err = _edgectl("predict", "--model-file", str(path), "x.png")
    assert (code, out) == (1, "")
    assert f"{path}: TFLITE_METADATA is not a metadata flatbuffer (no M001 identifier)" in err


def test_stack_and_model_are_needed_without_a_model_file():
    code, _, err = _edgectl("predict", "x.png")
    assert code == 2 and "--stack and --model are required (or --model-file FILE)" in err


def test_metadata_reads_back_what_was_written(tflite_files):
    model = tflite_files[0]
    assert read_metadata(model.data) is None
    first = with_metadata(
        model.data, name="digits", labels=model.labels, version="sha256:" + "a" * 64, threshold=0.42
    )
    meta = read_metadata(first)
    assert meta is not None
    assert (meta.name, meta.version, meta.min_parser_version) == (
        "digits",
        "sha256:" + "a" * 64,
        "1.0.0",
    )
    assert (meta.mean, meta.std, meta.color_space) == ((0.0,), (1.0,), "RGB")
    assert (meta.labels_file, meta.labels, meta.threshold) == ("dict.txt", model.labels, 0.42)
    # Written again (a new gate threshold): replaced, not added to.
    second = with_metadata(first, name="digits", labels=model.labels, threshold=None)
    again = read_metadata(second)
    assert again is not None and again.threshold is None and again.version is None
    # Written twice the same: the same bytes (so the same sha256), not a second copy.
    args = {"name": "digits", "labels": model.labels, "version": "v1", "threshold": 0.5}
    once = with_metadata(model.data, **args)
    assert with_metadata(once, **args) == once
    # The flatbuffer without its appended zip: the labels file it names is missing.
    cut = first[: first.index(b"PK\x03\x04")]
    with pytest.raises(ValueError, match=r"names the labels file dict\.txt, which is not packed"):
        read_metadata(cut)
    with pytest.raises(ValueError, match="threshold 2: a score from 0 to 1"):
        with_metadata(model.data, name="x", labels=model.labels, threshold=2)


def test_metadata_bytes_do_not_depend_on_the_clock(tflite_files, monkeypatch):
    # The same model and metadata written at two times: the same bytes. A zip entry stamped with
    # the writing time made two exports of one model differ once a 2-second tick fell between
    # them (tests/cloud/test_training_contract.py failed so on loaded machines).
    model = tflite_files[0]
    args = {"name": "digits", "labels": model.labels, "version": "v1", "threshold": 0.5}
    written = []
    for moment in (946_684_800.0, 1_900_000_000.0):  # 2000-01-01 and 2030-03-17
        monkeypatch.setattr(time, "time", lambda moment=moment: moment)
        written.append(with_metadata(model.data, **args))
    assert written[0] == written[1]
