"""List pagination as Google APIs do it: page_size plus an opaque next_page_token."""

import base64
import binascii
import json
from collections.abc import Sequence
from typing import TypeVar

from emulator.core.errors import InvalidArgument

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def paginate(items: Sequence[T], page_size: int, page_token: str) -> tuple[list[T], str]:
    """One page of `items` and the token of the next page ("" on the last page)."""
    if page_size < 0:
        raise InvalidArgument(f"Field: page_size; Message: must be ≥ 0, not {page_size}")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    offset = _decode(page_token) if page_token else 0
    page = list(items[offset : offset + size])
    end = offset + len(page)
    return page, (_encode(end) if end < len(items) else "")


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        offset = None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidArgument(
            f"Field: page_token; Message: {token!r} is not a page token this server issued"
        )
    return offset
