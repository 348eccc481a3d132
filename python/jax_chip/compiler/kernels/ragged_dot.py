"""The RaggedDot kernel: `chlo.ragged_dot` (lax.ragged_dot: the expert matmuls of a
mixture-of-experts layer over rows sorted by expert) in its grouped-matmul mode: lhs [m, k],
rhs [g, k, n] or [g, n, k], group_sizes [g] -> [m, n]; group i's rows multiply rhs[i], rows past
the last group are zero. The frontend takes only that mode (frontend/attributes.py).

Numerics: f32 accumulation rounded once (as dot_general). Cost: statically the m rows as one
group (dot_general's padded matrix flops for [m, k] x [k, n], lhs and group_sizes read, the
result written); the kernel itself rescales the matrix flops to the rows actually routed (each
group padded to ROW_PAD rows) and reads the rhs slices of the non-empty groups only, so a
mixture-of-experts layer's cost follows its tokens x top-k, not its number of experts.
"""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels import dot_general
from jax_chip.compiler.kernels.base import Evaluation, KernelKind, as_compute, to_storage
from jax_chip.compiler.kernels.table_op import TableOp, table_kind

FIELDS = [("rhs_contracting", "long"), ("row_pad", "long")]


def _lower(node: Node) -> dict:
    return {"rhs_contracting": int(node.attrs["rhs_contracting"]), "row_pad": dot_general.ROW_PAD}


def _cost(node: Node, ctx: PassContext) -> KernelCost:
    lhs, rhs, sizes = node.operands
    m, k = lhs.type.shape
    n = rhs.type.shape[2 if node.attrs["rhs_contracting"] == 1 else 1]
    tile = int(ctx.chip_value("matrix_tile"))
    return KernelCost(
        matrix_flops=float(dot_general.matrix_flops(1, m, n, k, tile)),
        matrix_dtype=lhs.type.dtype,
        bytes_read=float(lhs.type.nbytes + sizes.type.nbytes),
        bytes_written=float(node.result.type.nbytes))


def _evaluate(op: TableOp, ev: Evaluation) -> list[np.ndarray]:
    """Each group's rows times its rhs in float64, rounded once; rows past the groups zero."""
    lhs = as_compute(ev.inputs[0], ev.input_types[0].dtype).astype(np.float64)
    rhs = as_compute(ev.inputs[1], ev.input_types[1].dtype).astype(np.float64)
    if op.fields["rhs_contracting"] == 2:
        rhs = np.swapaxes(rhs, 1, 2)
    sizes = np.asarray(ev.inputs[2]).astype(np.int64)
    out = np.zeros((lhs.shape[0], rhs.shape[2]))
    start = 0
    for g, size in enumerate(sizes):
        rows = min(max(int(size), 0), lhs.shape[0] - start)
        out[start:start + rows] = lhs[start:start + rows] @ rhs[g]
        start += rows
    return [to_storage(out.astype(np.float32), ev.output_types[0].dtype)]


_TABLE = table_kind("RaggedDot", ("chlo.ragged_dot",), FIELDS, _lower, lambda node: KernelCost(),
                    evaluate=_evaluate)
# table_kind's cost has no PassContext; the matrix flops need the chip's matrix_tile.
KIND = KernelKind(_TABLE.name, _TABLE.ops, _TABLE.desc, _TABLE.lower, _TABLE.write, _TABLE.read,
                  _TABLE.text, cost=_cost, evaluate=_TABLE.evaluate)
