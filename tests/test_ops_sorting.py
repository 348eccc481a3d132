"""Sorting and reductions with regions on the chip against cpu: sort / argsort (several operands,
stable and unstable, descending, NaN and -0.0), lax.top_k, argmax / argmin, multi-operand
reduces with general bodies, cumulative ops (cumsum, cumprod, cummax, cummin, cumlogsumexp)
and general reduce_window (pooling, strides, padding, dilations)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parity import ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, check_parity, random_array

NUMERIC_DTYPES = INT_DTYPES + FLOAT_DTYPES


def _name(dt) -> str:
    return np.dtype(dt).name


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _with_specials(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Floats get NaN (both signs), +-inf, +-0.0 and ties sprinkled in."""
    x = x.copy()
    if not np.issubdtype(x.dtype, np.floating) and x.dtype.name != "bfloat16":
        return x
    flat = x.reshape(-1)
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 1.0], np.float32)
    pos = rng.choice(flat.size, size=min(flat.size, len(specials)), replace=False)
    flat[pos] = specials[:len(pos)].astype(x.dtype)
    return x


def _unique(rng, shape, dtype) -> np.ndarray:
    """Distinct values (no ties), so an unstable sort has one right answer."""
    rows, n = int(np.prod(shape[:-1])), shape[-1]
    vals = np.stack([rng.permutation(n) for _ in range(rows)]).astype(np.float64)
    if np.dtype(dtype).kind != "u":
        vals -= n // 2
    return vals.reshape(shape).astype(dtype)


# ---- sort ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_sort_along_axes(dtype, axis):
    rng = _rng(50)
    x = _with_specials(random_array(rng, (5, 6, 7), dtype), rng)
    check_parity(lambda a: (jnp.sort(a, axis=axis), jnp.argsort(a, axis=axis)), x,
                 what=f"sort axis {axis}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
def test_argsort_descending_and_take_along(dtype):
    rng = _rng(51)
    x = _with_specials(random_array(rng, (4, 33), dtype), rng)
    check_parity(lambda a: (jnp.argsort(a, axis=1, descending=True),
                            jnp.sort(a, axis=0, descending=True),
                            jnp.take_along_axis(a, jnp.argsort(a, axis=1), axis=1)),
                 x, what="argsort descending")


@pytest.mark.parametrize("dtype", (jnp.int8, jnp.uint16, jnp.int32, jnp.float32, jnp.bfloat16),
                         ids=_name)
def test_unstable_argsort_of_distinct_values(dtype):
    rng = _rng(52)
    n = 100 if np.dtype(dtype).itemsize == 1 else 300
    x = _unique(rng, (3, n), dtype)
    check_parity(lambda a: jnp.argsort(a, axis=1, stable=False), x, what="unstable argsort")


@pytest.mark.parametrize("num_keys", [1, 2, 3])
def test_lax_sort_several_operands(num_keys):
    rng = _rng(53)
    a = rng.integers(0, 3, size=(4, 50)).astype(np.int32)          # many ties in the first key
    b = _with_specials(random_array(rng, (4, 50), jnp.float32), rng)
    c = random_array(rng, (4, 50), jnp.bfloat16)
    d = random_array(rng, (4, 50), jnp.uint8)
    check_parity(lambda a, b, c, d: lax.sort((a, b, c, d), dimension=1, num_keys=num_keys),
                 a, b, c, d, what=f"sort num_keys={num_keys}")


def test_sort_odd_shapes_and_large():
    rng = _rng(54)
    check_parity(lambda a: jnp.sort(a), np.zeros((0,), np.float32), what="empty sort")
    check_parity(lambda a: jnp.sort(a, axis=1), np.zeros((3, 0), np.int32), what="empty rows")
    check_parity(lambda a: jnp.argsort(a), random_array(rng, (1,), jnp.float32), what="one")
    big = _with_specials(random_array(rng, (150000,), jnp.float32), rng)
    check_parity(lambda a: (jnp.sort(a), jnp.argsort(a)), big, what="large sort")
    rows = random_array(rng, (64, 1000), jnp.bfloat16)
    check_parity(lambda a: jnp.argsort(a, axis=-1), rows, what="many rows")


def test_sort_general_comparator(monkeypatch):
    """Comparators are always compiled into a register program; with the key recognition off the
    runtime evaluates that program for every comparison."""
    from xla_passes import indexing_lowering
    monkeypatch.setattr(indexing_lowering, "_lexicographic", lambda *a, **k: None)
    rng = _rng(55)
    x = _with_specials(random_array(rng, (3, 40), jnp.float32), rng)
    i = rng.integers(0, 4, size=(3, 40)).astype(np.int16)
    check_parity(lambda x, i: (jnp.sort(x, axis=1) + 0.5, lax.sort((i, x), num_keys=2)),
                 x, i, what="program comparator")
    b = random_array(rng, (2, 77), jnp.bfloat16)
    check_parity(lambda b: jnp.argsort(b, axis=1, descending=True) + 1, b, what="bf16 program")


# ---- top_k -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=_name)
@pytest.mark.parametrize("k", [1, 5, 40])
def test_top_k(dtype, k):
    rng = _rng(56)
    x = _with_specials(random_array(rng, (3, 40), dtype), rng)
    check_parity(lambda a: lax.top_k(a, k), x, what=f"top_k {k}")


def test_top_k_shapes():
    rng = _rng(57)
    check_parity(lambda a: lax.top_k(a, 3), random_array(rng, (2, 3, 9), jnp.float32), what="3-d")
    check_parity(lambda a: lax.top_k(a, 0), random_array(rng, (4, 5), jnp.float32), what="k=0")
    logits = random_array(rng, (4, 32000), jnp.bfloat16)
    check_parity(lambda a: lax.top_k(a, 50), logits, what="vocab top_k")
    ties = np.repeat(np.arange(10, dtype=np.float32), 10).reshape(1, 100)
    check_parity(lambda a: lax.top_k(a, 25), ties, what="ties keep lower indices first")


# ---- argmax / argmin and general reduces ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_argmax_argmin(dtype, axis):
    rng = _rng(58)
    x = random_array(rng, (13, 9), dtype, low=-2, high=2)   # narrow range: many ties
    x = _with_specials(x, rng)
    check_parity(lambda a: (jnp.argmax(a, axis=axis), jnp.argmin(a, axis=axis),
                            jnp.argmax(a, axis=axis, keepdims=True)), x, what=f"argmax {axis}")


def test_argmax_large_and_odd():
    rng = _rng(59)
    logits = random_array(rng, (2, 151936), jnp.float32)
    check_parity(lambda a: jnp.argmax(a, axis=-1), logits, what="vocab argmax")
    check_parity(lambda a: jnp.argmin(a), random_array(rng, (1000, 3), jnp.bfloat16), what="flat")
    check_parity(lambda a: jnp.argmax(a, axis=1), random_array(rng, (0, 4), jnp.int32),
                 what="no rows")
    check_parity(lambda a: jnp.argmax(a), np.float32(3.0), what="0-d")


def test_argmax_as_a_region_program(monkeypatch):
    """argmax/argmin bodies run natively once recognized; unrecognized, their register program
    runs lane-parallel (chunks of the reduction for few outputs) with the same results."""
    from xla_passes import indexing_lowering
    monkeypatch.setattr(indexing_lowering, "argminmax_kind", lambda *a, **k: None)
    rng = _rng(65)
    x = _with_specials(random_array(rng, (5, 300), jnp.float32, low=-2, high=2), rng)
    check_parity(lambda a: (jnp.argmax(a, axis=1) + 1, jnp.argmin(a, axis=0) + 1,
                            jnp.argmax(a) + 1), x, what="argmax program")
    b = random_array(rng, (700, 3), jnp.int8, low=-1, high=1)
    check_parity(lambda a: jnp.argmin(a, axis=0) * 2, b, what="argmin program with ties")


def test_multi_operand_reduce_with_general_body():
    rng = _rng(60)
    x = random_array(rng, (6, 50), jnp.float32)
    y = random_array(rng, (6, 50), jnp.int32)

    def f(x, y):
        s, m = lax.reduce((x, y), (np.float32(0), np.int32(-1000)),
                          lambda a, b: (a[0] + b[0], jnp.maximum(a[1], b[1])), (1,))
        return s, m
    check_parity(f, x, y, what="sum and max together")

    def sumsq(x):   # one operand, a body that is not a single op
        return lax.reduce(x, np.float32(0), lambda a, b: a + jnp.abs(b), (0,))
    check_parity(sumsq, x, what="single-operand program body")

    def bits(y):
        return lax.reduce(y, np.int32(0), lambda a, b: (a | b) ^ (a & b & 0), (0, 1))
    check_parity(bits, y, what="integer program body")


# ---- cumulative ops and reduce_window ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=_name)
@pytest.mark.parametrize("op", ["cumsum", "cumprod", "cummax", "cummin"])
def test_cumulative(dtype, op):
    rng = _rng(61)
    low, high = (0.5, 1.5) if op == "cumprod" else (-3, 3)
    if op == "cumprod" and np.dtype(dtype).kind in "iu":
        low, high = (-0.05, 0.05)
    x = random_array(rng, (4, 17), dtype, low=low, high=high)
    fn = getattr(lax, op)
    check_parity(lambda a: (fn(a, axis=1), fn(a, axis=0, reverse=True)), x, what=op)


def test_cumulative_jnp_and_logsumexp():
    rng = _rng(62)
    x = random_array(rng, (3, 5, 40), jnp.float32)
    check_parity(lambda a: (jnp.cumsum(a, axis=2), jnp.cumsum(a), jnp.cumprod(a[..., :8], 1),
                            lax.cumlogsumexp(a, axis=2), lax.cumlogsumexp(a, axis=0, reverse=True)),
                 x, what="jnp cumulative")
    b = random_array(rng, (64,), jnp.bool_)
    check_parity(lambda a: (jnp.cumsum(a),
                            lax.reduce_window(a, False, lax.bitwise_or, (64,), (1,), ((63, 0),)),
                            lax.reduce_window(a, True, lax.bitwise_and, (64,), (1,), ((0, 63),))),
                 b, what="pred cumulative")
    big = random_array(rng, (8, 20000), jnp.float32)
    check_parity(lambda a: jnp.cumsum(a, axis=1), big, rtol=1e-5, atol=1e-3, what="long cumsum")
    check_parity(lambda a: jnp.cumsum(a, axis=0), np.zeros((0, 3), np.float32), what="empty")
    v = random_array(rng, (300,), jnp.float32)
    check_parity(lambda a: (lax.cumlogsumexp(a), lax.cumlogsumexp(a, reverse=True)), v,
                 what="one line, program body")


@pytest.mark.parametrize("dtype", (jnp.float32, jnp.bfloat16, jnp.int32, jnp.uint8), ids=_name)
def test_pooling_windows(dtype):
    rng = _rng(63)
    x = random_array(rng, (2, 9, 10, 3), dtype)
    init_max = (-jnp.inf if np.dtype(dtype).kind == "f" or dtype == jnp.bfloat16
                else np.iinfo(np.dtype(dtype)).min)

    def f(a):
        mx = lax.reduce_window(a, jnp.asarray(init_max, dtype), lax.max, (1, 3, 3, 1),
                               (1, 2, 2, 1), "SAME")
        sm = lax.reduce_window(a, jnp.asarray(0, dtype), lax.add, (1, 2, 3, 1), (1, 1, 2, 1),
                               ((0, 0), (1, 2), (0, 1), (0, 0)))
        return mx, sm
    check_parity(f, x, what="pooling")


def test_reduce_window_dilations_and_programs():
    rng = _rng(64)
    x = random_array(rng, (7, 8), jnp.float32)

    def dilated(a):
        return lax.reduce_window(a, 0.0, lax.add, (2, 3), (1, 2), ((1, 1), (2, 0)),
                                 base_dilation=(2, 1), window_dilation=(1, 2))
    check_parity(dilated, x, what="dilations")

    def two_operands(a, b):   # a variadic window: max of a with the b at the same position
        def body(p, q):
            take = (p[0] > q[0]) | ((p[0] == q[0]) & (p[1] < q[1]))
            return lax.select(take, p[0], q[0]), lax.select(take, p[1], q[1])
        return lax.reduce_window((a, b), (-jnp.inf, np.int32(0)), body, (2, 3), (1, 2), "SAME")
    check_parity(two_operands, x, random_array(rng, (7, 8), jnp.int32), what="two operands")

    def program(a):   # a window reduction whose body is not one op
        return lax.reduce_window(a, -jnp.inf, lambda p, q: jnp.logaddexp(p, q), (3, 1), (2, 1),
                                 "VALID")
    check_parity(program, x, what="logaddexp window")
