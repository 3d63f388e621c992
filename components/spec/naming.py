"""Cloud names derived deterministically from spec names, stack names and project ids."""

from __future__ import annotations

import hashlib
import re

DISPLAY_NAME_MAX = 32
DISPLAY_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
BUCKET_NAME_MAX = 63
BUCKET_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")
_HASH_CHARS = 8


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_CHARS]


def display_name(name: str, stack: str) -> str:
    """The AutoML/Vertex display name of a spec name on a stack.

    `[A-Za-z][A-Za-z0-9_]{0,31}`: other characters become `_`
    (`flowers-edge` on `dev` → `flowers_edge_dev`); longer results keep a prefix and end
    with `_` + 8 hex digits of sha256(`<name>/<stack>`), so they stay unique and stable.
    """
    full = re.sub(r"[^A-Za-z0-9_]", "_", f"{name}_{stack}")
    if not full[:1].isalpha():
        full = f"m{full}"
    if len(full) <= DISPLAY_NAME_MAX:
        return full
    prefix = full[: DISPLAY_NAME_MAX - _HASH_CHARS - 1].rstrip("_")
    return f"{prefix}_{_short_hash(f'{name}/{stack}')}"


def bucket_name(project: str, name: str) -> str:
    """The default Cloud Storage bucket name of Bucket `name` in GCP project `project`.

    `<project>-<name>` (project ids are globally unique, so the bucket name is too);
    longer than 63 characters → a prefix + `-` + 8 hex digits of sha256(`<project>/<name>`).
    """
    full = re.sub(r"[^a-z0-9_-]", "-", f"{project}-{name}".lower()).strip("-_")
    for reserved in ("google", "g00gle"):  # reserved by Cloud Storage, as are look-alikes
        full = full.replace(reserved, "ggl")
    if full.startswith("goog"):
        full = f"b-{full}"
    if len(full) <= BUCKET_NAME_MAX:
        return full
    prefix = full[: BUCKET_NAME_MAX - _HASH_CHARS - 1].rstrip("-_")
    return f"{prefix}-{_short_hash(f'{project}/{name}')}"


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not an acceptable Cloud Storage bucket name, or None when it is."""
    if not BUCKET_NAME_PATTERN.match(name):
        return (
            "must be 3–63 lowercase letters, digits, '_' or '-', starting and ending "
            "with a letter or digit"
        )
    if name.startswith("goog"):
        return "must not start with 'goog' (reserved by Cloud Storage)"
    if "google" in name or "g00gle" in name:
        return (
            "must not contain 'google' or look-alikes such as 'g00gle' (reserved by Cloud Storage)"
        )
    return None  # dots are excluded, so the "not an IP address" rule cannot apply
