"""Elementwise fusion: groups elementwise ops, broadcast_in_dim, transpose, slice, reshape, convert,
iota, compare/select and splat constants into `chip.fusion` nodes, each one Elementwise kernel.

Greedy, consumers first (reverse program order):
- Cheap-to-duplicate ops (movement ops, iota, splat constants) are cloned into every fused
  consumer, where they become strided views / IOTA / CONST instructions; they get a kernel of
  their own only when something outside a fusion needs them materialized (a reshape then stays a
  zero-copy alias, a splat constant CONSTANT storage).
- A computing op whose users all sit in one fusion joins it; one whose users sit in several
  fusions is recomputed in each (within the recompute budget), unless recomputing it reads over
  1.5x its own bytes (analysis/recompute.py: a residual stream would be recomputed through every
  earlier layer). Otherwise, if it has users elsewhere, it joins one consumer fusion as
  an extra output (multi-output fusion) when that fills the same iteration space, creates no
  cycle and keeps a reduce's prologue a single-result fusion; a value that is too costly to
  recompute may also join, as an extra output, a fusion that reads one of its operands (a
  sibling: the residual sum written by the norm kernel that computes it anyway), or be
  recomputed in the reduce prologues that must run before the fusion that writes it; failing
  all that it starts a fusion of its own.
- Every join is checked incrementally: each fusion tracks the index maps at which its members
  need each value (ew_codegen.operand_maps), so a joining producer only has its own maps
  checked; a view that is not affine, or an output that does not fill the iteration space,
  rejects the join. The final register program is generated once per fusion. Evaluating a
  value at a broadcasting index map recomputes it; that is accepted while the extra vector work
  costs less than a kernel launch (chip model).
With `options.fusion` off, every op gets its own kernel (reshapes stay aliases, splat constants
become CONST instructions of their consumers).
"""

from __future__ import annotations

import math

from jax_chip.compiler.analysis.fusibility import (
    is_duplicable,
    is_expensive,
    is_fusible,
    is_splat_constant,
)
from jax_chip.compiler.analysis.recompute import costly_to_recompute
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.lowering.ew_codegen import NotFusible, generate_body, operand_maps
from jax_chip.compiler.ir.graph import Graph, Node, Output, Parameter, Value, stable_topological_order
from jax_chip.compiler.lowering.index_map import FlatMap
from jax_chip.compiler.ir.pass_api import Pass, Scope

CYCLE_SEARCH_LIMIT = 4000


class _Group:
    def __init__(self, gid: int, dims: tuple[int, ...]):
        self.id = gid
        self.dims = dims
        self.members: list[Node] = []
        # value -> index maps at which the group's members need it (members' own results and
        # their operands); grows as consumers join, so a producer's maps are known on arrival
        self.demand: dict[Value, set[FlatMap]] = {}

    @property
    def num_elements(self) -> int:
        return math.prod(self.dims)


class _Fuser:
    def __init__(self, graph: Graph, ctx: PassContext):
        self.graph = graph
        self.ctx = ctx
        self.pos: dict[Node, int] = {n: i for i, n in enumerate(graph.nodes)}
        self.users: dict[Value, list[Node]] = graph.users()
        self.graph_outputs = graph.output_values()
        self.group_of: dict[Node, _Group] = {}
        self.groups: list[_Group] = []
        launch = float(ctx.chip_value("kernel_launch_s"))
        rate = float(ctx.chip_value("vector_flops"))
        ratio = float(ctx.chip_value("transcendental_ratio")) or 0.25
        self.recompute_budget = launch * rate       # vector ops worth one kernel launch
        self.transcendental_weight = 1.0 / ratio
        self.costly = costly_to_recompute(graph)    # written once rather than recomputed

    # ---- queries -----------------------------------------------------------------------------

    def _users(self, v: Value) -> list[Node]:
        return self.users.get(v, [])

    def _needed_outside(self, v: Value, group: _Group | None) -> bool:
        if v in self.graph_outputs:
            return True
        return any(self.group_of.get(u) is not group for u in self._users(v))

    def _body(self, group: _Group) -> Graph:
        members = sorted(group.members, key=lambda n: self.pos[n])
        member_set = set(members)
        body = Graph(f"fusion.{group.id}")
        seen: set[Value] = set()
        for m in members:
            for o in m.operands:
                if (o.producer is None or o.producer not in member_set) and o not in seen:
                    seen.add(o)
                    body.params.append(Parameter(o))
        body.nodes = members
        for m in members:
            for r in m.results:
                if self._needed_outside(r, group):
                    body.outputs.append(Output(r))
        return body

    def _plan(self, node: Node, group: _Group, maps: set[FlatMap]
              ) -> list[tuple[Value, FlatMap]] | None:
        """Operand demands of evaluating `node` at `maps` in `group`, or None if it cannot be
        (not expressible, or recomputation over budget)."""
        if len(group.members) >= self.ctx.options.max_fused_ops:
            return None
        demands: list[tuple[Value, FlatMap]] = []
        try:
            for m in maps:
                demands.extend((o, fm.normalized(group.dims))
                               for o, fm in operand_maps(node.result, m, group.dims))
        except NotFusible:
            return None
        if node.op != "stablehlo.constant":
            extra = len(maps) * group.num_elements - node.result.type.num_elements
            if extra > 0:
                weight = self.transcendental_weight if is_expensive(node) else 1.0
                if extra * weight > self.recompute_budget:
                    return None
        return demands

    def _commit(self, node: Node, group: _Group, maps: set[FlatMap],
                demands: list[tuple[Value, FlatMap]]) -> None:
        group.members.append(node)
        self.group_of[node] = group
        group.demand.setdefault(node.result, set()).update(maps)
        for o, fm in demands:
            group.demand.setdefault(o, set()).add(fm)

    def _is_prologue(self, group: _Group) -> bool:
        """Does `group` compute just the operand of one reduce (which reduce_input_fusion makes
        that reduce's prologue, never written to memory, while it has no other output)?"""
        outs = [r for m in group.members for r in m.results if self._needed_outside(r, group)]
        if len(outs) != 1 or outs[0] in self.graph_outputs:
            return False
        users = self._users(outs[0])
        return (len(users) == 1 and users[0].op == "stablehlo.reduce"
                and users[0].operands[0] is outs[0])

    def _creates_cycle(self, node: Node, group: _Group) -> bool:
        """Would making `node` an output of `group` create a cycle between kernels?"""
        return self._reaches([u for u in self._users(node.result)
                              if self.group_of.get(u) is not group], group)

    def _reaches(self, frontier: list[Node], group: _Group) -> bool:
        """Does a kernel reading the results of `frontier`, or one downstream, belong to `group`?
        (True, conservatively, past CYCLE_SEARCH_LIMIT nodes.)"""
        visited: set[Node] = set()
        while frontier:
            x = frontier.pop()
            if x in visited:
                continue
            visited.add(x)
            if len(visited) > CYCLE_SEARCH_LIMIT:
                return True
            g = self.group_of.get(x)
            if g is group:
                return True
            nodes = g.members if g is not None else [x]
            for m in nodes:
                visited.add(m)
                for r in m.results:
                    frontier.extend(self._users(r))
        return False

    # ---- mutations ---------------------------------------------------------------------------

    def _new_group(self, node: Node) -> _Group:
        g = _Group(len(self.groups), node.result.type.shape)
        self.groups.append(g)
        maps = {FlatMap.identity(g.dims)}
        demands = self._plan(node, g, maps)
        if demands is None:
            raise AssertionError(f"single-op fusion of {node.op} is not expressible")
        self._commit(node, g, maps, demands)
        return g

    def _drop(self, node: Node) -> None:
        """Forgets a dead node's uses of its operands."""
        for o in set(node.operands):
            self.users[o] = [u for u in self._users(o) if u is not node]

    def _try_join(self, node: Node, group: _Group, as_output: bool) -> bool:
        maps = set(group.demand.get(node.result, set()))
        if as_output:
            if node.result.type.num_elements != group.num_elements:
                return False
            if self._creates_cycle(node, group):
                return False
            maps.add(FlatMap.identity(group.dims))
        demands = self._plan(node, group, maps)
        if demands is None:
            return False
        self._commit(node, group, maps, demands)
        return True

    def _try_clone_into(self, node: Node, group: _Group) -> bool:
        v = node.result
        maps = set(group.demand.get(v, set()))
        demands = self._plan(node, group, maps)
        if demands is None:
            return False
        consumers = [u for u in self._users(v) if self.group_of.get(u) is group]
        clone = self.graph.make_node(node.op, node.operands, [v.type], dict(node.attrs), node.loc)
        self.pos[clone] = self.pos[node]
        cv = clone.result
        for u in set(consumers):
            u.operands = [cv if o is v else o for o in u.operands]
        self.users[v] = [u for u in self._users(v) if self.group_of.get(u) is not group]
        self.users[cv] = consumers
        for o in clone.operands:
            self.users.setdefault(o, []).append(clone)
        group.demand.pop(v, None)
        self._commit(clone, group, maps, demands)
        return True

    # ---- placement ---------------------------------------------------------------------------

    def _consumer_groups(self, v: Value) -> list[_Group]:
        out: list[_Group] = []
        for u in self._users(v):
            g = self.group_of.get(u)
            if g is not None and g not in out:
                out.append(g)
        return out

    def _place_duplicable(self, node: Node) -> None:
        v = node.result
        src = node.operands[0] if node.operands else None
        if (node.op == "stablehlo.reshape" and v in self.graph_outputs and src is not None
                and src.producer is not None and is_fusible(src.producer)
                and not is_splat_constant(src.producer)):
            # a returned reshape of a computed value: let the producing fusion write the
            # output directly (row-major order is the same) instead of aliasing + copying
            self._new_group(node)
            return
        for g in self._consumer_groups(v):
            self._try_clone_into(node, g)
        if v not in self.graph_outputs and not self._users(v):
            self._drop(node)  # every use now reads a clone: the original is dead
            return
        if node.op in ("stablehlo.reshape", "stablehlo.constant"):
            return      # alias / CONSTANT storage, no kernel
        self._new_group(node)

    def _place(self, node: Node) -> None:
        if is_duplicable(node):
            self._place_duplicable(node)
            return
        v = node.result
        groups = self._consumer_groups(v)
        outside = v in self.graph_outputs or any(u not in self.group_of for u in self._users(v))
        if len(groups) == 1 and not outside:
            if self._try_join(node, groups[0], as_output=False):
                return
        elif len(groups) > 1 and not outside and v not in self.costly:
            # feeding several fusions: recompute it in each rather than write and re-read it
            # (each clone passes the recompute budget; memory traffic costs more than ALU work)
            for g in groups:
                self._try_clone_into(node, g)
            if not self._users(v):
                self._drop(node)
                return
            groups = self._consumer_groups(v)
            if len(groups) == 1 and self._try_join(node, groups[0], as_output=False):
                return
        for g in groups:
            if not self._is_prologue(g) and self._try_join(node, g, as_output=True):
                return
        if v in self.costly:
            for g in self._sibling_groups(node, groups):
                if not self._is_prologue(g) and self._try_join(node, g, as_output=True):
                    return
            if self._write_after_prologues(node, groups):
                return
        self._new_group(node)

    def _write_after_prologues(self, node: Node, groups: list[_Group]) -> bool:
        """A value too costly to recompute everywhere, which no fusion could write because a
        reduce prologue reading it runs before the fusion that would (an f32 residual stream:
        the sum of squares, then the normalize kernel): recompute it in those prologues only
        and let that fusion write it."""
        prologues = [g for g in groups if self._is_prologue(g)]
        for g in groups:
            if g in prologues:
                continue
            blocking = [p for p in prologues if self._reaches(
                [u for m in p.members for r in m.results for u in self._users(r)
                 if self.group_of.get(u) is not p], g)]
            if blocking and all(self._try_clone_into(node, p) for p in blocking):
                if self._try_join(node, g, as_output=True):
                    return True
        return False

    def _sibling_groups(self, node: Node, tried: list[_Group]) -> list[_Group]:
        """Fusions (other than `tried`) that read an operand of `node`."""
        out: list[_Group] = []
        for o in node.operands:
            for g in self._consumer_groups(o):
                if g not in tried and g not in out:
                    out.append(g)
        return out

    def _place_unfused(self, node: Node) -> None:
        if is_splat_constant(node):
            for g in self._consumer_groups(node.result):
                self._try_clone_into(node, g)
            return
        if node.op == "stablehlo.reshape":
            return
        self._new_group(node)

    # ---- rebuild -----------------------------------------------------------------------------

    def run(self) -> int:
        for node in reversed(list(self.graph.nodes)):
            if not is_fusible(node):
                continue
            if self.ctx.options.fusion:
                self._place(node)
            else:
                self._place_unfused(node)
        self._rebuild()
        return len(self.groups)

    def _rebuild(self) -> None:
        repl: dict[Value, Value] = {}
        fusions: list[tuple[int, Node]] = []
        for g in self.groups:
            body = self._body(g)
            members = body.nodes
            params = {}
            for p in body.params:
                ext = p.value
                p.value = Value(ext.type, None, len(params), f"%in{len(params)}")
                params[ext] = p.value
            inputs = list(params)
            for m in members:
                m.operands = [params.get(o, o) for o in m.operands]
            locs: list[str] = []
            for m in sorted(members, key=lambda n: -self.pos[n]):
                if m.loc and m.loc not in locs:
                    locs.append(m.loc)
            fnode = self.graph.make_node("chip.fusion", inputs, [o.value.type for o in body.outputs],
                                         {"dims": tuple(g.dims)}, "; ".join(locs[:3]), body)
            try:
                fnode.attrs["program"] = generate_body(body, tuple(g.dims))
            except NotFusible as e:  # the incremental checks guarantee this never happens
                raise AssertionError(f"fusion {g.id} is not expressible: {e}") from e
            for o, r in zip(body.outputs, fnode.results):
                repl[o.value] = r
            fusions.append((max(self.pos[m] for m in members), fnode))
        grouped = set(self.group_of)
        standalone = [(self.pos[n], n) for n in self.graph.nodes if n not in grouped]
        top = standalone + fusions
        for _, n in top:
            n.operands = [repl.get(o, o) for o in n.operands]
        for o in self.graph.outputs:
            o.value = repl.get(o.value, o.value)
        self.graph.nodes = _toposort(top)


def _toposort(items: list[tuple[int, Node]]) -> list[Node]:
    """Kahn's algorithm, preferring the original program position."""
    producer: dict[Value, Node] = {}
    for _, n in items:
        for r in n.results:
            producer[r] = n
    prio = {n: (p, i) for i, (p, n) in enumerate(items)}
    deps = {n: {producer[o] for o in n.operands if o in producer and producer[o] is not n}
            for _, n in items}
    out = stable_topological_order(deps, prio)
    if out is None:
        raise AssertionError("elementwise fusion created a cycle between kernels")
    return out


def run(graph: Graph, ctx: PassContext) -> bool:
    groups = _Fuser(graph, ctx).run()
    return graph.remove_dead_nodes() > 0 or groups > 0


PASS = Pass("elementwise_fusion", Scope.FUNCTION, run)
