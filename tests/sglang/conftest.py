"""sglang-jax runs on JAX's cpu backend in these tests (the chip variant comes with the chip
attention backend). tests/conftest.py defaults JAX_PLATFORMS to "chip,cpu"; here it is cpu.

sglang-jax is part of the project venv (tools/setup.sh): where this interpreter, or
$JAX_CHIP_SGLANG_PYTHON that the tests start their Engines with, cannot import it, every test
here fails with the reason instead of being skipped, so that a suite without sglang-jax never
passes. (The only optional part is re-deriving the HF references, which needs the separate HF
venv: test_engine_vs_hf.py's test_committed_references_match_hf, with $JAX_CHIP_HF_PYTHON.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional

import pytest

os.environ["JAX_PLATFORMS"] = "cpu"

REQUIRED = ("sgl_jax", "safetensors", "tokenizers")


def missing_sglang(python: str) -> Optional[str]:
    """Why `python` cannot run these tests, or None when it can import REQUIRED."""
    code = ("import importlib.util, sys; "
            f"sys.exit(0 if all(importlib.util.find_spec(m) for m in {REQUIRED!r}) else 1)")
    try:
        ok = subprocess.run([python, "-c", code], capture_output=True).returncode == 0
    except OSError:
        ok = False
    if ok:
        return None
    return (f"{python} cannot import {', '.join(REQUIRED)}: the sglang tests need the project "
            "venv with sglang-jax 0.0.1.post1 (tools/setup.sh; by hand: pip install -r "
            "requirements.lock -r requirements-sglang.lock && pip install --no-deps "
            "sglang-jax==0.0.1.post1), or $JAX_CHIP_SGLANG_PYTHON naming such a venv's python")


_PROBLEM = next(filter(None, map(missing_sglang, dict.fromkeys(
    [sys.executable, os.environ.get("JAX_CHIP_SGLANG_PYTHON", sys.executable)]))), None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Without sglang-jax every test of this directory fails, with the reason."""
    if _PROBLEM is not None:
        pytest.fail(_PROBLEM, pytrace=False)
