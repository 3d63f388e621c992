"""Client-side image rules (the same the service applies), checked before any upload."""

import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# Firebase's guide: JPEG, PNG, GIF, BMP, ICO, each ≤ 30 MB. Vertex AI also takes WEBP and TIFF.
MAX_IMAGE_BYTES = 30 * 1024 * 1024
EXTENSIONS = {
    "JPEG": ("jpg", "jpeg", "jpe", "jfif"),
    "PNG": ("png",),
    "GIF": ("gif",),
    "BMP": ("bmp", "dib"),
    "ICO": ("ico",),
    "WEBP": ("webp",),
    "TIFF": ("tif", "tiff"),
}
ALLOWED = ", ".join(EXTENSIONS)
# Pillow names some JPEG variants differently (multi-picture JPEG from phones).
_PILLOW_ALIASES = {"MPO": "JPEG"}
# The most pixels an image may have: what the import decodes (Pillow's default limit,
# 2 × PIL.Image.MAX_IMAGE_PIXELS, above which it refuses to decode). The emulator states
# the same number in emulator/core/images.py (it imports nothing from here); a test checks
# that they agree. Checked from the header, before decoding: a 30 MB file can declare
# absurd dimensions. Pillow's own setting is left alone: it is global to the process (this
# module used to raise it to 200 M, which the import, in its own process, did not).
MAX_IMAGE_PIXELS = 178_956_970
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True)
class CheckedImage:
    format: str  # one of EXTENSIONS
    width: int
    height: int

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format][0]


def check_image(data: bytes, name: str) -> CheckedImage:
    """Format by content, size and full decodability; raises ValueError saying what is wrong."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"is {len(data) / 1024**2:.1f} MB; each image must be 30 MB or smaller")
    if not data:
        raise ValueError(f"is an empty file; images must be one of {ALLOWED}")
    try:
        with warnings.catch_warnings():
            # Pillow warns from half the limit on; the limit itself is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = _PILLOW_ALIASES.get(img.format or "", img.format or "")
                if fmt not in EXTENSIONS:
                    raise ValueError(f"is a {fmt} image; images must be one of {ALLOWED}")
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ValueError(_too_many_pixels(width * height))
                if fmt == "JPEG":  # decode at 1/8 scale: still reads every byte, 10x faster
                    img.draft("RGB", (width // 8 or 1, height // 8 or 1))
                img.load()  # truncated or corrupt files fail here
    except UnidentifiedImageError:
        raise ValueError(f"is not an image; images must be one of {ALLOWED}") from None
    except Image.DecompressionBombError as e:  # Pillow's default limit: over ours too
        found = _BOMB_PIXELS.search(str(e))
        raise ValueError(_too_many_pixels(int(found[1]) if found else None)) from None
    except (OSError, SyntaxError) as e:
        raise ValueError(f"cannot be decoded ({e}); the file is corrupt or truncated") from None
    problem = suffix_problem(fmt, name)
    if problem:
        raise ValueError(problem)
    return CheckedImage(fmt, width, height)


# The leading bytes by which Pillow recognises each allowed format (its plugins' `_accept`),
# for what a cold check of vouched-for content needs: the format without a decode. A
# multi-picture JPEG (MPO) starts as every JPEG does.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"MM\x00\x2a", "TIFF"),
    (b"II\x2a\x00", "TIFF"),
    (b"MM\x00\x2b", "TIFF"),  # BigTIFF
    (b"II\x2b\x00", "TIFF"),
)


def format_by_signature(data: bytes) -> str | None:
    """The allowed format whose signature `data` starts with, or None. Not a check: it
    names the format of bytes that `check_image` passed before (the same sha256)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for signature, fmt in _SIGNATURES:
        if data.startswith(signature):
            return fmt
    return None


def suffix_problem(fmt: str, name: str) -> str | None:
    """Why `name`'s extension does not fit an image of format `fmt`, or None."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    if suffix and suffix not in EXTENSIONS[fmt]:
        return (
            f"is a {fmt} image but its name ends in .{suffix}; name it .{EXTENSIONS[fmt][0]} "
            "so that every tool agrees on its format"
        )
    return None


def _too_many_pixels(pixels: int | None) -> str:
    count = f"{pixels:,}" if pixels else f"over {MAX_IMAGE_PIXELS:,}"
    return f"has {count} pixels; images may have at most {MAX_IMAGE_PIXELS:,} pixels"
