"""The benchmark's two labeled image sets, built from what packages ship (nothing downloaded).

- digits: scikit-learn's 1,797 handwritten digits rendered as 32×32 RGB photos exactly as the
  example project's `specs/data/digits.zip` (scripts/make_example_data.py), PNG, split
  80/10/10 within each label with a fixed seed.
- photos: six of scikit-image's sample photographs (brick, grass, gravel, coffee, chelsea the
  cat, rocket), one label each. TRAIN and VALIDATION crops are cut from the left 60 % of each
  picture, TEST crops from the right 40 %: the model is tested on parts of the scenes it never
  saw. Crops are squares of 30–50 % of the picture's shorter side at random positions, resized
  to 96×96 and stored as JPEG (quality 90); 40 TRAIN, 10 VALIDATION and 100 TEST per label.
  The first 30 TEST crops of each label come from the same random stream as TRAIN and
  VALIDATION (the set had 30 then); the other 70 from a stream of their own, so enlarging TEST
  changed no TRAIN or VALIDATION image. With 600 TEST images one error is 0.17 points.
"""

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.make_example_data import LABELS as DIGIT_LABELS
from scripts.make_example_data import encode, iter_digits

SEED = 7
PICTURES = ("brick", "grass", "gravel", "coffee", "chelsea", "rocket")
PHOTO_SIDE = 96
PHOTO_COUNTS = {"TRAIN": 40, "VALIDATION": 10, "TEST": 30}
# TEST crops per label beyond PHOTO_COUNTS["TEST"], each label's from its own random stream.
PHOTO_EXTRA_TEST = 70
TRAIN_REGION, TEST_REGION = (0.0, 0.6), (0.6, 1.0)  # of each picture's width
CROP_SIDES = (0.3, 0.5)  # of each picture's shorter side


@dataclass(frozen=True)
class LabeledSet:
    """Encoded images with labels and splits, and their pixels for the baselines."""

    name: str
    labels: tuple[str, ...]
    data: tuple[bytes, ...]
    targets: np.ndarray  # label index per image
    splits: np.ndarray  # "TRAIN" | "VALIDATION" | "TEST" per image
    pixels: np.ndarray  # uint8 [N, H, W, 3] as encoded (after JPEG decoding for photos)

    def examples(self):
        """The images as the trainer's Examples."""
        from emulator.core.trainer import Example, Split

        return [
            Example(data, (self.labels[t],), Split(s))
            for data, t, s in zip(self.data, self.targets, self.splits, strict=True)
        ]


def split_within_labels(targets: np.ndarray, seed: int = SEED) -> np.ndarray:
    """'TRAIN' / 'VALIDATION' / 'TEST' per example: 80/10/10 within each label, fixed seed."""
    rng = np.random.default_rng(seed)
    splits = np.empty(len(targets), dtype=object)
    for label in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == label))
        n_train = round(len(members) * 0.8)
        n_val = round(len(members) * 0.1)
        splits[members[:n_train]] = "TRAIN"
        splits[members[n_train : n_train + n_val]] = "VALIDATION"
        splits[members[n_train + n_val :]] = "TEST"
    return splits


def digits() -> LabeledSet:
    """The example project's digits (see the module docstring)."""
    rendered = [(label, image) for _, label, image in iter_digits()]
    targets = np.array([DIGIT_LABELS.index(label) for label, _ in rendered])
    return LabeledSet(
        name="digits",
        labels=DIGIT_LABELS,
        data=tuple(encode(image, "PNG") for _, image in rendered),
        targets=targets,
        splits=split_within_labels(targets),
        pixels=np.stack([np.asarray(image) for _, image in rendered]),
    )


def _picture(name: str) -> np.ndarray:
    import skimage.data

    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    return pixels[..., :3]


def _crop(picture: np.ndarray, region: tuple[float, float], rng: np.random.Generator) -> bytes:
    height, width = picture.shape[:2]
    left, right = int(region[0] * width), int(region[1] * width)
    side = int(rng.uniform(*CROP_SIDES) * min(height, width))
    side = min(side, right - left, height)
    x = int(rng.integers(left, right - side + 1))
    y = int(rng.integers(0, height - side + 1))
    crop = Image.fromarray(picture[y : y + side, x : x + side])
    crop = crop.resize((PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def photos() -> LabeledSet:
    """Crops of scikit-image's sample photographs (see the module docstring)."""
    rng = np.random.default_rng(SEED)
    data, targets, splits = [], [], []
    for label, name in enumerate(PICTURES):
        picture = _picture(name)
        for split, count in PHOTO_COUNTS.items():
            region = TEST_REGION if split == "TEST" else TRAIN_REGION
            for _ in range(count):
                data.append(_crop(picture, region, rng))
                targets.append(label)
                splits.append(split)
        extra = np.random.default_rng([SEED, label])
        for _ in range(PHOTO_EXTRA_TEST):
            data.append(_crop(picture, TEST_REGION, extra))
            targets.append(label)
            splits.append("TEST")
    pixels = np.stack([np.asarray(Image.open(io.BytesIO(d)).convert("RGB")) for d in data])
    return LabeledSet(
        name="photos",
        labels=PICTURES,
        data=tuple(data),
        targets=np.array(targets),
        splits=np.array(splits, dtype=object),
        pixels=pixels,
    )
