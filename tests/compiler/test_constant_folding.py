"""constant_folding: folds with the chip's numerics, keeps big splats as broadcasts, makes big
constants only of values that are materialized anyway (a table read by a gather)."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from .helpers import RNG, check_against_jax, compiled_graph, import_graph, randn
from .reference_interpreter import execute
from jax_chip.compiler.ir.context import CompileOptions, PassContext
from xla_passes import constant_folding


def consts(g):
    return [n for n in g.nodes if n.op == "stablehlo.constant"]


def test_big_splat_becomes_scalar_broadcast():
    text = """
    func.func @main(%a: tensor<512x512xf32>) -> tensor<512x512xf32> {
      %c = stablehlo.constant dense<2.5> : tensor<512x512xf32>
      %0 = stablehlo.dot_general %a, %c, contracting_dims = [1] x [0] : (tensor<512x512xf32>, tensor<512x512xf32>) -> tensor<512x512xf32>
      return %0 : tensor<512x512xf32>
    }"""
    g = import_graph(text)
    constant_folding.run(g, PassContext())
    (c,) = consts(g)
    assert c.result.type.shape == () and float(c.attrs["value"]) == 2.5
    assert any(n.op == "stablehlo.broadcast_in_dim" for n in g.nodes)


def test_small_expression_is_folded_with_bf16_rounding():
    vals = np.array([1.0, 3.0, 7.0, 100.0], dtype=ml_dtypes.bfloat16)

    def f(x):
        c = jnp.asarray(vals)
        return x + (c / jnp.asarray(3.0, jnp.bfloat16)) * c     # all on constants
    g = compiled_graph(f, randn((4,), ml_dtypes.bfloat16), stop_after="constant_folding")
    ops = [n.op for n in g.nodes]
    assert "stablehlo.divide" not in ops and "stablehlo.multiply" not in ops
    (folded,) = [n for n in consts(g) if not n.attrs["splat"] and n.result.type.shape == (4,)]
    third = (vals.astype(np.float32) / np.float32(3.0)).astype(ml_dtypes.bfloat16)
    expect = (third.astype(np.float32) * vals.astype(np.float32)).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(folded.attrs["value"].view(np.uint16), expect.view(np.uint16))
    check_against_jax(f, randn((4,), ml_dtypes.bfloat16))


def test_integer_division_semantics_when_folding():
    a = np.array([7, -7, 5, -128], np.int8)
    b = np.array([2, 2, 0, -1], np.int8)
    g = compiled_graph(lambda x: x + jax.lax.div(jnp.asarray(a), jnp.asarray(b)),
                       randn((4,), np.int8), stop_after="constant_folding")
    (c,) = [n for n in consts(g) if n.result.type.shape == (4,)]
    np.testing.assert_array_equal(c.attrs["value"], np.array([3, -3, -1, -128], np.int8))


def test_splat_arithmetic_stays_splat():
    def f(x):
        return x * (jnp.full((256, 256), 3.0) * 2.0 + 1.0)
    g = compiled_graph(f, randn((256, 256)), stop_after="constant_folding")
    cs = consts(g)
    assert all(np.asarray(n.attrs["value"]).shape == () for n in cs)
    assert any(float(n.attrs["value"]) == 7.0 for n in cs)


def test_large_results_are_not_folded():
    big = np.arange(64 * 128, dtype=np.float32).reshape(64, 128)
    g = compiled_graph(lambda x: x + jnp.asarray(big).T * 2.0, randn((128, 64)),
                       options=CompileOptions(fold_limit_elements=1024),
                       stop_after="constant_folding")
    assert any(n.op == "stablehlo.multiply" for n in g.nodes)


def test_movement_and_concatenate_folding():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    f = lambda x: x + jnp.concatenate([jnp.asarray(a).T, jnp.asarray(a).T[:, :1]], axis=1)
    g = compiled_graph(f, randn((3, 3), np.int32), stop_after="constant_folding")
    assert [n.op for n in g.nodes if n.op != "stablehlo.constant"] == ["stablehlo.add"]
    check_against_jax(f, randn((3, 3), np.int32))


def test_folding_can_be_disabled():
    f = lambda x: x + jnp.asarray(np.ones(4, np.float32)) * 2.0
    g = compiled_graph(f, randn((4,)), options=CompileOptions(constant_folding=False),
                       stop_after="dead_code_elimination")
    assert any(n.op == "stablehlo.multiply" for n in g.nodes)


# ---- cost-aware limits: big constants only where the value is materialized anyway ------------

def rope_table(max_position=2048, dim=64):
    """sglang-jax's RotaryEmbedding cos/sin cache, computed from constants."""
    inv = 1.0 / (10000.0 ** (jnp.arange(0, dim, 2, dtype=jnp.float32) / dim))
    freqs = jnp.outer(jnp.arange(max_position, dtype=jnp.float32), inv)
    return jnp.concatenate([jnp.cos(freqs), jnp.sin(freqs)], axis=-1)


def gather_rows(x, pos):
    return x * rope_table().take(pos, axis=0)


GATHER_ARGS = (randn((16, 64)), RNG.permutation(2048)[:16].astype(np.int32))


def computing_ops(g):
    return [n.op for n in g.walk() if n.op in (
        "stablehlo.iota", "stablehlo.cosine", "stablehlo.sine", "stablehlo.multiply",
        "stablehlo.concatenate", "stablehlo.power", "chip.fusion")]


def test_gathered_table_is_folded_into_one_constant():
    g = compiled_graph(gather_rows, *GATHER_ARGS, stop_after="constant_folding")
    (table,) = [n for n in consts(g) if n.result.type.shape == (2048, 64)]
    gather = next(n for n in g.nodes if n.op == "stablehlo.gather")
    assert gather.operands[0] is table.result
    # nothing of the table's computation is left (the multiply is x * rows)
    assert computing_ops(g) == ["stablehlo.multiply"]
    # the folded values are bit-identical to what the unfolded program's kernels compute (here
    # in the reference interpreter; tests/test_constant_folding_chip.py runs both on the chip)
    exe = check_against_jax(rope_table, options=CompileOptions(constant_folding=False))
    assert {"Elementwise", "Concatenate"} <= {k.op_type for k in exe.kernels}
    (want,) = execute(exe, [])
    np.testing.assert_array_equal(table.attrs["value"].view(np.uint32), want.view(np.uint32))


def test_table_over_the_materialized_limit_is_not_folded():
    g = compiled_graph(gather_rows, *GATHER_ARGS, stop_after="constant_folding",
                       options=CompileOptions(fold_materialized_limit_elements=2048 * 32 - 1))
    assert not [n for n in consts(g) if n.result.type.num_elements > 4096]
    assert "stablehlo.cosine" in computing_ops(g)


def test_expression_read_only_by_fusible_ops_keeps_the_small_limit():
    # cos of the angles, only multiplied elementwise with a runtime value: fused, it is computed
    # in registers, so folding would only add a 256 KiB constant to read
    def f(x):
        inv = 1.0 / (10000.0 ** (jnp.arange(0, 64, 2, dtype=jnp.float32) / 64))
        return x * jnp.cos(jnp.outer(jnp.arange(2048, dtype=jnp.float32), inv))
    g = compiled_graph(f, randn((2048, 32)), stop_after="constant_folding")
    assert not [n for n in consts(g) if n.result.type.num_elements > 4096]
    assert {"stablehlo.cosine", "stablehlo.iota"} <= set(computing_ops(g))
    # the inverse frequencies (32 elements, constants only) are still folded
    assert "stablehlo.power" not in computing_ops(g)
    check_against_jax(f, randn((2048, 32)))


def test_expression_reaching_a_reduce_or_an_output_is_folded():
    def f(x):
        s = jnp.sin(jnp.arange(8192, dtype=jnp.float32) * 0.01)
        return x + jnp.max(s), jnp.cos(jnp.arange(6000, dtype=jnp.float32))
    g = compiled_graph(f, randn(()), stop_after="constant_folding")
    shapes = sorted(n.result.type.shape for n in consts(g) if n.result.type.num_elements > 4096)
    assert shapes == [(6000,), (8192,)]
    assert not {"stablehlo.sine", "stablehlo.cosine", "stablehlo.iota"} & {n.op for n in g.nodes}
    assert "stablehlo.reduce" in {n.op for n in g.nodes}
    check_against_jax(f, randn(()))


def test_bare_iota_and_broadcast_are_not_stored():
    # an iota sorted along, a broadcast multiplied by a matrix: materialized, but their kernels
    # only write; storing them would only grow the executable
    row = (np.arange(512) % 3 - 1).astype(np.float32)      # small integers: exact dot products
    ints = RNG.integers(-3, 4, (16, 512)).astype(np.float32)

    def f(x):
        return jax.lax.sort((x, jnp.arange(8192, dtype=jnp.int32)), num_keys=1)[1]

    def h(x):
        return x @ jnp.broadcast_to(jnp.asarray(row), (512, 512))
    for fn, arg in ((f, randn((8192,))), (h, ints)):
        g = compiled_graph(fn, arg, stop_after="constant_folding")
        assert not [n for n in consts(g) if n.result.type.num_elements > 4096]
    assert "stablehlo.iota" in [n.op for n in compiled_graph(
        f, randn((8192,)), stop_after="constant_folding").nodes]
    check_against_jax(h, ints)


def test_materialized_folding_inside_a_loop_body():
    def table():    # iota-only (jnp.arange with a step would be a loop-carried constant)
        inv = 1.0 / (10000.0 ** (jnp.arange(8, dtype=jnp.float32) * (2.0 / 16)))
        freqs = jnp.outer(jnp.arange(256, dtype=jnp.float32), inv)
        return jnp.concatenate([jnp.cos(freqs), jnp.sin(freqs)], axis=-1)

    def f(x, pos):
        return jax.lax.fori_loop(0, 4, lambda i, acc: acc * table()[pos + i, :8], x)
    args = (randn((8, 8)), RNG.integers(0, 200, 8).astype(np.int32))
    g = compiled_graph(f, *args, stop_after="constant_folding")
    (loop,) = [n for n in g.nodes if n.op == "stablehlo.while"]
    tables = [n for n in loop.regions[1].nodes
              if n.op == "stablehlo.constant" and n.result.type.shape == (256, 16)]
    assert len(tables) == 1
    assert not {"stablehlo.cosine", "stablehlo.sine", "stablehlo.iota"} & {n.op for n in g.walk()}
