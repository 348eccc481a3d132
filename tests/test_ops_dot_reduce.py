"""dot_general and reduce on the chip against cpu."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parity import FLOAT_DTYPES, TOLERANCE, assert_close, chip, cpu, random_array, run


def _name(dt) -> str:
    return np.dtype(dt).name


def check_accumulation(f, *args, what: str):
    """Ops that sum many terms: compare element-wise against the output's scale, i.e. with an
    absolute tolerance of rtol(dtype) * max|reference| (summation order differs between
    backends; the error bound scales with the terms, not with each result's own magnitude)."""
    got, want = run(f, chip(), *args), run(f, cpu(), *args)
    w = np.asarray(want)
    if w.dtype in TOLERANCE:
        rtol, _ = TOLERANCE[w.dtype]
        scale = float(np.max(np.abs(w.astype(np.float64)))) if w.size else 1.0
        assert_close(got, want, rtol=rtol, atol=rtol * max(scale, 1.0), what=what)
    else:
        assert_close(got, want, what=what)


DOT_CASES = [
    # (lhs shape, rhs shape, ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch)))
    ((7, 33), (33, 5), (((1,), (0,)), ((), ()))),                 # plain matmul, odd sizes
    ((1, 130), (130, 257), (((1,), (0,)), ((), ()))),              # decode-like M=1
    ((33, 7), (5, 33), (((0,), (1,)), ((), ()))),                  # both transposed
    ((3, 9, 17), (3, 17, 4), (((2,), (1,)), ((0,), (0,)))),        # batched
    ((9, 3, 17), (17, 4, 3), (((2,), (0,)), ((1,), (2,)))),        # batch dims not leading
    ((2, 5, 6, 7), (6, 7, 3), (((2, 3), (0, 1)), ((), ()))),      # two contracting dims
    ((4, 0), (0, 3), (((1,), (0,)), ((), ()))),                    # empty contraction
    ((0, 5), (5, 3), (((1,), (0,)), ((), ()))),                    # empty result
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=_name)
@pytest.mark.parametrize("case", DOT_CASES, ids=lambda c: f"{c[0]}x{c[1]}")
def test_dot_general_float(dtype, case):
    lhs, rhs, dims = case
    rng = np.random.default_rng(1)
    x, y = random_array(rng, lhs, dtype), random_array(rng, rhs, dtype)
    check_accumulation(lambda a, b: lax.dot_general(a, b, dims), x, y, what=f"dot {_name(dtype)}")


@pytest.mark.parametrize("dtype", (jnp.bfloat16, jnp.float16), ids=_name)
def test_dot_low_precision_inputs_f32_accumulation(dtype):
    rng = np.random.default_rng(2)
    x, y = random_array(rng, (12, 300), dtype), random_array(rng, (300, 17), dtype)
    check_accumulation(lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ())),
                                                    preferred_element_type=jnp.float32),
                       x, y, what="dot preferred f32")


@pytest.mark.parametrize("dtype", (jnp.int8, jnp.uint8), ids=_name)
def test_dot_int8_int32_accumulation(dtype):
    rng = np.random.default_rng(3)
    x = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, size=(9, 257)).astype(dtype)
    y = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, size=(257, 13)).astype(dtype)
    check_accumulation(lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ())),
                                                    preferred_element_type=jnp.int32),
                       x, y, what=f"dot {_name(dtype)}->int32")


def test_matmul_jnp():
    rng = np.random.default_rng(4)
    x, y = random_array(rng, (3, 31, 64), jnp.float32), random_array(rng, (64, 19), jnp.float32)
    check_accumulation(lambda a, b: jnp.matmul(a, b), x, y, what="jnp.matmul")


# lax.reduce_* lowers to a plain stablehlo.reduce in the operand dtype (jnp upcasts low precision)
REDUCERS = {"sum": lax.reduce_sum, "max": lax.reduce_max, "min": lax.reduce_min}
REDUCE_DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16, jnp.int8, jnp.uint8, jnp.int16,
                 jnp.uint16, jnp.int32, jnp.uint32)


@pytest.mark.parametrize("dtype", REDUCE_DTYPES, ids=_name)
@pytest.mark.parametrize("axes", [(0,), (1,), (0, 2), (0, 1, 2)], ids=str)
@pytest.mark.parametrize("kind", sorted(REDUCERS))
def test_reduce(kind, axes, dtype):
    rng = np.random.default_rng(5)
    x = random_array(rng, (5, 37, 3), dtype, low=-1, high=1)
    if kind == "sum" and np.dtype(dtype) in (np.dtype(jnp.bfloat16), np.dtype(jnp.float16)):
        f = lambda a: jnp.sum(a, axis=axes)  # jnp sums low precision in f32, like sglang-jax does
    else:
        f = lambda a: REDUCERS[kind](a, axes)
    check_accumulation(f, x, what=f"reduce {kind} {axes} {_name(dtype)}")


def test_reduce_large_f32_sum():
    x = random_array(np.random.default_rng(6), (1 << 20,), jnp.float32)
    check_accumulation(lambda a: jnp.sum(a), x, what="sum of 1M f32")


def test_reduce_empty_and_mean_var():
    rng = np.random.default_rng(7)
    x = random_array(rng, (0, 4), jnp.float32)
    check_accumulation(lambda a: (jnp.sum(a, axis=0), jnp.max(a, axis=0, initial=-1.0)), x,
                       what="empty reduce")
    y = random_array(rng, (6, 129), jnp.float32)
    check_accumulation(lambda a: (jnp.mean(a, axis=-1), jnp.var(a, axis=-1)), y, what="mean/var")
