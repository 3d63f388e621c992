"""Members of the client libraries' proto-plus enums, looked up by name with their type.

`proto` ships no type information, so mypy sees `types.ClassificationType` without its Enum
base: `types.ClassificationType["MULTICLASS"]` does not type-check, and its members read as
ints. `member(types.ClassificationType, "MULTICLASS")` is that lookup, typed.
"""

import enum
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)


def member(enum_type: type[E], name: str) -> E:
    """`enum_type[name]`: the member called `name` (KeyError when there is none)."""
    return enum_type[name]
