"""The kernel table: every kind of kernel the executable format has, one line each.

The emitter (backend/emit.py), the reader and dump (backend/inspect_executable.py), the cost
pass (xla_passes/cost_annotation.py), the passes that place results in their operand's storage
(output_aliasing, loop_carry_inplace, through analysis/storage.py) and the reference
interpreter find a kernel's module here, by graph op or by its description's OP_TYPE. Adding a
kind of kernel: its module in this package and one line below (docs/compiler.md).
"""

from __future__ import annotations

from typing import Any

from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.ir.ops import OpSpec
from jax_chip.compiler.kernels import (
    concatenate,
    control_flow,
    convolution,
    copy,
    custom_call,
    dot_general,
    dynamic_slice,
    dynamic_update_slice,
    elementwise,
    gather,
    pad,
    ragged_dot,
    reduce,
    reduce_window,
    scatter,
    sort,
    top_k,
    triangular_solve,
    variadic_reduce,
)
from jax_chip.compiler.kernels.base import KernelKind

KINDS: tuple[KernelKind, ...] = (
    elementwise.KIND,
    dot_general.KIND,
    reduce.KIND,
    concatenate.KIND,
    copy.KIND,
    control_flow.WHILE,
    control_flow.CASE,
    gather.KIND,
    scatter.KIND,
    dynamic_slice.KIND,
    dynamic_update_slice.KIND,
    pad.KIND,
    sort.KIND,
    top_k.KIND,
    variadic_reduce.KIND,
    reduce_window.KIND,
    custom_call.KIND,
    convolution.KIND,
    triangular_solve.KIND,
    ragged_dot.KIND,
)

BY_OP: dict[str, KernelKind] = {op: k for k in KINDS for op in k.ops}
BY_NAME: dict[str, KernelKind] = {k.name: k for k in KINDS}
# graph ops that are storage only, never kernels: constants (CONSTANT storage) and reshapes (an
# alias of their operand's storage)
STORAGE_ONLY_OPS = frozenset({"stablehlo.constant", "stablehlo.reshape"})


def for_node(node: Node) -> KernelKind | None:
    """The kind of kernel `node` is emitted as, or None (not a kernel)."""
    return BY_OP.get(node.op)


def for_desc(desc: Any) -> KernelKind:
    """The kind of a kernel description (its OP_TYPE)."""
    return BY_NAME[desc.OP_TYPE]


def is_kernel(node: Node) -> bool:
    return node.op in BY_OP


def in_place_pairs(node: Node) -> list[tuple[int, int]] | None:
    """[(result, operand)] the kernel may compute by updating the operand in place, or None
    when the kernel never does."""
    kind = BY_OP.get(node.op)
    if kind is None or kind.in_place is None:
        return None
    return kind.in_place(node)


def doc_kernel(spec: OpSpec) -> str:
    """What an op becomes, for docs/ops.md: the kernel kind taking it (or the op a pass rewrites
    it to), else the registry's description ("view", "(identity)", ...)."""
    kind = BY_OP.get(spec.becomes or spec.name)
    return kind.name if kind is not None else spec.kernel
