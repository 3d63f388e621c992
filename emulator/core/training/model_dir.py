"""Writes a trained model directory: complete or not at all (a temporary sibling, then a rename).

Files: `model.keras` (the whole model: any input size, resizes itself; what exports other than
`tflite` and transfer learning start from), `model.tflite` (float32, converted straight from
the Keras model; what evaluation and prediction run), `dict.txt`, `tflite_metadata.json`
(with a `training` summary that every export copies), `representative.npy` (TRAIN images at
the input side, for int8 calibration) and `training.json` (config and result).
"""

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emulator.core.architectures import core_of
from emulator.core.exporter import (
    KERAS_FILE,
    REPRESENTATIVE_FILE,
    TFLITE_FILE,
    metadata_for,
    tflite_from_keras,
    write_labels_and_metadata,
)
from emulator.core.training.errors import TrainingError

TRAINING_FILE = "training.json"


def write_model_dir(
    output_dir: Path,
    model,
    facts: dict,
    representative: np.ndarray,
    record: Callable[[], dict],
) -> None:
    """Writes every file into a temporary sibling, then renames it into place.

    `facts` are metadata_for's keyword arguments plus `training` (the summary exports carry);
    `record` is called last, for training.json (so it can include the time this took).
    """
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_dir.parent / f".{output_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        model.save(tmp / KERAS_FILE)
        np.save(tmp / REPRESENTATIVE_FILE, representative)
        facts = dict(facts)
        summary = facts.pop("training")
        tflite = tflite_from_keras(core_of(model), facts["input_size"])
        (tmp / TFLITE_FILE).write_bytes(tflite)
        metadata = metadata_for("tflite", model_content=tflite, **facts)
        metadata["training"] = summary
        write_labels_and_metadata(tmp, facts["labels"], metadata)
        (tmp / TRAINING_FILE).write_text(json.dumps(_jsonable(record()), indent=2) + "\n")
        _fsync_tree(tmp)
        try:
            os.rename(tmp, output_dir)  # atomic on one filesystem
        except OSError as exc:
            raise TrainingError(
                f"output directory {output_dir} appeared during training ({exc.strerror}); "
                "the trained model was not written"
            ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def remove_partial_outputs(directory: Path) -> list[Path]:
    """Deletes temporary model/export directories a killed process left in `directory`.

    `train` and `export_model` write into `.<name>.tmp-<hex>` siblings and rename them when
    complete; after a crash or restart only such siblings can be incomplete. Returns them.
    """
    removed = []
    for path in sorted(Path(directory).glob(".*.tmp-*")):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def load_training_record(model_dir: Path) -> dict:
    """The `training.json` of a trained model directory (config and result)."""
    return json.loads((Path(model_dir) / TRAINING_FILE).read_text())
