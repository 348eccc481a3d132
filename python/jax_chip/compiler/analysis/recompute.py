"""Which fused values are cheaper to write once than to recompute in every kernel that reads them.

Elementwise fusion recomputes a value read by several fusions in each of them instead of writing
it and reading it back. That pays while recomputing reads no more memory than reading the value
would. It does not along a chain: a transformer's residual stream
`r_n = bf16(f32(h_n) + f32(r_{n-1}))` feeds the next layer's norm kernels, so recomputing r_n
there recomputes r_{n-1}, ..., r_1 too, and the norm kernels of layer n read the outputs of all
n earlier layers (issue 8: at 4,096 tokens the norms of a 28-layer Qwen3 read up to 478 MB
each instead of 16.8 MB). Pricing each value by what recomputing it reads, given what is already
stored, catches that: r_n recomputed reads h_n and r_{n-1} (16 MB) against 8 MB for reading
r_n, so r_n is stored; the f32 sum before it reads those same 16 MB against its own 16 MB, so
it keeps being recomputed in each norm kernel.
"""

from __future__ import annotations

from jax_chip.compiler.analysis.fusibility import is_duplicable, is_fusible, is_splat_constant
from jax_chip.compiler.ir.graph import Graph, Value

# Recomputing a value in each of k kernels reads k * R bytes; writing it once, from a kernel that
# computes it anyway, and reading it back moves (k + 1) * B. For the fewest readers that make
# the question arise (k = 2) that is break-even at R = 1.5 B; storing below that would trade a
# few bytes of recomputation for a write (and for a kernel of its own when no fusion can write
# it: jnp.take's bounds mask selecting between the gathered rows and NaN is 4 bytes per row
# over the rows themselves).
STORE_RATIO = 1.5

# A value whose recomputation reads this many distinct stored values is not worth tracking
# further: it is priced as stored.
MAX_TRACKED_INPUTS = 256

# stored value -> bytes a kernel recomputing the value reads of it
Reads = dict[Value, int]


def _reads_of(v: Value, reads: dict[Value, Reads]) -> Reads:
    """What computing `v` in a kernel reads: its recomputation's reads, or `v` itself."""
    r = reads.get(v)
    return r if r is not None else {v: v.type.nbytes}


def costly_to_recompute(graph: Graph) -> set[Value]:
    """Results of fusible computing ops (not views, iota or splat constants) whose recomputation
    reads more than STORE_RATIO times the value's bytes, counting as stored the values that are (kernel outputs,
    parameters, stored constants) and these values themselves."""
    reads: dict[Value, Reads] = {}
    costly: set[Value] = set()
    for node in graph.nodes:
        if not is_fusible(node):
            continue
        v = node.result
        if is_splat_constant(node) or node.op == "stablehlo.iota":
            reads[v] = {}
        elif is_duplicable(node):
            src = node.operands[0]
            if src in reads:
                reads[v] = reads[src]          # a view of a recomputed value
            else:                              # a view of a stored value reads at most the view
                reads[v] = {src: min(src.type.nbytes, v.type.nbytes)}
        else:
            merged: Reads = {}
            for o in node.operands:
                for s, b in _reads_of(o, reads).items():
                    merged[s] = max(merged.get(s, 0), b)
            if len(merged) > MAX_TRACKED_INPUTS or sum(merged.values()) > STORE_RATIO * v.type.nbytes:
                costly.add(v)              # stored: later values read it, not its inputs
            else:
                reads[v] = merged
    return costly
