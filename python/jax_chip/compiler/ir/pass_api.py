"""What a compiler pass is: a name, a scope, and a function that rewrites a graph in place and
says whether it changed it.

Each pass module in xla_passes/ defines `run(graph, ctx) -> bool` and `PASS = Pass(name, scope,
run)`; jax_chip.compiler.pipeline runs the PASS objects in order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph

RunFn = Callable[[Graph, PassContext], bool]


class Scope(enum.Enum):
    # one function at a time: the pipeline runs it on every control-flow region graph
    # (innermost first), then on the enclosing graph
    FUNCTION = "function"
    # the whole program at once (main graph; the pass visits regions itself)
    PROGRAM = "program"


@dataclass(frozen=True)
class Pass:
    name: str
    scope: Scope
    run: RunFn

    def apply(self, graph: Graph, ctx: PassContext) -> bool:
        """Runs the pass over `graph` as its scope says; True if anything changed."""
        if self.scope is Scope.PROGRAM:
            return bool(self.run(graph, ctx))
        return _on_every_graph(self.run, graph, ctx)


def _on_every_graph(fn: RunFn, graph: Graph, ctx: PassContext) -> bool:
    changed = False
    for node in list(graph.nodes):
        for region in node.regions:
            changed |= _on_every_graph(fn, region, ctx)
    return bool(fn(graph, ctx)) or changed
