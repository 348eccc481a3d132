"""Removes nodes whose results are never used (outputs and side-effecting ops are live)."""

from __future__ import annotations

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph
from jax_chip.compiler.ir.pass_api import Pass, Scope


def run(graph: Graph, ctx: PassContext) -> bool:
    return graph.remove_dead_nodes() > 0


PASS = Pass("dead_code_elimination", Scope.FUNCTION, run)
