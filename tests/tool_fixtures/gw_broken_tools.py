"""A tool module that fails at import time (the catalogue must turn this into a diagnostic)."""

raise RuntimeError("this module is broken on purpose")
