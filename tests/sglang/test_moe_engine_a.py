"""Qwen3-MoE model moe-a (8 experts of width 64, top-2,
2 layers of hidden 64) on the chip with sglang-jax's Engine: HF
transformers' greedy tokens at page sizes 1 and 16, the radix-cache round unchanged, the expert
matmuls as the RaggedDot kernel (moe_cases.engine_tests)."""

from moe_cases import engine_tests

globals().update(engine_tests("moe-a"))
