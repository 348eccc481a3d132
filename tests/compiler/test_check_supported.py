"""check_supported and dead_code_elimination."""

import numpy as np
import pytest

from .helpers import import_graph
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.driver import compile_program
from .reference_interpreter import execute
from jax_chip.compiler.ir.errors import UnsupportedError
from xla_passes import check_supported, dead_code_elimination


def _compile(body: str, args: str, result: str):
    text = f"func.func @main({args}) -> {result} {{\n{body}\n}}"
    return compile_program(text, "mlir", b"", {})


def test_total_order_compare_orders_bit_patterns():
    exe = _compile("""
          %0 = stablehlo.compare LT, %a, %b, TOTALORDER : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
          %1 = stablehlo.compare EQ, %a, %b, TOTALORDER : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
          return %0, %1 : tensor<8xi1>, tensor<8xi1>""", "%a: tensor<8xf32>, %b: tensor<8xf32>",
                   "(tensor<8xi1>, tensor<8xi1>)")
    nan = np.float32(np.nan)
    a = np.array([-0.0, 0.0, -nan, nan, -np.inf, 1.0, nan, 2.0], np.float32)
    b = np.array([0.0, -0.0, -np.inf, np.inf, -nan, 1.0, nan, -3.0], np.float32)

    def key(x):   # the total order of the bit patterns
        s = x.view(np.int32).astype(np.int64)
        return np.where(s < 0, -(s & 0x7FFFFFFF) - 1, s)
    lt, eq = execute(exe, [a, b])
    np.testing.assert_array_equal(lt, key(a) < key(b))
    np.testing.assert_array_equal(eq, key(a) == key(b))


def test_bitcast_between_widths_is_unsupported():
    with pytest.raises(UnsupportedError) as e:
        _compile("""
          %0 = stablehlo.bitcast_convert %a : (tensor<4xf32>) -> tensor<4x2xbf16>
          return %0 : tensor<4x2xbf16>""", "%a: tensor<4xf32>", "tensor<4x2xbf16>")
    assert "different bit widths" in str(e.value)


def test_op_on_unsupported_element_type():
    # StableHLO's verifier rejects most such programs already; the pass is the safety net
    from jax_chip.compiler.ir.graph import Graph, Output, TensorType
    g = Graph()
    a = g.add_param(TensorType("s32", (4,)))
    n = g.add_node("stablehlo.exponential", [a], [TensorType("s32", (4,))], loc="f.py:3 in f")
    g.outputs.append(Output(n.result))
    with pytest.raises(UnsupportedError) as e:
        check_supported.run(g, PassContext())
    assert str(e.value).startswith("stablehlo.exponential on s32 is not supported on the chip "
                                   "(at f.py:3 in f)")


def test_clamp_on_pred():
    import numpy as np
    from .reference_interpreter import execute
    data = _compile("""
          %0 = stablehlo.clamp %a, %b, %a : tensor<4xi1>
          return %0 : tensor<4xi1>""", "%a: tensor<4xi1>, %b: tensor<4xi1>", "tensor<4xi1>")
    a = np.array([True, False, True, False])
    b = np.array([True, True, False, False])
    (out,) = execute(data, [a, b])
    np.testing.assert_array_equal(out, np.minimum(np.maximum(b, a), a))


def test_supported_program_passes():
    g = import_graph("""
    func.func @main(%a: tensor<4xf32>) -> tensor<4xi1> {
      %0 = stablehlo.compare LT, %a, %a, FLOAT : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
      return %0 : tensor<4xi1>
    }""")
    check_supported.run(g, PassContext())


def test_dead_code_elimination():
    g = import_graph("""
    func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
      %0 = stablehlo.exponential %a : tensor<4xf32>
      %1 = stablehlo.log %0 : tensor<4xf32>
      %2 = stablehlo.negate %a : tensor<4xf32>
      return %2 : tensor<4xf32>
    }""")
    assert len(g.nodes) == 3 or len(g.nodes) == 1   # MLIR's canonicalizer may already drop them
    dead_code_elimination.run(g, PassContext())
    assert [n.op for n in g.nodes] == ["stablehlo.negate"]
