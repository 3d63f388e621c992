"""The bench's labeled sets (bench/datasets.py): the splits it promises, and crops that show
their picture's subject (the trainer's figures in bench/ rest on both)."""

import io

import numpy as np
import pytest
from PIL import Image

from bench import datasets


def test_splits_are_80_10_10_within_each_label_and_the_same_every_time():
    targets = np.repeat(np.arange(3), [50, 20, 11])
    splits = datasets.split_within_labels(targets)
    for label, size in enumerate([50, 20, 11]):
        mine = splits[targets == label]
        counts = {s: int((mine == s).sum()) for s in ("TRAIN", "VALIDATION", "TEST")}
        assert counts["TRAIN"] == round(size * 0.8)
        assert counts["VALIDATION"] == round(size * 0.1)
        assert sum(counts.values()) == size  # every example in one split
    assert list(datasets.split_within_labels(targets)) == list(splits)
    assert list(datasets.split_within_labels(targets, seed=8)) != list(splits)


def test_every_crop_shows_at_least_half_subject():
    """A black picture whose subject is one white box, a fifth of its width: most random
    crops would be mostly black; each crop kept is at least MIN_SUBJECT_SHARE white."""
    picture = np.zeros((300, 500, 3), dtype=np.uint8)
    subject = (0.2, 0.3, 0.4, 0.8)  # left, top, right, bottom (of the width / height)
    (box,) = datasets._subject_boxes(picture.shape, (subject,))
    left, top, right, bottom = (int(v) for v in box)
    picture[top:bottom, left:right] = 255
    rng, redraw = np.random.default_rng(1), np.random.default_rng(2)
    for _ in range(40):
        crop = datasets._crop(picture, (0.0, 0.6), [box], rng, redraw, (60, 120))
        pixels = np.asarray(Image.open(io.BytesIO(crop)).convert("L"), dtype=float)
        assert pixels.shape == (datasets.PHOTO_SIDE, datasets.PHOTO_SIDE)
        assert (pixels > 127).mean() >= datasets.MIN_SUBJECT_SHARE - 0.05  # JPEG, resized


def test_a_region_that_cannot_show_the_subject_is_refused():
    picture = np.zeros((300, 500, 3), dtype=np.uint8)
    boxes = datasets._subject_boxes(picture.shape, ((0.8, 0.0, 1.0, 1.0),))
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="no crop of"):
        datasets._crop(picture, (0.0, 0.6), boxes, rng, rng, (60, 120))
    with pytest.raises(ValueError, match="overlap"):
        datasets._subject_boxes(picture.shape, ((0.0, 0.0, 0.5, 0.5), (0.4, 0.4, 0.9, 0.9)))


def test_photos12_holds_its_counts_per_label_distinct_crops_and_their_pixels():
    photos = datasets.photos12()
    assert photos.labels == datasets.PICTURES12
    for label in range(len(photos.labels)):
        mine = photos.splits[photos.targets == label]
        assert {s: int((mine == s).sum()) for s in datasets.PHOTO12_COUNTS} == (
            datasets.PHOTO12_COUNTS
        )
    assert len(set(photos.data)) == len(photos.data)
    side = datasets.PHOTO_SIDE
    assert photos.pixels.shape == (len(photos.data), side, side, 3)
    first = np.asarray(Image.open(io.BytesIO(photos.data[0])).convert("RGB"))
    assert (first == photos.pixels[0]).all()
    assert len(photos.examples()) == len(photos.data)
