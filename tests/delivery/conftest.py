"""The committed example project, shared with the review tests (copied before any change)."""

from tests.review.conftest import example_repo  # noqa: F401 (a fixture)
