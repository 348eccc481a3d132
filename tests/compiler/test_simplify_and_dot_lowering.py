"""simplify and dot_lowering passes."""

import numpy as np

from .helpers import import_graph, randn
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.driver import compile_program
from .reference_interpreter import execute
from xla_passes import dot_lowering, simplify


def test_noops_removed_and_reshapes_collapsed():
    text = """
    func.func @main(%a: tensor<2x3xf32>) -> tensor<3x2xf32> {
      %0 = stablehlo.convert %a : tensor<2x3xf32>
      %1 = stablehlo.transpose %0, dims = [0, 1] : (tensor<2x3xf32>) -> tensor<2x3xf32>
      %2 = stablehlo.reshape %1 : (tensor<2x3xf32>) -> tensor<6xf32>
      %3 = stablehlo.reshape %2 : (tensor<6xf32>) -> tensor<3x2xf32>
      %4 = stablehlo.slice %3 [0:3, 0:2] : (tensor<3x2xf32>) -> tensor<3x2xf32>
      %5 = stablehlo.negate %4 : tensor<3x2xf32>
      return %5 : tensor<3x2xf32>
    }"""
    g = import_graph(text)
    simplify.run(g, PassContext())
    g.verify()
    assert [n.op for n in g.nodes] == ["stablehlo.reshape", "stablehlo.negate"]
    assert g.nodes[0].operands[0] is g.params[0].value
    a = randn((2, 3))
    (out,) = execute(compile_program(text, "mlir", b"", {}), [a])
    np.testing.assert_array_equal(out, -a.reshape(3, 2))


def test_dot_becomes_dot_general_and_mixed_types_converted():
    text = """
    func.func @main(%a: tensor<4x8xbf16>, %b: tensor<8x3xf16>) -> tensor<4x3xf32> {
      %0 = stablehlo.dot %a, %b : (tensor<4x8xbf16>, tensor<8x3xf16>) -> tensor<4x3xf32>
      return %0 : tensor<4x3xf32>
    }"""
    g = import_graph(text)
    dot_lowering.run(g, PassContext())
    g.verify()
    ops = [n.op for n in g.nodes]
    assert ops == ["stablehlo.convert", "stablehlo.convert", "stablehlo.dot_general"]
    dot = g.nodes[-1]
    assert dot.attrs["lhs_contracting"] == (1,) and dot.attrs["rhs_contracting"] == (0,)
    assert [o.type.dtype for o in dot.operands] == ["f32", "f32"]


def test_transposed_operands_are_folded_into_the_dot():
    import jax.numpy as jnp
    from .helpers import check_against_jax, kernel_types

    def f(q, k, v):
        s = q @ k.T                                     # rhs transpose folded
        return jnp.einsum("hqk,khd->qhd", s[None], v)   # einsum transposes folded too
    exe = check_against_jax(f, randn((8, 16)), randn((8, 16)), randn((8, 1, 4)))
    # s[None] is a reshape (alias); only the einsum's output transpose needs a kernel
    assert kernel_types(exe) == ["DotGeneral", "DotGeneral", "Elementwise"]
    d0 = exe.kernels[0].op
    assert d0.rhs_contracting == (1,)


def test_transpose_that_reorders_free_dims_is_kept():
    import jax.numpy as jnp
    from .helpers import check_against_jax, kernel_types
    # lhs free dims (a, b) swapped by the transpose: folding would change the output layout
    f = lambda x, w: jnp.einsum("bak,kn->abn", jnp.transpose(x, (1, 0, 2)), w)
    exe = check_against_jax(f, randn((3, 2, 4)), randn((4, 5)))
    assert kernel_types(exe)[-1] == "DotGeneral" or "Elementwise" in kernel_types(exe)


def test_returned_reshape_is_written_by_its_fusion():
    import jax.numpy as jnp
    from .helpers import check_against_jax, kernel_types
    exe = check_against_jax(lambda x: jnp.exp(x).reshape(-1), randn((4, 6)))
    assert kernel_types(exe) == ["Elementwise"]


def test_size_one_broadcasts_and_transposes_become_reshapes():
    text = """
    func.func @main(%a: tensor<4x6xf32>) -> tensor<6x1x4xf32> {
      %0 = stablehlo.broadcast_in_dim %a, dims = [1, 2] : (tensor<4x6xf32>) -> tensor<1x4x6xf32>
      %1 = stablehlo.transpose %0, dims = [1, 0, 2] : (tensor<1x4x6xf32>) -> tensor<4x1x6xf32>
      %2 = stablehlo.transpose %1, dims = [2, 1, 0] : (tensor<4x1x6xf32>) -> tensor<6x1x4xf32>
      return %2 : tensor<6x1x4xf32>
    }"""
    g = import_graph(text)
    simplify.run(g, PassContext())
    assert [n.op for n in g.nodes] == ["stablehlo.reshape", "stablehlo.transpose"]
    a = randn((4, 6))
    (out,) = execute(compile_program(text, "mlir", b"", {}), [a])
    np.testing.assert_array_equal(out, a.T.reshape(6, 1, 4))
