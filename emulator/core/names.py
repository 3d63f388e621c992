"""Resource names as Google APIs spell them: `projects/{p}/locations/{l}/{collection}/{id}`."""

import hashlib
import re
import secrets
from dataclasses import dataclass

from emulator.core.errors import InvalidArgument

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_LOCATION = re.compile(rf"projects/(?P<project>{_SEGMENT})/locations/(?P<location>{_SEGMENT})")


@dataclass(frozen=True)
class LocationName:
    project: str
    location: str

    def __str__(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def child(self, collection: str, resource_id: str) -> "ResourceName":
        return ResourceName(self.project, self.location, collection, resource_id)


@dataclass(frozen=True)
class ResourceName:
    project: str
    location: str
    collection: str  # e.g. "datasets"
    id: str

    def __str__(self) -> str:
        return f"{self.parent}/{self.collection}/{self.id}"

    @property
    def parent(self) -> LocationName:
        return LocationName(self.project, self.location)


def parse_location(name: str, field: str = "parent") -> LocationName:
    """`projects/{p}/locations/{l}`, or InvalidArgument naming the field and the form expected."""
    match = _LOCATION.fullmatch(name or "")
    if match is None:
        raise InvalidArgument(
            f"Field: {field}; Message: {name!r} is not a valid location name; "
            "expected projects/{project}/locations/{location}"
        )
    return LocationName(match["project"], match["location"])


def parse_resource(name: str, collection: str, kind: str, field: str = "name") -> ResourceName:
    """`projects/{p}/locations/{l}/{collection}/{id}`; `kind` (e.g. "Dataset") is for messages."""
    pattern = re.compile(rf"{_LOCATION.pattern}/{re.escape(collection)}/(?P<id>[A-Za-z0-9_-]+)")
    match = pattern.fullmatch(name or "")
    if match is None:
        raise InvalidArgument(
            f"Field: {field}; Message: {name!r} is not a valid {kind} name; expected "
            f"projects/{{project}}/locations/{{location}}/{collection}/{{{kind.lower()}_id}}"
        )
    return ResourceName(match["project"], match["location"], collection, match["id"])


def new_id(prefix: str = "", digits: int = 19) -> str:
    """A fresh id shaped like the service's: a type prefix (e.g. `ICN`) and random digits."""
    first = str(1 + secrets.randbelow(9))
    rest = "".join(str(secrets.randbelow(10)) for _ in range(digits - 1))
    return f"{prefix}{first}{rest}"


def stable_id(key: str) -> str:
    """A 19-digit id shaped like the service's, the same every time for `key` (e.g. `{a}/{b}`)."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8])
    return str(10**18 + digest % (9 * 10**18))
