"""The op catalog of the conformance suite: jax.numpy and lax ops as program steps.

Each maker draws the parameters of one op for a given operand (`Spec`) and returns a `Step`: the
jax function, the fresh inputs it takes besides the running value, and its error-bound rule
(values.py). A maker returns None where the op does not apply to the operand (dtype, rank, size).
The output spec comes from `jax.eval_shape`, never from a hand-written shape rule.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st
from jax import lax

from .values import (BOOL, COMPLEX, FLOATS, INT4, INTS, U32, Spec, is_complex, is_float,
                     is_inexact, is_int, magnitude, roundoff)

Draw = Callable[[st.SearchStrategy[Any]], Any]
F32 = np.dtype(np.float32)


@dataclasses.dataclass(frozen=True)
class BoundArgs:
    """What an error-bound rule sees: the operand and extras as computed on cpu, the operand's
    bound, the output, and `move`, which applies the step's own data movement to a bound."""

    x: np.ndarray
    e: np.ndarray
    extras: tuple[np.ndarray, ...]
    out: np.ndarray
    move: Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Step:
    text: str                                 # the op as a line of jax code (for reports)
    fn: Callable[..., Any]                    # (x, *extras) -> y
    extras: tuple[Spec, ...]                  # fresh random inputs this step adds
    extras_are_data: tuple[bool, ...]         # data (moved with x) or indices/conditions
    bound: Callable[[BoundArgs], np.ndarray]  # the output's error bound
    same_bits: bool                           # the output is bit-identical on both backends
    out: Spec = dataclasses.field(default=Spec((), np.dtype(np.float32)))
    wrapped_square: bool = False              # an integer square (values.Spec)

    def __repr__(self) -> str:
        return self.text


# ---- error-bound rules --------------------------------------------------------------------

def exact(a: BoundArgs) -> np.ndarray:
    return np.zeros(np.shape(a.out), np.float64)


def moved(a: BoundArgs) -> np.ndarray:
    return a.move(a.e)


def kept(a: BoundArgs) -> np.ndarray:
    """An elementwise op that is exact and at most 1-Lipschitz (negate, abs, clip)."""
    return a.e


def rounded(a: BoundArgs) -> np.ndarray:
    """One correctly rounded op on error-free operands (a conversion, int->float)."""
    return roundoff(a.out.dtype) * magnitude(a.out)


def accumulation(n: int) -> float:
    """The relative error of an f32 sum of n terms, against the sum of their magnitudes: a tree
    (pairwise) sum, as the chip adds, is within log2(n) u of it; XLA:CPU's vectorized sums have
    partial sums of the same depth. (The worst case of a strictly sequential sum, n u, is no
    tighter than no check at all once n u approaches the terms' relative size.)"""
    return (np.log2(max(n, 1)) + 1) * U32


def transcendental(a: BoundArgs) -> np.ndarray:
    """A transcendental function of a same-bits operand: a few ulps on each side (computed in f32
    for bf16/f16, then rounded once), relative to the result or, near a zero of the function, to
    the argument (sin near pi, log near 1, erf near 0)."""
    return 8 * U32 * (magnitude(a.out) + magnitude(a.x)) + roundoff(a.out.dtype) * magnitude(a.out)


def composite(a: BoundArgs) -> np.ndarray:
    """A function jax builds from several ops (gelu, silu, softplus): in bf16/f16 each of them is
    rounded to the dtype, so a few roundings of the dtype, relative to the result and argument."""
    return transcendental(a) + 4 * roundoff(a.out.dtype) * (magnitude(a.out) + magnitude(a.x))


# ---- makers -------------------------------------------------------------------------------

Maker = Callable[[Draw, Spec], Optional[Step]]
MAKERS: dict[str, Maker] = {}


def maker(name: str) -> Callable[[Maker], Maker]:
    def register(f: Maker) -> Maker:
        MAKERS[name] = f
        return f
    return register


def step(text: str, fn: Callable[..., Any], bound: Callable[[BoundArgs], np.ndarray],
         same_bits: bool, extras: tuple[Spec, ...] = (),
         data: tuple[bool, ...] | None = None) -> Step:
    return Step(text, fn, extras, data if data is not None else (True,) * len(extras), bound,
                same_bits)


_UNARY_TRANSCENDENTAL: dict[str, Callable[[Any], Any]] = {
    "exp": jnp.exp, "log": jnp.log, "log1p": jnp.log1p, "expm1": jnp.expm1, "tanh": jnp.tanh,
    "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan, "arctan": jnp.arctan, "arcsin": jnp.arcsin,
    "sinh": jnp.sinh, "cosh": jnp.cosh, "arcsinh": jnp.arcsinh, "sigmoid": jax.nn.sigmoid,
    "erf": jax.scipy.special.erf, "rsqrt": lax.rsqrt, "cbrt": jnp.cbrt, "exp2": jnp.exp2,
    "log2": jnp.log2, "gelu": jax.nn.gelu, "silu": jax.nn.silu, "softplus": jax.nn.softplus,
}


# functions jax or XLA build from several ops, each rounded to a bf16/f16 dtype (arcsinh of f16
# was 2 ulps off one rounding's bound in a 10,000-program run)
_COMPOSITE = ("gelu", "silu", "softplus", "arcsinh", "arcsin", "sinh", "cosh", "exp2", "log2")
# The functions drawn for complex operands: no poles or branch points within the drawn values'
# reach (|re|, |im| <= 3; tan, tanh and sigmoid have poles at |im| = pi/2 or pi).
_COMPLEX_TRANSCENDENTAL = ("exp", "log", "sin", "cos", "sinh", "cosh")


def _transcendental_maker(name: str) -> Maker:
    def make(draw: Draw, x: Spec) -> Optional[Step]:
        if not x.same_bits:
            return None
        if not (is_float(x.dtype) or (is_complex(x.dtype) and name in _COMPLEX_TRANSCENDENTAL)):
            return None
        rule = composite if name in _COMPOSITE else transcendental
        return step(f"jnp.{name}(x)", _UNARY_TRANSCENDENTAL[name], rule, False)
    return make


for _name in _UNARY_TRANSCENDENTAL:     # one maker each: every function is drawn as often as an op
    MAKERS[_name] = _transcendental_maker(_name)


@maker("sqrt")
def _sqrt(draw: Draw, x: Spec) -> Optional[Step]:
    if not (is_inexact(x.dtype) and x.same_bits):
        return None
    if is_complex(x.dtype):   # several roundings (Kahan's principal branch), not one
        return step("jnp.sqrt(x)", jnp.sqrt, transcendental, False)
    return step("jnp.sqrt(x)", jnp.sqrt, rounded, x.dtype == F32)


def _pow_bound(a: BoundArgs) -> np.ndarray:
    (y,) = a.extras
    with np.errstate(all="ignore"):
        amplification = 1 + magnitude(y) * np.abs(np.log(np.maximum(magnitude(a.x), 1e-30)))
    return transcendental(a) * np.where(np.isfinite(amplification), amplification, 0)


@maker("pow")
def _pow(draw: Draw, x: Spec) -> Optional[Step]:
    if not (is_float(x.dtype) and x.same_bits):
        return None
    return step("jnp.power(jnp.abs(x) + 0.25, y)", lambda v, y: jnp.power(jnp.abs(v) + 0.25, y),
                _pow_bound, False, (Spec(x.shape, x.dtype),))


@maker("softmax")
def _softmax(draw: Draw, x: Spec) -> Optional[Step]:
    if not (is_float(x.dtype) and x.same_bits and len(x.shape) >= 1):
        return None
    axis = draw(st.integers(-len(x.shape), -1))
    log = draw(st.booleans())
    f = jax.nn.log_softmax if log else jax.nn.softmax

    def bound(a: BoundArgs) -> np.ndarray:
        xf = a.x.astype(np.float64)
        spread = np.abs(xf - np.max(xf, axis=axis, keepdims=True, initial=-np.inf)
                        if xf.size else xf)
        scale = 1.0 if log else magnitude(a.out)
        return ((8 * U32 + 4 * roundoff(a.out.dtype)) * (magnitude(a.out) + scale * (2 + spread))
                + roundoff(a.out.dtype) * magnitude(a.out))
    return step(f"jax.nn.{f.__name__}(x, axis={axis})", functools.partial(f, axis=axis), bound,
                False)


def _add_bound(a: BoundArgs) -> np.ndarray:
    return a.e + roundoff(a.out.dtype) * magnitude(a.out)


def _mul_bound(a: BoundArgs) -> np.ndarray:
    (y,) = a.extras
    # a complex product (ac - bd) + (ad + bc)i rounds relative to |x| |y|, not to the result
    scale = magnitude(a.x) * magnitude(y) if is_complex(a.out.dtype) else magnitude(a.out)
    return a.e * magnitude(y) + roundoff(a.out.dtype) * scale


def _div_bound(a: BoundArgs) -> np.ndarray:
    (y,) = a.extras
    # complex division (Smith's algorithm) rounds several times, relative to the quotient
    rounding = 4 * roundoff(a.out.dtype) if is_complex(a.out.dtype) else roundoff(a.out.dtype)
    with np.errstate(all="ignore"):
        return a.e / magnitude(y) + rounding * magnitude(a.out)


def _minmax_bound(a: BoundArgs) -> np.ndarray:
    return a.e


_BINARY: dict[str, tuple[Callable[[Any, Any], Any], Callable[[BoundArgs], np.ndarray]]] = {
    "add": (jnp.add, _add_bound), "subtract": (jnp.subtract, _add_bound),
    "multiply": (jnp.multiply, _mul_bound), "maximum": (jnp.maximum, _minmax_bound),
    "minimum": (jnp.minimum, _minmax_bound),
}


@maker("binary")
def _binary(draw: Draw, x: Spec) -> Optional[Step]:
    if x.dtype == BOOL:
        return None
    name = draw(st.sampled_from(sorted(_BINARY)))
    if is_complex(x.dtype) and name in ("maximum", "minimum") and not x.same_bits:
        return None   # lexicographic on complex: a tiny change of the real part flips it
    f, bound = _BINARY[name]
    # the second operand: same shape, or broadcast from a trailing part of it
    cut = draw(st.integers(0, len(x.shape)))
    y = Spec(x.shape[cut:], x.dtype)
    # a float product may be contracted into a later add (FMA) by one backend and not the other;
    # a rounded bf16/f16/fp8 result may reach the next op unrounded on cpu (values.Spec)
    same = x.same_bits and (is_int(x.dtype) or name in ("maximum", "minimum")
                            or (name != "multiply" and x.dtype == F32))
    return step(f"jnp.{name}(x, y)", f, bound, same, (y,))


@maker("divide")
def _divide(draw: Draw, x: Spec) -> Optional[Step]:
    if not is_inexact(x.dtype):
        return None
    return step("x / y", jnp.divide, _div_bound, x.same_bits and x.dtype == F32,
                (Spec(x.shape, x.dtype),))


_INT_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "lax.div": lax.div, "lax.rem": lax.rem, "jnp.floor_divide": jnp.floor_divide,
    "jnp.remainder": jnp.remainder, "jnp.bitwise_and": jnp.bitwise_and,
    "jnp.bitwise_or": jnp.bitwise_or, "jnp.bitwise_xor": jnp.bitwise_xor,
    "lax.shift_left": lax.shift_left, "lax.shift_right_logical": lax.shift_right_logical,
    "lax.shift_right_arithmetic": lax.shift_right_arithmetic,
}


@maker("int_binary")
def _int_binary(draw: Draw, x: Spec) -> Optional[Step]:
    if not is_int(x.dtype):
        return None
    name = draw(st.sampled_from(sorted(_INT_BINARY)))
    return step(f"{name}(x, y)", _INT_BINARY[name], exact, True, (Spec(x.shape, x.dtype),))


_INT_UNARY: dict[str, Callable[[Any], Any]] = {
    "jnp.negative": jnp.negative, "jnp.abs": jnp.abs, "jnp.invert": jnp.invert,
    "lax.population_count": lax.population_count, "lax.clz": lax.clz, "jnp.sign": jnp.sign,
    "jnp.square": jnp.square,
}


@maker("int_unary")
def _int_unary(draw: Draw, x: Spec) -> Optional[Step]:
    if not is_int(x.dtype):
        return None
    name = draw(st.sampled_from(sorted(_INT_UNARY)))
    if name == "jnp.abs" and x.wrapped_square:
        return None
    made = step(f"{name}(x)", _INT_UNARY[name], exact, True)
    return dataclasses.replace(made, wrapped_square=name == "jnp.square")


_FLOAT_DISCRETE: dict[str, Callable[[Any], Any]] = {
    "jnp.floor": jnp.floor, "jnp.ceil": jnp.ceil, "jnp.round": jnp.round, "jnp.sign": jnp.sign,
    "jnp.trunc": jnp.trunc, "jnp.isfinite": jnp.isfinite, "jnp.signbit": jnp.signbit,
}


@maker("float_discrete")
def _float_discrete(draw: Draw, x: Spec) -> Optional[Step]:
    if not (is_float(x.dtype) and x.same_bits):
        return None
    name = draw(st.sampled_from(sorted(_FLOAT_DISCRETE)))
    return step(f"{name}(x)", _FLOAT_DISCRETE[name], exact, True)


@maker("neg_abs")
def _neg_abs(draw: Draw, x: Spec) -> Optional[Step]:
    if not is_float(x.dtype):
        return None
    name = draw(st.sampled_from(["negative", "abs"]))
    return step(f"jnp.{name}(x)", getattr(jnp, name), kept, x.same_bits)


def _hypot_bound(a: BoundArgs) -> np.ndarray:
    """|z| moves by at most the move of z, plus the scaled hypot's few roundings."""
    return a.e + 4 * U32 * magnitude(a.out)


_COMPLEX_PARTS: dict[str, tuple[Callable[[Any], Any], Callable[[BoundArgs], np.ndarray], bool]] = {
    # name: (function, bound, exact on same-bits operands)
    "jnp.real": (jnp.real, kept, True), "jnp.imag": (jnp.imag, kept, True),
    "jnp.conj": (jnp.conj, kept, True), "jnp.negative": (jnp.negative, kept, True),
    "jnp.abs": (jnp.abs, _hypot_bound, False),
    "jnp.angle": (jnp.angle, transcendental, False),
    "jnp.sign": (jnp.sign, transcendental, False),
}


@maker("complex_parts")
def _complex_parts(draw: Draw, x: Spec) -> Optional[Step]:
    if not is_complex(x.dtype):
        return None
    name = draw(st.sampled_from(sorted(_COMPLEX_PARTS)))
    f, bound, exact_op = _COMPLEX_PARTS[name]
    if not exact_op and not x.same_bits:
        return None   # angle and sign turn near the axes; |z| is compared on exact operands
    return step(f"{name}(x)", f, bound, x.same_bits and exact_op)


@maker("make_complex")
def _make_complex(draw: Draw, x: Spec) -> Optional[Step]:
    if x.dtype != np.dtype(np.float32):
        return None
    if draw(st.booleans()):
        return step("lax.complex(x, y)", lax.complex, kept, x.same_bits, (Spec(x.shape, x.dtype),))
    if not x.same_bits:
        return None
    return step("jnp.exp(1j * x)", lambda v: jnp.exp(1j * v), transcendental, False)


@maker("clip")
def _clip(draw: Draw, x: Spec) -> Optional[Step]:
    if x.dtype in (BOOL, COMPLEX):
        return None
    lo = draw(st.integers(-3, 0))
    hi = draw(st.integers(1, 3))
    return step(f"jnp.clip(x, {lo}, {hi})", lambda v: jnp.clip(v, lo, hi), kept, x.same_bits)


_COMPARE = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")


@maker("compare")
def _compare(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.same_bits:
        return None
    name = draw(st.sampled_from(_COMPARE))
    return step(f"jnp.{name}(x, y)", getattr(jnp, name), exact, True, (Spec(x.shape, x.dtype),),
                (False,))


@maker("where")
def _where(draw: Draw, x: Spec) -> Optional[Step]:
    if x.dtype == BOOL:
        return None
    # the condition is a fresh boolean array: x's own bits may differ between the backends
    def f(v: Any, c: Any, y: Any) -> Any:
        return jnp.where(c, v, y)

    def bound(a: BoundArgs) -> np.ndarray:
        c, _ = a.extras
        return np.where(c, a.e, 0.0)
    return step("jnp.where(c, x, y)", f, bound, x.same_bits,
                (Spec(x.shape, BOOL), Spec(x.shape, x.dtype)), (False, False))


_CASTS = FLOATS + INTS + (BOOL, COMPLEX)


@maker("astype")
def _astype(draw: Draw, x: Spec) -> Optional[Step]:
    to = draw(st.sampled_from(_CASTS))
    if to == x.dtype:
        return None
    if is_inexact(x.dtype) and not is_inexact(to) and not x.same_bits:
        return None   # float -> int/bool jumps on a 1-ulp difference
    if is_inexact(x.dtype) and is_inexact(to):   # complex -> real keeps the real part
        def bound(a: BoundArgs) -> np.ndarray:
            return a.e + roundoff(to) * magnitude(a.out)
        same = x.same_bits and to == F32
    elif is_inexact(to):
        bound, same = rounded, to == F32
    else:
        bound, same = exact, True
    return step(f"x.astype(jnp.{to.name})", lambda v: v.astype(to), bound, same)


# ---- reductions ---------------------------------------------------------------------------

def _axes(draw: Draw, rank: int) -> tuple[int, ...]:
    return tuple(sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank))))


@maker("sum")
def _sum(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape or x.dtype == BOOL:
        return None
    axes = _axes(draw, len(x.shape))
    mean = is_inexact(x.dtype) and draw(st.booleans())
    f = jnp.mean if mean else jnp.sum
    n = int(np.prod([x.shape[a] for a in axes]))

    def bound(a: BoundArgs) -> np.ndarray:
        scale = 1.0 / n if mean and n else 1.0
        terms = np.sum(magnitude(a.x), axis=axes) * scale
        return (np.sum(a.e, axis=axes) * scale + accumulation(n) * terms
                + roundoff(a.out.dtype) * magnitude(a.out))
    return step(f"jnp.{f.__name__}(x, axis={axes})", functools.partial(f, axis=axes),
                bound if is_inexact(x.dtype) else exact, is_int(x.dtype))


@maker("max_reduce")
def _max_reduce(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape or x.size == 0 or (is_complex(x.dtype) and not x.same_bits):
        return None
    axes = _axes(draw, len(x.shape))
    name = draw(st.sampled_from(["max", "min"]))
    f = functools.partial(getattr(jnp, name), axis=axes)

    def bound(a: BoundArgs) -> np.ndarray:
        return np.max(a.e, axis=axes) if a.e.size else np.zeros(np.shape(a.out))
    return step(f"jnp.{name}(x, axis={axes})", f, bound, x.same_bits)


@maker("any_all")
def _any_all(draw: Draw, x: Spec) -> Optional[Step]:
    if x.dtype != BOOL or not x.shape:
        return None
    axes = _axes(draw, len(x.shape))
    name = draw(st.sampled_from(["any", "all"]))
    return step(f"jnp.{name}(x, axis={axes})", functools.partial(getattr(jnp, name), axis=axes),
                exact, True)


@maker("argmax")
def _argmax(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape or x.size == 0 or not x.same_bits or x.dtype == BOOL:
        return None
    axis = draw(st.integers(0, len(x.shape) - 1))
    name = draw(st.sampled_from(["argmax", "argmin"]))
    return step(f"jnp.{name}(x, axis={axis})", functools.partial(getattr(jnp, name), axis=axis),
                exact, True)


@maker("cumulative")
def _cumulative(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape or x.dtype == BOOL:
        return None
    axis = draw(st.integers(0, len(x.shape) - 1))
    name = draw(st.sampled_from(["cumsum", "cummax", "cummin"]))
    if name != "cumsum" and is_complex(x.dtype) and not x.same_bits:
        return None
    f = {"cumsum": jnp.cumsum, "cummax": lax.cummax, "cummin": lax.cummin}[name]
    n = x.shape[axis]

    def bound(a: BoundArgs) -> np.ndarray:
        if name != "cumsum":
            return np.maximum.accumulate(a.e, axis=axis) if a.e.size else a.e
        return (np.cumsum(a.e, axis=axis) + accumulation(n) * np.cumsum(magnitude(a.x), axis=axis)
                + roundoff(a.out.dtype) * magnitude(a.out))
    prefix = "jnp" if name == "cumsum" else "lax"
    return step(f"{prefix}.{name}(x, axis={axis})", functools.partial(f, axis=axis),
                bound if is_inexact(x.dtype) else exact,
                x.same_bits and (name != "cumsum" or is_int(x.dtype)))


@maker("matmul")
def _matmul(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape or x.dtype == BOOL or len(x.shape) > 3:
        return None
    k = x.shape[-1]
    n = draw(st.integers(0, 6))
    w = Spec((k, n), x.dtype)

    def bound(a: BoundArgs) -> np.ndarray:
        (wv,) = a.extras
        absw = magnitude(wv)
        return (a.e @ absw + accumulation(k) * (magnitude(a.x) @ absw)
                + roundoff(a.out.dtype) * magnitude(a.out))
    return step("x @ w", jnp.matmul, bound if is_inexact(x.dtype) else exact, is_int(x.dtype), (w,))


# ---- data movement ------------------------------------------------------------------------

@maker("reshape")
def _reshape(draw: Draw, x: Spec) -> Optional[Step]:
    shape = draw(st.sampled_from([(x.size,), (1, x.size), (x.size, 1), tuple(reversed(x.shape))]))
    return step(f"x.reshape({shape})", lambda v: v.reshape(shape), moved, x.same_bits)


@maker("transpose")
def _transpose(draw: Draw, x: Spec) -> Optional[Step]:
    if len(x.shape) < 2 or x.dtype in INT4:
        # the reference cannot: XLA:CPU (jaxlib 0.6.2) reads past the end of a packed int4 array
        # when it transposes one (AddressSanitizer: heap-buffer-overflow in
        # xla::TransposeConstStride1) and corrupts its heap; tests/test_lowp_int4.py checks the
        # chip's int4 transposes against numpy
        return None
    perm = tuple(draw(st.permutations(range(len(x.shape)))))
    return step(f"jnp.transpose(x, {perm})", lambda v: jnp.transpose(v, perm), moved, x.same_bits)


@maker("slice")
def _slice(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape:
        return None
    index = []
    for d in x.shape:
        start = draw(st.integers(-d - 1, d))
        stop = draw(st.integers(-d - 1, d + 1))
        stride = draw(st.sampled_from([1, 1, 2, 3, -1]))
        index.append(slice(start, stop, stride))
    idx = tuple(index)
    text = ", ".join(f"{s.start}:{s.stop}:{s.step}" for s in idx)
    return step(f"x[{text}]", lambda v: v[idx], moved, x.same_bits)


@maker("pad")
def _pad(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape:
        return None
    config = tuple((draw(st.integers(-1 if d else 0, 2)), draw(st.integers(-1 if d else 0, 2)),
                    draw(st.integers(0, 1))) for d in x.shape)
    if any(lo + hi + d + max(d - 1, 0) * i < 0 for (lo, hi, i), d in zip(config, x.shape)):
        return None

    def f(v: Any) -> Any:
        return lax.pad(v, jnp.ones((), v.dtype), config)
    return step(f"lax.pad(x, 1, {config})", f, moved, x.same_bits)


@maker("concatenate")
def _concatenate(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape:
        return None
    axis = draw(st.integers(0, len(x.shape) - 1))
    other = list(x.shape)
    other[axis] = draw(st.integers(0, 3))
    return step(f"jnp.concatenate([x, y], axis={axis})",
                lambda v, y: jnp.concatenate([v, y], axis=axis), moved, x.same_bits,
                (Spec(tuple(other), x.dtype),))


@maker("flip_roll")
def _flip_roll(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape:
        return None
    axis = draw(st.integers(0, len(x.shape) - 1))
    if draw(st.booleans()):
        return step(f"jnp.flip(x, {axis})", lambda v: jnp.flip(v, axis), moved, x.same_bits)
    shift = draw(st.integers(-5, 5))
    return step(f"jnp.roll(x, {shift}, {axis})", lambda v: jnp.roll(v, shift, axis), moved,
                x.same_bits)


@maker("broadcast")
def _broadcast(draw: Draw, x: Spec) -> Optional[Step]:
    if len(x.shape) > 3:
        return None
    lead = draw(st.integers(0, 3))
    kind = draw(st.sampled_from(["broadcast_to", "expand_dims", "tile", "repeat"]))
    if kind == "broadcast_to":
        shape = (lead,) + x.shape
        return step(f"jnp.broadcast_to(x, {shape})", lambda v: jnp.broadcast_to(v, shape), moved,
                    x.same_bits)
    if kind == "expand_dims":
        axis = draw(st.integers(0, len(x.shape)))
        return step(f"jnp.expand_dims(x, {axis})", lambda v: jnp.expand_dims(v, axis), moved,
                    x.same_bits)
    if kind == "tile":
        reps = tuple(draw(st.integers(0, 2)) for _ in range(max(len(x.shape), 1)))
        return step(f"jnp.tile(x, {reps})", lambda v: jnp.tile(v, reps), moved, x.same_bits)
    if not x.shape:
        return None
    axis = draw(st.integers(0, len(x.shape) - 1))
    return step(f"jnp.repeat(x, {lead}, axis={axis})",
                lambda v: jnp.repeat(v, lead, axis=axis), moved, x.same_bits)


@maker("take")
def _take(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape:
        return None
    axis = draw(st.integers(0, len(x.shape) - 1))
    if x.shape[axis] == 0:
        return None
    count = draw(st.integers(0, 6))
    mode = draw(st.sampled_from(["clip", "wrap"]))
    idx = Spec((count,), np.dtype(np.int32))
    return step(f"jnp.take(x, i, axis={axis}, mode={mode!r})",
                lambda v, i: jnp.take(v, i, axis=axis, mode=mode), moved, x.same_bits, (idx,),
                (False,))


@maker("dynamic_slice")
def _dynamic_slice(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape:
        return None
    sizes = tuple(draw(st.integers(0, d)) for d in x.shape)
    update = draw(st.booleans())
    starts = Spec((len(x.shape),), np.dtype(np.int32))
    if update:
        def f(v: Any, s: Any, u: Any) -> Any:
            return lax.dynamic_update_slice(v, u, tuple(s[i] for i in range(len(x.shape))))
        return step(f"lax.dynamic_update_slice(x, u{list(sizes)}, s)", f, moved, x.same_bits,
                    (starts, Spec(sizes, x.dtype)), (False, True))

    def g(v: Any, s: Any) -> Any:
        return lax.dynamic_slice(v, tuple(s[i] for i in range(len(x.shape))), sizes)
    return step(f"lax.dynamic_slice(x, s, {sizes})", g, moved, x.same_bits, (starts,), (False,))


@maker("sort")
def _sort(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape or not x.same_bits or x.dtype == BOOL:
        return None
    axis = draw(st.integers(0, len(x.shape) - 1))
    kind = draw(st.sampled_from(["sort", "argsort", "top_k"]))
    if kind == "top_k":
        k = draw(st.integers(0, x.shape[-1]))
        return step(f"lax.top_k(x, {k})[0]", lambda v: lax.top_k(v, k)[0], exact, True)
    return step(f"jnp.{kind}(x, axis={axis}, stable=True)",
                lambda v: getattr(jnp, kind)(v, axis=axis, stable=True), exact, True)



@maker("scatter")
def _scatter(draw: Draw, x: Spec) -> Optional[Step]:
    if not x.shape or x.shape[0] == 0:
        return None
    n = x.shape[0]
    k = draw(st.integers(0, n))
    shift = draw(st.sampled_from([0, 0, n - 1, -n, n]))   # some indices out of range: dropped
    kind = draw(st.sampled_from(["set", "add", "max", "min", "mul"]))
    if (x.dtype == BOOL and kind in ("add", "mul")) or (is_complex(x.dtype) and kind != "set"):
        return None   # complex max/min are lexicographic, a complex product rounds per part

    def f(v: Any, r: Any, u: Any) -> Any:
        # distinct indices (XLA leaves duplicate scatter indices unspecified), shifted
        i = jnp.argsort(r)[:k] + shift
        return getattr(v.at[i], kind)(u, mode="drop")

    def bound(a: BoundArgs) -> np.ndarray:
        (_, u) = a.extras
        grow = magnitude(u).max(initial=0.0) if kind == "mul" else 1.0
        return a.e * max(grow, 1.0) + roundoff(a.out.dtype) * magnitude(a.out)
    same = x.same_bits and (kind in ("set", "max", "min") or not is_float(x.dtype))
    return step(f"x.at[argsort(r)[:{k}] + {shift}].{kind}(u, mode='drop')", f,
                bound if is_inexact(x.dtype) else exact, same,
                (Spec((n,), np.dtype(np.float32)), Spec((k,) + x.shape[1:], x.dtype)),
                (False, False))


# Bitcasts to an integer type only: a float made from arbitrary bits is often subnormal, and
# XLA:CPU flushes subnormal operands to zero (DAZ) where the chip computes with them (IEEE), a
# difference docs/numerics.md states; the suite compares under the policy, not that one.
_BITCAST_PARTNERS = {
    "float32": ("int32", "uint32"), "int32": ("uint32",), "uint32": ("int32",),
    "float16": ("int16", "uint16"), "bfloat16": ("int16", "uint16"),
    "int16": ("uint16",), "uint16": ("int16",),
    "float8_e4m3fn": ("int8", "uint8"), "float8_e5m2": ("int8", "uint8"),
    # 8 -> 4 bits adds a trailing dimension of 2, 4 -> 8 bits takes one
    "int8": ("uint8", "int4", "uint4"), "uint8": ("int8", "int4", "uint4"),
    "int4": ("uint4", "int8", "uint8"), "uint4": ("int4", "int8", "uint8"),
}


@maker("bitcast")
def _bitcast(draw: Draw, x: Spec) -> Optional[Step]:
    if x.dtype.name not in _BITCAST_PARTNERS or not x.same_bits:
        return None
    to = np.dtype(jnp.dtype(draw(st.sampled_from(_BITCAST_PARTNERS[x.dtype.name]))))
    return step(f"lax.bitcast_convert_type(x, jnp.{to.name})",
                lambda v: lax.bitcast_convert_type(v, to), exact, True)


@maker("integer_pow")
def _integer_pow(draw: Draw, x: Spec) -> Optional[Step]:
    if x.dtype == BOOL:
        return None
    p = draw(st.integers(2, 4))

    def bound(a: BoundArgs) -> np.ndarray:
        # (|z^p| = |z|^p for complex too, so each product's rounding is relative to the result)
        return (p * a.e * magnitude(a.x) ** (p - 1)
                + p * roundoff(a.out.dtype) * magnitude(a.out))
    made = step(f"lax.integer_pow(x, {p})", lambda v: lax.integer_pow(v, p),
                bound if is_inexact(x.dtype) else exact, is_int(x.dtype) and x.same_bits)
    return dataclasses.replace(made, wrapped_square=is_int(x.dtype) and p % 2 == 0)
