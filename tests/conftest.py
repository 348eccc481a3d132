"""Shared set-up: both the chip and the cpu baseline are available in every test process."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "chip,cpu")
# Fresh device memory is filled with a NaN/all-ones pattern, so an output element a kernel
# forgets to write cannot match the cpu baseline by accident.
os.environ.setdefault("CHIP_POISON_MEMORY", "1")
# The compiler verifies the graph after every pass (jax_chip/compiler/pipeline.py); a broken
# graph fails the compile naming the pass.
os.environ.setdefault("CHIP_VERIFY_PASSES", "1")
# (pytest puts this directory on sys.path: tests import parity, subproc as top-level modules)
