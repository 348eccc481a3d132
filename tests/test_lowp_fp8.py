"""fp8 on the chip against the cpu backend: float8_e4m3fn, float8_e5m2, float8_e4m3fnuz,
float8_e5m2fnuz. Transfers and converts bit-identical to XLA:CPU for every bit pattern and for the
f32/bf16/f16 values that round to each (ties, out of range, NaN, inf, subnormals); the elementwise
ops that take fp8 on every operand pair; dot_general with f32 accumulation (docs/numerics.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

from jax_chip import profiler
from parity import chip, cpu, run

FP8 = [jnp.float8_e4m3fn, jnp.float8_e5m2, jnp.float8_e4m3fnuz, jnp.float8_e5m2fnuz]
WIDE = [jnp.float32, jnp.bfloat16, jnp.float16]


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}")


def _assert_all_bits_equal(f, args: list[np.ndarray], what: str) -> None:
    """jit(f)(*args) returns a list; every result bit-identical on the chip and on cpu."""
    got, want = run(f, chip(), *args), run(f, cpu(), *args)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, f"{what} result {i}"
        bad = np.nonzero(_bits(g).reshape(-1) != _bits(w).reshape(-1))[0]
        assert bad.size == 0, (f"{what} result {i} ({g.dtype}): {bad.size} of {g.size} differ at "
                               f"{bad[:5]}: chip {[hex(int(_bits(g).reshape(-1)[j])) for j in bad[:5]]} "
                               f"cpu {[hex(int(_bits(w).reshape(-1)[j])) for j in bad[:5]]}")


def _all_patterns(t) -> np.ndarray:
    return np.arange(256, dtype=np.uint8).view(t)


def _f32_cases(rng: np.random.Generator) -> np.ndarray:
    """Random f32 bit patterns, and around every fp8 value of every type and every midpoint
    between neighbours (ties) the value itself and its f32 neighbours; inf, NaNs, huge, tiny."""
    parts = [rng.integers(0, 2**32, size=60_000, dtype=np.uint64).astype(np.uint32)]
    for t in FP8:
        v = np.unique(_all_patterns(t).astype(np.float32))
        v = v[np.isfinite(v)]
        mids = ((v[1:].astype(np.float64) + v[:-1]) / 2).astype(np.float32)
        for a in (v, mids, v * 1.5, v * 2.0):
            b = a.astype(np.float32).view(np.uint32).astype(np.int64)
            for d in (-1, 0, 1):
                parts.append(((b + d) & 0xFFFFFFFF).astype(np.uint32))
    special = np.array([0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA00000,
                        0x7FE00000, 0xFF900000, 0x00000001, 0x80000001, 0x007FFFFF, 0x7F7FFFFF],
                       np.uint32)
    return np.concatenate(parts + [special]).view(np.float32)


@pytest.mark.parametrize("t", FP8, ids=lambda t: np.dtype(t).name)
def test_fp8_every_bit_pattern_converts_like_cpu(t):
    dsts = [d for d in WIDE + FP8 + [jnp.int8, jnp.uint8, jnp.int32, jnp.uint32, jnp.int4, jnp.bool_]
            if d is not t]

    def f(v, raw):
        return [v.astype(d) for d in dsts] + [
            v.reshape(16, 16).T,                         # a data-movement kernel keeps the bits
            lax.bitcast_convert_type(v, jnp.uint8), lax.bitcast_convert_type(raw, t)]

    x = _all_patterns(t)
    _assert_all_bits_equal(f, [x, x.view(np.uint8)], np.dtype(t).name)
    got = np.asarray(jax.device_put(x, chip()))
    np.testing.assert_array_equal(got.view(np.uint8), x.view(np.uint8))


@pytest.mark.parametrize("t", FP8, ids=lambda t: np.dtype(t).name)
def test_fp8_from_wide_floats_rounds_like_cpu(t):
    rng = np.random.default_rng(0)
    every16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    ints = np.concatenate([np.arange(-1000, 1001), rng.integers(-2**31, 2**31, 1000)]).astype(np.int32)
    args = [_f32_cases(rng), every16.view(ml_dtypes.bfloat16), every16.view(np.float16), ints]
    _assert_all_bits_equal(lambda *vs: [v.astype(t) for v in vs], args,
                           f"f32, bf16, f16, s32 -> {np.dtype(t).name}")


_FP8_BINARY = [lax.add, lax.sub, lax.mul, lax.div, lax.rem, lax.atan2]
_FP8_UNARY = [lax.neg, lax.abs, lax.sign, lax.sqrt, lax.rsqrt, lax.exp, lax.expm1, lax.logistic,
              lax.sin, lax.cos, lax.tan, lax.floor, lax.ceil, lax.round, lax.cbrt, lax.erf,
              lax.is_finite, lambda v: lax.round(v, lax.RoundingMethod.TO_NEAREST_EVEN)]


@pytest.mark.parametrize("t", FP8, ids=lambda t: np.dtype(t).name)
def test_fp8_elementwise_ops_match_cpu_on_every_input(t):
    """The elementwise ops that take fp8 (ir/ops.py FP8_ELEMENTWISE), bit-identical to XLA:CPU
    for every operand pair: computed in f32 and rounded as XLA does (through f16)."""
    a = _all_patterns(t)
    x, y = np.repeat(a, 256), np.tile(a, 256)

    def f(p, q, u):
        return [op(p, q) for op in _FP8_BINARY] + [op(u) for op in _FP8_UNARY] + [
            lax.select(p > q, p, q), p == q]

    _assert_all_bits_equal(f, [x, y, a], np.dtype(t).name)


def _scale_tol(got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    g, w = got.astype(np.float64), want.astype(np.float64)
    assert np.abs(g - w).max(initial=0.0) <= rtol * np.abs(w).max(initial=0.0), "beyond tolerance"


@pytest.mark.parametrize("ta,tb", [(FP8[0], FP8[0]), (FP8[1], FP8[1]), (FP8[0], FP8[1]),
                                   (FP8[2], FP8[3])],
                         ids=lambda t: np.dtype(t).name)
def test_fp8_dot_general_matches_cpu(ta, tb):
    rng = np.random.default_rng(1)
    for (m, k, n) in [(1, 7, 5), (17, 300, 129)]:
        a = (rng.standard_normal((m, k)) * 4).astype(ta)
        b = (rng.standard_normal((k, n)) * 4).astype(tb)
        for out in (jnp.float32, jnp.bfloat16):
            f = lambda p, q: lax.dot_general(p, q, (((1,), (0,)), ((), ())), preferred_element_type=out)
            got, want = run(f, chip(), a, b), run(f, cpu(), a, b)
            assert got.dtype == want.dtype
            # products of fp8 values are exact in f32; sums differ by order only
            _scale_tol(got, want, 2e-6 * k if out == jnp.float32 else 1e-2)
    a = (rng.standard_normal((2, 9, 40)) * 4).astype(ta)
    b = (rng.standard_normal((2, 40, 6)) * 4).astype(tb)
    f = lambda p, q: jnp.einsum("bik,bkj->bij", p, q, preferred_element_type=jnp.float32)
    _scale_tol(run(f, chip(), a, b), run(f, cpu(), a, b), 2e-6 * 40)


def test_fp8_matmul_models_twice_the_bf16_rate():
    """Compute-bound [2048, 1024] x [1024, 1024]: the fp8 matmul's modeled time is about half
    the bf16 one's (matrix_fp8_flops = 2 x matrix_bf16_flops, docs/chip-model.md)."""
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((2048, 1024)), rng.standard_normal((1024, 1024))
    times = {}
    for t in (jnp.bfloat16, jnp.float8_e4m3fn):
        args = [jax.device_put(x.astype(t), chip()) for x in (a, b)]
        f = jax.jit(lambda p, q: jnp.dot(p, q, preferred_element_type=jnp.bfloat16)).lower(*args).compile()
        with profiler.trace() as tr:
            f(*args).block_until_ready()
        (dot,) = [k for k in tr.summary().kernels if k.category == "dot_general"]
        assert dot.bound == "matrix", dot
        times[t] = dot.modeled_us
    assert 0.45 <= times[jnp.float8_e4m3fn] / times[jnp.bfloat16] <= 0.56, times
