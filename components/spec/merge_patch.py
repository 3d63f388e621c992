"""JSON merge patch (RFC 7396) on plain data, and on located YAML documents.

Mappings merge key by key, `null` deletes a key, anything else (lists included)
replaces the target value wholesale.
"""

from __future__ import annotations

import copy
from typing import Any

from components.spec.yaml_source import FieldPath, YamlDocument

_MISSING = object()


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 MergePatch(target, patch); neither argument is modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _get(data: Any, path: FieldPath) -> Any:
    for part in path:
        in_mapping = isinstance(data, dict) and isinstance(part, str) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if not (in_mapping or in_list):
            return _MISSING
        data = data[part]
    return data


def apply_located_patch(base: YamlDocument, patch: YamlDocument, at: FieldPath) -> YamlDocument:
    """`base` with `patch`'s value at path `at` merged into base's value at `at`.

    Locations follow the data: a value the patch wrote points into the patch file, a
    mapping that existed in both keeps its base position, and every key the patch
    deleted with `null` is remembered in `deleted` (so "required field is missing"
    can point at the `null` that removed it).
    """
    patch_value = _get(patch.data, at)
    base_value = _get(base.data, at)
    merged_value = merge_patch(None if base_value is _MISSING else base_value, patch_value)
    data = copy.deepcopy(base.data)
    parent = _get(data, at[:-1])
    parent[at[-1]] = merged_value

    out = YamlDocument(base.file, base.index, data, base.start)
    out.problems = list(base.problems)
    out.deleted = dict(base.deleted)
    for path, where in base.values.items():
        if path[: len(at)] != at:
            out.values[path] = where
    for path, where in base.keys.items():
        if path[: len(at)] != at:
            out.keys[path] = where

    def walk(value: Any, base_v: Any, patch_v: Any, path: FieldPath, from_patch: bool) -> None:
        if not from_patch and patch_v is not _MISSING:
            from_patch = not (isinstance(patch_v, dict) and isinstance(base_v, dict))
        source = patch if from_patch else base
        if path in source.values:
            out.values[path] = source.values[path]
        if path in source.keys:
            out.keys[path] = source.keys[path]
        if isinstance(value, dict):
            for key, child in value.items():
                walk(
                    child,
                    base_v.get(key, _MISSING) if isinstance(base_v, dict) else _MISSING,
                    patch_v.get(key, _MISSING) if isinstance(patch_v, dict) else _MISSING,
                    (*path, key),
                    from_patch,
                )
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(child, _MISSING, _MISSING, (*path, index), from_patch)

    # The mapping at `at` itself existed in the base: it keeps its base position.
    walk(merged_value, base_value, patch_value, at, from_patch=False)
    if base_value is _MISSING or not isinstance(base_value, dict):
        out.values[at] = patch.values.get(at, base.start)
        out.keys[at] = patch.keys.get(at, base.start)
    _record_deletions(out, patch, patch_value, at)
    return out


def _record_deletions(
    out: YamlDocument, patch: YamlDocument, patch_v: Any, path: FieldPath
) -> None:
    """Remember in `out.deleted` where each `null` of the patch deleted a key."""
    if isinstance(patch_v, dict):
        for key, child in patch_v.items():
            if child is None:
                out.deleted[(*path, key)] = patch.values[(*path, key)]
            else:
                _record_deletions(out, patch, child, (*path, key))
