"""Elementwise ops -> register code: how each op of kind "elementwise" (ir/ops.py) becomes
instructions of an Elementwise kernel's register program (lowering/ew_codegen.py). Most ops are
one instruction (their registry `ewop`); the others are lowered here (compare with TOTALORDER,
convert, clamp, reduce_precision, bitcast_convert, erf/erfc computed in f32)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from jax_chip.compiler.ir import dtypes as dt
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.ir.graph import Node

if TYPE_CHECKING:
    from jax_chip.compiler.lowering.ew_codegen import InstrBuilder

# lower(builder, node, operand registers) -> result register
Lowering = Callable[["InstrBuilder", Node, list[int]], int]


def _total_order_key(b: InstrBuilder, dtype: str, x: int) -> int:
    """Signed integer whose order is the float's total order (-NaN < -inf < -0 < +0 < +NaN):
    the bits, with all but the sign flipped for negative values."""
    bits = dt.info(dtype).bits
    it = {8: "s8", 16: "s16", 32: "s32"}[bits]
    s = b.emit("BITCAST_CONVERT", it, x)
    sign = b.emit("SHR_ARITHMETIC", it, s, b.const(it, bits - 1))
    flip = b.emit("AND", it, sign, b.const(it, (1 << (bits - 1)) - 1))
    return b.emit("XOR", it, s, flip)


def _compare(b: InstrBuilder, node: Node, args: list[int]) -> int:
    direction = node.attrs["comparison_direction"]
    src = node.operands[0].type.dtype
    if node.attrs.get("compare_type") == "TOTALORDER" and dt.info(src).is_float:
        args = [_total_order_key(b, src, a) for a in args]
    return b.emit(f"CMP_{direction}", "pred", *args)


def _convert(b: InstrBuilder, node: Node, args: list[int]) -> int:
    src, dst = node.operands[0].type.dtype, node.result.type.dtype
    if src == dst:
        return args[0]
    return b.emit("CONVERT", dst, args[0])


def _clamp(b: InstrBuilder, node: Node, args: list[int]) -> int:
    # clamp(min, x, max) = min(max(x, min), max): XLA's definition, no extra EwOp needed.
    lo, x, hi = args
    t = node.result.type.dtype
    return b.emit("MIN", t, b.emit("MAX", t, x, lo), hi)


def _reduce_precision(b: InstrBuilder, node: Node, args: list[int]) -> int:
    imm = (int(node.attrs["exponent_bits"]) << 16) | int(node.attrs["mantissa_bits"])
    return b.emit("REDUCE_PRECISION", node.result.type.dtype, args[0], imm_i=imm)


def _in_f32(ewops: Callable[[InstrBuilder, int], int]) -> Lowering:
    """Computes a composite op in f32 and rounds once to the result dtype."""
    def lower(b: InstrBuilder, node: Node, args: list[int]) -> int:
        t = node.result.type.dtype
        x = args[0] if t == "f32" else b.emit("CONVERT", "f32", args[0])
        r = ewops(b, x)
        return r if t == "f32" else b.emit("CONVERT", t, r)
    return lower


def _erfc_f32(b: InstrBuilder, x: int) -> int:
    return b.emit("SUB", "f32", b.const("f32", 1.0), b.emit("ERF", "f32", x))


def _bitcast(b: InstrBuilder, node: Node, args: list[int]) -> int:
    src, dst = node.operands[0].type.dtype, node.result.type.dtype
    if src == dst:
        return args[0]
    return b.emit("BITCAST_CONVERT", dst, args[0])


LOWERINGS: dict[str, Lowering] = {
    "stablehlo.compare": _compare,
    "stablehlo.clamp": _clamp,
    "stablehlo.convert": _convert,
    "stablehlo.bitcast_convert": _bitcast,
    "stablehlo.reduce_precision": _reduce_precision,
    "chlo.erf": _in_f32(lambda b, x: b.emit("ERF", "f32", x)),
    "chlo.erfc": _in_f32(_erfc_f32),
}


def lower(b: "InstrBuilder", node: Node, args: list[int]) -> int:
    """The register holding elementwise `node`'s result, given its operands' registers."""
    fn = LOWERINGS.get(node.op)
    if fn is not None:
        return fn(b, node, args)
    spec = op_registry.lookup(node.op)
    assert spec is not None and spec.kind == "elementwise", node.op
    return b.emit(spec.ewop, node.result.type.dtype, *args)
