"""The DynamicSlice kernel: `stablehlo.dynamic_slice`, starts clamped like XLA.
Cost: reads the slice and the start indices, writes the slice."""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.base import Evaluation
from jax_chip.compiler.kernels.table_op import TableOp, table_kind

FIELDS = [("slice_sizes", "i64s")]


def clamped_window(starts: list[np.ndarray], shape: tuple[int, ...],
                   sizes: tuple[int, ...]) -> tuple[slice, ...]:
    """The window at the start indices, clamped into the operand (XLA semantics)."""
    first = [min(max(int(np.asarray(i).reshape(())), 0), d - z)
             for i, d, z in zip(starts, shape, sizes)]
    return tuple(slice(s, s + z) for s, z in zip(first, sizes))


def _lower(node: Node) -> dict:
    return {"slice_sizes": node.attrs["slice_sizes"]}


def _cost(node: Node) -> KernelCost:
    b = float(node.result.type.nbytes)
    return KernelCost(bytes_read=b + 4 * (len(node.operands) - 1), bytes_written=b)


def _evaluate(op: TableOp, ev: Evaluation) -> list[np.ndarray]:
    x = np.asarray(ev.inputs[0])
    window = clamped_window(ev.inputs[1:], x.shape, ev.output_types[0].shape)
    return [np.array(x[window], copy=True)]


KIND = table_kind("DynamicSlice", ("stablehlo.dynamic_slice",), FIELDS, _lower, _cost,
                  evaluate=_evaluate)
