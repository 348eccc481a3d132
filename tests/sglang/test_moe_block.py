"""One Qwen3-MoE block (sglang-jax's EPMoE with jax_chip.sglang's patches) on the chip: its
output within the f32 error bound of a float64 reference of HF's Qwen3MoeSparseMoeBlock, the
expert matmuls as three RaggedDot kernels, and its modeled time following top-k, not the number
of experts (tests/sglang/moe_layer.py runs it in its own process: these tests run JAX on cpu)."""

from __future__ import annotations

from moe_cases import layer_runs


def test_moe_block_time_scales_with_top_k_not_experts() -> None:
    """8192 tokens, hidden 128, experts of width 128 (f32): the same block with 8 and 64 experts
    at top-2, and 8 experts at top-4. With as many rows per expert as here (256 at 64 experts,
    top-2) the grouped matmuls are compute-bound; JAX's dense fallback would multiply every row by
    every expert (8x the work at 64 experts)."""
    runs = {(r["experts"], r["top_k"]): r for r in layer_runs("--configs", "8:2,64:2,8:4",
                                                              "--tokens", "8192")}
    assert set(runs) == {(8, 2), (64, 2), (8, 4)}, runs
    for r in runs.values():
        assert r["max_err_over_bound"] <= 1.0, r
        assert r["kernel_counts"].get("ragged_dot") == 3, r
        assert "dot_general" not in r["kernel_counts"], r     # no dense expert matmul
    t = {key: r["modeled_us"] for key, r in runs.items()}
    assert t[(64, 2)] < 1.2 * t[(8, 2)], t        # 8x the experts: about the same time
    assert t[(8, 4)] > 1.5 * t[(8, 2)], t         # 2x the rows routed: much more time
