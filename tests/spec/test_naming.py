"""Cloud names derived from spec names: patterns, lengths, determinism, uniqueness."""

from __future__ import annotations

import itertools
import re

import pytest

from components.spec.naming import (
    BUCKET_NAME_PATTERN,
    DISPLAY_NAME_PATTERN,
    bucket_name,
    bucket_name_problem,
    display_name,
)


@pytest.mark.parametrize(
    ("name", "stack", "expected"),
    [
        ("flowers-edge", "dev", "flowers_edge_dev"),
        ("digits", "local", "digits_local"),
        ("a", "prod.eu", "a_prod_eu"),
        ("digits", "2024", "digits_2024"),
        ("flowers-edge-classifier-v2", "dev", "flowers_edge_classifier_v2_dev"),
    ],
)
def test_display_name_examples(name, stack, expected):
    assert display_name(name, stack) == expected


def test_long_display_names_are_shortened_with_a_stable_hash():
    long = display_name("flowers-edge-classifier-for-android", "staging")
    assert len(long) <= 32 and DISPLAY_NAME_PATTERN.match(long)
    assert re.fullmatch(r"flowers_edge_classifier_[0-9a-f]{8}", long)
    assert long == display_name("flowers-edge-classifier-for-android", "staging")
    assert long != display_name("flowers-edge-classifier-for-android", "prod-europe1")


def test_display_names_always_match_the_api_pattern_and_stay_unique():
    names = ["a", "digits", "x" * 63, "flowers-edge", "m-" + "9" * 60]
    stacks = ["dev", "prod", "local", "staging-europe-west4", "1st"]
    results = {display_name(n, s) for n, s in itertools.product(names, stacks)}
    assert len(results) == len(names) * len(stacks)
    assert all(DISPLAY_NAME_PATTERN.match(r) for r in results), results


def test_bucket_name_is_project_dash_name_or_shortened():
    assert bucket_name("local-project", "ml-data") == "local-project-ml-data"
    long = bucket_name("my-company-ml-staging", "x" * 63)
    assert len(long) == 63 and BUCKET_NAME_PATTERN.match(long)
    assert long == bucket_name("my-company-ml-staging", "x" * 63)
    assert long != bucket_name("my-company-ml-prod01", "x" * 63)
    assert bucket_name_problem(long) is None


def test_bucket_name_avoids_reserved_words():
    for project, name in [("google-team", "data"), ("team-x", "g00gle-photos"), ("goofy", "x")]:
        derived = bucket_name(project, name)
        assert bucket_name_problem(derived) is None, derived
    assert bucket_name("googly-eyes", "x") == "b-googly-eyes-x"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("ok-bucket_1", None),
        ("ab", "must be 3–63"),
        ("Upper", "must be 3–63"),
        ("goog-data", "must not start with 'goog'"),
        ("my-g00gle-data", "must not contain 'google'"),
        ("dotted.name", "must be 3–63"),
    ],
)
def test_bucket_name_problem(name, problem):
    found = bucket_name_problem(name)
    assert (found is None) if problem is None else (found is not None and problem in found)
