"""The Elementwise kernel: a fused body (`chip.fusion`) as a register program over strided views
of its inputs (lowering/ew_codegen.py); schema table Elementwise.

Cost: vector_flops = elements * arithmetic instructions (LOAD/CONST/IOTA are free);
transcendentals = elements * transcendental instructions, not also counted as vector flops;
bytes_read: what the views read (a broadcast view reads its input once, a slice its part).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from jax_chip.compiler.ir import ew_semantics
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.base import (
    Evaluation,
    KernelKind,
    Lowerer,
    Reader,
    RegionText,
    Writer,
)
from jax_chip.compiler.lowering.ew_codegen import EwProgram, InstrSpec, ViewSpec, program_for


@dataclass
class ElementwiseOp:
    dims: tuple[int, ...]
    views: list[ViewSpec]
    instrs: list[InstrSpec]
    results: list[tuple[int, int]]      # (register, output index)
    OP_TYPE: ClassVar[str] = "Elementwise"

    def program(self) -> EwProgram:
        return EwProgram(self.dims, self.views, self.instrs, self.results)


def lower_fusion(fusion: Node) -> ElementwiseOp:
    prog = program_for(fusion)
    return ElementwiseOp(tuple(prog.dims), list(prog.views), list(prog.instrs),
                         list(prog.results))


def _lower(node: Node, lowerer: Lowerer) -> ElementwiseOp:
    return lower_fusion(node)


def write_elementwise(w: Writer, op: ElementwiseOp) -> int:
    b = w.b
    dims = w.i64s(op.dims)
    views = []
    for v in op.views:
        strides = w.i64s(v.strides)
        fb.View.ViewStart(b)
        fb.View.ViewAddInput(b, v.input)
        fb.View.ViewAddOffset(b, v.offset)
        fb.View.ViewAddStrides(b, strides)
        views.append(fb.View.ViewEnd(b))
    views_vec = w.offsets(fb.Elementwise.ElementwiseStartViewsVector, views)
    instrs_vec = w.instrs(fb.Elementwise.ElementwiseStartInstrsVector, op.instrs)
    results = []
    for reg, out in op.results:
        fb.ElementwiseResult.ElementwiseResultStart(b)
        fb.ElementwiseResult.ElementwiseResultAddReg(b, reg)
        fb.ElementwiseResult.ElementwiseResultAddOutput(b, out)
        results.append(fb.ElementwiseResult.ElementwiseResultEnd(b))
    results_vec = w.offsets(fb.Elementwise.ElementwiseStartResultsVector, results)
    fb.Elementwise.ElementwiseStart(b)
    fb.Elementwise.ElementwiseAddDims(b, dims)
    fb.Elementwise.ElementwiseAddViews(b, views_vec)
    fb.Elementwise.ElementwiseAddInstrs(b, instrs_vec)
    fb.Elementwise.ElementwiseAddResults(b, results_vec)
    return fb.Elementwise.ElementwiseEnd(b)


def read_elementwise(e: object) -> ElementwiseOp:
    """From an Elementwise table (generated accessor object)."""
    views = [ViewSpec(e.Views(i).Input(), e.Views(i).Offset(), Reader.i64s(e.Views(i), "Strides"))
             for i in range(e.ViewsLength())]
    results = [(e.Results(i).Reg(), e.Results(i).Output()) for i in range(e.ResultsLength())]
    return ElementwiseOp(Reader.i64s(e, "Dims"), views, Reader.instrs(e), results)


def _read(tab: object, reader: Reader) -> ElementwiseOp:
    return read_elementwise(reader.table(fb.Elementwise.Elementwise, tab))


def _text(op: ElementwiseOp, kernels_text: RegionText) -> list[str]:
    return op.program().to_text().splitlines()


# ---- cost ---------------------------------------------------------------------------------------

def _view_elements(dims: tuple[int, ...], strides: tuple[int, ...]) -> int:
    return math.prod(d for d, s in zip(dims, strides) if s != 0)


def operand_bytes_read(node: Node) -> list[int]:
    """Bytes the kernel reads of each operand: a fused kernel's views read only their part (a
    broadcast reads its input once, a slice its elements); a reduce with a fused prologue reads
    its inputs through the prologue's views and its init whole; other kernels read whole
    operands."""
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


def elementwise_cost(node: Node) -> KernelCost:
    prog = program_for(node)
    elements = prog.num_elements
    vector_ops = sum(1 for i in prog.instrs
                     if i.op not in ew_semantics.FREE and i.op not in ew_semantics.TRANSCENDENTAL)
    trans_ops = sum(1 for i in prog.instrs if i.op in ew_semantics.TRANSCENDENTAL)
    bytes_read = sum(operand_bytes_read(node))
    return KernelCost(vector_flops=float(elements * vector_ops),
                      transcendentals=float(elements * trans_ops),
                      bytes_read=float(bytes_read),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


def _cost(node: Node, ctx: PassContext) -> KernelCost:
    return elementwise_cost(node)


def _evaluate(op: ElementwiseOp, ev: Evaluation) -> list[np.ndarray]:
    return ev.run_elementwise(op, ev.inputs, [t.dtype for t in ev.input_types])


KIND = KernelKind("Elementwise", ("chip.fusion",), ElementwiseOp, _lower, write_elementwise,
                  _read, _text, cost=_cost, evaluate=_evaluate)
