"""Runs an exported TF Lite image-labeling model on images, with LiteRT, as an app would.

The one prediction core of the project: `edgectl predict` and the studio's "test your model"
box call it. A model takes RGB pixels 0–255 of shape `[1, S, S, 3]` (float32, or uint8 for the
int8 export) and gives one score per label (DESIGN.md, "exported models carry their own
preprocessing"); images are decoded to RGB and resized to S×S (bilinear), as the emulator's
evaluation does, so a local prediction gives the scores the gate was measured on.

    predictor = Predictor.from_file("model.tflite")        # labels: embedded, else dict.txt
    predictor.label("seven.png", threshold=0.5, top=3)     # [("seven", 0.97)]

Images are checked with the dataset checks' rules (components/data/images.py): a file the
service would refuse raises ImageRejected with the same message.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from components.data.images import check_image

if TYPE_CHECKING:
    from tflite_metadata import ModelMetadata

LABELS_FILE = "dict.txt"  # beside model.tflite in every export


class PredictError(ValueError):
    """A model that cannot be used for labeling; the message names the file and the reason."""


class ImageRejected(ValueError):
    """An image the dataset checks refuse; the message names the file and the rule."""


@dataclass(frozen=True)
class Labeled:
    """One image's labels at or above the threshold, highest score first."""

    image: str
    labels: tuple[tuple[str, float], ...]

    @property
    def top1(self) -> str | None:
        return self.labels[0][0] if self.labels else None


class Predictor:
    """A loaded TF Lite model, its labels and TF Lite metadata (`metadata`, None when it has
    none); thread-safe (calls share one interpreter)."""

    def __init__(self, model: bytes, labels: Sequence[str] | None = None, name: str = "model"):
        self.name = name
        try:
            self._interpreter = Interpreter(model_content=model, num_threads=1)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise PredictError(f"{name} is not a loadable TF Lite model ({exc})") from None
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        shape = [int(v) for v in self._input["shape"]]
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
            raise PredictError(f"{name}: input shape {shape} is not [1, S, S, 3] (RGB images)")
        self.input_size = shape[1]
        self.input_type = np.dtype(self._input["dtype"])
        outputs = int(self._output["shape"][-1])
        self.metadata = _embedded_metadata(model, name)
        if labels is None and self.metadata is not None:
            labels = self.metadata.labels
        if labels is None:
            raise PredictError(
                f"{name} embeds no labels (TF Lite metadata) and none were given: pass the "
                f"export's {LABELS_FILE}"
            )
        self.labels: tuple[str, ...] = tuple(labels)
        if len(self.labels) != outputs:
            raise PredictError(
                f"{name} gives {outputs} scores per image but {len(self.labels)} labels were "
                f"given ({', '.join(self.labels[:5])}{', …' if len(self.labels) > 5 else ''})"
            )
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path, labels: Sequence[str] | None = None) -> Predictor:
        """A model file; labels as given, else embedded in it, else its directory's dict.txt."""
        path = Path(path)
        try:
            model = path.read_bytes()
        except OSError as exc:
            raise PredictError(f"{path}: cannot be read ({exc.strerror})") from None
        if labels is None and (path.parent / LABELS_FILE).is_file():
            embedded = _embedded_metadata(model, str(path))
            if embedded is None or embedded.labels is None:
                text = (path.parent / LABELS_FILE).read_text(encoding="utf-8")
                labels = [line.strip() for line in text.splitlines() if line.strip()]
        return cls(model, labels, str(path))

    def pixels(self, image: bytes, name: str = "image") -> np.ndarray:
        """Checks and decodes an image to the model's input (uint8 [S, S, 3])."""
        checked_image(image, name)
        with Image.open(io.BytesIO(image)) as img:
            rgb = img.convert("RGB")
            if rgb.size != (self.input_size, self.input_size):
                rgb = rgb.resize((self.input_size, self.input_size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)

    def scores(self, image: str | Path | bytes) -> np.ndarray:
        """One score per label (float64, in `labels` order)."""
        data, name = _read(image)
        batch = self.pixels(data, name)[None].astype(np.float32)
        if self.input_type != np.float32:
            scale, zero_point = self._input["quantization"]
            limits = np.iinfo(self.input_type)
            batch = np.clip(np.round(batch / (scale or 1.0) + zero_point), limits.min, limits.max)
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], batch.astype(self.input_type))
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output["index"])[0]
        scale, zero_point = self._output["quantization"]
        scores: np.ndarray = raw.astype(np.float64)
        return (scores - zero_point) * scale if scale else scores

    def label(
        self, image: str | Path | bytes, threshold: float = 0.0, top: int | None = None
    ) -> list[tuple[str, float]]:
        """The (label, score) pairs scoring at least `threshold`, highest first, at most `top`."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold}: a score from 0 to 1 is allowed")
        if top is not None and top < 1:
            raise ValueError(f"top {top}: at least 1 is allowed")
        scores = self.scores(image)
        order = np.argsort(-scores, kind="stable")
        found = [(self.labels[i], float(scores[i])) for i in order if scores[i] >= threshold]
        return found[:top] if top is not None else found


def _embedded_metadata(model: bytes, name: str) -> ModelMetadata | None:
    """The model's TF Lite metadata (None: it has none); PredictError when it is unreadable."""
    from tflite_metadata import MetadataError, read_metadata

    try:
        return read_metadata(model)
    except MetadataError as exc:
        raise PredictError(f"{name}: {exc}") from None


def checked_image(image: str | Path | bytes, name: str | None = None) -> bytes:
    """The image's bytes, checked with the dataset rules (ImageRejected saying why not)."""
    data, default = _read(image)
    name = name or default
    try:
        check_image(data, name)
    except ValueError as exc:
        raise ImageRejected(f"{name}: {exc}") from None
    return data


def _read(image: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(image, bytes):
        return image, "image"
    path = Path(image)
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise ImageRejected(f"{path}: cannot be read ({exc.strerror})") from None
