"""Builds specs/data/digits.zip, the example project's structured zip, from scikit-learn's digits.

scikit-learn ships 1,797 real handwritten digits (8×8, 17 grey levels, UCI ML repository).
Each is upscaled to 32×32 and drawn as ink on paper with a per-image tint, stroke width and
offset, so that models see RGB photos-like variation. Output is byte-for-byte deterministic
(fixed seed, fixed zip timestamps); `tests/test_example_data.py` checks that.

Layout (the Firebase guide's "Option 1: structured zip"): `digits/<label>/<nnnn>.<png|jpg>`,
one folder per label, every fifth image a JPEG.
"""

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from sklearn.datasets import load_digits

LABELS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SIZE = 32
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "specs" / "data" / "digits.zip"


def render(pixels: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One 8×8 digit (values 0–16) as a 32×32 RGB image of dark ink on tinted paper."""
    ink = Image.fromarray((pixels / 16.0 * 255).astype(np.uint8), mode="L")
    ink = ink.resize((24, 24), Image.Resampling.BICUBIC).filter(ImageFilter.SMOOTH)
    canvas = Image.new("L", (SIZE, SIZE), 0)
    dx, dy = (int(v) for v in rng.integers(0, SIZE - 24 + 1, size=2))
    canvas.paste(ink, (dx, dy))
    alpha = np.asarray(canvas, dtype=np.float32) / 255.0
    paper = np.array([235, 230, 215], dtype=np.float32) + rng.normal(0, 12, size=3)
    pen = np.array([30, 35, 90], dtype=np.float32) + rng.normal(0, 20, size=3)
    noise = rng.normal(0, 2, size=(SIZE, SIZE, 1))
    rgb = paper * (1 - alpha[..., None]) + pen * alpha[..., None] + noise
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")


def iter_digits(seed: int = 7):
    """Yields (index, label, RGB image) for every scikit-learn digit, deterministically."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    for index, (pixels, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        yield index, LABELS[int(target)], render(pixels, rng)


def encode(image: Image.Image, fmt: str) -> bytes:
    """PNG (optimised) or JPEG (quality 90) bytes of an image."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.save(buf, format="JPEG", quality=90)
    else:
        image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def build(out: Path, per_label: int | None = None, seed: int = 7) -> dict[str, int]:
    """Writes the zip; returns the number of images per label."""
    counts = dict.fromkeys(LABELS, 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for index, label, image in iter_digits(seed):
            if per_label is not None and counts[label] >= per_label:
                continue
            fmt, ext = ("JPEG", "jpg") if index % 5 == 0 else ("PNG", "png")
            info = zipfile.ZipInfo(f"digits/{label}/{index:04d}.{ext}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, encode(image, fmt))
            counts[label] += 1
    tmp.replace(out)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--per-label", type=int, default=None, help="cap images per label")
    args = parser.parse_args()
    counts = build(args.out, args.per_label)
    total = sum(counts.values())
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB): {total} images, {counts}")


if __name__ == "__main__":
    main()
