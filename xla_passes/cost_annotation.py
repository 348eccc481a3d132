"""Cost annotation: the static work of every kernel (node.attrs["cost"], a KernelCost).

- DotGeneral: matrix_flops = 2 * B * pad(M, 8) * pad(N, tile) * pad(K, tile), tile = the chip's
  matrix_tile (128), matrix_dtype = the lhs element type.
- Elementwise: vector_flops = elements * arithmetic instructions (LOAD/CONST/IOTA are free);
  transcendentals = elements * transcendental instructions (exp, log, tanh, logistic, sqrt,
  rsqrt, pow, sin, cos, tan, atan2, cbrt, erf, expm1, log1p), not also counted as vector flops.
- Reduce: one vector op per operand element. Concatenate, Copy: memory only.
- While, Case: none of their own; the kernels of their regions have costs (runs on every graph).
- bytes_read: bytes of the inputs actually read (a broadcast view reads its input once, a slice
  only its part); bytes_written: bytes of the outputs.
"""

from __future__ import annotations

import math

from jax_chip.compiler.ir import ew_semantics
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.backend.emit import is_kernel
from jax_chip.compiler.lowering.ew_codegen import EwProgram, program_for
from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Graph, Node


def pad(x: int, m: int) -> int:
    return (x + m - 1) // m * m


def dot_cost(node: Node, tile: int) -> KernelCost:
    lhs, rhs = node.operands
    a = node.attrs
    lb, lc = set(a["lhs_batch"]), set(a["lhs_contracting"])
    rb, rc = set(a["rhs_batch"]), set(a["rhs_contracting"])
    b = math.prod(lhs.type.shape[d] for d in a["lhs_batch"])
    k = math.prod(lhs.type.shape[d] for d in a["lhs_contracting"])
    m = math.prod(s for d, s in enumerate(lhs.type.shape) if d not in lb and d not in lc)
    n = math.prod(s for d, s in enumerate(rhs.type.shape) if d not in rb and d not in rc)
    return KernelCost(
        matrix_flops=float(2 * b * pad(m, 8) * pad(n, tile) * pad(k, tile)),
        matrix_dtype=lhs.type.dtype,
        bytes_read=float(lhs.type.nbytes + rhs.type.nbytes),
        bytes_written=float(node.result.type.nbytes))


def _view_elements(dims: tuple[int, ...], strides: tuple[int, ...]) -> int:
    return math.prod(d for d, s in zip(dims, strides) if s != 0)


def operand_bytes_read(node: Node) -> list[int]:
    """Bytes the kernel reads of each operand: a fused kernel's views read only their part (a
    broadcast reads its input once, a slice its elements); other kernels read whole operands."""
    prologue = node.attrs.get("prologue")
    if prologue is not None:          # a reduce computing its operand (reduce_input_fusion)
        return operand_bytes_read(prologue) + [node.operands[-1].type.nbytes]
    if node.op != "chip.fusion":
        return [o.type.nbytes for o in node.operands]
    prog = program_for(node)
    read = [0] * len(node.operands)
    for v in prog.views:
        read[v.input] += _view_elements(prog.dims, v.strides)
    return [min(r, o.type.num_elements) * o.type.itemsize for r, o in zip(read, node.operands)]


def elementwise_cost(node: Node, prog: EwProgram) -> KernelCost:
    elements = prog.num_elements
    vector_ops = sum(1 for i in prog.instrs
                     if i.op not in ew_semantics.FREE and i.op not in ew_semantics.TRANSCENDENTAL)
    trans_ops = sum(1 for i in prog.instrs if i.op in ew_semantics.TRANSCENDENTAL)
    bytes_read = sum(operand_bytes_read(node))
    return KernelCost(vector_flops=float(elements * vector_ops),
                      transcendentals=float(elements * trans_ops),
                      bytes_read=float(bytes_read),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


def kernel_cost(node: Node, tile: int) -> KernelCost:
    spec = op_registry.lookup(node.op)
    if spec is not None and spec.cost is not None:   # lower_indexing.py kernels
        return spec.cost(node)
    if node.op == "stablehlo.dot_general":
        return dot_cost(node, tile)
    if node.op == "chip.fusion":
        return elementwise_cost(node, program_for(node))
    written = float(sum(r.type.nbytes for r in node.results))
    read = float(sum(o.type.nbytes for o in node.operands))
    if node.op == "stablehlo.reduce" and node.attrs.get("prologue") is not None:
        pro = node.attrs["prologue"]
        c = elementwise_cost(pro, program_for(pro))
        return KernelCost(vector_flops=c.vector_flops + float(pro.result.type.num_elements),
                          transcendentals=c.transcendentals,
                          bytes_read=float(sum(operand_bytes_read(node))), bytes_written=written)
    if node.op == "stablehlo.reduce":
        return KernelCost(vector_flops=float(node.operands[0].type.num_elements),
                          bytes_read=read, bytes_written=written)
    return KernelCost(bytes_read=read, bytes_written=written)   # concatenate, copy


def run(graph: Graph, ctx: PassContext) -> None:
    tile = int(ctx.chip_value("matrix_tile"))
    for node in graph.nodes:
        if node.regions:
            node.attrs["cost"] = None   # control flow: its regions' kernels carry the costs
        elif is_kernel(node):
            node.attrs["cost"] = kernel_cost(node, tile)


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
