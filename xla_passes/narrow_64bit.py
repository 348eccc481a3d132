"""Narrows 64-bit integer computations whose values provably fit in 32 bits.

jax's threefry PRNG (jax.random with jax_threefry_partitionable, the default) counts its blocks
with a u64 iota even when jax_enable_x64 is off: iota_2x32_shape computes
`i = sum_d iota_d * stride_d` in u64 and splits it into `convert(i >> 32)` and `convert(i)` as
u32. The chip has no 64-bit types, but these values are element indices, far below 2**32, so
the same computation in 32 bits gives the same bits (the high word is a u32 shift by 32, which is
0 in StableHLO, exactly as the u64 value's high word).

The pass bounds every integer value with interval arithmetic (iota, constants, movement ops,
add/subtract/multiply/shifts/and/or/min/max/select/remainder/convert); if every 64-bit value of a
function lies in the range of its 32-bit counterpart (u64 -> u32, s64 -> s32), is computed only
by those ops and is not a result of the function, all of them become 32-bit. Otherwise the
function is left alone and check_types reports the 64-bit type as before.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, TensorType, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope

NARROW = {"u64": "u32", "s64": "s32"}
_RANGE = {"u32": (0, 2**32 - 1), "s32": (-2**31, 2**31 - 1), "u16": (0, 2**16 - 1),
          "s16": (-2**15, 2**15 - 1), "u8": (0, 255), "s8": (-128, 127), "pred": (0, 1),
          "u64": (0, 2**64 - 1), "s64": (-2**63, 2**63 - 1)}
_MOVEMENT = frozenset({"stablehlo.broadcast_in_dim", "stablehlo.reshape", "stablehlo.transpose",
                       "stablehlo.slice", "stablehlo.reverse"})

Interval = Optional[tuple[int, int]]


def _type_range(t: TensorType) -> Interval:
    return _RANGE.get(t.dtype)


def _interval(n: Node, iv: dict[Value, Interval]) -> Interval:
    """Bounds of n's (single) integer result, or None when unknown."""
    ins = [iv.get(o) if o in iv else _type_range(o.type) for o in n.operands]
    op = n.op
    if op == "stablehlo.iota":
        d = n.result.type.shape[n.attrs["iota_dimension"]]
        return (0, max(d - 1, 0))
    if op == "stablehlo.constant":
        v = n.attrs.get("value")
        if v is None or np.asarray(v).size == 0:
            return None
        a = np.asarray(v)
        return (int(a.min()), int(a.max()))
    if any(i is None for i in ins):
        return None
    if op in _MOVEMENT or op == "stablehlo.concatenate":
        return (min(i[0] for i in ins), max(i[1] for i in ins))
    if op == "stablehlo.convert":
        return ins[0] if n.operands[0].type.dtype in _RANGE else None
    if op == "stablehlo.add":
        return (ins[0][0] + ins[1][0], ins[0][1] + ins[1][1])
    if op == "stablehlo.subtract":
        return (ins[0][0] - ins[1][1], ins[0][1] - ins[1][0])
    if op == "stablehlo.multiply":
        ps = [a * b for a in ins[0] for b in ins[1]]
        return (min(ps), max(ps))
    if op in ("stablehlo.maximum", "stablehlo.minimum"):
        f = max if op == "stablehlo.maximum" else min
        return (f(ins[0][0], ins[1][0]), f(ins[0][1], ins[1][1]))
    if op == "stablehlo.select":
        return (min(ins[1][0], ins[2][0]), max(ins[1][1], ins[2][1]))
    if op == "stablehlo.clamp":
        return (max(ins[1][0], ins[0][0]), min(ins[1][1], ins[2][1]))
    (lo, hi), (slo, shi) = ins[0], ins[1] if len(ins) > 1 else (0, 0)
    if op in ("stablehlo.shift_right_logical", "stablehlo.shift_right_arithmetic"):
        if lo < 0 or slo < 0:
            return None
        return (lo >> shi, hi >> slo)
    if op == "stablehlo.shift_left":
        if lo < 0 or slo < 0 or shi > 63:
            return None
        return (lo << slo, hi << shi)
    if op == "stablehlo.and":
        if lo >= 0 and slo >= 0:
            return (0, min(hi, shi))
        return None
    if op in ("stablehlo.or", "stablehlo.xor"):
        if lo >= 0 and slo >= 0:
            return (0, (1 << max(hi, shi).bit_length()) - 1)
        return None
    if op in ("stablehlo.remainder", "stablehlo.divide"):
        if lo >= 0 and slo > 0:
            return (0, min(hi, shi - 1)) if op == "stablehlo.remainder" else (lo // shi, hi // slo)
        return None
    return None


_NARROWABLE = frozenset({
    "stablehlo.iota", "stablehlo.constant", "stablehlo.concatenate", "stablehlo.convert",
    "stablehlo.add", "stablehlo.subtract", "stablehlo.multiply", "stablehlo.maximum",
    "stablehlo.minimum", "stablehlo.select", "stablehlo.clamp", "stablehlo.shift_right_logical",
    "stablehlo.shift_right_arithmetic", "stablehlo.shift_left", "stablehlo.and", "stablehlo.or",
    "stablehlo.xor", "stablehlo.remainder", "stablehlo.divide", "stablehlo.compare",
}) | _MOVEMENT


def _is_wide(v: Value) -> bool:
    return v.type.dtype in NARROW


def narrow_graph(graph: Graph) -> bool:
    """Narrows the graph's 64-bit integer values if all of them fit; returns whether it did."""
    wide: list[Value] = [r for n in graph.nodes for r in n.results if _is_wide(r)]
    if not wide:
        return False
    if any(_is_wide(p.value) for p in graph.params) or any(_is_wide(o.value)
                                                             for o in graph.outputs):
        return False
    iv: dict[Value, Interval] = {}
    for n in graph.nodes:
        touches = any(_is_wide(v) for v in list(n.operands) + list(n.results))
        if touches and (n.op not in _NARROWABLE or n.regions):
            return False
        if len(n.results) == 1 and n.result.type.dtype in _RANGE:
            iv[n.result] = _interval(n, iv)
    for v in wide:
        b = iv.get(v)
        lo, hi = _RANGE[NARROW[v.type.dtype]]
        if b is None or b[0] < lo or b[1] > hi:
            return False
    for n in graph.nodes:
        for r in n.results:
            if _is_wide(r):
                r.type = r.type.with_dtype(NARROW[r.type.dtype])
        if n.op == "stablehlo.constant" and n.attrs.get("value") is not None:
            t = n.result.type
            narrow = {"u32": np.uint32, "s32": np.int32}.get(t.dtype)
            if narrow is not None and np.asarray(n.attrs["value"]).dtype.itemsize == 8:
                n.attrs["value"] = np.asarray(n.attrs["value"]).astype(narrow)
    return True


def run(graph: Graph, ctx: PassContext) -> bool:
    return narrow_graph(graph)


PASS = Pass("narrow_64bit", Scope.FUNCTION, run)
