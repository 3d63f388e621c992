"""The training engine's parts; `emulator.core.trainer` puts them together (`train`)."""
