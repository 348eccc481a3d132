"""Collectives on one device (registered in jax_chip/compiler/ir/ops.py): all_reduce, all_gather,
reduce_scatter, all_to_all and collective_broadcast over groups of one device are the identity;
collective_permute with the pair (0, 0) is the identity and without pairs gives zeros;
partition_id and replica_id are the constant 0. A collective over a group of several devices is
an error naming it and its source location."""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.ops import COLLECTIVES, IDS, PERMUTE
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.errors import CompileError, at
from jax_chip.compiler.ir.graph import Graph, Node, TensorType, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope


def _zeros(graph: Graph, t: TensorType, loc: str) -> list[Node]:
    c = graph.make_node("stablehlo.constant", [], [TensorType(t.dtype, ())],
                        {"value": np.zeros((), dtypes.numpy_dtype(t.dtype)), "splat": False}, loc)
    if t.rank == 0:
        return [c]
    b = graph.make_node("stablehlo.broadcast_in_dim", [c.result], [t],
                        {"broadcast_dimensions": ()}, loc)
    return [c, b]


def run(graph: Graph, ctx: PassContext) -> bool:
    repl: dict[Value, Value] = {}
    out: list[Node] = []
    for node in graph.nodes:
        node.operands = [repl.get(o, o) for o in node.operands]
        if node.op in IDS:
            c = graph.make_node("stablehlo.constant", [], [node.result.type],
                                {"value": np.zeros(node.result.type.shape, np.uint32),
                                 "splat": False}, node.loc)
            out.append(c)
            repl[node.result] = c.result
            continue
        if node.op in COLLECTIVES or node.op == PERMUTE:
            size = node.attrs.get("group_size", 1)
            pairs = node.attrs.get("source_target_pairs")
            if node.op == PERMUTE:
                if any(p != (0, 0) for p in pairs):
                    raise CompileError(f"{node.op} with source_target_pairs {list(pairs)} moves "
                                       f"data between devices, but the chip compiles for one "
                                       f"device{at(node.loc)}")
                if not pairs:
                    new = _zeros(graph, node.result.type, node.loc)
                    out.extend(new)
                    repl[node.result] = new[-1].result
                    continue
            elif size > 1:
                raise CompileError(f"{node.op} over replica groups of {size} devices, but the chip "
                                   f"compiles for one device{at(node.loc)}")
            for o, r in zip(node.operands, node.results):
                if o.type != r.type:
                    raise CompileError(f"{node.op} changes {o.type} to {r.type} on one device"
                                       f"{at(node.loc)}")
                repl[r] = o
            continue
        out.append(node)
    changed = bool(repl)
    graph.nodes = out
    for o in graph.outputs:
        o.value = repl.get(o.value, o.value)
    return changed


PASS = Pass("single_device_collectives", Scope.FUNCTION, run)
