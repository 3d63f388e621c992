"""Cloud Storage's naming rules for buckets and objects, with the messages the emulator answers.

Bucket names: https://cloud.google.com/storage/docs/buckets#naming (also
https://cloud.google.com/storage/docs/naming-buckets). Object names:
https://cloud.google.com/storage/docs/objects#naming (also .../docs/naming-objects).
Messages start as Cloud Storage's do ("Invalid bucket name: 'x'") and then name the rule.
"""

import re

_BUCKET_CHARACTERS = re.compile(r"[a-z0-9._-]+")
_DOTTED_DECIMAL = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")
# "google" and close misspellings "such as g00gle": the documented example, and its siblings.
_GOOGLE = re.compile(r"g[o0][o0]gle")
OBJECT_NAME_MAX_BYTES = 1024
_ACME = ".well-known/acme-challenge/"


class InvalidName(Exception):
    """A bucket or object name Cloud Storage refuses (HTTP 400, reason `invalid`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def bucket_name_problem(name: object) -> str | None:
    """Why Cloud Storage refuses to create a bucket named `name`, or None when it accepts it."""
    start = f"Invalid bucket name: '{name}'"
    if not isinstance(name, str) or not _BUCKET_CHARACTERS.fullmatch(name):
        return (
            f"{start}: bucket names contain only lowercase letters, digits, dashes (-), "
            "underscores (_) and dots (.)"
        )
    if not (name[0].isalnum() and name[-1].isalnum()):
        return f"{start}: bucket names start and end with a letter or digit"
    if "." in name:
        if len(name) > 222:
            return f"{start}: bucket names with dots are 3-222 characters long"
        if any(len(part) > 63 for part in name.split(".")):
            return f"{start}: each dot-separated part of a bucket name is at most 63 characters"
    if len(name) < 3 or ("." not in name and len(name) > 63):
        return f"{start}: bucket names are 3-63 characters long (up to 222 with dots)"
    if _DOTTED_DECIMAL.fullmatch(name):
        return f"{start}: bucket names cannot be an IP address in dotted-decimal notation"
    if name.startswith("goog"):
        return f'{start}: bucket names cannot begin with the "goog" prefix'
    if _GOOGLE.search(name):
        return f'{start}: bucket names cannot contain "google" or close misspellings of it'
    return None


def object_name_problem(name: object) -> str | None:
    """Why Cloud Storage refuses an object named `name`, or None when it accepts it.

    Only the requirements are enforced; what the page merely recommends against (control
    characters, `#`, `[`, `]`, `*`, `?`) is accepted, as Cloud Storage accepts it.
    """
    start = f"Invalid object name: {name!r}"
    if not isinstance(name, str):
        return f"{start}: object names are 1-1024 bytes of UTF-8"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, e.g. "\ud800" in the request's JSON
        return f"{start}: object names are valid Unicode, 1-1024 bytes of UTF-8"
    if not 1 <= size <= OBJECT_NAME_MAX_BYTES:
        return f"{start}: object names are 1-1024 bytes of UTF-8 (this one is {size})"
    if "\r" in name or "\n" in name:
        return f"{start}: object names cannot contain a carriage return or line feed"
    if name.startswith(_ACME):
        return f"{start}: object names cannot start with {_ACME}"
    if name in (".", ".."):
        return f"{start}: object names cannot be . or .."
    return None


def check_bucket_name(name: object) -> None:
    """Raises InvalidName when Cloud Storage refuses to create a bucket named `name`."""
    problem = bucket_name_problem(name)
    if problem:
        raise InvalidName(problem)


def check_object_name(name: object) -> None:
    """Raises InvalidName when Cloud Storage refuses an object named `name`."""
    problem = object_name_problem(name)
    if problem:
        raise InvalidName(problem)
