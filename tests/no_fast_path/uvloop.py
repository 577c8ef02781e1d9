"""Shadows the real uvloop (PYTHONPATH=tests/no_fast_path): a gateway as if the [fast] extra were not installed."""

raise ImportError("uvloop is blocked for this test")
