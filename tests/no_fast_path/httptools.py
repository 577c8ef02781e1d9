"""Shadows the real httptools (PYTHONPATH=tests/no_fast_path): a gateway as if the [fast] extra were not installed."""

raise ImportError("httptools is blocked for this test")
