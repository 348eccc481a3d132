"""The conformance suite runs with both backends, like tests/conftest.py (poisoned fresh memory, the
compiler verifying the graph after every pass)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "chip,cpu")
os.environ.setdefault("CHIP_POISON_MEMORY", "1")
os.environ.setdefault("CHIP_VERIFY_PASSES", "1")
