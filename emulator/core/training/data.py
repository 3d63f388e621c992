"""Training inputs: labels as targets, and images decoded once per dataset (shared by trainings).

Decoding is the slow part of preparing a training (PNG/JPEG → pixels), and every model type
trained on a dataset needs the same images: they are decoded once per *image fingerprint* (the
sha256 of the TRAIN and VALIDATION images' contents in order, and the decoding size) and kept
in a process-wide cache (`DECODED`, least recently used out first, `CACHE_BYTES` at most).

Sizes. Images are decoded to one square side for all model types: their own median shorter
side, at most the largest input side of any type (`fitting_side`). Random crops for a
model are then cut from pixels at least as sharp as its input.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emulator.core import images
from emulator.core.training.errors import TrainingError

CACHE_BYTES = 1 << 30  # decoded pixels kept for later trainings: 1 GiB
# Input sides are multiples of this (MobileNet-style stride-32 networks want multiples of 8).
SIDE_STEP = 8
MIN_SIDE = 32


@dataclass(frozen=True)
class LabeledExample:
    """What `prepare` needs of an example (trainer.Example satisfies it)."""

    data: bytes
    labels: tuple[str, ...]
    split: str


@dataclass(frozen=True)
class TrainingData:
    """Decoded TRAIN and VALIDATION images (at the source side) with their targets."""

    x_train: np.ndarray  # uint8 [N, side, side, 3]
    y_train: np.ndarray  # int64 [N] (multiclass) or float32 [N, labels] (multilabel)
    x_val: np.ndarray  # uint8 [M, side, side, 3]
    y_val: np.ndarray
    native_side: int  # median shorter side of the images as stored
    cached: bool  # the pixels came from the cache (decoded by an earlier training)

    @property
    def side(self) -> int:
        return int(self.x_train.shape[1])


class DecodedCache:
    """Decoded image arrays by fingerprint, least recently used evicted past `max_bytes`."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[np.ndarray, int] | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: str, pixels: np.ndarray, native_side: int) -> None:
        if pixels.nbytes > self.max_bytes:
            return
        with self._lock:
            self._items[key] = (pixels, native_side)
            self._items.move_to_end(key)
            while sum(p.nbytes for p, _ in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


DECODED = DecodedCache()


def targets(
    examples: Sequence[LabeledExample], labels: Sequence[str], multilabel: bool
) -> tuple[list[int], list[int], list]:
    """(TRAIN positions, VALIDATION positions, their targets in that order) of the labeled
    non-TEST examples.

    Checks every example's labels (TrainingError names the example); unlabeled multiclass
    images do not take part in training.
    """
    index = {label: i for i, label in enumerate(labels)}
    positions: dict[str, list[int]] = {"TRAIN": [], "VALIDATION": []}
    found: dict[str, list] = {"TRAIN": [], "VALIDATION": []}
    for n, example in enumerate(examples):
        split = str(example.split)
        if split == "TEST":
            continue
        unknown = [label for label in example.labels if label not in index]
        if unknown:
            raise TrainingError(
                f"example {n}: label(s) {unknown} are not in the model's labels {list(labels)}"
            )
        target: np.ndarray | int  # a multi-hot row, or the label's index
        if multilabel:
            target = np.zeros(len(labels), np.float32)
            target[[index[label] for label in example.labels]] = 1.0
        elif len(example.labels) > 1:
            raise TrainingError(
                f"example {n}: {len(example.labels)} labels {list(example.labels)}; "
                "a multiclass model allows exactly 1 label per image"
            )
        elif not example.labels:
            continue
        else:
            target = index[example.labels[0]]
        positions[split].append(n)
        found[split].append(target)
    if not positions["TRAIN"]:
        raise TrainingError("no TRAIN examples with labels; at least 1 is needed")
    return positions["TRAIN"], positions["VALIDATION"], found["TRAIN"] + found["VALIDATION"]


def fitting_side(native_side: int, largest: int) -> int:
    """A square side for images of this (median) shorter side: at most `largest`, since
    enlarging adds no detail, only compute; a multiple of 8, at least 32."""
    side = -(-native_side // SIDE_STEP) * SIDE_STEP
    return max(MIN_SIDE, min(largest, side))


def prepare(
    examples: Sequence[LabeledExample],
    labels: Sequence[str],
    multilabel: bool,
    largest_input: int,
    cancel: threading.Event,
) -> TrainingData | None:
    """Targets and pixels of the TRAIN and VALIDATION examples; None when cancelled meanwhile.

    Without VALIDATION examples every 10th TRAIN image is held out (deterministic), as AutoML
    carves a validation set out of the data when none is given.
    """
    train, val, ys = targets(examples, labels, multilabel)
    decoded = decode_all(examples, [*train, *val], largest_input, cancel)
    if decoded is None:
        return None
    pixels, native, cached = decoded
    y = np.asarray(ys)
    x_train, y_train = pixels[: len(train)], y[: len(train)]
    x_val, y_val = pixels[len(train) :], y[len(train) :]
    if not val:
        held = np.arange(len(x_train)) % 10 == 9
        if not held.any() or held.all():
            held = np.zeros(len(x_train), bool)
            held[-1] = True
        x_val, y_val = x_train[held], y_train[held]
        if len(x_train) > 1:
            x_train, y_train = x_train[~held], y_train[~held]
    return TrainingData(x_train, y_train, x_val, y_val, native, cached)


def decode_all(
    examples: Sequence[LabeledExample],
    positions: Sequence[int],
    largest_input: int,
    cancel: threading.Event,
) -> tuple[np.ndarray, int, bool] | None:
    """Pixels [len(positions), side, side, 3] of the examples, from the cache or decoded.

    The side fits the images' median shorter side (`fitting_side`, at most `largest_input`).
    Returns (pixels, native side, cached); None when `cancel` is set meanwhile.
    """
    digest = hashlib.sha256(f"{largest_input}".encode())
    for n in positions:
        digest.update(hashlib.sha256(examples[n].data).digest())
    key = digest.hexdigest()
    found = DECODED.get(key)
    if found is not None:
        return found[0], found[1], True
    sides = []
    for n in positions:
        try:
            width, height = images.size_of(examples[n].data)
        except Exception as exc:  # PIL raises several types for corrupt data
            raise TrainingError(f"example {n}: image cannot be decoded: {exc}") from None
        sides.append(min(width, height))
    native = int(np.median(sides))
    side = fitting_side(native, largest_input)
    pixels = np.empty((len(positions), side, side, 3), np.uint8)
    for i, n in enumerate(positions):
        if cancel.is_set():
            return None
        try:
            pixels[i] = images.decode_rgb(examples[n].data, side)
        except Exception as exc:  # PIL raises several types for corrupt data
            raise TrainingError(f"example {n}: image cannot be decoded: {exc}") from None
    DECODED.put(key, pixels, native)
    return pixels, native, False
