"""The TopK kernel: `chip.top_k` (from chlo.top_k / custom_call @mhlo.topk: lax.top_k); largest
first by total order, ties by lower index. Cost: n log k comparisons."""

from __future__ import annotations

import math

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.table_op import table_kind

FIELDS = [("k", "long"), ("largest", "bool")]


def _lower(node: Node) -> dict:
    return {"k": node.attrs["k"], "largest": node.attrs.get("largest", True)}


def _cost(node: Node) -> KernelCost:
    t = node.operands[0].type
    k = max(1, int(node.attrs["k"]))
    return KernelCost(vector_flops=float(t.num_elements * max(1.0, math.log2(k + 1))),
                      bytes_read=float(t.nbytes),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


KIND = table_kind("TopK", ("chip.top_k",), FIELDS, _lower, _cost)
