"""The Pad kernel: `stablehlo.pad` with negative (cropping) and interior padding.
Cost: reads the operand, writes the result."""

from __future__ import annotations

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.table_op import table_kind

FIELDS = [("edge_low", "i64s"), ("edge_high", "i64s"), ("interior", "i64s")]


def _lower(node: Node) -> dict:
    a = node.attrs
    return {"edge_low": a["edge_low"], "edge_high": a["edge_high"], "interior": a["interior"]}


def _cost(node: Node) -> KernelCost:
    return KernelCost(bytes_read=float(node.operands[0].type.nbytes),
                      bytes_written=float(node.result.type.nbytes))


KIND = table_kind("Pad", ("stablehlo.pad",), FIELDS, _lower, _cost)
