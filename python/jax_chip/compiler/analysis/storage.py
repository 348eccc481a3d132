"""Storage sharing between values: reshape aliases, kernels that update an operand in place,
the bytes of constants (output aliasing, loop-carried values in place, memory planning)."""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.graph import Node, TensorType, Value
from jax_chip.compiler.kernels import registry
from jax_chip.compiler.lowering import index_map
from jax_chip.compiler.lowering.ew_codegen import program_for

# node.attrs[SHARES_STORAGE] = ((result index, operand index), ...): the result is written over
# the operand's storage (set by xla_passes/loop_carry_inplace.py, read by memory planning)
SHARES_STORAGE = "shares_storage"


def storage_root(v: Value) -> Value:
    """The value whose storage `v` shares (through zero-copy reshapes)."""
    while v.producer is not None and v.producer.op == "stablehlo.reshape":
        v = v.producer.operands[0]
    return v


def reads_only_identity(node: Node, aliases: set[Value]) -> bool:
    """Does Elementwise `node` read values in `aliases` only at the element it writes?"""
    if node.op != "chip.fusion":
        return False
    prog = program_for(node)
    dims = prog.dims
    for view in prog.views:
        src = node.operands[view.input]
        if src not in aliases:
            continue
        if src.type.num_elements != prog.num_elements:
            return False
        if not index_map.is_identity(index_map.FlatMap(view.offset, view.strides), dims):
            return False
    return True


def updates_in_place(node: Node, result: Value, aliases: set[Value]) -> bool:
    """Does `node` (scatter, dynamic_update_slice, a while carrying the value) compute `result`
    by updating the operand in `aliases` in place, reading the aliases through that operand
    only? A while's carried result k starts as its initial value k (the runtime's initial copy
    is skipped when both share memory) and its regions do not see the operand otherwise."""
    if result.producer is not node:
        return False
    if node.op == "stablehlo.while":
        pairs = [(result.index, result.index)] if result.index < node.attrs["num_carried"] else []
    else:
        found = registry.in_place_pairs(node)   # scatter, dynamic_update_slice, custom calls
        if found is None:
            return False
        pairs = found
    for r, o in pairs:
        if r != result.index or node.operands[o] not in aliases:
            continue
        return not any(v in aliases for i, v in enumerate(node.operands) if i != o)
    return False


def constant_bytes(value: np.ndarray, t: TensorType) -> bytes:
    """Raw little-endian bytes of a constant of type t (splats are expanded)."""
    arr = np.broadcast_to(np.asarray(value), t.shape)
    if t.dtype == "pred":
        return np.ascontiguousarray(arr.astype(np.uint8)).tobytes()
    if t.dtype in dtypes.INT4:
        return dtypes.pack_int4(np.asarray(arr, dtype=dtypes.numpy_dtype(t.dtype)))
    return np.ascontiguousarray(arr.astype(dtypes.numpy_dtype(t.dtype).newbyteorder("<"))).tobytes()
