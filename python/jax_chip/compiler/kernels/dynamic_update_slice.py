"""The DynamicUpdateSlice kernel: `stablehlo.dynamic_update_slice`, starts clamped like XLA; in
place on its operand when they share storage (no copy).
Cost: reads the update and the start indices (and the operand it copies unless in place)."""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.base import Evaluation
from jax_chip.compiler.kernels.dynamic_slice import clamped_window
from jax_chip.compiler.kernels.table_op import TableOp, in_place_copy_bytes, table_kind


def _lower(node: Node) -> dict:
    return {}


def _in_place(node: Node) -> list[tuple[int, int]]:
    return [(0, 0)]


def _cost(node: Node) -> KernelCost:
    upd = float(node.operands[1].type.nbytes)
    copy = in_place_copy_bytes(node, _in_place(node))
    return KernelCost(bytes_read=upd + copy + 4 * (len(node.operands) - 2),
                      bytes_written=upd + copy)


def _evaluate(op: TableOp, ev: Evaluation) -> list[np.ndarray]:
    x, upd = np.array(ev.inputs[0], copy=True), np.asarray(ev.inputs[1])
    x[clamped_window(ev.inputs[2:], x.shape, upd.shape)] = upd
    return [x]


KIND = table_kind("DynamicUpdateSlice", ("stablehlo.dynamic_update_slice",), [], _lower, _cost,
                  evaluate=_evaluate, in_place=_in_place)
