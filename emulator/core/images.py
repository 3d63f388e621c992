"""Image rules of the service: format by content (not by file name), size limit, decoding."""

import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

# AutoML Vision / Vertex image classification: 30 MB per image.
MAX_IMAGE_BYTES = 30 * 1024 * 1024
# The most pixels an imported image may have: Pillow's default decoding limit
# (2 × PIL.Image.MAX_IMAGE_PIXELS), which the import has always applied. Checked from the
# header, before decoding, so it also holds where Pillow's setting was raised. The
# client-side check states the same number (components/data/images.py; a test checks
# that they agree): what the check passes, the import decodes.
MAX_IMAGE_PIXELS = 178_956_970
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

# Magic numbers of the formats the API accepts, in the order they are tested.
_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("JPEG", b"\xff\xd8\xff", 0),
    ("PNG", b"\x89PNG\r\n\x1a\n", 0),
    ("GIF", b"GIF87a", 0),
    ("GIF", b"GIF89a", 0),
    ("BMP", b"BM", 0),
    ("ICO", b"\x00\x00\x01\x00", 0),
    ("TIFF", b"II*\x00", 0),
    ("TIFF", b"MM\x00*", 0),
)
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "ICO", "WEBP", "TIFF")


class ImageError(ValueError):
    """An image the service would refuse; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    size_bytes: int


def sniff_format(data: bytes) -> str | None:
    """The image format named by the content's magic number, or None."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for name, magic, offset in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    return None


def check_size(size_bytes: int) -> None:
    """Raises ImageError when an image of this size is over the limit (before reading it)."""
    if size_bytes > MAX_IMAGE_BYTES:
        raise ImageError(
            f"image is {size_bytes / 1024 / 1024:.1f} MB; the limit is 30 MB per image"
        )


def check_pixels(pixels: int) -> None:
    """Raises ImageError when an image of this many pixels is over the limit."""
    if pixels > MAX_IMAGE_PIXELS:
        raise ImageError(_too_many_pixels(pixels))


def _too_many_pixels(pixels: int | None) -> str:
    count = f"{pixels:,}" if pixels else f"over {MAX_IMAGE_PIXELS:,}"
    return f"image has {count} pixels; the limit is {MAX_IMAGE_PIXELS:,} pixels per image"


def inspect(data: bytes) -> ImageInfo:
    """Checks size, format by content and decodability; raises ImageError with the reason."""
    check_size(len(data))
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(
            "content is not an image in an accepted format (" + ", ".join(ACCEPTED_FORMATS) + ")"
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            check_pixels(width * height)
            img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's default limit, which is ours
        found = _BOMB_PIXELS.search(str(exc))
        raise ImageError(_too_many_pixels(int(found[1]) if found else None)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{fmt} image cannot be decoded: {exc}") from exc
    return ImageInfo(format=fmt, width=width, height=height, size_bytes=len(data))


def decode_rgb(data: bytes, size: int | None = None) -> np.ndarray:
    """Decodes to an RGB uint8 array [H, W, 3], optionally resized to size×size (bilinear)."""
    with Image.open(io.BytesIO(data)) as opened:
        rgb: Image.Image = opened.convert("RGB")
        if size is not None and rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)


def size_of(data: bytes) -> tuple[int, int]:
    """(width, height) from the image's header, without decoding its pixels."""
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def resize_rgb(pixels: np.ndarray, size: int) -> np.ndarray:
    """uint8 RGB images [N, H, W, 3] resized to size×size (bilinear, as `decode_rgb`)."""
    if pixels.shape[1:3] == (size, size):
        return pixels
    out = np.empty((len(pixels), size, size, 3), np.uint8)
    for i, image in enumerate(pixels):
        resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
        out[i] = np.asarray(resized)
    return out
