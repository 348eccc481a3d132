"""dynamic_slice with constant start indices (after constant folding) becomes a static
stablehlo.slice: a strided view that fuses into its consumers instead of a kernel of its own.
Starts are clamped as the runtime's DynamicSlice kernel would (XLA semantics)."""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope


def _constant_scalar(v: Value) -> int | None:
    p = v.producer
    while p is not None and p.op in ("stablehlo.broadcast_in_dim", "stablehlo.reshape",
                                     "stablehlo.convert") and p.operands[0].type.num_elements == 1:
        if p.op == "stablehlo.convert":
            return None      # keep it simple: only plain integer constants
        p = p.operands[0].producer
    if p is None or p.op != "stablehlo.constant" or p.attrs.get("value") is None:
        return None
    arr = np.asarray(p.attrs["value"])
    if arr.size < 1 or arr.dtype.kind not in "iu":
        return None
    return int(arr.reshape(-1)[0])


def run(graph: Graph, ctx: PassContext) -> bool:
    changed = False
    for i, node in enumerate(graph.nodes):
        if node.op != "stablehlo.dynamic_slice":
            continue
        starts = [_constant_scalar(o) for o in node.operands[1:]]
        if any(s is None for s in starts):
            continue
        shape = node.operands[0].type.shape
        sizes = node.attrs["slice_sizes"]
        clamped = tuple(min(max(int(s), 0), d - z) for s, d, z in zip(starts, shape, sizes))
        sl: Node = graph.make_node(
            "stablehlo.slice", [node.operands[0]], [node.result.type],
            {"start_indices": clamped,
             "limit_indices": tuple(s + z for s, z in zip(clamped, sizes)),
             "strides": (1,) * len(shape)}, node.loc)
        graph.nodes[i] = sl
        graph.replace_all_uses(node.result, sl.result)
        changed = True
    if changed:
        graph.remove_dead_nodes()
    return changed


PASS = Pass("dynamic_slice_folding", Scope.FUNCTION, run)
