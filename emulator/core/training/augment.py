"""Random changes to training batches (never to validation, test or export), inside the graph.

Suited to photos: a random resized crop (a random part of the image — `min_area` to all of it,
aspect ratio 3:4 to 4:3 — resized to the model's input, so objects appear at several scales and
positions; by default `min_area` is the model type's, smaller for larger networks:
architectures.py), colour jitter (brightness, contrast, saturation ±`jitter`) and, where the labels
allow it, a horizontal mirror. Mirroring changes the meaning of digits, letters, arrows and
signs, so by default (`horizontal_flip=None`) it is decided from the data: `mirror_keeps_labels`
classifies mirrored TRAIN thumbnails by the per-label mean thumbnails of the unmirrored ones,
and turns mirroring on only when that keeps most of what the originals score above chance
(scikit-learn's digits: 0.42 → 0.18 with 10 labels, off; photo crops: 0.97 → 0.92 with 6, on).

All randomness is stateless, from (seed, step): the same seed gives the same batches.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from emulator.core.tf_setup import tensorflow

# Mirrored images must keep this share of the originals' accuracy above chance.
_MIRROR_RETENTION = 0.8
_MIN_PER_LABEL = 20
_THUMBNAIL = 8


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to training batches only."""

    horizontal_flip: bool | None = None  # None: decided from the data (mirror_keeps_labels)
    # Random resized crop: the smallest part of the image kept (None: the model type's own,
    # `Architecture.min_crop_area`; the trainer resolves it before the batches are augmented).
    min_area: float | None = None
    max_aspect: float = 4 / 3  # and its widest (and, inverted, tallest) aspect ratio
    jitter: float = 0.2  # ± fraction: brightness (of 0–255), contrast, saturation
    mixup: float = 0.2  # α of mixup's Beta(α, α) blend of image pairs (0: off)

    def resolved(self, min_crop_area: float) -> "Augmentation":
        """This augmentation, with the model type's `min_crop_area` where `min_area` is open."""
        return self if self.min_area is not None else replace(self, min_area=min_crop_area)


def augment_batch(pixels, seed, size: int, aug: Augmentation, flip: bool):
    """A randomly cropped, resized, lit (and maybe mirrored) float32 copy of a uint8 batch.

    `pixels` is [N, H, W, 3] uint8 of any H×W; `seed` a shape-[2] int32 tensor; the result is
    [N, size, size, 3] float32 in 0–255. A TensorFlow function (runs inside the train step).
    """
    if aug.min_area is None:
        raise ValueError("Augmentation.min_area is unresolved: the model type's is needed")
    tf = tensorflow()
    n = tf.shape(pixels)[0]
    u = tf.random.stateless_uniform([n, 8], seed)
    area = aug.min_area + (1.0 - aug.min_area) * u[:, 0]
    log_aspect = math.log(aug.max_aspect) * (2.0 * u[:, 1] - 1.0)
    aspect = tf.exp(log_aspect)
    width = tf.minimum(tf.sqrt(area * aspect), 1.0)
    height = tf.minimum(tf.sqrt(area / aspect), 1.0)
    left = (1.0 - width) * u[:, 2]
    top = (1.0 - height) * u[:, 3]
    x0, x1 = left, left + width
    if flip:  # crop_and_resize mirrors a box whose x1 < x0
        mirrored = u[:, 4] < 0.5
        x0, x1 = tf.where(mirrored, x1, x0), tf.where(mirrored, x0, x1)
    boxes = tf.stack([top, x0, top + height, x1], axis=1)
    out = tf.image.crop_and_resize(tf.cast(pixels, tf.float32), boxes, tf.range(n), [size, size])
    if aug.jitter:
        grey = tf.reduce_mean(out, axis=-1, keepdims=True)
        out = grey + (out - grey) * _factor(u[:, 5], aug.jitter)
        mean = tf.reduce_mean(out, axis=[1, 2, 3], keepdims=True)
        out = mean + (out - mean) * _factor(u[:, 6], aug.jitter)
        out = out + (2.0 * u[:, 7] - 1.0)[:, None, None, None] * (aug.jitter * 255.0)
    return tf.clip_by_value(out, 0.0, 255.0)


def mix_batch(x, targets, weights, seed, alpha: float):
    """Mixup: each image blended with its mirror-position partner in the batch, and so are
    its targets and weight (one Beta(α, α) share per batch). A TensorFlow function."""
    tf = tensorflow()
    seed = seed + tf.constant([0, 1 << 20], tf.int32)  # apart from augment_batch's draws
    a = tf.random.stateless_gamma([], seed, alpha)
    b = tf.random.stateless_gamma([], seed + 1, alpha)
    share = a / (a + b)
    mixed = share * x + (1.0 - share) * tf.reverse(x, [0])
    mixed_targets = share * targets + (1.0 - share) * tf.reverse(targets, [0])
    mixed_weights = share * weights + (1.0 - share) * tf.reverse(weights, [0])
    return mixed, mixed_targets, mixed_weights


def _factor(uniform, jitter: float):
    return (1.0 - jitter + 2.0 * jitter * uniform)[:, None, None, None]


def mirror_keeps_labels(pixels: np.ndarray, targets: np.ndarray) -> bool:
    """Whether mirrored images keep their label (multiclass targets; see the module docstring).

    Nearest-mean classification of 8×8 thumbnails: the accuracy on mirrored TRAIN images, above
    chance (the commonest label's share), must be at least 80 % of the originals'; with fewer
    than 20 images per label on average, mirrors stay off.
    """
    targets = np.asarray(targets)
    if targets.ndim != 1 or len(np.unique(targets)) < 2:
        return False
    if len(targets) < _MIN_PER_LABEL * len(np.unique(targets)):
        return False  # too few images to tell: mirrors could turn one label into another
    thumbs = _thumbnails(pixels)
    labels = np.unique(targets)
    means = np.stack([thumbs[targets == label].mean(axis=0) for label in labels])

    def accuracy(images: np.ndarray) -> float:
        flat = images.reshape(len(images), -1)
        distances = ((flat[:, None, :] - means.reshape(len(labels), -1)[None]) ** 2).sum(-1)
        return float((labels[distances.argmin(axis=1)] == targets).mean())

    chance = np.bincount(np.searchsorted(labels, targets)).max() / len(targets)
    original, mirrored = accuracy(thumbs) - chance, accuracy(thumbs[:, :, ::-1]) - chance
    return bool(original > 0 and mirrored >= _MIRROR_RETENTION * original)


def _thumbnails(pixels: np.ndarray) -> np.ndarray:
    """Block means of [N, S, S, 3] images: [N, 8, 8, 3] float32 (S a multiple of 8 or not)."""
    n, size = len(pixels), pixels.shape[1]
    edges = np.linspace(0, size, _THUMBNAIL + 1).astype(int)
    out = np.empty((n, _THUMBNAIL, _THUMBNAIL, 3), np.float32)
    for i in range(_THUMBNAIL):
        for j in range(_THUMBNAIL):
            block = pixels[:, edges[i] : edges[i + 1], edges[j] : edges[j + 1]]
            out[:, i, j] = block.mean(axis=(1, 2))
    return out
