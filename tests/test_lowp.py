"""fp8 and int4 on the chip, and booleans in dot_general, against the cpu backend.

fp8 (float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz): transfers and converts
bit-identical to XLA:CPU for every bit pattern and for the f32/bf16/f16 values that round to each
(ties, out of range, NaN, inf, subnormals); dot_general with f32 accumulation. int4 (s4, u4):
packed two to a byte on the device, transfers, converts, bitcasts, data movement, constants and
dot_general with int4 weights; the modeled time of a decode-shaped int4-weight matmul is half the
int8 one's (docs/numerics.md, docs/chip-model.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

from jax_chip import profiler
from parity import assert_close, chip, cpu, run

FP8 = [jnp.float8_e4m3fn, jnp.float8_e5m2, jnp.float8_e4m3fnuz, jnp.float8_e5m2fnuz]
INT4 = [jnp.int4, jnp.uint4]
WIDE = [jnp.float32, jnp.bfloat16, jnp.float16]


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}")


def _assert_bits_equal(f, x: np.ndarray, what: str) -> None:
    got, want = run(f, chip(), x), run(f, cpu(), x)
    assert got.dtype == want.dtype, what
    g = np.ascontiguousarray(got).view(f"u{got.dtype.itemsize}")
    w = np.ascontiguousarray(want).view(f"u{want.dtype.itemsize}")
    bad = np.nonzero(g.reshape(-1) != w.reshape(-1))[0]
    assert bad.size == 0, (f"{what}: {bad.size} of {g.size} differ, first at inputs "
                           f"{[hex(int(_bits(x).reshape(-1)[i])) for i in bad[:5]]}: chip "
                           f"{[hex(int(g.reshape(-1)[i])) for i in bad[:5]]} cpu "
                           f"{[hex(int(w.reshape(-1)[i])) for i in bad[:5]]}")


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
    x = _all_patterns(t)
    for dst in WIDE + FP8 + [jnp.int8, jnp.uint8, jnp.int32, jnp.uint32, jnp.int4, jnp.bool_]:
        if dst is t:
            continue
        _assert_bits_equal(lambda v: v.astype(dst), x, f"{np.dtype(t).name} -> {np.dtype(dst).name}")
    # the bits survive a round trip through the device and a data-movement kernel
    _assert_bits_equal(lambda v: v.reshape(16, 16).T, x, f"{np.dtype(t).name} transpose")
    _assert_bits_equal(lambda v: lax.bitcast_convert_type(v, jnp.uint8), x, "bitcast to u8")
    _assert_bits_equal(lambda v: lax.bitcast_convert_type(v, t), x.view(np.uint8), "bitcast from u8")
    got = np.asarray(jax.device_put(x, chip()))
    np.testing.assert_array_equal(got.view(np.uint8), x.view(np.uint8))


@pytest.mark.parametrize("t", FP8, ids=lambda t: np.dtype(t).name)
def test_fp8_from_wide_floats_rounds_like_cpu(t):
    rng = np.random.default_rng(0)
    name = np.dtype(t).name
    _assert_bits_equal(lambda v: v.astype(t), _f32_cases(rng), f"f32 -> {name}")
    every16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    _assert_bits_equal(lambda v: v.astype(t), every16.view(ml_dtypes.bfloat16), f"bf16 -> {name}")
    _assert_bits_equal(lambda v: v.astype(t), every16.view(np.float16), f"f16 -> {name}")
    ints = np.concatenate([np.arange(-1000, 1000), rng.integers(-2**31, 2**31, 1000)]).astype(np.int32)
    _assert_bits_equal(lambda v: v.astype(t), ints, f"s32 -> {name}")


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

    got, want = run(f, chip(), x, y, a), run(f, cpu(), x, y, a)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype, i
        bad = np.nonzero(_bits(g).reshape(-1) != _bits(w).reshape(-1))[0]
        assert bad.size == 0, f"result {i}: {bad.size} differ, first at {bad[:4]}"


@pytest.mark.parametrize("t", INT4, ids=lambda t: np.dtype(t).name)
def test_int4_elementwise_ops_match_cpu_on_every_input(t):
    v = np.arange(16, dtype=np.int8)
    a = (((v ^ 8) - 8) if t == jnp.int4 else v).astype(t)
    x, y = np.repeat(a, 16), np.tile(a, 16)
    binary = [lax.add, lax.sub, lax.mul, lax.div, lax.rem, lax.max, lax.min, lax.bitwise_and,
              lax.bitwise_or, lax.bitwise_xor, lax.shift_left, lax.shift_right_arithmetic,
              lax.shift_right_logical, lax.lt, lax.ne]
    unary = [lax.bitwise_not] + ([lax.neg, lax.sign] if t == jnp.int4 else [])
    f = lambda p, q: [op(p, q) for op in binary] + [op(p) for op in unary]
    got, want = run(f, chip(), x, y), run(f, cpu(), x, y)
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g.astype(np.int64), w.astype(np.int64), err_msg=f"result {i}")


def _scale_tol(got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    g, w = got.astype(np.float64), want.astype(np.float64)
    assert np.abs(g - w).max(initial=0.0) <= rtol * np.abs(w).max(initial=0.0), "beyond tolerance"


@pytest.mark.parametrize("ta,tb", [(FP8[0], FP8[0]), (FP8[1], FP8[1]), (FP8[0], FP8[1]),
                                   (FP8[2], FP8[2]), (FP8[3], FP8[3])],
                         ids=lambda t: np.dtype(t).name)
def test_fp8_dot_general_matches_cpu(ta, tb):
    rng = np.random.default_rng(1)
    for (m, k, n) in [(1, 7, 5), (17, 64, 33), (3, 300, 129)]:
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
    _scale_tol(run(f, chip(), a, b), run(f, cpu(), a, b), 1e-4)


def _int4_values(rng, t, shape) -> np.ndarray:
    lo, hi = (-8, 8) if t == jnp.int4 else (0, 16)
    return rng.integers(lo, hi, size=shape).astype(t)


@pytest.mark.parametrize("t", INT4, ids=lambda t: np.dtype(t).name)
def test_int4_transfers_are_packed_on_the_device(t):
    rng = np.random.default_rng(2)
    for shape in [(), (0,), (1,), (7,), (3, 5), (2, 0, 3), (64, 33)]:
        x = _int4_values(rng, t, shape)
        d = jax.device_put(x, chip())
        assert d.on_device_size_in_bytes() == (x.size + 1) // 2, shape
        np.testing.assert_array_equal(np.asarray(d).astype(np.int8), x.astype(np.int8))
    dev = chip()
    before = dev.memory_stats()["bytes_in_use"]
    big = jax.device_put(_int4_values(rng, t, (1 << 20,)), dev)
    assert dev.memory_stats()["bytes_in_use"] - before == (1 << 19), "packed: half a byte per value"
    del big


@pytest.mark.parametrize("t", INT4, ids=lambda t: np.dtype(t).name)
def test_int4_converts_bitcasts_and_data_movement_match_cpu(t):
    rng = np.random.default_rng(3)
    x = _int4_values(rng, t, (9, 14))
    ints = np.concatenate([np.arange(-300, 300), rng.integers(-2**31, 2**31, 500)]).astype(np.int32)
    floats = np.concatenate([rng.uniform(-40, 40, 500), [np.nan, np.inf, -np.inf, 7.5, -8.5, 15.5]]).astype(np.float32)
    other = jnp.uint4 if t == jnp.int4 else jnp.int4
    cases = [
        (lambda v: v.astype(t), ints, "s32 -> int4 (wraps)"),
        (lambda v: v.astype(t), floats, "f32 -> int4 (saturates)"),
        (lambda v: v.astype(t), floats.astype(jnp.bfloat16), "bf16 -> int4"),
        (lambda v: v.astype(t), rng.integers(-128, 128, 300).astype(np.int8), "s8 -> int4"),
    ] + [(lambda v, d=d: v.astype(d), x, f"int4 -> {np.dtype(d).name}")
         for d in [jnp.float32, jnp.bfloat16, jnp.float16, jnp.int8, jnp.uint8, jnp.int32, other,
                   jnp.float8_e4m3fn, jnp.bool_]] + [
        (lambda v: lax.bitcast_convert_type(v, other), x, "bitcast s4 <-> u4"),
        (lambda v: lax.bitcast_convert_type(v.reshape(9, 7, 2), jnp.uint8), x, "bitcast to u8"),
        (lambda v: lax.bitcast_convert_type(v.reshape(9, 7, 2), jnp.float8_e5m2), x, "bitcast to f8"),
        (lambda v: lax.bitcast_convert_type(v, t), rng.integers(-128, 128, (5, 3)).astype(np.int8),
         "bitcast from s8"),
        (lambda v: lax.bitcast_convert_type(v, t), _all_patterns(jnp.float8_e4m3fn), "bitcast from f8"),
        (lambda v: v.T, x, "transpose"),
        (lambda v: lax.slice(v, (1, 3), (8, 14), (2, 3)), x, "strided slice"),
        (lambda v: lax.rev(v.reshape(14, 9), (0, 1)), x, "reshape + reverse"),
        (lambda v: jnp.broadcast_to(lax.index_in_dim(v, 2, 0), (4, 3, 14)), x, "broadcast"),
        (lambda v: (v.T + jnp.asarray(x.T).astype(jnp.int32)).astype(t), x.astype(jnp.int32),
         "non-splat int4 constant"),
    ]
    for f, arg, what in cases:
        got, want = run(f, chip(), arg), run(f, cpu(), arg)
        assert got.dtype == want.dtype and got.shape == want.shape, what
        if jnp.issubdtype(got.dtype, jnp.floating):   # floats: their bits
            got, want = _bits(got), _bits(want)
        np.testing.assert_array_equal(got.astype(np.int64), want.astype(np.int64), err_msg=what)


@pytest.mark.parametrize("t", INT4, ids=lambda t: np.dtype(t).name)
def test_int4_weight_dot_general_matches_cpu(t):
    rng = np.random.default_rng(4)
    for (m, k, n) in [(1, 64, 33), (5, 129, 17)]:
        w = _int4_values(rng, t, (k, n))
        x = rng.standard_normal((m, k)).astype(jnp.bfloat16)
        f = lambda a, b: jnp.dot(a, b.astype(a.dtype))
        _scale_tol(run(f, chip(), x, w), run(f, cpu(), x, w), 1e-2)
        f32 = lambda a, b: jnp.dot(a, b.astype(a.dtype), preferred_element_type=jnp.float32)
        _scale_tol(run(f32, chip(), x, w), run(f32, cpu(), x, w), 2e-6 * k)
        x8 = rng.integers(-128, 128, (m, k)).astype(np.int8)
        g = lambda a, b: jnp.dot(a, b.astype(jnp.int8), preferred_element_type=jnp.int32)
        np.testing.assert_array_equal(run(g, chip(), x8, w), run(g, cpu(), x8, w))
        # weights on the left, transposed (w.T @ x.T)
        h = lambda a, b: lax.dot_general(b.astype(jnp.int8), a, (((0,), (1,)), ((), ())),
                                         preferred_element_type=jnp.int32)
        np.testing.assert_array_equal(run(h, chip(), x8, w), run(h, cpu(), x8, w))


def _dot_modeled_us(f, *args) -> float:
    placed = [jax.device_put(a, chip()) for a in args]
    jf = jax.jit(f)
    jf(*placed).block_until_ready()
    with profiler.trace() as tr:
        jf(*placed).block_until_ready()
    dots = [k for k in tr.summary().kernels if k.category == "dot_general"]
    assert len(dots) == 1, [(k.name, k.category) for k in tr.summary().kernels]
    return dots[0].modeled_us


def test_int4_weight_matmul_models_half_the_int8_time_at_decode_shapes():
    rng = np.random.default_rng(5)
    k = n = 4096
    w8 = rng.integers(-8, 8, (k, n)).astype(np.int8)
    w4 = w8.astype(jnp.int4)
    x8 = rng.integers(-128, 128, (1, k)).astype(np.int8)
    xb = rng.standard_normal((1, k)).astype(jnp.bfloat16)
    i8 = lambda a, b: jnp.dot(a, b.astype(jnp.int8), preferred_element_type=jnp.int32)
    bf = lambda a, b: jnp.dot(a, b.astype(jnp.bfloat16))
    for f, x in [(i8, x8), (bf, xb)]:
        t8, t4 = _dot_modeled_us(f, x, w8), _dot_modeled_us(f, x, w4)
        assert 0.45 <= t4 / t8 <= 0.55, (t4, t8)
    # and the int4 weights were never widened in device memory: one kernel, no convert
    np.testing.assert_array_equal(run(i8, chip(), x8, w4), run(i8, chip(), x8, w8))


def test_bool_dot_general_matches_cpu():
    rng = np.random.default_rng(6)
    for (m, k, n) in [(1, 1, 1), (5, 9, 4), (16, 130, 7)]:
        a, b = rng.random((m, k)) < 0.2, rng.random((k, n)) < 0.2
        for out in (None, jnp.int32, jnp.float32):
            f = lambda p, q: lax.dot_general(p, q, (((1,), (0,)), ((), ())), preferred_element_type=out)
            got, want = run(f, chip(), a, b), run(f, cpu(), a, b)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    a, b = rng.random((3, 4, 6)) < 0.5, rng.random((3, 6, 2)) < 0.5
    f = lambda p, q: lax.dot_general(p, q, (((2,), (1,)), ((0,), (0,))))
    assert_close(run(f, chip(), a, b), run(f, cpu(), a, b))


def test_low_precision_on_an_unsupported_op_is_a_clear_error():
    x = np.arange(6).astype(jnp.int4)
    with pytest.raises(Exception, match=r"stablehlo\.popcnt on s4 is not supported on the chip"):
        jax.jit(lax.population_count)(jax.device_put(x, chip())).block_until_ready()
    y = np.ones(4, jnp.float8_e4m3fn)
    with pytest.raises(Exception, match=r"stablehlo\.sort on f8e4m3fn is not supported on the chip"):
        jax.jit(lambda v: jnp.sort(v))(jax.device_put(y, chip())).block_until_ready()
