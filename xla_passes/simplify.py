"""Algebraic cleanup the MLIR canonicalizer leaves (or that inlining exposes): no-op converts,
reshapes, transposes, broadcasts and slices are removed, reshape chains collapse,
broadcasts/transposes that only insert or move size-1 dimensions become reshapes (zero-copy
aliases instead of copies), and a concatenate drops its empty operands (one left: it is that
operand; sglang-jax's RoPE concatenates the rotated part with an empty "pass" part, which was a
full copy of q and k per layer)."""

from __future__ import annotations

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope


def _noop_source(node: Node) -> Value | None:
    """The operand `node` merely forwards, or None."""
    if len(node.operands) != 1 or len(node.results) != 1:
        return None
    src, res = node.operands[0], node.result
    if src.type != res.type:
        return None
    if node.op in ("stablehlo.convert", "stablehlo.reshape", "stablehlo.bitcast_convert"):
        return src
    if node.op == "stablehlo.transpose":
        perm = node.attrs["permutation"]
        return src if tuple(perm) == tuple(range(len(perm))) else None
    if node.op == "stablehlo.broadcast_in_dim":
        dims = node.attrs["broadcast_dimensions"]
        return src if tuple(dims) == tuple(range(len(dims))) else None
    if node.op == "stablehlo.reverse":
        ok = all(src.type.shape[d] <= 1 for d in node.attrs["dimensions"])
        return src if ok else None
    if node.op == "stablehlo.concatenate":
        return src     # a concatenate of one operand of the result's type
    if node.op == "stablehlo.slice":
        ok = all(s == 0 and st == 1 and lim == d for s, st, lim, d in zip(
            node.attrs["start_indices"], node.attrs["strides"], node.attrs["limit_indices"],
            src.type.shape))
        return src if ok else None
    return None


def _is_layout_preserving(node: Node) -> bool:
    """A broadcast_in_dim or transpose that keeps the row-major element order (it only adds,
    drops or moves size-1 dims), i.e. a reshape."""
    src, res = node.operands[0].type, node.result.type
    if src.num_elements != res.num_elements or src.dtype != res.dtype:
        return False
    if node.op == "stablehlo.broadcast_in_dim":
        dims = [d for j, d in enumerate(node.attrs["broadcast_dimensions"]) if src.shape[j] != 1]
        return dims == sorted(dims)
    if node.op == "stablehlo.transpose":
        perm = [p for p in node.attrs["permutation"] if src.shape[p] != 1]
        return perm == sorted(perm)
    return False


def run(graph: Graph, ctx: PassContext) -> bool:
    repl: dict[Value, Value] = {}
    kept: list[Node] = []
    changed = False
    for node in graph.nodes:
        node.operands = [repl.get(o, o) for o in node.operands]
        if node.op == "stablehlo.concatenate" and node.result.type.num_elements > 0:
            nonempty = [o for o in node.operands if o.type.num_elements > 0]
            changed |= len(nonempty) != len(node.operands)
            node.operands = nonempty
        src = _noop_source(node)
        if src is not None:
            repl[node.result] = src
            continue
        if node.op in ("stablehlo.broadcast_in_dim", "stablehlo.transpose") and \
                _is_layout_preserving(node):
            node.op = "stablehlo.reshape"
            node.attrs = {}
            changed = True
        if (node.op == "stablehlo.reshape" and node.operands[0].producer is not None
                and node.operands[0].producer.op == "stablehlo.reshape"):
            node.operands = [node.operands[0].producer.operands[0]]
            changed = True
            if node.operands[0].type == node.result.type:
                repl[node.result] = node.operands[0]
                continue
        kept.append(node)
    graph.nodes = kept
    for o in graph.outputs:
        o.value = repl.get(o.value, o.value)
    return graph.remove_dead_nodes() > 0 or changed or bool(repl)


PASS = Pass("simplify", Scope.FUNCTION, run)
