"""The Reduce kernel: `stablehlo.reduce` with one operand and a body that is one binary op
(SUM, PRODUCT, MAX, MIN, AND, OR, XOR), optionally computing its operand with a fused
Elementwise prologue (xla_passes/reduce_input_fusion.py); schema table Reduce.

Cost: one vector op per reduced element (plus the prologue's program); bytes: what is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node, TensorType
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.base import (
    Evaluation,
    as_compute,
    to_storage,
    InterpreterError,
    KernelKind,
    Lowerer,
    Reader,
    RegionText,
    Writer,
)
from jax_chip.compiler.kernels.elementwise import (
    ElementwiseOp,
    elementwise_cost,
    lower_fusion,
    operand_bytes_read,
    read_elementwise,
    write_elementwise,
)

_REDUCE_OPS = {"SUM": 0, "PRODUCT": 1, "MAX": 2, "MIN": 3, "AND": 4, "OR": 5, "XOR": 6}
_REDUCE_NAMES = {v: k for k, v in _REDUCE_OPS.items()}

_TABLE = fb.module("Reduce")


@dataclass
class ReduceOp:
    dims: tuple[int, ...]
    op: str                               # SUM, PRODUCT, MAX, MIN, AND, OR, XOR
    # input fusion: computes the reduced operand from the kernel's inputs (all but init)
    prologue: "ElementwiseOp | None" = None
    OP_TYPE: ClassVar[str] = "Reduce"


def _lower(node: Node, lowerer: Lowerer) -> ReduceOp:
    prologue = node.attrs.get("prologue")
    return ReduceOp(tuple(node.attrs["dimensions"]), node.attrs["reduce_op"],
                    lower_fusion(prologue) if prologue is not None else None)


def _write(w: Writer, op: ReduceOp) -> int:
    b = w.b
    prologue = write_elementwise(w, op.prologue) if op.prologue is not None else None
    dims = w.i64s(op.dims)
    _TABLE.ReduceStart(b)
    _TABLE.ReduceAddDims(b, dims)
    _TABLE.ReduceAddOp(b, _REDUCE_OPS[op.op])
    if prologue is not None:
        _TABLE.ReduceAddPrologue(b, prologue)
    return _TABLE.ReduceEnd(b)


def _read(tab: object, reader: Reader) -> ReduceOp:
    r = reader.table(_TABLE.Reduce, tab)
    prologue = r.Prologue()
    return ReduceOp(reader.i64s(r, "Dims"), _REDUCE_NAMES[r.Op()],
                    read_elementwise(prologue) if prologue is not None else None)


def _text(op: ReduceOp, kernels_text: RegionText) -> list[str]:
    lines = [f"{op.op} over dims {list(op.dims)}"
             + (" of the prologue:" if op.prologue is not None else "")]
    if op.prologue is not None:
        lines.extend("  " + line for line in op.prologue.program().to_text().splitlines())
    return lines


def _cost(node: Node, ctx: PassContext) -> KernelCost:
    written = float(sum(r.type.nbytes for r in node.results))
    pro = node.attrs.get("prologue")
    if pro is not None:
        c = elementwise_cost(pro)
        return KernelCost(vector_flops=c.vector_flops + float(pro.result.type.num_elements),
                          transcendentals=c.transcendentals,
                          bytes_read=float(sum(operand_bytes_read(node))), bytes_written=written)
    return KernelCost(vector_flops=float(node.operands[0].type.num_elements),
                      bytes_read=float(sum(o.type.nbytes for o in node.operands)),
                      bytes_written=written)


def eval_reduce(op: ReduceOp, x: np.ndarray, init: np.ndarray, dtype: str,
                out_t: TensorType) -> np.ndarray:
    v = as_compute(x, dtype)
    i = as_compute(init, dtype).reshape(())
    axes = tuple(op.dims)
    if op.op == "SUM":
        r = np.sum(v, axis=axes) + i
    elif op.op == "PRODUCT":
        r = np.prod(v, axis=axes) * i
    elif op.op == "MAX":
        r = np.maximum(np.max(v, axis=axes, initial=-np.inf if dtypes.info(dtype).is_float
                              else np.iinfo(np.int64).min), i)
    elif op.op == "MIN":
        r = np.minimum(np.min(v, axis=axes, initial=np.inf if dtypes.info(dtype).is_float
                              else np.iinfo(np.int64).max), i)
    elif op.op == "AND":
        r = np.bitwise_and.reduce(v, axis=axes) & i if v.size else np.broadcast_to(i, out_t.shape)
    elif op.op == "OR":
        r = np.bitwise_or.reduce(v, axis=axes) | i if v.size else np.broadcast_to(i, out_t.shape)
    elif op.op == "XOR":
        r = np.bitwise_xor.reduce(v, axis=axes) ^ i if v.size else np.broadcast_to(i, out_t.shape)
    else:
        raise InterpreterError(f"reduce op {op.op}")
    if dtypes.info(dtype).is_float:
        r = np.asarray(r, dtype=np.float32)
    return to_storage(np.asarray(r), out_t.dtype)


def _evaluate(op: ReduceOp, ev: Evaluation) -> list[np.ndarray]:
    in_dtypes = [t.dtype for t in ev.input_types]
    if op.prologue is None:
        return [eval_reduce(op, ev.inputs[0], ev.inputs[1], in_dtypes[0], ev.output_types[0])]
    (x,) = ev.run_elementwise(op.prologue, ev.inputs[:-1], in_dtypes[:-1])
    pro = op.prologue
    x_dtype = pro.instrs[pro.results[0][0]].dtype
    return [eval_reduce(op, np.asarray(x).reshape(tuple(pro.dims)), ev.inputs[-1], x_dtype,
                        ev.output_types[0])]


KIND = KernelKind("Reduce", ("stablehlo.reduce",), ReduceOp, _lower, _write, _read, _text,
                  cost=_cost, evaluate=_evaluate)
