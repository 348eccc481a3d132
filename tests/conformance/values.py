"""What the conformance generator knows about a value of a program, and the error bounds it carries.

A value is described statically by `Spec` (shape, dtype, and whether both backends compute the
same bits for it). At run time every float value carries an absolute error bound (an f64 array of
its shape): how far the chip's result may lie from the exact one, from the numerics policy of each
op that produced it (docs/numerics.md). The chip and cpu each lie within that bound of the exact
result, so they may differ by twice the bound. Bounds propagate to first order (an add sums its
operands' bounds, a multiply scales each by the other operand, a sum adds its terms' bounds plus
the accumulation's own error of n x u_f32 x sum|x|), so they scale with the computation.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_dtypes
import numpy as np

FP8 = (np.dtype(ml_dtypes.float8_e4m3fn), np.dtype(ml_dtypes.float8_e5m2))
FLOATS = (np.dtype(np.float32), np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)) + FP8
INT4 = (np.dtype(ml_dtypes.int4), np.dtype(ml_dtypes.uint4))
SIGNED = (np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32), np.dtype(ml_dtypes.int4))
UNSIGNED = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32),
            np.dtype(ml_dtypes.uint4))
INTS = SIGNED + UNSIGNED
COMPLEX = np.dtype(np.complex64)
BOOL = np.dtype(np.bool_)
ALL = FLOATS + INTS + (BOOL, COMPLEX)

# Unit roundoff u = 2^-p of each float dtype (p significand bits: f32 24, bf16 8, f16 11,
# e4m3fn 4, e5m2 3): a correctly rounded result lies within u |x| of the exact x. complex64 is
# a pair of f32: a result rounded per part lies within sqrt(2) u |z| of the exact z, so it gets
# 2 u (and its multiply's rounding is relative to |x| |y|, ops.py).
UNIT_ROUNDOFF = {np.dtype(np.float32): 2.0 ** -24, np.dtype(ml_dtypes.bfloat16): 2.0 ** -8,
                 np.dtype(np.float16): 2.0 ** -11, np.dtype(ml_dtypes.float8_e4m3fn): 2.0 ** -4,
                 np.dtype(ml_dtypes.float8_e5m2): 2.0 ** -3, COMPLEX: 2.0 ** -23}
U32 = UNIT_ROUNDOFF[np.dtype(np.float32)]


def is_float(dtype: Any) -> bool:
    """A real floating-point dtype (fp8 included)."""
    return np.dtype(dtype) in FLOATS


def is_complex(dtype: Any) -> bool:
    return np.dtype(dtype) == COMPLEX


def is_inexact(dtype: Any) -> bool:
    """Compared within an error bound (real floats and complex), not bit for bit."""
    return is_float(dtype) or is_complex(dtype)


def is_int(dtype: Any) -> bool:
    return np.dtype(dtype) in INTS


def roundoff(dtype: Any) -> float:
    """u of a float or complex dtype; 0 for integers and bool (exact)."""
    return UNIT_ROUNDOFF.get(np.dtype(dtype), 0.0)


@dataclasses.dataclass(frozen=True)
class Spec:
    """A value's shape and dtype, and whether the chip and cpu compute it bit for bit.

    `same_bits` holds for the inputs, data movement of same-bits values, integer and boolean
    arithmetic, and a single correctly rounded f32 op (+ - / sqrt, conversions) applied to
    same-bits operands; not for bf16/f16/fp8 results of a rounding op: XLA:CPU computes them in
    f32 and may hand the unrounded f32 value to the next op of its fusion. Ops whose result jumps on a 1-ulp change of their input (comparisons,
    floor, sign, sort, argmax, float->int) and the transcendentals (whose ulp-level error
    is allowed to differ) take only same-bits operands, so every comparison stays meaningful."""

    shape: tuple[int, ...]
    dtype: np.dtype
    same_bits: bool = True
    # an integer square that may have wrapped: XLA:CPU simplifies abs(x * x) to x * x, which is
    # wrong once the product wraps (abs(square(int8 13)) is -87 on cpu, 87 on the chip, as
    # StableHLO defines it), so the suite does not take abs of it
    wrapped_square: bool = False

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def describe(self) -> str:
        return f"{self.dtype.name}{list(self.shape)}"


def random_value(rng: np.random.Generator, spec: Spec, low: float = -3.0,
                 high: float = 3.0) -> np.ndarray:
    """Fresh random values (never all zeros) of the spec's shape and dtype."""
    dt = spec.dtype
    if dt == BOOL:
        return rng.integers(0, 2, size=spec.shape).astype(np.bool_)
    if dt in INTS:
        info = ml_dtypes.iinfo(dt)
        lo, hi = max(int(info.min), -120), min(int(info.max), 120)
        return rng.integers(lo, hi + 1, size=spec.shape, dtype=np.int64).astype(dt)
    if dt == COMPLEX:
        return (rng.uniform(low, high, size=spec.shape)
                + 1j * rng.uniform(low, high, size=spec.shape)).astype(dt)
    return rng.uniform(low, high, size=spec.shape).astype(dt)


def magnitude(x: Any) -> np.ndarray:
    """|x| as f64 (bool, ints and complex included)."""
    v = np.asarray(x)
    return np.abs(v.astype(np.complex128 if v.dtype == COMPLEX else np.float64))


def zero_bound(x: Any) -> np.ndarray:
    return np.zeros(np.shape(x), np.float64)
