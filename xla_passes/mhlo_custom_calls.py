"""`stablehlo.custom_call @mhlo.<op>` -> the op itself.

jaxlib's PJRT C API client serializes programs with XLA's CHLO handling: CHLO ops XLA keeps at a
high level (erf, tan) become mhlo ops, which StableHLO can only carry as custom calls named after
them (`stablehlo.custom_call @mhlo.erf`). They are elementwise ops the chip implements; this pass
turns them back into chlo.erf / stablehlo.tan nodes (top_k is handled by indexing_lowering).
"""

from __future__ import annotations

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph
from jax_chip.compiler.ir.pass_api import Pass, Scope

# custom-call target -> (op, number of operands)
ELEMENTWISE_TARGETS = {
    "mhlo.erf": ("chlo.erf", 1),
    "mhlo.tan": ("stablehlo.tan", 1),
}


def run(graph: Graph, ctx: PassContext) -> bool:
    changed = False
    for node in graph.nodes:
        if node.op != "stablehlo.custom_call":
            continue
        target = ELEMENTWISE_TARGETS.get(node.attrs.get("call_target_name", ""))
        if target is None:
            continue
        op, arity = target
        if len(node.operands) != arity or len(node.results) != 1:
            continue      # not the form XLA writes: check_supported reports the custom call
        if any(o.type != node.result.type for o in node.operands):
            continue
        node.op = op
        node.attrs = {}
        changed = True
    return changed


PASS = Pass("mhlo_custom_calls", Scope.FUNCTION, run)
