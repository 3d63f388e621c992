""" "Use this threshold": `acceptance.threshold: {fixed: T}` written into the spec file.

The file that writes the Model's threshold (its base spec, or the stack's overlay when that
patches it) is edited in round-trip mode (comments, order and style kept), so the change is
one line — `maximize: f1` → `fixed: 0.7` — for a pull request to review. The specs are loaded
again afterwards; if they no longer load, the file is put back and the error is raised.
"""

from __future__ import annotations

import difflib
import io
from pathlib import Path

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from components.spec import Model, SpecError, load_specs
from components.spec.round_trip import document_of, round_trip_yaml
from components.studio.datasets import StudioError


def _threshold_value(value: float) -> float:
    """The threshold as the spec writes it: at most 4 decimals (0.7, not 0.7000000000000001)."""
    return round(float(value), 4)


def with_fixed_threshold(text: str, model: str, value: float, where: str) -> str:
    """`text` (a spec or overlay file) with Model `model`'s threshold policy `fixed: value`."""
    yaml = round_trip_yaml()
    try:
        documents = list(yaml.load_all(text))
    except YAMLError as err:
        raise StudioError(f"{where}: not valid YAML ({err})") from None
    doc = document_of(documents, "Model", model)
    if doc is None:
        raise StudioError(f"{where}: no Model document named '{model}'")
    spec = doc.setdefault("spec", CommentedMap())
    acceptance = spec.setdefault("acceptance", CommentedMap())
    threshold = acceptance.get("threshold")
    if not isinstance(threshold, CommentedMap):
        acceptance["threshold"] = CommentedMap(fixed=_threshold_value(value))
    elif list(threshold) == ["fixed"]:
        threshold["fixed"] = _threshold_value(value)
    else:
        # The policy's key is renamed in place: its line changes, the comments after it stay.
        first, *_ = list(threshold)
        comment = threshold.ca.items.pop(first, None)
        for key in list(threshold):
            del threshold[key]
        threshold.insert(0, "fixed", _threshold_value(value))
        if comment is not None:
            threshold.ca.items["fixed"] = comment
    out = io.StringIO()
    yaml.dump_all(documents, out)
    return out.getvalue()


def use_threshold(model: Model, value: float, specs_dir: Path, stack: str | None) -> dict[str, str]:
    """Writes `fixed: value` where Model `model` writes its threshold; returns the file and
    its diff. The specs must load afterwards, else the file is restored (StudioError)."""
    if not 0.0 <= value <= 1.0:
        raise StudioError(f"threshold {value}: a score from 0 to 1 is allowed")
    path = Path(model.location_of("spec.acceptance.threshold").file)
    before = path.read_text(encoding="utf-8")
    after = with_fixed_threshold(before, model.name, value, str(path))
    path.write_text(after, encoding="utf-8")
    try:
        load_specs(specs_dir, stack)
    except SpecError as err:
        path.write_text(before, encoding="utf-8")
        issues = "; ".join(issue.render() for issue in err.issues)
        raise StudioError(f"{path}: the threshold was not written: {issues}") from None
    diff = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        f"a/{path.name}",
        f"b/{path.name}",
        n=1,
    )
    return {"file": str(path), "diff": "".join(diff)}
