"""Control-flow cleanup (stablehlo.while / stablehlo.case nodes with region graphs).

1. Loop-invariant carried values become captures: a carried value the body returns unchanged
   (body output i is body param i) is the initial value on every iteration, so the regions read
   the initial value directly and the loop's result i is replaced by it. This saves copying it
   into the loop-carried storage (lax.scan carries its xs and its closed-over weights this way).
2. Unused captures are dropped (so the captured values can die earlier).
Runs on every graph, innermost regions first.
"""

from __future__ import annotations

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Parameter, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope


def _used(graph: Graph) -> set[Value]:
    used: set[Value] = {o.value for o in graph.outputs}
    for n in graph.nodes:
        used.update(n.operands)
    return used


def _renumber(graph: Graph, params: list[Parameter]) -> None:
    graph.params = params
    for i, p in enumerate(params):
        p.value.index = i


def _hoist_invariants(parent: Graph, node: Node) -> bool:
    n = node.attrs["num_carried"]
    cond, body = node.regions
    keep = [i for i in range(n) if body.outputs[i].value is not body.params[i].value]
    if len(keep) == n:
        return False
    moved = [i for i in range(n) if i not in keep]
    inits = node.operands[:n]
    captures = node.operands[n:]
    for region in (cond, body):
        carried = region.params[:n]
        caps = region.params[n:]
        new_caps = list(caps)
        for i in moved:
            # the region's param i stands for the initial value: turn it into a capture
            new_caps.append(carried[i])
        _renumber(region, [carried[i] for i in keep] + new_caps)
    body.outputs = [body.outputs[i] for i in keep]
    old_results = node.results
    for i in moved:
        parent.replace_all_uses(old_results[i], inits[i])
    node.operands = [inits[i] for i in keep] + list(captures) + [inits[i] for i in moved]
    node.results = [old_results[i] for i in keep]
    for j, r in enumerate(node.results):
        r.index = j
    node.attrs["num_carried"] = len(keep)
    return True


def _prune_captures(node: Node) -> bool:
    first = node.attrs["num_carried"] if node.op == "stablehlo.while" else 0
    lead = first if node.op == "stablehlo.while" else 1       # case: operand 0 is the index
    ncap = len(node.operands) - lead
    used = [_used(r) for r in node.regions]
    keep = [j for j in range(ncap)
            if any(r.params[first + j].value in u for r, u in zip(node.regions, used))]
    if len(keep) == ncap:
        return False
    for r in node.regions:
        _renumber(r, r.params[:first] + [r.params[first + j] for j in keep])
    node.operands = node.operands[:lead] + [node.operands[lead + j] for j in keep]
    return True


def _dedupe_captures(node: Node) -> bool:
    """The same outer value captured twice (e.g. after hoisting) is read through one param."""
    first = node.attrs["num_carried"] if node.op == "stablehlo.while" else 0
    lead = first if node.op == "stablehlo.while" else 1
    seen: dict[Value, int] = {}
    dup: dict[int, int] = {}
    for j, v in enumerate(node.operands[lead:]):
        if v in seen:
            dup[j] = seen[v]
        else:
            seen[v] = j
    if not dup:
        return False
    for r in node.regions:
        for j, k in dup.items():
            r.replace_all_uses(r.params[first + j].value, r.params[first + k].value)
    _prune_captures(node)
    return True


def run_graph(graph: Graph) -> bool:
    changed = False
    for node in list(graph.nodes):
        for region in node.regions:
            changed |= run_graph(region)
        if node.op == "stablehlo.while":
            changed |= _hoist_invariants(graph, node)
        if node.op in ("stablehlo.while", "stablehlo.case"):
            changed |= _dedupe_captures(node)
            changed |= _prune_captures(node)
    return graph.remove_dead_nodes() > 0 or changed


def run(graph: Graph, ctx: PassContext) -> bool:
    return run_graph(graph)


PASS = Pass("control_flow", Scope.PROGRAM, run)
