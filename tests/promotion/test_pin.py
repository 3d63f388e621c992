"""The promotion pin written into an overlay: only the pin changes, comments and layout stay."""

from __future__ import annotations

import difflib

import pytest

from components.promotion.pin import COMMENT, PinError, pinned, with_pin
from tests.review.conftest import ROOT

FINGERPRINT = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def _added_and_removed(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]


def test_pin_in_the_example_prod_overlay_adds_two_lines_and_nothing_else():
    before = (ROOT / "specs/envs/prod.yaml").read_text()
    after = with_pin(before, "prod", "digits", "staging", FINGERPRINT)
    assert _added_and_removed(before, after) == [
        f"+  # {COMMENT}",
        f'+  promoted: {{from: staging, fingerprint: "{FINGERPRINT}"}}',
    ]
    lines = after.splitlines()
    assert lines[lines.index("    noWorseThan: published") + 2].startswith("  promoted:")
    assert pinned(after, "digits") == {"from": "staging", "fingerprint": FINGERPRINT}


def test_promoting_again_changes_the_one_pin_line():
    once = with_pin(
        (ROOT / "specs/envs/prod.yaml").read_text(), "prod", "digits", "staging", FINGERPRINT
    )
    twice = with_pin(once, "prod", "digits", "dev", OTHER)
    assert _added_and_removed(once, twice) == [
        f'-  promoted: {{from: staging, fingerprint: "{FINGERPRINT}"}}',
        f'+  promoted: {{from: dev, fingerprint: "{OTHER}"}}',
    ]
    assert with_pin(twice, "prod", "digits", "dev", OTHER) == twice


def test_a_model_document_is_appended_when_the_overlay_has_none():
    before = (ROOT / "specs/envs/local.yaml").read_text()
    after = with_pin(before, "local", "digits", "dev", FINGERPRINT)
    assert after.startswith(before)  # every existing byte stays
    assert after[len(before) :] == (
        "---\napiVersion: edge-labeler/v1\nkind: Model\nmetadata:\n  name: digits\nspec:\n"
        f'  # {COMMENT}\n  promoted: {{from: dev, fingerprint: "{FINGERPRINT}"}}\n'
    )


def test_a_missing_overlay_is_created_and_bad_yaml_is_refused():
    created = with_pin(None, "qa", "digits", "dev", FINGERPRINT)
    assert created.startswith("# Stack `qa`")
    assert pinned(created, "digits") == {"from": "dev", "fingerprint": FINGERPRINT}
    with pytest.raises(PinError, match="not valid YAML"):
        with_pin("spec: [unclosed\n", "qa", "digits", "dev", FINGERPRINT)
