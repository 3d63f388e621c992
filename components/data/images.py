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
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    if suffix and suffix not in EXTENSIONS[fmt]:
        raise ValueError(
            f"is a {fmt} image but its name ends in .{suffix}; name it .{EXTENSIONS[fmt][0]} "
            "so that every tool agrees on its format"
        )
    return CheckedImage(fmt, width, height)


def _too_many_pixels(pixels: int | None) -> str:
    count = f"{pixels:,}" if pixels else f"over {MAX_IMAGE_PIXELS:,}"
    return f"has {count} pixels; images may have at most {MAX_IMAGE_PIXELS:,} pixels"
