"""Exports a trained model directory in AutoML's formats: files in a local directory, with digests.

Formats (AutoML v1 `ModelExportOutputConfig.model_format` values):
- `tflite`: float32 TF Lite, input float32 RGB 0–255 `[1, H, W, 3]`, output float32 scores
  (the trained model directory's own `model.tflite`, converted at training time).
- `edgetpu_tflite`: full-integer quantized TF Lite (int8 tensors inside), calibrated on TRAIN
  images; input uint8 RGB 0–255 (scale 1, zero point 0: raw pixels), output uint8 scores
  (score = value / 256). Compiling for an actual Edge TPU (`edgetpu_compiler`) is not done.
- `tf_saved_model`: `saved_model/` with a `serving_default` signature taking float32 RGB 0–255
  `[batch, height, width, 3]` of any size (the model resizes); written only when asked for.
TF Lite files are converted straight from the Keras model (`tflite_from_keras`), without a
SavedModel in between. Both TF Lite formats carry TF Lite model metadata (tflite_metadata/):
the labels, as an associated TENSOR_AXIS_LABELS file, and the input normalization, as the
services' exports do. Every export directory also holds `dict.txt` (labels in output order,
one per line) and `tflite_metadata.json` (see `metadata_for`; it also carries the model
directory's `training` summary: stop reason, epochs run, best epoch, cost). The facade names
the directory (`<prefix>/model-export/icn/<format>-<display_name>-<timestamp>/`) and uploads
the files.
"""

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emulator.core.architectures import core_of, load_model
from emulator.core.tf_setup import (
    keras,
    native_logs_filtered,
    quiet_native_logs,
    tensorflow,
    tf_lock,
)
from tflite_metadata import with_metadata

EXPORT_FORMATS = ("tflite", "edgetpu_tflite", "tf_saved_model")

# Files of a trained model directory (emulator/core/trainer.py) that exports read or copy; an
# export directory holds the same names, so the predictor loads either.
TFLITE_FILE = "model.tflite"
KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
REPRESENTATIVE_FILE = "representative.npy"
LABELS_FILE = "dict.txt"
METADATA_FILE = "tflite_metadata.json"

# How pixels are mapped inside every exported model (for apps that want to know).
NORMALISATION = {
    "inModel": True,
    "input": "RGB pixel values 0-255, no external preprocessing",
    "mean": [127.5, 127.5, 127.5],
    "std": [127.5, 127.5, 127.5],
    "resize": "bilinear, inside the model",
}


class ExportError(ValueError):
    """An export that cannot be made; the message names the format or path."""


@dataclass(frozen=True)
class ExportedFile:
    name: str  # path relative to the export directory, '/'-separated
    path: Path
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ExportResult:
    model_format: str
    directory: Path
    files: tuple[ExportedFile, ...]

    def file(self, name: str) -> ExportedFile:
        """The exported file with this relative name."""
        for exported in self.files:
            if exported.name == name:
                return exported
        raise KeyError(name)


def write_saved_model(model, path: Path) -> None:
    """Writes a Keras model's inference graph as a SavedModel (`serve` / `serving_default`).

    Not `model.export()`: that traces `__call__` in whatever mode Keras infers, and its
    SavedModel came out with training-mode BatchNormalization (batch statistics), which turns a
    batch of one image into noise. The endpoint here calls the model with training=False.
    """
    tf, k = tensorflow(), keras()
    archive = k.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda pixels: model.call(pixels, training=False),
        [tf.TensorSpec([None, None, None, 3], tf.float32, name="pixels")],
    )
    archive.write_out(str(path), verbose=False)


def tflite_from_keras(model, input_size: int, representative: np.ndarray | None = None) -> bytes:
    """TF Lite bytes of a Keras model at batch 1 and a square input; int8 when calibration given.

    Converted straight from the model in memory: its inference function (training=False) is
    traced at `[1, input_size, input_size, 3]` and its variables frozen into constants — no
    SavedModel is written. `model` is what follows the resizing (architectures.core_of), so
    the file holds no resize op.

    `representative` (uint8 or float [N, H, W, 3], pixels 0–255 at the input size) turns on
    full-integer quantization with uint8 input/output. A black and a white image are added to
    the calibration so the input range is exactly 0–255 (input scale 1, zero point 0).
    """
    tf = tensorflow()
    with tf_lock(), native_logs_filtered():
        spec = tf.TensorSpec([1, input_size, input_size, 3], tf.float32, name="pixels")
        function = tf.function(lambda pixels: model(pixels, training=False))
        # No trackable object: the converter then freezes the function's variables itself
        # instead of saving the model as a SavedModel first.
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [function.get_concrete_function(spec)]
        )
        if representative is not None:
            if len(representative) == 0:
                raise ExportError("int8 export: no TRAIN images to calibrate with")
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: _calibration(representative, input_size)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
        return converter.convert()


def load_keras_model(model_dir: Path):
    """The trained Keras model of a model directory (`model.keras`)."""
    return load_model(Path(model_dir) / KERAS_FILE)


def _calibration(images: np.ndarray, size: int) -> Iterator[list[np.ndarray]]:
    yield [np.zeros((1, size, size, 3), np.float32)]
    yield [np.full((1, size, size, 3), 255.0, np.float32)]
    for image in images:
        yield [image[None].astype(np.float32)]


def tflite_io(model_content: bytes) -> dict:
    """Input/output tensor facts of a TF Lite model, as recorded in tflite_metadata.json."""
    from ai_edge_litert.interpreter import Interpreter

    quiet_native_logs()
    with native_logs_filtered():
        interpreter = Interpreter(model_content=model_content)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def describe(detail: dict) -> dict:
        scale, zero_point = detail["quantization"]
        facts = {
            "name": detail["name"],
            "shape": [int(v) for v in detail["shape"]],
            "type": np.dtype(detail["dtype"]).name,
        }
        if scale:
            facts["quantization"] = {"scale": float(scale), "zeroPoint": int(zero_point)}
        return facts

    tensor_types = sorted({np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()})
    return {"input": describe(inp), "output": describe(out), "tensorTypes": tensor_types}


def metadata_for(
    model_format: str,
    *,
    model_type: str,
    labels: Sequence[str],
    multilabel: bool,
    input_size: int,
    model_content: bytes | None = None,
    threshold: float | None = None,
) -> dict:
    """The `tflite_metadata.json` document of an export (`model_content` for TF Lite formats)."""
    document: dict = {
        "modelFormat": model_format,
        "modelType": model_type,
        "labels": list(labels),
        "multilabel": multilabel,
        "outputActivation": "sigmoid" if multilabel else "softmax",
        "imageSize": input_size,
        "normalisation": NORMALISATION,
        "threshold": threshold,
    }
    if model_content is None:
        document["inputShape"] = [-1, -1, -1, 3]
        document["inputType"] = "float32"
        document["inferenceType"] = "FLOAT32"
        return document
    io = tflite_io(model_content)
    document["inputShape"] = io["input"]["shape"]
    document["inputType"] = io["input"]["type"]
    document["inputTensor"] = io["input"]["name"]
    document["outputTensor"] = io["output"]["name"]
    document["outputType"] = io["output"]["type"]
    document["inferenceType"] = (
        "FLOAT32"
        if io["input"]["type"] == "float32"
        else f"QUANTIZED_{io['input']['type'].upper()}"
    )
    for key in ("input", "output"):
        if "quantization" in io[key]:
            document[f"{key}Quantization"] = io[key]["quantization"]
    return document


def write_labels_and_metadata(directory: Path, labels: Sequence[str], metadata: dict) -> None:
    """Writes `dict.txt` (one label per line, in output order) and `tflite_metadata.json`."""
    (directory / LABELS_FILE).write_text("".join(f"{label}\n" for label in labels))
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")


def export_model(
    model_dir: Path, model_format: str, out_dir: Path, threshold: float | None = None
) -> ExportResult:
    """Writes one export format of a trained model directory into `out_dir` (atomically).

    `out_dir` must not exist or be empty. Returns every written file with its sha256.
    """
    if model_format not in EXPORT_FORMATS:
        raise ExportError(
            f"model_format {model_format!r} is not supported; allowed: {', '.join(EXPORT_FORMATS)}"
        )
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    base = _read_model_metadata(model_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"export directory {out_dir} is not empty; an empty or new one is needed")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        facts = {
            "model_type": base["modelType"],
            "labels": base["labels"],
            "multilabel": base["multilabel"],
            "input_size": base["imageSize"],
            "threshold": threshold,
        }
        if model_format == "tf_saved_model":
            write_saved_model(load_keras_model(model_dir), tmp / SAVED_MODEL_DIR)
            metadata = metadata_for(model_format, **facts)
        else:
            if model_format == "tflite":
                content = (model_dir / TFLITE_FILE).read_bytes()
            else:
                calibration = np.load(model_dir / REPRESENTATIVE_FILE)
                core = core_of(load_keras_model(model_dir))
                content = tflite_from_keras(core, base["imageSize"], calibration)
            # As AutoML and Vertex AI exports carry them: the labels (a TENSOR_AXIS_LABELS
            # file) and the input normalization in the file's TF Lite model metadata.
            content = with_metadata(
                content, name=f"{base['modelType']} image classifier", labels=base["labels"]
            )
            (tmp / TFLITE_FILE).write_bytes(content)
            metadata = metadata_for(model_format, model_content=content, **facts)
        if "training" in base:  # how the model was trained travels with every export
            metadata["training"] = base["training"]
        write_labels_and_metadata(tmp, base["labels"], metadata)
        if out_dir.exists():
            out_dir.rmdir()  # empty (checked above); rename needs the name free
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(model_format, out_dir, _describe_files(out_dir))


def set_threshold(export_dir: Path, threshold: float | None) -> ExportedFile:
    """Records the gate's confidence threshold in an export's tflite_metadata.json (atomically)."""
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ExportError(f"threshold={threshold}: a score between 0 and 1 is allowed")
    path = Path(export_dir) / METADATA_FILE
    document = json.loads(path.read_text())
    document["threshold"] = threshold
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)
    return _describe(Path(export_dir), path)


def _read_model_metadata(model_dir: Path) -> dict:
    path = model_dir / METADATA_FILE
    if not path.is_file() or not (model_dir / TFLITE_FILE).is_file():
        raise ExportError(f"{model_dir} is not a trained model directory (no {METADATA_FILE})")
    return json.loads(path.read_text())


def _describe_files(directory: Path) -> tuple[ExportedFile, ...]:
    return tuple(
        _describe(directory, path) for path in sorted(directory.rglob("*")) if path.is_file()
    )


def _describe(directory: Path, path: Path) -> ExportedFile:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return ExportedFile(
        name=path.relative_to(directory).as_posix(),
        path=path,
        sha256=digest.hexdigest(),
        size_bytes=path.stat().st_size,
    )
