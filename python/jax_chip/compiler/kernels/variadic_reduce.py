"""The VariadicReduce kernel: `chip.variadic_reduce`, a stablehlo.reduce with several operands
(argmax/argmin) or a body other than one binary op, the body as a register program or a native
kind. Cost: the body once per operand element."""

from __future__ import annotations

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.table_op import program_flops, table_kind
from jax_chip.compiler.lowering.regions import REGION_KINDS

FIELDS = [("dims", "i64s"), ("kind", "ubyte"), ("body", "program")]


def _lower(node: Node) -> dict:
    a = node.attrs
    return {"dims": a["dimensions"], "kind": REGION_KINDS[a["kind"]], "body": a["program"]}


def _cost(node: Node) -> KernelCost:
    n = len(node.results)
    vec, trans = program_flops(node, float(node.operands[0].type.num_elements))
    return KernelCost(vector_flops=vec, transcendentals=trans,
                      bytes_read=float(sum(o.type.nbytes for o in node.operands[:n])),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


KIND = table_kind("VariadicReduce", ("chip.variadic_reduce",), FIELDS, _lower, _cost)
