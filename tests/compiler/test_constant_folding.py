"""constant_folding: folds with the chip's numerics, keeps big splats as broadcasts."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from helpers import check_against_jax, compiled_graph, import_graph, randn
from jax_chip.compiler.context import CompileOptions, PassContext
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
