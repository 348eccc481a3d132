"""Memory planning: gives every value of the program its storage place.

- parameters: PARAMETER i; constants: CONSTANT k (identical constants share one entry);
- output values: OUTPUT j (an output aliased to parameter p whose value is p stays PARAMETER p);
- a reshape of a materialized value is a zero-copy alias of its storage (same kind and index);
- every other kernel result is TEMP: a 64-byte aligned offset in the scratch arena.

TEMP offsets come from liveness over the kernel order: a value is live from the kernel that writes
it to the last kernel that reads it (or reads a reshape alias of it). Kernel i's results are placed
while its inputs are still live, then the values whose last reader is kernel i are released.
Placement is best fit: the smallest free block that fits, else the end of the arena grows.

Results: graph.attrs["storage"] {Value: (kind, index)}, ["constants"] [bytes],
["arena_bytes"] int, ["temp_intervals"] [(offset, size, first kernel, last kernel)] for checks.
"""

from __future__ import annotations

import bisect

from jax_chip.compiler.context import PassContext
from jax_chip.compiler.emit import constant_bytes, is_kernel
from jax_chip.compiler.errors import CompileError, at
from jax_chip.compiler.graph import Graph, Value

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


def run(graph: Graph, ctx: PassContext) -> None:
    storage: dict[Value, tuple[str, int]] = {}
    constants: list[bytes] = []
    constant_index: dict[tuple[str, tuple[int, ...], bytes], int] = {}
    for i, p in enumerate(graph.params):
        storage[p.value] = ("PARAMETER", i)
    for j, o in enumerate(graph.outputs):
        if o.value.producer is None:      # in-place aliased output: stays the parameter
            continue
        if o.value in storage:
            raise CompileError(f"internal compiler error: output {j} shares its value with "
                               f"another output")
        storage[o.value] = ("OUTPUT", j)

    # the storage root of each value (reshape aliases share their operand's storage)
    root: dict[Value, Value] = {}
    kernels = [n for n in graph.nodes if is_kernel(n)]
    for n in graph.nodes:
        if n.op == "stablehlo.constant":
            t = n.result.type
            data = constant_bytes(n.attrs["value"], t)
            key = (t.dtype, t.shape, data)
            k = constant_index.get(key)
            if k is None:
                k = len(constants)
                constants.append(data)
                constant_index[key] = k
            storage[n.result] = ("CONSTANT", k)
        elif n.op == "stablehlo.reshape":
            src = n.operands[0]
            root[n.result] = root.get(src, src)
        elif not is_kernel(n):
            raise CompileError(f"internal compiler error: {n.op} is neither a kernel nor storage"
                               f"{at(n.loc)}")

    # liveness of TEMP roots over the kernel order
    first: dict[Value, int] = {}
    last: dict[Value, int] = {}
    for i, k in enumerate(kernels):
        for r in k.results:
            if r not in storage:
                first[r] = i
                last[r] = i
        for o in k.operands:
            rt = root.get(o, o)
            if rt in first:
                last[rt] = max(last[rt], i)
    dying: dict[int, list[Value]] = {}
    for v, i in last.items():
        dying.setdefault(i, []).append(v)

    arena = BestFitArena()
    intervals = []
    for i, k in enumerate(kernels):
        for r in k.results:
            if r in first and r not in storage:
                off = arena.alloc(r.type.nbytes)
                storage[r] = ("TEMP", off)
                intervals.append((off, max(align(r.type.nbytes), ALIGNMENT), first[r], last[r]))
        for v in dying.get(i, []):
            arena.release(storage[v][1], v.type.nbytes)

    # aliases take their root's storage
    for n in graph.nodes:
        if n.op == "stablehlo.reshape" and n.result not in storage:
            src = root[n.result]
            if src not in storage:
                raise CompileError(f"internal compiler error: reshape of an unplanned value"
                                   f"{at(n.loc)}")
            storage[n.result] = storage[src]
    graph.attrs["storage"] = storage
    graph.attrs["constants"] = constants
    graph.attrs["arena_bytes"] = arena.end
    graph.attrs["temp_intervals"] = intervals
