"""Op-level support: is a node an op the chip compiler lowers, with supported element types and
features? (check_supported runs it on every node; indexing_lowering on the nodes it creates.)"""

from __future__ import annotations

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.ir.custom_calls import unsupported_message
from jax_chip.compiler.ir.errors import UnsupportedError, at
from jax_chip.compiler.ir.graph import Node


def _types(node: Node) -> str:
    ins = ", ".join(o.type.mlir_str() for o in node.operands)
    outs = ", ".join(r.type.mlir_str() for r in node.results)
    return f"({ins}) -> {outs}"


def _checked_dtype(node: Node) -> str:
    """The element type the registry's dtype list refers to."""
    if node.op in ("stablehlo.compare", "stablehlo.is_finite") and node.operands:
        return node.operands[0].type.dtype
    if node.op in ("stablehlo.dot_general", "stablehlo.dot", "chlo.ragged_dot"):
        return node.operands[0].type.dtype
    if node.results:
        return node.result.type.dtype if len(node.results) == 1 else node.results[0].type.dtype
    return ""


def check_node(node: Node) -> None:
    spec = op_registry.require(node)
    if node.op == "stablehlo.custom_call":
        raise UnsupportedError(f"{unsupported_message(node)}{at(node.loc)}; "
                               f"types {_types(node)}")
    if spec.kind == "annotation":
        raise AssertionError(f"{node.op} should have been removed by strip_sharding")
    dt = _checked_dtype(node)
    if dt and dtypes.is_chip_dtype(dt) and dt not in spec.dtypes:
        raise UnsupportedError(f"{node.op} on {dt} is not supported on the chip{at(node.loc)}; "
                               f"types {_types(node)}; supported: {', '.join(sorted(spec.dtypes))}")
    if node.op == "stablehlo.bitcast_convert":
        src, dst = node.operands[0].type, node.result.type
        if (dtypes.is_chip_dtype(src.dtype) and dtypes.is_chip_dtype(dst.dtype)
                and (src.itemsize != dst.itemsize or src.shape != dst.shape)):
            raise UnsupportedError(f"stablehlo.bitcast_convert between different bit widths is "
                                   f"not supported on the chip{at(node.loc)}; types {_types(node)}")
