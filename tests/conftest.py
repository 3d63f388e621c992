"""Shared pytest setup. Fixture modules live in tests/fixtures/ and are registered here."""

import pytest

# Helpers in tests/fixtures/ may assert (shared checks): pytest explains their failures too.
pytest.register_assert_rewrite("tests.fixtures")

pytest_plugins: list[str] = ["tests.fixtures.emulator", "tests.fixtures.tflite"]
