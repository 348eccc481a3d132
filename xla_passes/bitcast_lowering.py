"""Bitcast lowering: `stablehlo.bitcast_convert` between an 8-bit type (s8, u8, fp8) and a 4-bit
one (s4, u4) becomes shifts and masks on u8, which the Elementwise kernel runs.

XLA's semantics (what XLA:CPU computes): an 8-bit `[..]` becomes a 4-bit `[.., 2]` whose element
0 is the byte's low nibble and element 1 its high nibble, and back. Same-width bitcasts stay
BITCAST_CONVERT instructions; other width changes are rejected by check_supported.
"""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, TensorType, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope

OP = "stablehlo.bitcast_convert"
_BYTES = frozenset({"s8", "u8"}) | dtypes.FP8


class _Emitter:
    def __init__(self, graph: Graph, loc: str):
        self.graph, self.loc, self.nodes = graph, loc, []

    def emit(self, op: str, operands: list[Value], t: TensorType, attrs: dict | None = None) -> Value:
        node = self.graph.make_node(op, operands, [t], attrs or {}, self.loc)
        self.nodes.append(node)
        return node.result

    def retype(self, op: str, v: Value, dtype: str) -> Value:
        return v if v.type.dtype == dtype else self.emit(op, [v], v.type.with_dtype(dtype))

    def splat(self, x: int, t: TensorType) -> Value:
        c = self.emit("stablehlo.constant", [], TensorType(t.dtype, ()),
                      {"value": np.asarray(x, dtypes.numpy_dtype(t.dtype)), "splat": False})
        return self.emit("stablehlo.broadcast_in_dim", [c], t, {"broadcast_dimensions": ()})


def _split(e: _Emitter, x: Value, out: TensorType) -> Value:
    """8-bit [..] -> 4-bit [.., 2]: nibble j of each byte is (byte >> 4j) & 0xF."""
    wide = TensorType("u8", out.shape)
    b = e.emit("stablehlo.broadcast_in_dim", [e.retype(OP, x, "u8")], wide,
               {"broadcast_dimensions": tuple(range(x.type.rank))})
    j = e.emit("stablehlo.iota", [], wide, {"iota_dimension": out.rank - 1})
    shift = e.emit("stablehlo.shift_left", [j, e.splat(2, wide)], wide)
    nibbles = e.emit("stablehlo.shift_right_logical", [b, shift], wide)
    return e.retype(OP, e.retype("stablehlo.convert", nibbles, "u4"), out.dtype)


def _join(e: _Emitter, x: Value, out: TensorType) -> Value:
    """4-bit [.., 2] -> 8-bit [..]: low nibble | high nibble << 4."""
    u = e.retype(OP, x, "u4")
    rank = x.type.rank
    halves = []
    for j in (0, 1):
        start = (0,) * (rank - 1) + (j,)
        limit = x.type.shape[:-1] + (j + 1,)
        part = e.emit("stablehlo.slice", [u], TensorType("u4", limit[:-1] + (1,)),
                      {"start_indices": start, "limit_indices": limit, "strides": (1,) * rank})
        part = e.emit("stablehlo.reshape", [part], TensorType("u4", out.shape))
        halves.append(e.retype("stablehlo.convert", part, "u8"))
    wide = TensorType("u8", out.shape)
    high = e.emit("stablehlo.shift_left", [halves[1], e.splat(4, wide)], wide)
    return e.retype(OP, e.emit("stablehlo.or", [halves[0], high], wide), out.dtype)


def run(graph: Graph, ctx: PassContext) -> bool:
    out: list[Node] = []
    changed = False
    for node in graph.nodes:
        if node.op == OP:
            src, dst = node.operands[0].type, node.result.type
            e = _Emitter(graph, node.loc)
            if src.dtype in _BYTES and dst.dtype in dtypes.INT4 and dst.shape == src.shape + (2,):
                new = _split(e, node.operands[0], dst)
            elif src.dtype in dtypes.INT4 and dst.dtype in _BYTES and src.shape == dst.shape + (2,):
                new = _join(e, node.operands[0], dst)
            else:
                out.append(node)
                continue
            out.extend(e.nodes)
            graph.replace_all_uses(node.result, new)
            changed = True
            continue
        out.append(node)
    graph.nodes = out
    return changed


PASS = Pass("bitcast_lowering", Scope.FUNCTION, run)
