"""Memory planning: gives every value of the program (control-flow regions included) its storage
place.

- parameters: PARAMETER i; constants: CONSTANT k (identical constants share one entry);
- output values: OUTPUT j (an output aliased to parameter p whose value is p stays PARAMETER p);
- a reshape of a materialized value is a zero-copy alias of its storage (same kind and index);
- every other kernel result is TEMP: a 64-byte aligned offset in the scratch arena.

TEMP offsets come from liveness over the kernel order: a value is live from the kernel that writes
it to the last kernel that reads it (or reads a reshape alias of it). Kernel i's results are placed
while its inputs are still live, then the values whose last reader is kernel i are released.
Placement is best fit: the smallest free block that fits, else the end of the arena grows.

Control flow: the kernels of the regions are numbered in program order as if inlined, so
liveness is over one sequence of positions. A While kernel occupies [start, end]: its results
(the loop-carried storage) are defined at start, its initial values read at start, and its
captured values, its carried values and the body's results are read at end, so nothing the
loop still needs is overwritten while it iterates; the cond's result is read right after the
cond. A Case kernel's results are defined at its start and each branch's results read at the
end of that branch (branches may share memory: only one runs). The regions' block arguments
alias the storage of the carried values (while) or of the captured operands.

In-place loop carries (xla_passes/loop_carry_inplace.py): a kernel marked
attrs["shares_storage"] = ((result, operand), ...) writes that result over the operand, so the
result is an alias of the operand's storage (like a reshape). In a while body this resolves to
the loop-carried storage of the slot the chain updates: the body's result i then lives where the
runtime's carry copy would have put it, and the copy is skipped (source == destination).

With options.memory_reuse off (CHIP_DISABLE_PASSES=memory_planning) every TEMP value gets its
own slot: the arena is the sum of the temporaries.

Results: graph.attrs["storage"] {Value: (kind, index)}, ["constants"] [bytes],
["arena_bytes"] int, ["temp_intervals"] [(offset, size, first position, last position)] for
checks, ["temp_bytes"] the sum of the TEMP values' (aligned) sizes.
"""

from __future__ import annotations

import bisect

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.analysis.storage import SHARES_STORAGE, constant_bytes
from jax_chip.compiler.kernels.registry import is_kernel
from jax_chip.compiler.ir.errors import CompileError, at
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope

ALIGNMENT = 64


def align(n: int, a: int = ALIGNMENT) -> int:
    return (n + a - 1) // a * a


class BestFitArena:
    """Free-list allocator over a growable arena (offsets aligned to ALIGNMENT)."""

    def __init__(self):
        self.free: list[tuple[int, int]] = []   # (offset, size), sorted by offset, coalesced
        self.end = 0

    def alloc(self, size: int) -> int:
        size = max(align(size), ALIGNMENT)
        best = -1
        for i, (off, sz) in enumerate(self.free):
            if sz >= size and (best < 0 or sz < self.free[best][1]):
                best = i
        if best >= 0:
            off, sz = self.free[best]
            if sz == size:
                del self.free[best]
            else:
                self.free[best] = (off + size, sz - size)
            return off
        if self.free and self.free[-1][0] + self.free[-1][1] == self.end:
            off, sz = self.free.pop()   # grow the trailing free block
            self.end = off + size
            return off
        off = self.end
        self.end += size
        return off

    def release(self, offset: int, size: int) -> None:
        size = max(align(size), ALIGNMENT)
        i = bisect.bisect_left(self.free, (offset, 0))
        self.free.insert(i, (offset, size))
        # coalesce with the neighbours
        if i + 1 < len(self.free) and self.free[i][0] + self.free[i][1] == self.free[i + 1][0]:
            self.free[i] = (self.free[i][0], self.free[i][1] + self.free[i + 1][1])
            del self.free[i + 1]
        if i > 0 and self.free[i - 1][0] + self.free[i - 1][1] == self.free[i][0]:
            self.free[i - 1] = (self.free[i - 1][0], self.free[i - 1][1] + self.free[i][1])
            del self.free[i]


class _Liveness:
    """Positions of every kernel (regions inlined in order) and the TEMP roots' live ranges."""

    def __init__(self, storage: dict[Value, tuple[str, int]]):
        self.storage = storage
        self.root: dict[Value, Value] = {}        # alias -> the value whose storage it shares
        self.first: dict[Value, int] = {}         # TEMP root -> defining position
        self.last: dict[Value, int] = {}          # TEMP root -> last reading position
        self.order: list[Value] = []              # TEMP roots in definition order
        self.pos = 0

    def find(self, v: Value) -> Value:
        while v in self.root:
            v = self.root[v]
        return v

    def define(self, v: Value, at: int) -> None:
        if v in self.storage or v in self.first or v in self.root:
            return
        self.first[v] = at
        self.last[v] = at
        self.order.append(v)

    def use(self, v: Value, at: int) -> None:
        r = self.find(v)
        if r in self.first:
            self.last[r] = max(self.last[r], at)

    def tick(self) -> int:
        p = self.pos
        self.pos += 1
        return p

    def share(self, n: Node) -> None:
        """Results written over an operand in place (loop_carry_inplace) take its storage."""
        for r, o in n.attrs.get(SHARES_STORAGE, ()):
            self.root[n.results[r]] = n.operands[o]

    def visit(self, graph: Graph) -> None:
        for n in graph.nodes:
            if n.op == "stablehlo.constant":
                continue
            if n.op == "stablehlo.reshape":
                self.root[n.result] = n.operands[0]
                continue
            self.share(n)
            if n.op == "stablehlo.while":
                self._visit_while(n)
            elif n.op == "stablehlo.case":
                self._visit_case(n)
            elif is_kernel(n):
                p = self.tick()
                for r in n.results:
                    self.define(r, p)
                for o in n.operands:
                    self.use(o, p)
            else:
                raise CompileError(f"internal compiler error: {n.op} is neither a kernel nor "
                                   f"storage{at(n.loc)}")

    def _visit_while(self, n: Node) -> None:
        nc = n.attrs["num_carried"]
        cond, body = n.regions
        start = self.tick()
        for r in n.results:
            self.define(r, start)
        for o in n.operands[:nc]:
            self.use(o, start)
        for region in (cond, body):
            for i, p in enumerate(region.params):
                self.root[p.value] = n.results[i] if i < nc else n.operands[i]
        self.visit(cond)
        cond_end = self.tick()
        for o in cond.outputs:
            self.use(o.value, cond_end)
        self.visit(body)
        end = self.tick()
        for o in body.outputs:
            self.use(o.value, end)
        for v in list(n.operands[nc:]) + list(n.results):
            self.use(v, end)

    def _visit_case(self, n: Node) -> None:
        start = self.tick()
        for r in n.results:
            self.define(r, start)
        self.use(n.operands[0], start)
        for branch in n.regions:
            for i, p in enumerate(branch.params):
                self.root[p.value] = n.operands[1 + i]
            self.visit(branch)
            end = self.tick()
            for o in branch.outputs:
                self.use(o.value, end)
        end = self.tick()
        for v in list(n.operands[1:]) + list(n.results):
            self.use(v, end)


def _plan_constants(graph: Graph, storage: dict[Value, tuple[str, int]]) -> list[bytes]:
    constants: list[bytes] = []
    index: dict[tuple[str, tuple[int, ...], bytes], int] = {}

    def visit(g: Graph) -> None:
        for n in g.nodes:
            if n.op == "stablehlo.constant":
                t = n.result.type
                data = constant_bytes(n.attrs["value"], t)
                key = (t.dtype, t.shape, data)
                k = index.get(key)
                if k is None:
                    k = len(constants)
                    constants.append(data)
                    index[key] = k
                storage[n.result] = ("CONSTANT", k)
            for region in n.regions:
                visit(region)

    visit(graph)
    return constants


def run(graph: Graph, ctx: PassContext) -> bool:
    storage: dict[Value, tuple[str, int]] = {}
    for i, p in enumerate(graph.params):
        storage[p.value] = ("PARAMETER", i)
    for j, o in enumerate(graph.outputs):
        if o.value.producer is None:      # in-place aliased output: stays the parameter
            continue
        if o.value in storage:
            raise CompileError(f"internal compiler error: output {j} shares its value with "
                               f"another output")
        storage[o.value] = ("OUTPUT", j)
    constants = _plan_constants(graph, storage)

    live = _Liveness(storage)
    live.visit(graph)
    dying: dict[int, list[Value]] = {}
    for v, i in live.last.items():
        dying.setdefault(i, []).append(v)
    defined: dict[int, list[Value]] = {}
    for v in live.order:
        defined.setdefault(live.first[v], []).append(v)

    arena = BestFitArena()
    reuse = ctx.options.memory_reuse
    intervals = []
    for i in range(live.pos):
        for r in defined.get(i, []):
            off = arena.alloc(r.type.nbytes)
            storage[r] = ("TEMP", off)
            intervals.append((off, max(align(r.type.nbytes), ALIGNMENT), live.first[r],
                              live.last[r]))
        if reuse:
            for v in dying.get(i, []):
                arena.release(storage[v][1], v.type.nbytes)

    # aliases (reshapes, region block arguments) take their root's storage
    for v in list(live.root):
        if v in storage:
            continue
        r = live.find(v)
        if r not in storage:
            raise CompileError(f"internal compiler error: {v} aliases the unplanned value {r}")
        storage[v] = storage[r]
    graph.attrs["storage"] = storage
    graph.attrs["constants"] = constants
    graph.attrs["arena_bytes"] = arena.end
    graph.attrs["temp_intervals"] = intervals
    graph.attrs["temp_bytes"] = sum(s for _, s, _, _ in intervals)
    return True     # the memory plan is new: graph.attrs["storage"], ...


PASS = Pass("memory_planning", Scope.PROGRAM, run)
