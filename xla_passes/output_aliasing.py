"""Outputs and input/output aliasing: establishes the rules the runtime relies on.

1. Each output's value is written by exactly one kernel into OUTPUT storage. If the returned
   value is a parameter, a constant, a reshape alias or returned twice, a chip.copy node writes
   the output (copies of parameters and constants run first, before anything can overwrite a
   donated parameter). Exception: an output aliased to parameter p whose value IS p needs no
   kernel (the runtime makes an aliased output start out holding p's contents).
2. An output aliased to donated parameter p lives in p's memory, so no kernel may read p (or a
   reshape alias of p) once the kernel writing that output has started, except that writer itself
   when it is an Elementwise kernel reading p only through the identity view (same element),
   or a kernel updating p in place (scatter, dynamic_update_slice: their kernel's in_place; a while
   loop carrying p as initial value k to result k) that reads p only as the operand it updates.
   A writer that breaks this computes into a TEMP value instead, and a copy at the end of the
   program writes the output.
"""

from __future__ import annotations

from jax_chip.compiler.analysis.storage import reads_only_identity, storage_root, updates_in_place
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.kernels.registry import is_kernel
from jax_chip.compiler.ir.pass_api import Pass, Scope


def _copy(graph: Graph, v: Value, loc: str = "") -> Node:
    node = graph.make_node("chip.copy", [v], [v.type], {}, loc or "output copy")
    return node


def _needs_copy(v: Value, claimed: set[Value]) -> bool:
    if v in claimed:
        return True
    if v.producer is None:            # a parameter
        return True
    return not is_kernel(v.producer)  # constant or reshape alias


def run(graph: Graph, ctx: PassContext) -> bool:
    # 1. one writing kernel per output
    front: list[Node] = []          # hoisted storage-only chains + copies, before every kernel
    hoisted: set[Node] = set()
    after: dict[Node, list[Node]] = {}
    claimed: set[Value] = set()
    for out in graph.outputs:
        v = out.value
        if out.aliased_parameter >= 0 and graph.param_index(v) == out.aliased_parameter:
            claimed.add(v)
            continue
        if _needs_copy(v, claimed):
            c = _copy(graph, v, v.producer.loc if v.producer is not None else "")
            root = storage_root(v)
            if root.producer is None or root.producer.op == "stablehlo.constant":
                chain: list[Node] = []
                x = v
                while x.producer is not None and x.producer not in hoisted:
                    chain.append(x.producer)
                    hoisted.add(x.producer)
                    if x.producer.op == "stablehlo.constant":
                        break
                    x = x.producer.operands[0]
                front.extend(reversed(chain))
                front.append(c)
            else:
                after.setdefault(v.producer, []).append(c)
            out.value = c.result
        claimed.add(out.value)
    changed = bool(front or after)
    if front or after:
        nodes: list[Node] = list(front)
        for n in graph.nodes:
            if n in hoisted:
                continue
            nodes.append(n)
            nodes.extend(after.get(n, []))
        graph.nodes = nodes
        graph.verify()

    # 2. donated parameters are not read after their output is written
    position = {n: i for i, n in enumerate(graph.nodes)}
    tail: list[Node] = []
    for out in graph.outputs:
        p = out.aliased_parameter
        if p < 0 or graph.param_index(out.value) == p:
            continue
        writer = out.value.producer
        assert writer is not None and is_kernel(writer)
        aliases = {graph.params[p].value}
        for n in graph.nodes:
            if n.op == "stablehlo.reshape" and n.operands[0] in aliases:
                aliases.add(n.result)
        readers = [n for n in graph.nodes if is_kernel(n) and any(o in aliases for o in n.operands)]
        w = position[writer]
        ok = all(position[r] < w or (r is writer and (reads_only_identity(r, aliases) or
                                                       updates_in_place(r, out.value, aliases)))
                 for r in readers)
        if ok and writer in readers and updates_in_place(writer, out.value, aliases):
            changed |= not writer.attrs.get("in_place", False)
            writer.attrs["in_place"] = True
        if not ok:
            c = _copy(graph, out.value, "donated output copy")
            tail.append(c)
            out.value = c.result
    if tail:
        graph.nodes = graph.nodes + tail
    return changed or bool(tail)


PASS = Pass("output_aliasing", Scope.PROGRAM, run)
