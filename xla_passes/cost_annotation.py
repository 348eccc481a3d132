"""Cost annotation: the static work of every kernel (node.attrs["cost"], a KernelCost), as its
kernel module computes it (jax_chip.compiler.kernels.<kind>: `cost`, through the kernel table):

- matrix_flops: the matrix unit's work with 8/128 padding (dot_general, convolution);
- vector_flops: elements * arithmetic instructions of a register program (LOAD/CONST/IOTA are
  free), one op per reduced element, the region programs of scatter/sort/reduce_window;
- transcendentals: elements * transcendental instructions, not also counted as vector flops;
- bytes_read: bytes of the inputs actually read (a broadcast view reads its input once, a slice
  only its part); bytes_written: bytes of the outputs.
While and Case have none of their own (the kernels of their regions have costs: the pass runs
on every graph); custom calls report their work at run time.
"""

from __future__ import annotations

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Graph, Node
from jax_chip.compiler.ir.pass_api import Pass, Scope
from jax_chip.compiler.kernels import registry


def kernel_cost(node: Node, ctx: PassContext) -> KernelCost | None:
    kind = registry.for_node(node)
    if kind is None or kind.cost is None:
        return None
    return kind.cost(node, ctx)


def run(graph: Graph, ctx: PassContext) -> bool:
    changed = False
    for node in graph.nodes:
        if node.regions:
            node.attrs["cost"] = None   # control flow: its regions' kernels carry the costs
        elif registry.is_kernel(node):
            node.attrs["cost"] = kernel_cost(node, ctx)
            changed = True
    return changed


def total(graph: Graph) -> KernelCost:
    """Sum over all kernels, regions' kernels once each (for tests and reports)."""
    t = KernelCost()
    for node in graph.walk():
        c = node.attrs.get("cost")
        if c is None:
            continue
        t.matrix_flops += c.matrix_flops
        t.vector_flops += c.vector_flops
        t.transcendentals += c.transcendentals
        t.bytes_read += c.bytes_read
        t.bytes_written += c.bytes_written
        t.sram_bytes_read += c.sram_bytes_read
        t.sram_bytes_written += c.sram_bytes_written
    return t


PASS = Pass("cost_annotation", Scope.FUNCTION, run)
