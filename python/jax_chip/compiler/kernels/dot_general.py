"""The DotGeneral kernel: `stablehlo.dot_general` on the matrix unit; schema table DotGeneral.

Numerics: bf16/f16/f32 operands accumulate in f32, integers in s32 (docs/numerics.md); the
reference interpreter sums exact (float64 / int64) products and rounds once.
Cost: matrix_flops = 2 * B * pad(M, 8) * pad(N, tile) * pad(K, tile), tile = the chip's
matrix_tile (128), matrix_dtype = the lhs element type.
"""

from __future__ import annotations

import math
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
    KernelKind,
    Lowerer,
    Reader,
    RegionText,
    Writer,
    as_compute,
    to_storage,
)

_DOT_GENERAL = fb.module("DotGeneral")


@dataclass
class DotGeneralOp:
    lhs_batch: tuple[int, ...]
    rhs_batch: tuple[int, ...]
    lhs_contracting: tuple[int, ...]
    rhs_contracting: tuple[int, ...]
    OP_TYPE: ClassVar[str] = "DotGeneral"


def _lower(node: Node, lowerer: Lowerer) -> DotGeneralOp:
    a = node.attrs
    return DotGeneralOp(tuple(a["lhs_batch"]), tuple(a["rhs_batch"]),
                        tuple(a["lhs_contracting"]), tuple(a["rhs_contracting"]))


def _write(w: Writer, op: DotGeneralOp) -> int:
    b = w.b
    vecs = [w.i64s(x) for x in (op.lhs_batch, op.rhs_batch, op.lhs_contracting,
                                  op.rhs_contracting)]
    _DOT_GENERAL.DotGeneralStart(b)
    _DOT_GENERAL.DotGeneralAddLhsBatch(b, vecs[0])
    _DOT_GENERAL.DotGeneralAddRhsBatch(b, vecs[1])
    _DOT_GENERAL.DotGeneralAddLhsContracting(b, vecs[2])
    _DOT_GENERAL.DotGeneralAddRhsContracting(b, vecs[3])
    return _DOT_GENERAL.DotGeneralEnd(b)


def _read(tab: object, reader: Reader) -> DotGeneralOp:
    d = reader.table(_DOT_GENERAL.DotGeneral, tab)
    return DotGeneralOp(reader.i64s(d, "LhsBatch"), reader.i64s(d, "RhsBatch"),
                        reader.i64s(d, "LhsContracting"), reader.i64s(d, "RhsContracting"))


def _text(op: DotGeneralOp, kernels_text: RegionText) -> list[str]:
    return [f"batch {list(op.lhs_batch)}x{list(op.rhs_batch)} contracting "
            f"{list(op.lhs_contracting)}x{list(op.rhs_contracting)}"]


ROW_PAD = 8   # the matrix unit pads M (rows) to this, N and K to the chip's matrix_tile


def pad(x: int, m: int) -> int:
    return (x + m - 1) // m * m


def matrix_flops(b: int, m: int, n: int, k: int, tile: int) -> int:
    """The matrix unit's padded work for b products [m, k] x [k, n]."""
    return 2 * b * pad(m, ROW_PAD) * pad(n, tile) * pad(k, tile)


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
        matrix_flops=float(matrix_flops(b, m, n, k, tile)),
        matrix_dtype=lhs.type.dtype,
        bytes_read=float(lhs.type.nbytes + rhs.type.nbytes),
        bytes_written=float(node.result.type.nbytes))


def _cost(node: Node, ctx: PassContext) -> KernelCost:
    return dot_cost(node, int(ctx.chip_value("matrix_tile")))


def eval_dot_general(op: DotGeneralOp, lhs: np.ndarray, rhs: np.ndarray, lt: str, rt: str,
                     out_t: TensorType) -> np.ndarray:
    lb, rb = list(op.lhs_batch), list(op.rhs_batch)
    lc, rc = list(op.lhs_contracting), list(op.rhs_contracting)
    lf = [d for d in range(lhs.ndim) if d not in lb and d not in lc]
    rf = [d for d in range(rhs.ndim) if d not in rb and d not in rc]
    is_float = dtypes.info(lt).is_float
    work = np.float64 if is_float else np.int64
    L = as_compute(lhs, lt).astype(work).transpose(lb + lf + lc)
    R = as_compute(rhs, rt).astype(work).transpose(rb + rc + rf)
    B = [lhs.shape[d] for d in lb]
    M = [lhs.shape[d] for d in lf]
    K = [lhs.shape[d] for d in lc]
    N = [rhs.shape[d] for d in rf]
    L2 = L.reshape(math.prod(B), math.prod(M), math.prod(K))
    R2 = R.reshape(math.prod(B), math.prod(K), math.prod(N))
    res = np.matmul(L2, R2).reshape(B + M + N)
    if is_float:
        res = res.astype(np.float32)
    return to_storage(res, out_t.dtype)


def _evaluate(op: DotGeneralOp, ev: Evaluation) -> list[np.ndarray]:
    lt, rt = (t.dtype for t in ev.input_types)
    return [eval_dot_general(op, ev.inputs[0], ev.inputs[1], lt, rt, ev.output_types[0])]


KIND = KernelKind("DotGeneral", ("stablehlo.dot_general",), DotGeneralOp, _lower, _write, _read,
                  _text, cost=_cost, evaluate=_evaluate)
