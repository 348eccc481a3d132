"""strip_sharding: sharding annotations vanish for one device."""

import numpy as np
import pytest

from .helpers import import_graph, randn
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.driver import compile_program
from jax_chip.compiler.ir.errors import CompileError
from .reference_interpreter import execute
from xla_passes import strip_sharding

TEXT = """
func.func @main(%a: tensor<4x8xf32> {mhlo.sharding = "{replicated}"}) -> (tensor<4x8xf32> {mhlo.sharding = "{replicated}"}) {
  %0 = stablehlo.custom_call @Sharding(%a) {mhlo.sharding = "{devices=[1,1]0}"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = stablehlo.custom_call @SPMDFullToShardShape(%0) {mhlo.sharding = "{manual}"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = stablehlo.exponential %1 : tensor<4x8xf32>
  %3 = stablehlo.custom_call @SPMDShardToFullShape(%2) {mhlo.sharding = "{devices=[1,1]0}"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %4:2 = stablehlo.optimization_barrier %3, %a : tensor<4x8xf32>, tensor<4x8xf32>
  %5 = stablehlo.add %4#0, %4#1 : tensor<4x8xf32>
  return %5 : tensor<4x8xf32>
}"""


def test_annotations_removed():
    g = import_graph(TEXT)
    assert sum(n.op == "stablehlo.custom_call" for n in g.nodes) == 3
    strip_sharding.run(g, PassContext())
    g.verify()
    assert [n.op for n in g.nodes] == ["stablehlo.exponential", "stablehlo.add"]
    assert g.nodes[1].operands[1] is g.params[0].value


def test_compiles_and_computes():
    a = randn((4, 8))
    (out,) = execute(compile_program(TEXT, "mlir", b"", {}), [a])
    np.testing.assert_allclose(out, np.exp(a) + a, rtol=1e-6)


def test_real_partitioning_is_rejected():
    text = """
    func.func @main(%a: tensor<4x8xf32>) -> tensor<2x8xf32> {
      %0 = stablehlo.custom_call @SPMDFullToShardShape(%a) : (tensor<4x8xf32>) -> tensor<2x8xf32>
      return %0 : tensor<2x8xf32>
    }"""
    with pytest.raises(CompileError) as e:
        compile_program(text, "mlir", b"", {})
    assert "partitioned for more than one device" in str(e.value)


def test_other_custom_calls_are_unsupported():
    from jax_chip.compiler.ir.errors import UnsupportedError
    text = """
    func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
      %0 = stablehlo.custom_call @my_kernel(%a) : (tensor<4xf32>) -> tensor<4xf32>
      return %0 : tensor<4xf32>
    }"""
    with pytest.raises(UnsupportedError) as e:
        compile_program(text, "mlir", b"", {})
    assert "stablehlo.custom_call @my_kernel is not supported" in str(e.value)
