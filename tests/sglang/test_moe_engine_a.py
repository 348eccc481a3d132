"""Qwen3-MoE model moe-a (8 experts of width 64, top-2, 2 layers of hidden 64) on the chip with sglang-jax's Engine: HF
transformers' greedy tokens at page sizes 1 and 16, the radix-cache round unchanged, the expert
matmuls as the RaggedDot kernel (moe_cases.py)."""

from __future__ import annotations

import pytest

from moe_cases import HF_PYTHON, build, check_reference, engine_on_chip_matches_hf

MODEL = "moe-a"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build(tmp_path_factory, MODEL)


@pytest.mark.parametrize("page", [1, 16])
def test_moe_engine_on_chip_matches_hf(model_dir, tmp_path, page: int) -> None:
    engine_on_chip_matches_hf(model_dir, tmp_path, MODEL, page)


@pytest.mark.skipif(HF_PYTHON is None, reason="set JAX_CHIP_HF_PYTHON to re-derive the HF "
                    "reference (a venv from requirements-hf.lock)")
def test_committed_reference_matches_hf(model_dir, tmp_path) -> None:
    check_reference(model_dir, tmp_path, MODEL)
