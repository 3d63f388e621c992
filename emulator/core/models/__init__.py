"""Image classification models (see records.py)."""
