"""complex64 ops -> f32 ops on (real, imaginary) pairs: the rules of the complex_lowering pass
(xla_passes/complex_lowering.py), one per StableHLO op, and their docs/ops.md notes (`RULES`).

A complex value becomes a `Pair` of f32 values of its shape (planar: real parts, imaginary parts).
The formulas follow XLA:CPU's elemental emitter: complex abs as a scaled hypot
(max * sqrt(1 + (min/max)^2)), log as log|z| + i*atan2(im, re), Smith's division, pow as
|x|^c e^(-d arg x) (cos q + i sin q) with its 0^y cases; sqrt is Kahan's principal branch,
sin/cos go through exp (sinh through expm1 for small imaginary parts) and tan is
(tan a + i tanh b) / (1 - i tan a tanh b), each accurate to a few f32 ulps of the result's scale
(the bounds: docs/numerics.md, tests/test_complex.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.errors import UnsupportedError, at
from jax_chip.compiler.ir.graph import Graph, Node, TensorType, Value

F32 = "f32"
C64 = "c64"


@dataclass(frozen=True)
class Pair:
    re: Value
    im: Value


Lowered = Union[Value, Pair]


class Emitter:
    """Appends f32 ops for one original node (its location) to `nodes`."""

    def __init__(self, graph: Graph, nodes: list[Node], loc: str):
        self.graph, self.nodes, self.loc = graph, nodes, loc

    def emit(self, op: str, operands: list[Value], types: list[TensorType],
             attrs: dict[str, Any] | None = None, regions: list[Graph] | None = None) -> list[Value]:
        n = self.graph.make_node(op, operands, types, attrs, self.loc)
        if regions:
            n.regions = list(regions)
        self.nodes.append(n)
        return n.results

    def op(self, op: str, *operands: Value, dtype: str = F32, attrs: dict[str, Any] | None = None,
           shape: tuple[int, ...] | None = None) -> Value:
        shp = operands[0].type.shape if shape is None else shape
        return self.emit(op, list(operands), [TensorType(dtype, shp)], attrs)[0]

    def const(self, x: float, like: Value, dtype: str = F32) -> Value:
        np_t = dtypes.numpy_dtype(dtype)
        return self.emit("stablehlo.constant", [], [TensorType(dtype, like.type.shape)],
                         {"value": np.asarray(x, dtype=np_t), "splat": True})[0]

    # real arithmetic
    def add(self, a: Value, b: Value) -> Value: return self.op("stablehlo.add", a, b)
    def sub(self, a: Value, b: Value) -> Value: return self.op("stablehlo.subtract", a, b)
    def mul(self, a: Value, b: Value) -> Value: return self.op("stablehlo.multiply", a, b)
    def div(self, a: Value, b: Value) -> Value: return self.op("stablehlo.divide", a, b)
    def neg(self, a: Value) -> Value: return self.op("stablehlo.negate", a)
    def abs(self, a: Value) -> Value: return self.op("stablehlo.abs", a)
    def max(self, a: Value, b: Value) -> Value: return self.op("stablehlo.maximum", a, b)
    def min(self, a: Value, b: Value) -> Value: return self.op("stablehlo.minimum", a, b)
    def un(self, op: str, a: Value) -> Value: return self.op(f"stablehlo.{op}", a)
    def atan2(self, a: Value, b: Value) -> Value: return self.op("stablehlo.atan2", a, b)

    def cmp(self, direction: str, a: Value, b: Value) -> Value:
        ctype = "FLOAT" if a.type.dtype == F32 else "SIGNED"
        return self.op("stablehlo.compare", a, b, dtype="pred",
                       attrs={"comparison_direction": direction, "compare_type": ctype})

    def select(self, p: Value, a: Value, b: Value) -> Value:
        return self.op("stablehlo.select", p, a, b, dtype=a.type.dtype, shape=a.type.shape)

    def logic(self, op: str, a: Value, b: Value) -> Value:
        return self.op(f"stablehlo.{op}", a, b, dtype="pred")

    def scale(self, a: Value, s: float) -> Value:
        return self.mul(a, self.const(s, a))

    # complex arithmetic on pairs
    def cmul(self, x: Pair, y: Pair) -> Pair:
        return Pair(self.sub(self.mul(x.re, y.re), self.mul(x.im, y.im)),
                    self.add(self.mul(x.re, y.im), self.mul(x.im, y.re)))

    def cdiv(self, x: Pair, y: Pair) -> Pair:
        """Smith's algorithm, as XLA: scale by the ratio of the divisor's smaller to larger part;
        a zero divisor gives copysign(inf, y.re) * x."""
        a, b, c, d = x.re, x.im, y.re, y.im
        c_big = self.cmp("GE", self.abs(c), self.abs(d))
        # |c| >= |d|: r = d/c, den = c + d r, re = (a + b r)/den, im = (b - a r)/den
        r1 = self.div(d, c)
        den1 = self.add(c, self.mul(d, r1))
        re1 = self.div(self.add(a, self.mul(b, r1)), den1)
        im1 = self.div(self.sub(b, self.mul(a, r1)), den1)
        # else: r = c/d, den = c r + d, re = (a r + b)/den, im = (b r - a)/den
        r2 = self.div(c, d)
        den2 = self.add(self.mul(c, r2), d)
        re2 = self.div(self.add(self.mul(a, r2), b), den2)
        im2 = self.div(self.sub(self.mul(b, r2), a), den2)
        re, im = self.select(c_big, re1, re2), self.select(c_big, im1, im2)
        zero = self.const(0.0, c)
        y_zero = self.logic("and", self.cmp("EQ", c, zero), self.cmp("EQ", d, zero))
        inf = self.select(self.cmp("LT", c, zero), self.const(-math.inf, c), self.const(math.inf, c))
        return Pair(self.select(y_zero, self.mul(inf, a), re), self.select(y_zero, self.mul(inf, b), im))

    def cabs(self, x: Pair) -> Value:
        """XLA's complex abs: max * sqrt(1 + (min/max)^2); equal parts (both 0 or both inf)
        give max * sqrt(2)."""
        aa, ab = self.abs(x.re), self.abs(x.im)
        mx, mn = self.max(aa, ab), self.min(aa, ab)
        r = self.div(mn, mx)
        scaled = self.mul(mx, self.un("sqrt", self.add(self.const(1.0, r), self.mul(r, r))))
        return self.select(self.cmp("EQ", mx, mn), self.scale(mx, math.sqrt(2.0)), scaled)

    def cexp(self, x: Pair) -> Pair:
        e = self.un("exponential", x.re)
        return Pair(self.mul(e, self.un("cosine", x.im)), self.mul(e, self.un("sine", x.im)))

    def clog(self, x: Pair) -> Pair:
        return Pair(self.un("log", self.cabs(x)), self.atan2(x.im, x.re))

    def csqrt(self, x: Pair) -> Pair:
        """Kahan: t = sqrt((|re| + |z|)/2); re >= 0: (t, im/(2t)); else (|im|/(2t), +-t with the
        sign of im); z = 0 gives (0, im)."""
        a, b = x.re, x.im
        t = self.un("sqrt", self.scale(self.add(self.abs(a), self.cabs(x)), 0.5))
        q = self.div(b, self.scale(t, 2.0))
        zero = self.const(0.0, a)
        pos = self.cmp("GE", a, zero)
        t_signed = self.select(self.cmp("LT", b, zero), self.neg(t), t)
        re = self.select(pos, t, self.abs(q))
        im = self.select(pos, q, t_signed)
        t_zero = self.cmp("EQ", t, zero)
        return Pair(self.select(t_zero, zero, re), self.select(t_zero, b, im))

    def cosh_sinh(self, b: Value) -> tuple[Value, Value]:
        """(cosh b, sinh b) from exp; sinh through expm1 where |b| < 1 (no cancellation)."""
        e, en = self.un("exponential", b), self.un("exponential", self.neg(b))
        cosh = self.scale(self.add(e, en), 0.5)
        sinh_big = self.scale(self.sub(e, en), 0.5)
        sinh_small = self.scale(self.sub(self.un("exponential_minus_one", b),
                                         self.un("exponential_minus_one", self.neg(b))), 0.5)
        small = self.cmp("LT", self.abs(b), self.const(1.0, b))
        return cosh, self.select(small, sinh_small, sinh_big)

    def csin(self, x: Pair) -> Pair:
        ch, sh = self.cosh_sinh(x.im)
        return Pair(self.mul(self.un("sine", x.re), ch), self.mul(self.un("cosine", x.re), sh))

    def ccos(self, x: Pair) -> Pair:
        ch, sh = self.cosh_sinh(x.im)
        return Pair(self.mul(self.un("cosine", x.re), ch), self.neg(self.mul(self.un("sine", x.re), sh)))

    def ctan(self, x: Pair) -> Pair:
        """tan(a+bi) = (tan a + i tanh b) / (1 - i tan a tanh b), rationalized:
        (t (1 - h^2) + i h (1 + t^2)) / (1 + t^2 h^2) with t = tan a, h = tanh b (no overflow
        for large |b|: tanh saturates)."""
        t, h = self.un("tan", x.re), self.un("tanh", x.im)
        one = self.const(1.0, t)
        t2, h2 = self.mul(t, t), self.mul(h, h)
        den = self.add(one, self.mul(t2, h2))
        return Pair(self.div(self.mul(t, self.sub(one, h2)), den),
                    self.div(self.mul(h, self.add(one, t2)), den))

    def cpow(self, x: Pair, y: Pair) -> Pair:
        """XLA's complex power: |x|^c e^(-d arg x) (cos q + i sin q), q = c arg x + d ln|x|;
        x = 0 gives 1 for y = 0, 0 for re(y) > 0 and im(y) = 0, else NaN."""
        a, b, c, d = x.re, x.im, y.re, y.im
        zero, one = self.const(0.0, a), self.const(1.0, a)
        aa_bb = self.add(self.mul(a, a), self.mul(b, b))
        arg = self.atan2(b, a)
        half_log = self.scale(self.un("log", aa_bb), 0.5)
        coeff = self.un("exponential", self.sub(self.mul(c, half_log), self.mul(d, arg)))
        q = self.add(self.mul(c, arg), self.mul(d, half_log))
        re, im = self.mul(coeff, self.un("cosine", q)), self.mul(coeff, self.un("sine", q))
        x_zero = self.logic("and", self.cmp("EQ", a, zero), self.cmp("EQ", b, zero))
        y_zero = self.logic("and", self.cmp("EQ", c, zero), self.cmp("EQ", d, zero))
        y_pos_real = self.logic("and", self.cmp("GT", c, zero), self.cmp("EQ", d, zero))
        nan = self.const(math.nan, a)
        zero_re = self.select(y_zero, one, self.select(y_pos_real, zero, nan))
        zero_im = self.select(y_zero, zero, self.select(y_pos_real, zero, nan))
        return Pair(self.select(x_zero, zero_re, re), self.select(x_zero, zero_im, im))


# ---- the rules -------------------------------------------------------------------------------------

Rule = Callable[[Emitter, Node, list[Lowered]], list[Lowered]]


@dataclass(frozen=True)
class ComplexRule:
    rule: Rule
    note: str


RULES: dict[str, ComplexRule] = {}


def _rule(name: str, note: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = ComplexRule(fn, note)
        return fn
    return register


def _pair(v: Lowered, what: str, node: Node) -> Pair:
    if not isinstance(v, Pair):
        raise UnsupportedError(f"{node.op} with a real {what} and complex operands is not "
                               f"supported on the chip{at(node.loc)}")
    return v


def _unary(name: str, note: str, fn: Callable[[Emitter, Pair], Lowered]) -> None:
    _rule(name, note)(lambda e, n, a: [fn(e, _pair(a[0], "operand", n))])


def _binary(name: str, note: str, fn: Callable[[Emitter, Pair, Pair], Lowered]) -> None:
    _rule(name, note)(lambda e, n, a: [fn(e, _pair(a[0], "lhs", n), _pair(a[1], "rhs", n))])


_binary("stablehlo.add", "per part", lambda e, x, y: Pair(e.add(x.re, y.re), e.add(x.im, y.im)))
_binary("stablehlo.subtract", "per part", lambda e, x, y: Pair(e.sub(x.re, y.re), e.sub(x.im, y.im)))
_binary("stablehlo.multiply", "(ac - bd) + (ad + bc)i", Emitter.cmul)
_binary("stablehlo.divide", "Smith's algorithm (XLA's); x/0 = copysign(inf, re 0) * x", Emitter.cdiv)
_binary("stablehlo.power", "XLA's formula through atan2, log and exp; 0^y as XLA", Emitter.cpow)
_unary("stablehlo.negate", "per part", lambda e, x: Pair(e.neg(x.re), e.neg(x.im)))
_unary("stablehlo.abs", "f32 result: scaled hypot (XLA's)", Emitter.cabs)
_unary("stablehlo.exponential", "e^a (cos b + i sin b)", Emitter.cexp)
_unary("stablehlo.log", "log|z| + i atan2(b, a)", Emitter.clog)
_unary("stablehlo.sqrt", "Kahan's principal branch", Emitter.csqrt)
_unary("stablehlo.rsqrt", "1 / sqrt(z), Smith's division", lambda e, x: e.cdiv(
    Pair(e.const(1.0, x.re), e.const(0.0, x.re)), e.csqrt(x)))
_unary("stablehlo.sine", "sin a cosh b + i cos a sinh b", Emitter.csin)
_unary("stablehlo.cosine", "cos a cosh b - i sin a sinh b", Emitter.ccos)
_unary("stablehlo.tan", "(tan a + i tanh b) / (1 - i tan a tanh b), rationalized", Emitter.ctan)


def _tanh(e: Emitter, x: Pair) -> Pair:
    t = e.ctan(Pair(e.neg(x.im), x.re))     # tanh z = -i tan(iz)
    return Pair(t.im, e.neg(t.re))


_unary("stablehlo.tanh", "-i tan(iz)", _tanh)


def _logistic(e: Emitter, x: Pair) -> Pair:
    m = e.cexp(Pair(e.neg(x.re), e.neg(x.im)))
    return e.cdiv(Pair(e.const(1.0, x.re), e.const(0.0, x.re)), Pair(e.add(e.const(1.0, m.re), m.re), m.im))


_unary("stablehlo.logistic", "1 / (1 + exp(-z))", _logistic)


def _expm1(e: Emitter, x: Pair) -> Pair:
    """expm1(a) cos b - 2 sin^2(b/2) + i e^a sin b (no cancellation near 0)."""
    s = e.un("sine", e.scale(x.im, 0.5))
    re = e.sub(e.mul(e.un("exponential_minus_one", x.re), e.un("cosine", x.im)), e.scale(e.mul(s, s), 2.0))
    return Pair(re, e.mul(e.un("exponential", x.re), e.un("sine", x.im)))


def _log1p(e: Emitter, x: Pair) -> Pair:
    """log|1+z| as 0.5 log1p(a(a+2) + b^2) where that sum is small, else log of the scaled
    hypot; arg atan2(b, 1+a)."""
    a1 = e.add(x.re, e.const(1.0, x.re))
    s = e.add(e.mul(x.re, e.add(x.re, e.const(2.0, x.re))), e.mul(x.im, x.im))
    small = e.cmp("LT", e.abs(s), e.const(0.5, s))
    re = e.select(small, e.scale(e.un("log_plus_one", s), 0.5), e.un("log", e.cabs(Pair(a1, x.im))))
    return Pair(re, e.atan2(x.im, a1))


_unary("stablehlo.exponential_minus_one", "expm1(a) cos b - 2 sin^2(b/2) + i e^a sin b", _expm1)
_unary("stablehlo.log_plus_one", "0.5 log1p(a(a+2) + b^2) + i atan2(b, 1 + a)", _log1p)


def _sign(e: Emitter, x: Pair) -> Pair:
    r = e.cabs(x)
    zero = e.const(0.0, r)
    is_zero = e.cmp("EQ", r, zero)
    return Pair(e.select(is_zero, zero, e.div(x.re, r)), e.select(is_zero, zero, e.div(x.im, r)))


_unary("stablehlo.sign", "z / |z|, 0 for 0", _sign)


@_rule("stablehlo.real", "the real part (a real operand: itself)")
def _real(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
    return [a[0].re if isinstance(a[0], Pair) else a[0]]


@_rule("stablehlo.imag", "the imaginary part (a real operand: zeros)")
def _imag(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
    return [a[0].im if isinstance(a[0], Pair) else e.const(0.0, a[0], a[0].type.dtype)]


@_rule("stablehlo.complex", "the pair itself (no kernel)")
def _complex(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
    return [Pair(a[0], a[1])]


@_rule("stablehlo.compare", "EQ, NE: both parts (XLA defines no ordering of complex numbers)")
def _compare(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
    x, y = _pair(a[0], "lhs", n), _pair(a[1], "rhs", n)
    d = n.attrs.get("comparison_direction")
    if d == "EQ":
        return [e.logic("and", e.cmp("EQ", x.re, y.re), e.cmp("EQ", x.im, y.im))]
    if d == "NE":
        return [e.logic("or", e.cmp("NE", x.re, y.re), e.cmp("NE", x.im, y.im))]
    raise UnsupportedError(f"stablehlo.compare {d} on complex operands is not defined (only EQ and "
                           f"NE){at(n.loc)}")


@_rule("stablehlo.select", "per part")
def _select(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
    p, x, y = a[0], _pair(a[1], "on_true", n), _pair(a[2], "on_false", n)
    assert isinstance(p, Value)
    return [Pair(e.select(p, x.re, y.re), e.select(p, x.im, y.im))]


@_rule("stablehlo.convert", "real -> complex: (x, 0); complex -> real: the real part, converted; "
                            "complex -> pred: nonzero")
def _convert(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
    out = n.result.type
    x = a[0]
    if out.dtype == C64:
        if isinstance(x, Pair):
            return [x]
        re = x if x.type.dtype == F32 else e.op("stablehlo.convert", x)
        return [Pair(re, e.const(0.0, re))]
    z = _pair(x, "operand", n)
    if out.dtype == "pred":     # nonzero
        zero = e.const(0.0, z.re)
        return [e.logic("or", e.cmp("NE", z.re, zero), e.cmp("NE", z.im, zero))]
    return [z.re if out.dtype == F32 else e.op("stablehlo.convert", z.re, dtype=out.dtype)]


def _per_part(name: str, note: str = "both parts (a view or copy each)") -> None:
    """Ops that move or pick elements: the same op on the real and imaginary parts; their
    non-complex operands (indices) are shared."""

    @_rule(name, note)
    def _move(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
        parts = []
        for part in ("re", "im"):
            ops = [getattr(v, part) if isinstance(v, Pair) else v for v in a]
            types = [TensorType(F32, r.type.shape) if r.type.dtype == C64 else r.type for r in n.results]
            parts.append(e.emit(n.op, ops, types, dict(n.attrs)))
        return [Pair(re, im) if r.type.dtype == C64 else re
                for r, re, im in zip(n.results, parts[0], parts[1])]


for _name in ("stablehlo.broadcast_in_dim", "stablehlo.reshape", "stablehlo.transpose",
              "stablehlo.slice", "stablehlo.reverse", "stablehlo.concatenate", "stablehlo.pad",
              "stablehlo.dynamic_slice", "stablehlo.dynamic_update_slice", "stablehlo.gather"):
    _per_part(_name)


@_rule("stablehlo.iota", "real parts the iota, imaginary parts 0")
def _iota(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
    re = e.emit(n.op, [], [TensorType(F32, n.result.type.shape)], dict(n.attrs))[0]
    return [Pair(re, e.const(0.0, re))]


@_rule("stablehlo.dot_general", "four f32 dot_generals: (AcBc - AdBd) + (AcBd + AdBc)i")
def _dot(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
    t = [TensorType(F32, n.result.type.shape)]

    def dot(x: Value, y: Value) -> Value:
        return e.emit(n.op, [x, y], t, dict(n.attrs))[0]

    x, y = a
    if not isinstance(x, Pair):
        assert isinstance(y, Pair)
        return [Pair(dot(x, y.re), dot(x, y.im))]
    if not isinstance(y, Pair):
        return [Pair(dot(x.re, y), dot(x.im, y))]
    return [Pair(e.sub(dot(x.re, y.re), dot(x.im, y.im)), e.add(dot(x.re, y.im), dot(x.im, y.re)))]


FFT_TYPES = {"FFT": 0, "IFFT": 1, "RFFT": 2, "IRFFT": 3}


@_rule("stablehlo.fft", "the Fft kernel on planar parts (FFT, IFFT, RFFT, IRFFT; 1-3 dims)")
def _fft(e: Emitter, n: Node, a: list[Lowered]) -> list[Lowered]:
    kind = n.attrs["fft_type"]
    x = a[0]
    operands = [x.re, x.im] if isinstance(x, Pair) else [x]
    shape = n.result.type.shape
    n_out = 1 if kind == "IRFFT" else 2
    outs = e.emit("chip.fft", operands, [TensorType(F32, shape)] * n_out,
                  {"fft_type": FFT_TYPES[kind], "fft_length": tuple(n.attrs["fft_length"])})
    return [outs[0] if kind == "IRFFT" else Pair(outs[0], outs[1])]


def split_constant(e: Emitter, value: np.ndarray, splat: bool, t: TensorType) -> Pair:
    def part(x: np.ndarray) -> Value:
        return e.emit("stablehlo.constant", [], [TensorType(F32, t.shape)],
                      {"value": np.array(x, dtype=np.float32), "splat": splat})[0]
    return Pair(part(value.real), part(value.imag))


# Ops with per-element regions whose operands and region arguments are split (generic: the
# complex_lowering pass lowers the region like any graph).
REGION_OPS: dict[str, str] = {
    "stablehlo.reduce": "sum: two f32 reduces; other bodies (prod): a variadic reduce over the "
                        "parts with the body lowered",
    "stablehlo.sort": "complex keys as (real, imaginary) operands; the comparator lowered "
                      "(jnp.sort's lexicographic order becomes native keys)",
    "stablehlo.scatter": "the parts as operands and updates; the update computation lowered",
    "stablehlo.reduce_window": "the parts as operands; the body lowered",
}


def note(op: str) -> str:
    """docs/ops.md's complex64 column for `op`."""
    if op in RULES:
        return RULES[op].note
    return REGION_OPS.get(op, "")
