"""JSON merge patch: RFC 7396's own examples, and positions after a located merge."""

from __future__ import annotations

import copy

import pytest

from components.spec.errors import Location
from components.spec.merge_patch import apply_located_patch, merge_patch
from components.spec.yaml_source import parse_yaml

# RFC 7396, Appendix A: (original, patch, result)
RFC_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC_EXAMPLES)
def test_rfc7396_examples(original, patch, expected):
    before = copy.deepcopy(original), copy.deepcopy(patch)
    assert merge_patch(original, patch) == expected
    assert (original, patch) == before  # inputs are not modified


BASE = """\
kind: Model
spec:
  budget: {nodeHours: 1}
  export: [tflite]
  acceptance:
    threshold: {maximize: f1}
    minRecall: 0.8
"""
PATCH = """\
kind: Model
spec:
  export: [tflite, tf_saved_model]
  acceptance:
    minRecall: null
    minPrecision: 0.9
"""


def test_located_merge_points_patched_values_into_the_overlay():
    base = parse_yaml(BASE, "specs/m.yaml").documents[0]
    patch = parse_yaml(PATCH, "specs/envs/prod.yaml").documents[0]
    merged = apply_located_patch(base, patch, ("spec",))

    assert merged.data["spec"] == {
        "budget": {"nodeHours": 1},
        "export": ["tflite", "tf_saved_model"],
        "acceptance": {"threshold": {"maximize": "f1"}, "minPrecision": 0.9},
    }
    assert base.data["spec"]["acceptance"]["minRecall"] == 0.8  # the base is untouched
    base_file, overlay = "specs/m.yaml", "specs/envs/prod.yaml"
    assert merged.values[("spec", "budget", "nodeHours")] == Location(base_file, 3, 23)
    assert merged.values[("spec", "export")] == Location(overlay, 3, 11)
    assert merged.values[("spec", "export", 1)] == Location(overlay, 3, 20)
    assert merged.values[("spec", "acceptance", "minPrecision")] == Location(overlay, 6, 19)
    # a mapping present in both keeps its base position
    assert merged.keys[("spec", "acceptance")] == Location(base_file, 5, 3)
    assert ("spec", "acceptance", "minRecall") not in merged.values
    assert merged.deleted[("spec", "acceptance", "minRecall")] == Location(overlay, 5, 16)
