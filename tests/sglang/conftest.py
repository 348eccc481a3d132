"""sglang-jax runs on JAX's cpu backend in these tests (the chip variant comes with the chip
attention backend). tests/conftest.py defaults JAX_PLATFORMS to "chip,cpu"; here it is cpu."""

from __future__ import annotations

import os

os.environ["JAX_PLATFORMS"] = "cpu"
