"""Shared by the Qwen3-MoE tests (test_moe_engine_a.py, test_moe_engine_b.py: one model each, so
that each file stays short; test_moe_block.py): the two random-weight MoE models, the tests of
one model (`engine_tests`), and the MoE block script's runs.

sglang-jax 0.0.1.post1's Qwen3MoeForCausalLM with jax_chip.sglang's patches: greedy tokens equal
HF transformers' Qwen3MoeForCausalLM at every position before the reference's first near-tie, on
a batch of 8 prompts, then a second round served from the radix cache with the same tokens; the
expert matmuls run as the chip's RaggedDot kernel. The HF references
(tests/sglang/data/ref-moe-*.json) were made with tools/hf_reference.py in the HF venv;
test_committed_reference_matches_hf re-derives them when $JAX_CHIP_HF_PYTHON is set.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import Any, Callable, Dict, List

import pytest

from test_chip_engine import _chip_env, _chip_kernel_counts
from test_engine_vs_hf import (
    DATA,
    HF_PYTHON,
    SGL_PYTHON,
    _env,
    _run_compare,
    build_models,
    check_committed_reference,
)

MOE_MODELS: Dict[str, List[str]] = {
    # 8 experts of width 64, top-2; hidden 64, 4 q heads / 2 kv heads, 2 layers, vocab 512
    "moe-a": ["--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--vocab",
              "512", "--seed", "4", "--experts", "8", "--top-k", "2", "--moe-intermediate", "64"],
    # 16 experts of width 96, top-2; hidden 128, 8 q heads / 2 kv heads, 3 layers, vocab 600
    "moe-b": ["--hidden", "128", "--layers", "3", "--heads", "8", "--kv-heads", "2", "--vocab",
              "600", "--seed", "6", "--experts", "16", "--top-k", "2", "--moe-intermediate",
              "96"],
}
MIN_CHECKED = 80     # clear positions over the 8 prompts: moe-a 99, moe-b 88
LAYER = pathlib.Path(__file__).parent / "moe_layer.py"


def category_counts(trace_dir: pathlib.Path, category: str) -> Dict[str, int]:
    """program -> number of kernels of `category` in the scheduler's streamed chip trace."""
    from jax_chip.profiler import load_stream

    counts: Dict[str, int] = {}
    for path in trace_dir.glob("chip-*.jsonl"):
        for e in load_stream(path).events:
            if e.get("cat") == category:
                program = e.get("args", {}).get("program", "")
                counts[program] = counts.get(program, 0) + 1
    return counts


def engine_tests(model: str) -> Dict[str, Callable[..., Any]]:
    """The tests of one MoE model, for a test module's globals: the model built once, the Engine
    on the chip against HF at page sizes 1 and 16, and (with $JAX_CHIP_HF_PYTHON) its
    reference re-derived."""

    @pytest.fixture(scope="module")
    def model_dir(tmp_path_factory) -> pathlib.Path:
        return build_models(tmp_path_factory, {model: MOE_MODELS[model]})[model]

    @pytest.mark.parametrize("page", [1, 16])
    def test_moe_engine_on_chip_matches_hf(model_dir, tmp_path, page: int) -> None:
        result = _run_compare(model_dir, DATA / f"ref-{model}.json", tmp_path, "--page-size",
                              str(page), "--rounds", "2", "--device", "chip",
                              "--attention-backend", "chip", env=_chip_env(tmp_path))
        for r, rnd in enumerate(result["rounds"]):
            assert rnd["checked"] >= MIN_CHECKED
            assert rnd["all_match"], f"round {r}: {rnd['matched_prefix']}/{rnd['checked']}"
        first, second = (sum(c) for c in result["cached_tokens"])
        assert second > first, result["cached_tokens"]      # round 2 came from the radix cache
        assert result["outputs"][1] == result["outputs"][0], "the radix cache changed the output"
        assert _chip_kernel_counts(tmp_path)["paged_attention_decode"] > 0
        ragged = category_counts(tmp_path, "ragged_dot")
        # the expert matmuls ran as the chip's RaggedDot kernel, in the model step
        assert ragged.get("jit_run_model", 0) > 0, ragged

    @pytest.mark.skipif(HF_PYTHON is None, reason="set JAX_CHIP_HF_PYTHON to re-derive the HF "
                        "reference (a venv from requirements-hf.lock)")
    def test_committed_reference_matches_hf(model_dir, tmp_path) -> None:
        check_committed_reference(model_dir, tmp_path, model)

    return {"model_dir": model_dir,
            "test_moe_engine_on_chip_matches_hf": test_moe_engine_on_chip_matches_hf,
            "test_committed_reference_matches_hf": test_committed_reference_matches_hf}


def layer_runs(*extra: str) -> List[dict]:
    env = _env()
    env.pop("JAX_PLATFORMS")          # the script runs on the chip
    proc = subprocess.run([SGL_PYTHON, str(LAYER), *extra], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
