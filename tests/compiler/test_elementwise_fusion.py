"""elementwise_fusion: kernel counts, views, multi-output fusions, correctness."""

import jax
import jax.numpy as jnp
import numpy as np

from .helpers import (check_against_jax, compiled_graph, kernel_types, randn, transformer_args,
                     transformer_block)
from jax_chip.compiler.ir.context import CompileOptions
from jax_chip.compiler.lowering.ew_codegen import program_for


def kernels(graph):
    return [n for n in graph.nodes if n.op in ("chip.fusion", "stablehlo.dot_general",
                                               "stablehlo.reduce", "stablehlo.concatenate",
                                               "chip.copy")]


def fusions(graph):
    return [n for n in graph.nodes if n.op == "chip.fusion"]


def test_matmul_plus_one():
    f = lambda x, y: x @ y + 1
    args = (randn((4, 8)), randn((8, 16)))
    fused = check_against_jax(f, *args)
    assert kernel_types(fused) == ["DotGeneral", "Elementwise"]
    unfused = check_against_jax(f, *args, options=CompileOptions(fusion=False))
    # dot, broadcast of the constant, add
    assert kernel_types(unfused) == ["DotGeneral", "Elementwise", "Elementwise"]
    ew = fused.kernels[1].op
    assert [i.op for i in ew.instrs if i.op not in ("LOAD", "CONST")] == ["ADD"]


def test_elementwise_chain_is_one_kernel():
    f = lambda x, y: jnp.tanh(x * 2.0 + y) * jax.nn.sigmoid(y) - jnp.exp(-x)
    exe = check_against_jax(f, randn((16, 32)), randn((16, 32)))
    assert kernel_types(exe) == ["Elementwise"]
    unfused = check_against_jax(f, randn((16, 32)), randn((16, 32)),
                                options=CompileOptions(fusion=False))
    assert len(unfused.kernels) >= 8


def test_broadcast_and_transpose_become_views():
    f = lambda x, b: x.T + b[None, :]
    exe = check_against_jax(f, randn((8, 4)), randn((8,)))
    assert kernel_types(exe) == ["Elementwise"]
    views = {v.input: v for v in exe.kernels[0].op.views}
    assert views[0].strides == (1, 4)      # transpose of an 8x4 input
    assert views[1].strides == (0, 1)      # row broadcast


def test_slice_view_offset_and_stride():
    f = lambda x: jax.lax.slice(x, (1, 2), (5, 10), (2, 3)) * 2.0
    exe = check_against_jax(f, randn((6, 12)))
    (view,) = exe.kernels[0].op.views
    assert view.offset == 1 * 12 + 2 and view.strides == (24, 3)


def test_rms_norm_fuses_around_the_reduce():
    def f(x, g):
        return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6) * g
    exe = check_against_jax(f, randn((8, 64)), randn((64,)))
    # x * x is the reduce's prologue (xla_passes/reduce_input_fusion.py): never in memory
    assert kernel_types(exe) == ["Reduce", "Elementwise"]
    assert exe.kernels[0].op.prologue is not None


def test_softmax_kernels():
    exe = check_against_jax(lambda s: jax.nn.softmax(s, axis=-1), randn((4, 16)))
    assert kernel_types(exe) == ["Reduce", "Elementwise", "Reduce", "Elementwise"]


def test_multi_output_fusion():
    # y is used by the reduce (outside) and by the second elementwise in the same space
    def f(x):
        y = jnp.exp(x)
        return y * 3.0, jnp.sum(y)
    g = compiled_graph(f, randn((4, 8)))
    fs = fusions(g)
    assert len(fs) == 1 and len(fs[0].results) == 2
    check_against_jax(f, randn((4, 8)))


def test_cheap_shared_producer_is_recomputed():
    def f(x):
        t = x * 0.5
        return jnp.sin(t).sum(0), jnp.cos(t).sum(1)
    g = compiled_graph(f, randn((4, 8)))
    # sin(t) and cos(t), each recomputing t, each the prologue of its reduce
    prologues = [n.attrs["prologue"] for n in g.nodes if n.attrs.get("prologue") is not None]
    assert len(prologues) == 2 and not fusions(g)
    assert all(any(m.op == "stablehlo.multiply" for m in p.body.nodes) for p in prologues)
    check_against_jax(f, randn((4, 8)))


def test_expensive_broadcast_recompute_is_bounded():
    # exp of a [4096, 1] column broadcast to [4096, 4096]: recomputing 16M exps costs more than
    # a kernel launch, so the column is materialized by its own kernel
    def f(x, col):
        return x * jnp.exp(col)
    g = compiled_graph(f, np.zeros((4096, 4096), np.float32), np.zeros((4096, 1), np.float32))
    assert len(fusions(g)) == 2
    small = compiled_graph(f, randn((8, 16)), randn((8, 1)))
    assert len(fusions(small)) == 1


def test_non_affine_view_is_not_fused_but_correct():
    def f(x):
        y = jnp.exp(x).reshape(4, 6)       # merges dims of a computed value
        return jnp.transpose(y) + 1.0
    check_against_jax(f, randn((2, 2, 6)))
    g = compiled_graph(f, randn((2, 2, 6)))
    for n in fusions(g):
        program_for(n)   # every fusion is expressible


def test_transpose_of_reshaped_input_is_a_view():
    f = lambda x: jnp.transpose(x.reshape(4, 6)) + 1.0
    exe = check_against_jax(f, randn((2, 2, 6)))
    assert kernel_types(exe) == ["Elementwise"]


def test_iota_is_generated_in_registers():
    def f(x):
        n = x.shape[-1]
        return jnp.where(jnp.arange(n)[None, :] <= jnp.arange(n)[:, None], x, -1e9)
    exe = check_against_jax(f, randn((8, 8)))
    assert kernel_types(exe) == ["Elementwise"]
    ops = [i.op for i in exe.kernels[0].op.instrs]
    assert "IOTA" in ops and len(exe.constants) == 0


def test_transformer_block_fusion_reduces_kernels_and_traffic():
    from xla_passes.cost_annotation import total
    args = transformer_args()
    fused = compiled_graph(transformer_block, *args)
    unfused = compiled_graph(transformer_block, *args, options=CompileOptions(fusion=False))
    assert len(kernels(fused)) < len(kernels(unfused)) * 0.45
    tf, tu = total(fused), total(unfused)

    def traffic(c):   # bytes moved, HBM and on-chip SRAM (xla_passes/sram_placement.py)
        return c.bytes_read + c.bytes_written + c.sram_bytes_read + c.sram_bytes_written
    assert traffic(tf) < 0.5 * traffic(tu)


def test_fusion_respects_op_cap():
    f = lambda x: sum(jnp.sin(x * i) for i in range(1, 12))
    g = compiled_graph(f, randn((4,)), options=CompileOptions(max_fused_ops=8))
    assert all(len(n.body.nodes) <= 8 for n in fusions(g))
    check_against_jax(f, randn((4,)), options=CompileOptions(max_fused_ops=8))


def test_long_chain_does_not_hit_recursion_limit():
    from .helpers import compile_fn
    from .reference_interpreter import execute

    def f(x):
        for _ in range(1500):
            x = x * 1.0001 + 0.001
        return x
    x = randn((8,))
    data = compile_fn(f, x, via="text", options=CompileOptions(max_fused_ops=4000))
    (got,) = execute(data, [x])
    ref = x.copy()
    for _ in range(1500):   # f32 rounding after every op (XLA:CPU contracts to FMAs)
        ref = (ref * np.float32(1.0001)).astype(np.float32) + np.float32(0.001)
    np.testing.assert_array_equal(got, ref)
