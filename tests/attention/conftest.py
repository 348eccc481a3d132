"""The op references run on JAX's cpu backend here (the chip custom calls are checked against
them elsewhere): every test is pinned to the cpu device whatever JAX_PLATFORMS lists first. Where
the chip plugin is not installed (e.g. the sglang venv), the chip is dropped from JAX_PLATFORMS
(tests/conftest.py defaults it to "chip,cpu")."""

from __future__ import annotations

import os
from importlib import metadata

if not any(ep.name == "chip" for ep in metadata.entry_points(group="jax_plugins")):
    os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _on_cpu():
    with jax.default_device(jax.devices("cpu")[0]):
        yield
