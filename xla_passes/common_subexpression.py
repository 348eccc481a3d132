"""Common subexpression elimination on the graph.

The frontend's MLIR `cse` runs before the importer inlines jax's private functions (jaxlib
registers no func inliner), so computations that jax emits as `func.call`s (jnp.take's index
normalisation, jnp.where, clip, ...) stay duplicated: sglang-jax's Qwen3 recomputed the RoPE
row indices from the same positions in every layer. This pass merges nodes that compute the same
thing: same op, same operands (after merging), same result types and same attributes
(constants compare by value). Nodes with regions or a fused body, custom calls and anything
marked has_side_effect are left alone. Runs on every graph (regions included) before constant
folding and fusion.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope

_NEVER = frozenset({"stablehlo.custom_call", "chip.custom_call"})


def _key_of(x: Any) -> Hashable:
    """A hashable, value-based key for an attribute value."""
    if isinstance(x, np.ndarray) or isinstance(x, np.generic):
        a = np.ascontiguousarray(x)
        return ("nd", str(a.dtype), a.shape, a.tobytes())
    if isinstance(x, dict):
        return ("dict", tuple(sorted((str(k), _key_of(v)) for k, v in x.items())))
    if isinstance(x, (list, tuple)):
        return ("seq", tuple(_key_of(v) for v in x))
    if isinstance(x, (str, int, float, bool, type(None))):
        return x
    return ("obj", id(x))     # unknown kinds only match themselves


def _node_key(node: Node) -> Hashable | None:
    if (node.op in _NEVER or node.regions or node.body is not None
            or node.attrs.get("has_side_effect")):
        return None
    return (node.op, tuple(id(o) for o in node.operands),
            tuple(r.type for r in node.results), _key_of(node.attrs))


def run(graph: Graph, ctx: PassContext) -> bool:
    seen: dict[Hashable, Node] = {}
    repl: dict[Value, Value] = {}
    kept: list[Node] = []
    for node in graph.nodes:
        node.operands = [repl.get(o, o) for o in node.operands]
        key = _node_key(node)
        if key is not None:
            first = seen.get(key)
            if first is not None:
                for mine, theirs in zip(node.results, first.results):
                    repl[mine] = theirs
                continue
            seen[key] = node
        kept.append(node)
    if not repl:
        return False
    # operands were renamed as each node was visited (a node reads only earlier results; region
    # captures are operands of the region node)
    graph.nodes = kept
    for o in graph.outputs:
        o.value = repl.get(o.value, o.value)
    return True


PASS = Pass("common_subexpression", Scope.FUNCTION, run)
