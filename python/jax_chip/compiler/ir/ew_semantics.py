"""The Elementwise kernel's instructions (EwOp) as the compiler sees them: op codes, operand
counts and cost classes, read from the plugin's instruction table
(pjrt_plugin/kernels/elementwise_ops.h, exported as chip_elementwise_ops_json; jax_chip.native).

What the instructions compute lives only in the kernels (pjrt_plugin/kernels/elementwise.cc):
the compiler evaluates constants by running them (xla_passes/constant_folding.py,
compiler/chip_eval.py).

Module attributes, computed on first use:
  EWOPS           name -> EwOp value
  EWOP_NAMES      EwOp value -> name
  TRANSCENDENTAL  instructions the cost model counts at the transcendental rate
  FREE            instructions that do no arithmetic (LOAD, CONST, IOTA: not vector work)
"""

from __future__ import annotations

import functools
from typing import Any

from jax_chip import native

_FREE_ARITIES = frozenset({"view", "none", "dim"})


@functools.cache
def _operand_counts() -> dict[str, int]:
    return {op.name: op.operands for op in native.elementwise_ops()}


def num_operands(op: str) -> int:
    """Register operands of instruction `op` (0 for LOAD, CONST, IOTA)."""
    return _operand_counts()[op]


@functools.cache
def _attribute(name: str) -> Any:
    ops = native.elementwise_ops()
    if name == "EWOPS":
        return {op.name: op.value for op in ops}
    if name == "EWOP_NAMES":
        return {op.value: op.name for op in ops}
    if name == "TRANSCENDENTAL":
        return frozenset(op.name for op in ops if op.transcendental)
    if name == "FREE":
        return frozenset(op.name for op in ops if op.arity in _FREE_ARITIES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __getattr__(name: str) -> Any:
    return _attribute(name)
