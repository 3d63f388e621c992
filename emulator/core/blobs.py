"""The core's view of Cloud Storage: read and write `gs://` objects (served by emulator/gcs.py)."""

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from emulator.core.errors import InvalidArgument

# Bucket names: 3-63 characters (222 with dots), lowercase letters, digits, -, _ and dots.
_GS_URI = re.compile(r"gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,221}[a-z0-9])/(?P<object>.+)")


@dataclass(frozen=True)
class BlobInfo:
    uri: str
    size: int
    content_type: str


@dataclass(frozen=True)
class ContentFile:
    """The file an object's content was read from, as it was when read: a link to `path`
    holds those bytes as long as it is this file (same device, inode, size and mtime). The
    store never writes into a content file (a new content is a new file renamed over it)."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike[str], st: os.stat_result) -> "ContentFile":
        return cls(os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def is_file(self, st: os.stat_result) -> bool:
        """Whether `st` (of a link, say) is this file as it was read."""
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
            self.device,
            self.inode,
            self.size,
            self.mtime_ns,
        )


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

    def content_path(self, uri: str) -> str:
        """The file that holds the object's content now (read it to read the object: a new
        content is a new file renamed over it, never written into); NotFound when the bucket
        or object does not exist."""
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
