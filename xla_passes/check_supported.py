"""Op-level support check: after sharding annotations are stripped, every remaining op must be
one the chip compiler lowers, with supported element types and features
(jax_chip.compiler.analysis.support)."""

from __future__ import annotations

from jax_chip.compiler.analysis.support import check_node
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph
from jax_chip.compiler.ir.pass_api import Pass, Scope


def run(graph: Graph, ctx: PassContext) -> bool:
    for node in graph.walk():
        check_node(node)
    return False


PASS = Pass("check_supported", Scope.PROGRAM, run)
