"""Shared pytest setup. Fixture modules live in tests/fixtures/ and are registered here."""

import pytest

# Helpers in tests/fixtures/ may assert (shared checks): pytest explains their failures too.
pytest.register_assert_rewrite("tests.fixtures")

pytest_plugins: list[str] = ["tests.fixtures.emulator", "tests.fixtures.tflite"]

# The trainer's budget settings come from the environment: a caller's shell must not change
# what the tests train (each test that wants an epoch budget or a time scale sets its own).
TRAINING_SETTINGS = (
    "EDGE_LABELER_EMULATOR_EPOCHS_PER_NODE_HOUR",
    "EDGE_LABELER_EMULATOR_SECONDS_PER_NODE_HOUR",
)


def pytest_configure(config: pytest.Config) -> None:
    import os

    for name in TRAINING_SETTINGS:
        os.environ.pop(name, None)
