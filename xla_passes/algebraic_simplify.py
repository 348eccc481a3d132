"""Algebraic rewrites that change rounding the way XLA's algebraic simplifier does, so the chip
rounds like the cpu backend (which runs them before compiling):

- A / C  -> A * (1/C)           f32 and f16, C a constant (or broadcast constant), A not one;
                                1/C is computed in C's type
- A / sqrt(B)   -> A * rsqrt(B)     A / rsqrt(B) -> A * sqrt(B)
- A / exp(B)    -> A * exp(-B)      A / pow(B, C) -> A * pow(B, -C)
- (A / B) / C   -> A / (B * C)      A / (B / C)   -> (A * C) / B
- (A / B) / (C / D) -> (A * D) / (B * C)
- pow(A, c) for c in {0, 1, 2, 3, -1, 0.5}: 1, A, A*A, A*A*A, 1/A, sqrt(A)
- log(exp(A)) -> A
Each rewrite matches what jax's cpu backend computes bit for bit on the same inputs (checked in
tests/compiler/test_algebraic_simplify.py); without them a rounding difference of one ulp in,
say, RoPE's inverse frequencies (1 / pow(base, i/d)) grows with the position to visible
differences. bf16 division is left alone (the cpu backend divides bf16 in f32).
Like XLA, the rules look through nothing but a broadcast of a constant, and run twice: before
constant folding and again after it (pipeline.py), when a divisor such as broadcast(pow(c1, c2))
has become a constant and is inverted.
"""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, TensorType, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope

_INVERT_TYPES = frozenset({"f32", "f16"})
_FLOATS = frozenset({"f32", "f16", "bf16"})


def _constant_of(v: Value) -> np.ndarray | None:
    """The value of a constant (or of a broadcast of a constant), broadcast to v's shape."""
    p = v.producer
    if p is None:
        return None
    if p.op == "stablehlo.constant" and p.attrs.get("value") is not None:
        return np.broadcast_to(np.asarray(p.attrs["value"]), v.type.shape)
    if p.op == "stablehlo.broadcast_in_dim":
        inner = _constant_of(p.operands[0])
        if inner is None:
            return None
        dims = p.attrs["broadcast_dimensions"]
        shape = [1] * v.type.rank
        for j, d in enumerate(dims):
            shape[d] = inner.shape[j]
        return np.broadcast_to(inner.reshape(shape), v.type.shape)
    return None


def _scalar_constant(v: Value) -> float | None:
    c = _constant_of(v)
    if c is None or c.size == 0:
        return None
    flat = np.asarray(c, dtype=np.float64).reshape(-1)
    return float(flat[0]) if np.all(flat == flat[0]) else None


class _Rewriter:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.out: list[Node] = []

    def emit(self, op: str, operands: list[Value], t: TensorType, like: Node,
             attrs: dict | None = None) -> Value:
        n = self.graph.make_node(op, operands, [t], attrs or {}, like.loc)
        self.out.append(n)
        return n.result

    def constant(self, value: np.ndarray, t: TensorType, like: Node) -> Value:
        arr = np.ascontiguousarray(np.asarray(value).astype(dtypes.numpy_dtype(t.dtype)))
        splat = arr.size > 0 and bool(np.all(arr.reshape(-1) == arr.reshape(-1)[0]))
        if splat:
            scalar = arr.reshape(-1)[:1].reshape(())
            c = self.emit("stablehlo.constant", [], TensorType(t.dtype, ()), like,
                          {"value": scalar, "splat": False})
            if t.rank == 0:
                return c
            return self.emit("stablehlo.broadcast_in_dim", [c], t, like,
                             {"broadcast_dimensions": ()})
        return self.emit("stablehlo.constant", [], t, like, {"value": arr, "splat": False})

    # ---- rules -----------------------------------------------------------------------------

    def divide(self, n: Node) -> Value | None:
        """XLA's order: A/C, (A/B)/(C/D), (A/B)/C, A/(B/C), A/exp, A/pow, A/sqrt, A/rsqrt."""
        a, b = n.operands
        t = n.result.type
        if t.dtype not in _FLOATS:
            return None
        c = _constant_of(b)
        if c is not None:
            if t.dtype not in _INVERT_TYPES or _constant_of(a) is not None:
                return None
            with np.errstate(all="ignore"):
                npt = dtypes.numpy_dtype(t.dtype)
                inv = (np.asarray(1.0, npt) / np.asarray(c, npt)).astype(npt)
            return self.emit("stablehlo.multiply", [a, self.constant(inv, t, n)], t, n)
        ap, bp = a.producer, b.producer
        a_div = ap is not None and ap.op == "stablehlo.divide"
        b_div = bp is not None and bp.op == "stablehlo.divide"
        mul = "stablehlo.multiply"
        if a_div and b_div:                  # (A / B) / (C / D) -> (A * D) / (B * C)
            (aa, ab), (bc, bd) = ap.operands, bp.operands
            return self.emit("stablehlo.divide", [self.emit(mul, [aa, bd], t, n),
                                                  self.emit(mul, [ab, bc], t, n)], t, n)
        if a_div:                            # (A / B) / C -> A / (B * C)
            aa, ab = ap.operands
            return self.emit("stablehlo.divide", [aa, self.emit(mul, [ab, b], t, n)], t, n)
        if b_div:                            # A / (B / C) -> (A * C) / B
            bb, bc = bp.operands
            return self.emit("stablehlo.divide", [self.emit(mul, [a, bc], t, n), bb], t, n)
        if bp is None:
            return None
        if bp.op == "stablehlo.exponential":
            neg = self.emit("stablehlo.negate", bp.operands, t, n)
            return self.emit(mul, [a, self.emit("stablehlo.exponential", [neg], t, n)], t, n)
        if bp.op == "stablehlo.power":
            base, exp = bp.operands
            neg = self.emit("stablehlo.negate", [exp], exp.type, n)
            return self.emit(mul, [a, self.emit("stablehlo.power", [base, neg], t, n)], t, n)
        if bp.op == "stablehlo.sqrt":
            return self.emit(mul, [a, self.emit("stablehlo.rsqrt", bp.operands, t, n)], t, n)
        if bp.op == "stablehlo.rsqrt":
            return self.emit(mul, [a, self.emit("stablehlo.sqrt", bp.operands, t, n)], t, n)
        return None

    def power(self, n: Node) -> Value | None:
        a, e = n.operands
        t = n.result.type
        if t.dtype not in _FLOATS:
            return None
        k = _scalar_constant(e)
        if k is None:
            return None
        if k == 0.0:
            return self.constant(np.ones(t.shape), t, n)
        if k == 1.0:
            return a
        if k == 2.0:
            return self.emit("stablehlo.multiply", [a, a], t, n)
        if k == 3.0:
            sq = self.emit("stablehlo.multiply", [a, a], t, n)
            return self.emit("stablehlo.multiply", [sq, a], t, n)
        if k == -1.0:
            return self.emit("stablehlo.divide", [self.constant(np.ones(t.shape), t, n), a], t, n)
        if k == 0.5:
            return self.emit("stablehlo.sqrt", [a], t, n)
        return None

    def log(self, n: Node) -> Value | None:
        p = n.operands[0].producer
        if p is not None and p.op == "stablehlo.exponential" and n.result.type.dtype in _FLOATS:
            return p.operands[0]
        return None


def run(graph: Graph, ctx: PassContext) -> bool:
    rw = _Rewriter(graph)
    repl: dict[Value, Value] = {}
    for node in graph.nodes:
        node.operands = [repl.get(o, o) for o in node.operands]
        new: Value | None = None
        if node.op == "stablehlo.divide":
            new = rw.divide(node)
        elif node.op == "stablehlo.power":
            new = rw.power(node)
        elif node.op == "stablehlo.log":
            new = rw.log(node)
        if new is None:
            rw.out.append(node)
        else:
            repl[node.result] = new
    graph.nodes = rw.out
    for o in graph.outputs:
        o.value = repl.get(o.value, o.value)
    return graph.remove_dead_nodes() > 0 or bool(repl)


PASS = Pass("algebraic_simplify", Scope.FUNCTION, run)
