"""RMSNorm kernels on a residual stream read each input once, however deep the model (issue 8).

sglang-jax's fused add + RMSNorm (`rmsnorm_forward(x, residual, ...)`) carries the residual
stream `r_n = bf16(f32(h_n) + f32(r_{n-1}))` from layer to layer. Elementwise fusion used to
recompute r_n in both norm kernels of the next layer, and with it r_{n-1}, ..., r_1: the norm
kernels of layer n read the outputs of all n earlier layers (a 28-layer Qwen3 0.6B at 4,096
tokens: up to 478 MB per kernel instead of 16.8 MB). Now r_n is written once, as a second output
of the normalize kernel that computes the sum anyway (analysis/recompute.py).
"""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from .helpers import compile_fn, compiled_graph, on_cpu, randn
from .reference_interpreter import execute
from jax_chip.compiler.analysis.recompute import STORE_RATIO, costly_to_recompute
from jax_chip.compiler.ir.context import CompileOptions

TOKENS, HIDDEN, LAYERS = 64, 128, 6
BF16 = ml_dtypes.bfloat16


def rmsnorm(x, residual, weight, eps=1e-6):
    """sglang-jax's rmsnorm_forward (sgl_jax/srt/layers/layernorm.py), residual form."""
    x32 = x.astype(jnp.float32) + residual.astype(jnp.float32)
    residual = x32.astype(x.dtype)
    mean2 = jnp.mean(jax.lax.square(x32), axis=-1, keepdims=True)
    y = x32 * jax.lax.rsqrt(mean2 + eps)
    return (y * weight.astype(jnp.float32)).astype(x.dtype), residual


def stack(h, residual, norms, weights):
    """Two norms per layer with a matmul after each (attention and MLP stand-ins)."""
    for g, w in zip(norms, weights):
        h, residual = rmsnorm(h, residual, g)
        h = h @ w
    return rmsnorm(h, residual, norms[0])


def args(layers: int = LAYERS, tokens: int = TOKENS, hidden: int = HIDDEN, dtype=BF16):
    n = 2 * layers
    return (randn((tokens, hidden), dtype), randn((tokens, hidden), dtype),
            [randn((hidden,), dtype) for _ in range(n)],
            [randn((hidden, hidden), dtype, scale=hidden ** -0.5) for _ in range(n)])


def moved(node):
    c = node.attrs["cost"]
    return c.bytes_read + c.sram_bytes_read, c.bytes_written + c.sram_bytes_written


def norm_kernels(graph):
    """The reduces (sum of squares) and the normalize kernels ([tokens, hidden] fusions)."""
    return [n for n in graph.nodes if n.op == "stablehlo.reduce" or (
        n.op == "chip.fusion" and n.results[0].type.shape == (TOKENS, HIDDEN))]


@pytest.mark.parametrize("dtype", [BF16, np.float32], ids=["bf16", "f32"])
def test_norm_kernels_read_their_inputs_once_at_any_depth(dtype):
    # bf16: r_n = bf16(sum) is stored, the f32 sum recomputed in both kernels; f32: the sum is
    # the residual, recomputed in the sum of squares and written by the normalize kernel
    g = compiled_graph(stack, *args(dtype=dtype))
    plane = TOKENS * HIDDEN * np.dtype(dtype).itemsize     # one [tokens, hidden] array
    reduces = [n for n in norm_kernels(g) if n.op == "stablehlo.reduce"]
    normalizes = [n for n in norm_kernels(g) if n.op == "chip.fusion"]
    for r in reduces:
        assert r.attrs.get("prologue") is not None          # x * x never written
        read, _ = moved(r)
        assert read <= 2 * plane + 64                        # h_n and r_{n-1}, once
    for n in normalizes:
        read, written = moved(n)
        # h_n, r_{n-1}, the rsqrt column and the weight; the normalized rows and r_n
        assert read <= 2 * plane + TOKENS * 4 + HIDDEN * np.dtype(dtype).itemsize + 64
        assert written == 2 * plane and len(n.results) == 2
    assert len(reduces) == len(normalizes) == 2 * LAYERS + 1


@pytest.mark.parametrize("dtype", [BF16, np.float32], ids=["bf16", "f32"])
def test_no_kernel_of_its_own_for_the_residual(dtype):
    # per norm: the reduce (x * x its prologue), maybe the rsqrt column ([tokens, 1]), the
    # normalize kernel; per matmul one DotGeneral. Nothing else: r_n (the returned last one
    # included) is written by the normalize kernel
    g = compiled_graph(stack, *args(dtype=dtype))
    kernels = [n for n in g.nodes if n.op not in ("stablehlo.constant", "stablehlo.reshape")]
    norms = norm_kernels(g)
    dots = [n for n in kernels if n.op == "stablehlo.dot_general"]
    columns = [n for n in kernels if n.op == "chip.fusion" and n.results[0].type.shape == (TOKENS, 1)]
    assert len(dots) == 2 * LAYERS and len(norms) == 2 * (2 * LAYERS + 1)
    assert len(kernels) == len(norms) + len(dots) + len(columns)


def test_residual_stream_is_stored_and_the_sum_recomputed():
    g = compiled_graph(stack, *args(layers=2), stop_after="dead_code_elimination")
    costly = costly_to_recompute(g)
    sums = [n.result for n in g.nodes if n.op == "stablehlo.add"
            and n.results[0].type.shape == (TOKENS, HIDDEN)]
    to_bf16 = [n.result for n in g.nodes if n.op == "stablehlo.convert"
               and n.result.type.dtype == "bf16" and n.operands[0] in sums]
    assert sums and to_bf16
    # the f32 sum reads two bf16 planes, as many bytes as it has: recomputed in each kernel
    assert not any(s in costly for s in sums)
    # the bf16 residual would read 2x its bytes to recompute (> STORE_RATIO): stored
    assert STORE_RATIO < 2 and all(r in costly for r in to_bf16)


@pytest.mark.parametrize("dtype,eps", [(BF16, 2.0 ** -8), (np.float32, 2.0 ** -24)],
                         ids=["bf16", "f32"])
def test_numerics_unchanged_and_match_cpu(dtype, eps):
    hidden = 64
    a = args(layers=3, tokens=16, hidden=hidden, dtype=dtype)
    flat = [np.asarray(x) for x in jax.tree_util.tree_leaves(a)]
    fused = execute(compile_fn(stack, *a), flat)
    unfused = execute(compile_fn(stack, *a, options=CompileOptions(fusion=False)), flat)
    # storing r_n instead of recomputing it changes no bit: every op rounds to its own type
    for f, u in zip(fused, unfused):
        assert np.array_equal(f.view(np.uint8), u.view(np.uint8))
    with on_cpu():
        expected = jax.jit(stack)(*a)
    # first order, relative to the values' scale: each of the 6 matmuls and 7 norms on the way
    # rounds its result to the type (unit roundoff eps) after summing `hidden` terms in f32
    for got, e in zip(fused, expected):
        e = np.asarray(e, np.float32)
        bound = 2 * len(a[3]) * (eps + hidden * 2.0 ** -24) * float(np.max(np.abs(e)))
        err = float(np.max(np.abs(got.astype(np.float32) - e)))
        assert err <= bound, (err, bound)
