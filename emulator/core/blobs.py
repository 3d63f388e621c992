"""The core's view of Cloud Storage: read and write `gs://` objects (served by emulator/gcs.py)."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from emulator.core.errors import InvalidArgument

# Bucket names: 3-63 characters (222 with dots), lowercase letters, digits, -, _ and dots.
_GS_URI = re.compile(r"gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,221}[a-z0-9])/(?P<object>.+)")


@dataclass(frozen=True)
class BlobInfo:
    uri: str
    size: int
    content_type: str


class ContentLocation(NamedTuple):
    """Where an object's content is: `size` bytes of the file `path` from `offset` (a pack of
    small contents), or the whole file when `size` is None. The bytes there are never
    written again (a new content is appended elsewhere, or a new file renamed over the
    name), so what is read there is one content, whole."""

    path: str
    offset: int = 0
    size: int | None = None


class Blobs(Protocol):
    """Object access as the service itself has it (no network round trip, no credentials)."""

    def stat(self, uri: str) -> BlobInfo:
        """The object's metadata; NotFound when the bucket or object does not exist."""
        ...

    def read(self, uri: str) -> bytes:
        """The object's content; NotFound when the bucket or object does not exist."""
        ...

    def write(
        self, uri: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> BlobInfo:
        """Creates or replaces an object; NotFound when the bucket does not exist."""
        ...

    def list(self, uri_prefix: str) -> list[BlobInfo]:
        """Objects whose `gs://bucket/name` starts with `uri_prefix`, sorted by name."""
        ...

    def delete(self, uri: str) -> None:
        """Removes an object; NotFound when it does not exist."""
        ...

    def content_location(self, uri: str) -> ContentLocation:
        """Where the object's content is now (read there to read the object); NotFound when
        the bucket or object does not exist."""
        ...


def parse_gs_uri(uri: str, field: str = "uri") -> tuple[str, str]:
    """(bucket, object name) of `gs://bucket/object`, or InvalidArgument naming the field."""
    match = _GS_URI.fullmatch(uri or "")
    if match is None:
        raise InvalidArgument(
            f"{field}: {uri!r} is not a Cloud Storage object URI; expected gs://bucket/object"
        )
    return match["bucket"], match["object"]


def parse_gs_prefix(uri: str, field: str = "output_uri_prefix") -> tuple[str, str]:
    """(bucket, prefix) of `gs://bucket[/prefix]`; the prefix may be empty."""
    match = re.fullmatch(r"gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(/(?P<p>.*))?", uri)
    if match is None:
        raise InvalidArgument(
            f"{field}: {uri!r} is not a Cloud Storage location; expected gs://bucket[/folder]"
        )
    return match["bucket"], (match["p"] or "")


def output_directory(output_uri_prefix: str, folder: str, field: str) -> str:
    """`gs://bucket/[prefix/]folder`: the folder an operation writes under a requested prefix.

    InvalidArgument naming `field` when the prefix is empty or not `gs://bucket[/folder]`.
    """
    if not output_uri_prefix:
        raise InvalidArgument(f"Field: {field}; Message: required (gs://bucket/folder)")
    bucket, prefix = parse_gs_prefix(output_uri_prefix, field)
    path = "/".join(part for part in (prefix.rstrip("/"), folder) if part)
    return f"gs://{bucket}/{path}"


def folder_timestamp() -> str:
    """Now, as the service stamps output folders: YYYY-MM-DDThh:mm:ss.sssZ (UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
