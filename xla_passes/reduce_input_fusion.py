"""Reduce input fusion: a fused elementwise kernel whose only reader is a reduce becomes the
reduce's prologue, so the reduced operand is computed on chip and never written to memory.

RMSNorm (`mean(x * x)`), softmax's `sum(exp(x - max))` and layer norm's variance were each an
Elementwise kernel writing a temporary, then a Reduce kernel reading it back: one launch and
one memory round trip more than needed. After elementwise fusion, a reduce whose operand is the
single result of a chip.fusion read by nothing else takes that fusion as
node.attrs["prologue"]; the reduce's operands become the fusion's inputs followed by init
(schema: Reduce.prologue). Off with elementwise fusion (CHIP_DISABLE_PASSES=elementwise_fusion).
"""

from __future__ import annotations

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.lowering.ew_codegen import program_for
from jax_chip.compiler.ir.graph import Graph, Node
from jax_chip.compiler.ir.pass_api import Pass, Scope

PROLOGUE = "prologue"


def _fusible_prologue(node: Node, users: dict, outputs: set) -> Node | None:
    x = node.operands[0]
    p = x.producer
    if (p is None or p.op != "chip.fusion" or len(p.results) != 1 or x in outputs
            or len(users.get(x, [])) != 1):
        return None
    if tuple(program_for(p).dims) != x.type.shape:
        return None
    if any(v.type.dtype in dtypes.LOW_PRECISION for v in p.operands):
        return None   # the Reduce kernel does not read fp8 or packed int4 (a bitcast stays apart)
    return p


def run(graph: Graph, ctx: PassContext) -> bool:
    if not ctx.options.fusion:
        return False
    users = graph.users()
    outputs = graph.output_values()
    absorbed: set[Node] = set()
    for node in graph.nodes:
        if node.op != "stablehlo.reduce" or PROLOGUE in node.attrs or len(node.operands) != 2:
            continue
        p = _fusible_prologue(node, users, outputs)
        if p is None:
            continue
        node.attrs[PROLOGUE] = p
        node.operands = list(p.operands) + [node.operands[1]]
        absorbed.add(p)
    if absorbed:
        graph.nodes = [n for n in graph.nodes if n not in absorbed]
    return bool(absorbed)


PASS = Pass("reduce_input_fusion", Scope.FUNCTION, run)
