"""Tests of the local cloud emulator, through the official Google client libraries."""
