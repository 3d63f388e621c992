"""Answers predictions from an exported TF Lite model (what a phone would run), with LiteRT.

Works on a trained model directory or on a `tflite` / `edgetpu_tflite` export directory: both
hold `model.tflite`, `dict.txt` and `tflite_metadata.json`. Images in any format the service
accepts are decoded to RGB and resized (bilinear) to the model's input; quantized inputs and
outputs are converted with the tensors' own scale and zero point.
"""

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emulator.core import images
from emulator.core.exporter import LABELS_FILE, METADATA_FILE, TFLITE_FILE
from emulator.core.tf_setup import native_logs_filtered, quiet_native_logs

# AutoML v1 PredictRequest.params["score_threshold"] default for image classification.
DEFAULT_SCORE_THRESHOLD = 0.5


class PredictionError(ValueError):
    """A model or image that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


class Predictor:
    """A loaded TF Lite model; thread-safe (calls are serialised on one interpreter)."""

    def __init__(self, model_dir: Path, num_threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        model_dir = Path(model_dir)
        model_path = model_dir / TFLITE_FILE
        if not model_path.is_file():
            raise PredictionError(
                f"{model_dir}: no {TFLITE_FILE}; a trained model directory or a tflite / "
                "edgetpu_tflite export is needed"
            )
        self.labels: tuple[str, ...] = tuple(
            line for line in (model_dir / LABELS_FILE).read_text().splitlines() if line
        )
        metadata_path = model_dir / METADATA_FILE
        self.metadata: dict = (
            json.loads(metadata_path.read_text()) if metadata_path.is_file() else {}
        )
        self.multilabel = bool(self.metadata.get("multilabel", False))
        quiet_native_logs()
        with native_logs_filtered():  # LiteRT announces its CPU delegate on first use
            self._interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        shape = self._input["shape"]
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
            raise PredictionError(f"{model_path}: input shape {list(shape)} is not [1, S, S, 3]")
        if int(self._output["shape"][-1]) != len(self.labels):
            raise PredictionError(
                f"{model_dir}: the model has {self._output['shape'][-1]} outputs but "
                f"{LABELS_FILE} lists {len(self.labels)} labels"
            )
        self.input_size = int(shape[1])
        self.input_dtype = np.dtype(self._input["dtype"])
        self._lock = threading.Lock()

    def pixels(self, data: bytes) -> np.ndarray:
        """Decodes image bytes to the model's input size (uint8 [S, S, 3]); checks the format."""
        try:
            images.inspect(data)
        except images.ImageError as exc:
            raise PredictionError(f"image: {exc}") from None
        return images.decode_rgb(data, self.input_size)

    def scores_for_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """One score per label (float64, in `labels` order) for a uint8 [S, S, 3] image."""
        tensor = self._to_input(pixels)
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], tensor)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output["index"])[0]
        scale, zero_point = self._output["quantization"]
        if scale:
            return (raw.astype(np.float64) - zero_point) * scale
        return raw.astype(np.float64)

    def scores(self, data: bytes) -> np.ndarray:
        """One score per label for encoded image bytes."""
        return self.scores_for_pixels(self.pixels(data))

    def scores_batch(self, images_data: Sequence[bytes]) -> np.ndarray:
        """Scores [N, labels] for several encoded images."""
        out = np.zeros((len(images_data), len(self.labels)), np.float64)
        for i, data in enumerate(images_data):
            out[i] = self.scores(data)
        return out

    def predict(
        self, data: bytes, score_threshold: float = DEFAULT_SCORE_THRESHOLD
    ) -> tuple[LabelScore, ...]:
        """Labels whose score is at least `score_threshold`, highest first."""
        return self.labels_above(self.scores(data), score_threshold)

    def labels_above(self, scores: np.ndarray, score_threshold: float) -> tuple[LabelScore, ...]:
        """The (label, score) pairs at or above the threshold, highest score first."""
        if not 0.0 <= score_threshold <= 1.0:
            raise PredictionError(f"score_threshold={score_threshold}: 0.0–1.0 is allowed")
        order = np.argsort(-scores, kind="stable")
        return tuple(
            LabelScore(self.labels[i], float(scores[i]))
            for i in order
            if scores[i] >= score_threshold
        )

    def _to_input(self, pixels: np.ndarray) -> np.ndarray:
        batch = pixels[None].astype(np.float32)
        if self.input_dtype == np.float32:
            return batch
        scale, zero_point = self._input["quantization"]
        info = np.iinfo(self.input_dtype)
        quantized = np.round(batch / (scale or 1.0) + zero_point)
        return np.clip(quantized, info.min, info.max).astype(self.input_dtype)
