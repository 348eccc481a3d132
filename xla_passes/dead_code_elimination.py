"""Removes nodes whose results are never used (outputs and side-effecting ops are live)."""

from __future__ import annotations

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph


def run(graph: Graph, ctx: PassContext) -> None:
    graph.remove_dead_nodes()
