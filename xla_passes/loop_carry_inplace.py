"""Loop-carried values updated in place: a while body that computes carried result i by updating
carried parameter i in place writes straight into the loop-carried storage, so the runtime's
per-iteration carry copy (body result -> carried storage) has source == destination and is
skipped. A KV cache carried through a decode loop and updated with dynamic_update_slice then costs
the bytes written per step, not a copy of the whole cache.

For every stablehlo.while (any nesting depth), carried value i qualifies when the body's result i
is the end of a chain of in-place updates starting at the body's parameter i:

    p_i -> K_1 -> v_1 -> K_2 -> v_2 -> ... -> K_m -> v_m = body result i

(zero-copy reshapes may sit anywhere in between), where each K_j can write v_j over its operand
v_{j-1}:
  - a kernel whose kind declares in_place (dynamic_update_slice, scatter, in-place custom calls)
    whose other operands are not v_{j-1};
  - an Elementwise kernel reading v_{j-1} only at the element it writes (identity views), its
    result the same size (e.g. the loop counter i + 1, jnp.where(mask, new, cache));
  - a nested while whose carried initial value k is v_{j-1} and that reads v_{j-1} nowhere else:
    its loop-carried storage becomes the outer slot (its own body is then treated the same way).
It is safe when every other reader of v_{j-1} (kernels, nested control flow capturing it) runs
before K_j, and no version but v_m is a body result (v_m only as result i). Readers placed after
K_j that do not depend on it are moved before it (the body's kernel order is re-sorted, stably,
keeping side-effecting kernels in order); a reader that needs v_j too (e.g. new_cache - cache)
or p_i returned as another carried result makes the chain unsafe, and the copy stays.

The pass records K_j.attrs["shares_storage"] = ((result, operand), ...): memory planning places
the result in the storage of that operand, which resolves to the loop's carried slot i; a
dynamic_update_slice / scatter in a chain gets attrs["in_place"] (its cost drops the operand
copy). Off with CompileOptions.loop_carry_in_place=False (CHIP_DISABLE_PASSES=loop_carry_inplace).
"""

from __future__ import annotations

from dataclasses import dataclass

from jax_chip.compiler.analysis.storage import (
    SHARES_STORAGE,
    reads_only_identity,
    storage_root,
    updates_in_place,
)
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Value, stable_topological_order
from jax_chip.compiler.kernels.registry import in_place_pairs
from jax_chip.compiler.ir.pass_api import Pass, Scope


@dataclass(frozen=True)
class Step:
    """Kernel `node` writes its result `result` over its operand `operand`."""
    node: Node
    result: int
    operand: int


def _aliases(v: Value, reshapes: dict[Value, list[Value]]) -> set[Value]:
    """`v` and every reshape alias of it (transitively)."""
    out = {v}
    todo = [v]
    while todo:
        for r in reshapes.get(todo.pop(), []):
            if r not in out:
                out.add(r)
                todo.append(r)
    return out


def _candidate_operands(node: Node, result: Value) -> list[int]:
    """Operands `node` could update in place to produce `result` (same byte size)."""
    if node.op == "stablehlo.while":
        nc = node.attrs["num_carried"]
        return [result.index] if result.index < nc else []
    if node.op == "chip.fusion":
        return [i for i, o in enumerate(node.operands)
                if o.type.nbytes == result.type.nbytes
                and o.type.num_elements == result.type.num_elements]
    pairs = in_place_pairs(node)
    if pairs is None:
        return []
    return [o for r, o in pairs if r == result.index]


def _writes_over(step: Step, aliases: set[Value]) -> bool:
    """Can `step.node` write its result into the storage of `aliases` (the operand's versions),
    reading them only as the operand it updates?"""
    node = step.node
    if node.operands[step.operand] not in aliases:
        return False
    if node.op == "chip.fusion":
        return reads_only_identity(node, aliases)
    return updates_in_place(node, node.results[step.result], aliases)


class _Body:
    """A while body's nodes: positions, reshape aliases, readers, data dependencies."""

    def __init__(self, body: Graph):
        self.graph = body
        self.nodes = list(body.nodes)
        self.position = {n: i for i, n in enumerate(self.nodes)}
        self.reshapes: dict[Value, list[Value]] = {}
        self.readers: dict[Value, list[Node]] = {}
        for n in self.nodes:
            if n.op == "stablehlo.reshape":
                self.reshapes.setdefault(n.operands[0], []).append(n.result)
                continue
            for o in n.operands:
                self.readers.setdefault(o, []).append(n)
        self.outputs = [o.value for o in body.outputs]

    def chain(self, param: Value, end: Value) -> list[Step] | None:
        """In-place steps from `param` to `end` (a value of this body), or None."""
        steps: list[Step] = []
        v = storage_root(end)
        seen: set[Value] = set()
        while v is not param:
            node = v.producer
            if node is None or node not in self.position or v in seen:
                return None
            seen.add(v)
            options = [o for o in _candidate_operands(node, v)
                       if self._leads_to(storage_root(node.operands[o]), param)]
            if not options:
                return None
            steps.append(Step(node, v.index, options[0]))
            v = storage_root(node.operands[options[0]])
        steps.reverse()
        return steps

    def _leads_to(self, v: Value, param: Value) -> bool:
        """Is `param` reachable backwards from `v` through candidate in-place operands?"""
        todo, seen = [v], set()
        while todo:
            x = todo.pop()
            if x is param:
                return True
            if x in seen or x.producer is None or x.producer not in self.position:
                continue
            seen.add(x)
            todo.extend(storage_root(x.producer.operands[o])
                        for o in _candidate_operands(x.producer, x))
        return False

    def ordering(self, slot: int, param: Value, steps: list[Step]) -> list[tuple[Node, Node]] | None:
        """The (before, after) pairs that make chain `steps` safe, or None if it cannot be."""
        edges: list[tuple[Node, Node]] = []
        version = param
        for j, step in enumerate(steps):
            aliases = _aliases(version, self.reshapes)
            if any(o in aliases for o in self.outputs):   # an old version read at the end
                return None
            if not _writes_over(step, aliases):
                return None
            for v in aliases:
                for r in self.readers.get(v, []):
                    if r is not step.node:
                        edges.append((r, step.node))
            version = step.node.results[step.result]
        last = _aliases(version, self.reshapes)
        if any(o in last for k, o in enumerate(self.outputs) if k != slot):
            return None
        return edges

    def order(self, extra: list[tuple[Node, Node]]) -> list[Node] | None:
        """The nodes in a topological order honouring data dependencies, side-effect order and
        `extra`, as close to the current order as possible; None if `extra` makes a cycle."""
        deps: dict[Node, set[Node]] = {n: set() for n in self.nodes}
        producer_in = self.position
        prev_effect: Node | None = None
        for n in self.nodes:
            for o in n.operands:
                if o.producer is not None and o.producer in producer_in:
                    deps[n].add(o.producer)
            if n.attrs.get("has_side_effect", False):
                if prev_effect is not None:
                    deps[n].add(prev_effect)
                prev_effect = n
        for before, after in extra:
            deps[after].add(before)
        return stable_topological_order(deps, self.position)


def _plan_while(node: Node) -> bool:
    nc = node.attrs["num_carried"]
    body = node.regions[1]
    b = _Body(body)
    accepted: list[list[Step]] = []
    edges: list[tuple[Node, Node]] = []
    claimed: set[Value] = set()      # versions already placed in another carried slot
    for i in range(nc):
        param = body.params[i].value
        steps = b.chain(param, b.outputs[i])
        if not steps or any(s.node.results[s.result] in claimed for s in steps):
            continue
        more = b.ordering(i, param, steps)
        if more is None or b.order(edges + more) is None:
            continue
        edges += more
        accepted.append(steps)
        claimed.update(s.node.results[s.result] for s in steps)
    if not accepted:
        return False
    order = b.order(edges)
    assert order is not None
    body.nodes = order
    body.verify()
    for steps in accepted:
        for s in steps:
            pairs = dict(s.node.attrs.get(SHARES_STORAGE, ()))
            pairs[s.result] = s.operand
            s.node.attrs[SHARES_STORAGE] = tuple(sorted(pairs.items()))
            if in_place_pairs(s.node) is not None:
                s.node.attrs["in_place"] = True
    return True


def _visit(graph: Graph) -> bool:
    changed = False
    for node in graph.nodes:
        if node.op in ("stablehlo.while", "stablehlo.case"):
            for region in node.regions:
                changed |= _visit(region)
        if node.op == "stablehlo.while":
            changed |= _plan_while(node)
    return changed


def run(graph: Graph, ctx: PassContext) -> bool:
    if not ctx.options.loop_carry_in_place:
        return False
    return _visit(graph)


PASS = Pass("loop_carry_inplace", Scope.PROGRAM, run)
