"""Strips sharding annotations, which mean nothing on one device.

Removes custom_call @Sharding / @SPMDFullToShardShape / @SPMDShardToFullShape (their result is
their operand when there is one partition), sdy.sharding_constraint and
stablehlo.optimization_barrier (results become operands). The importer never reads
mhlo.sharding / sdy.sharding attributes, so they are dropped with the MLIR module.
"""

from __future__ import annotations

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.errors import CompileError, at
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope

SHARDING_TARGETS = frozenset({"Sharding", "SPMDFullToShardShape", "SPMDShardToFullShape"})
PASS_THROUGH_OPS = frozenset({"sdy.sharding_constraint", "stablehlo.optimization_barrier"})


def is_sharding_annotation(node: Node) -> bool:
    if node.op == "stablehlo.custom_call":
        return node.attrs.get("call_target_name") in SHARDING_TARGETS
    return node.op in PASS_THROUGH_OPS


def run(graph: Graph, ctx: PassContext) -> bool:
    repl: dict[Value, Value] = {}
    kept: list[Node] = []
    for node in graph.nodes:
        node.operands = [repl.get(o, o) for o in node.operands]
        if not is_sharding_annotation(node):
            kept.append(node)
            continue
        if len(node.operands) != len(node.results):
            raise CompileError(f"{node.op} {node.attrs.get('call_target_name', '')} with "
                               f"{len(node.operands)} operands and {len(node.results)} results"
                               f"{at(node.loc)}")
        for o, r in zip(node.operands, node.results):
            if o.type != r.type:
                raise CompileError(
                    f"{node.op} @{node.attrs.get('call_target_name', '')} changes {o.type} to "
                    f"{r.type}: the program was partitioned for more than one device, but the "
                    f"chip compiles for one{at(node.loc)}")
            repl[r] = o
    changed = len(kept) != len(graph.nodes)
    graph.nodes = kept
    for out in graph.outputs:
        out.value = repl.get(out.value, out.value)
    return changed


PASS = Pass("strip_sharding", Scope.FUNCTION, run)
