"""Elementwise ops on the chip against the cpu backend: every dtype, odd shapes, 0-d, size-0."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parity import FLOAT_DTYPES, INT_DTYPES, check_parity, random_array

SHAPES = [(), (0,), (7,), (5, 33), (3, 129, 2)]
NUMERIC = INT_DTYPES + FLOAT_DTYPES


def _name(dt) -> str:
    return np.dtype(dt).name


BINARY = {
    "add": lax.add,
    "subtract": lax.sub,
    "multiply": lax.mul,
    "maximum": lax.max,
    "minimum": lax.min,
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC, ids=_name)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary(op, dtype, shape):
    rng = np.random.default_rng(abs(hash((op, _name(dtype), shape))) % 2**32)
    x, y = random_array(rng, shape, dtype), random_array(rng, shape, dtype)
    check_parity(BINARY[op], x, y, what=f"{op} {_name(dtype)}{shape}")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC, ids=_name)
def test_divide(dtype, shape):
    rng = np.random.default_rng(11)
    x, y = random_array(rng, shape, dtype), random_array(rng, shape, dtype)
    if np.issubdtype(np.dtype(dtype), np.floating):
        y = np.where(np.abs(y.astype(np.float32)) < 0.1, 0.5, y).astype(dtype)
    # integer division keeps some zero divisors: XLA defines x/0 and x%0, and so must the chip
    check_parity(lax.div, x, y, what=f"divide {_name(dtype)}{shape}")


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=_name)
def test_integer_divide_edge_cases(dtype):
    info = np.iinfo(dtype)
    x = np.array([info.min, info.min, info.max, 7, -7 if info.min < 0 else 9, 0, 5], dtype=dtype)
    y = np.array([-1 if info.min < 0 else 1, 0, 0, 2, 2, 3, -2 if info.min < 0 else 2], dtype=dtype)
    check_parity(lambda a, b: (lax.div(a, b), lax.rem(a, b)), x, y, what=f"div/rem edges {_name(dtype)}")


def _positive(rng, shape, dtype):
    return random_array(rng, shape, dtype, low=0.05, high=4.0)


UNARY_FLOAT = {
    "negate": (lax.neg, random_array),
    "abs": (lax.abs, random_array),
    "exponential": (lax.exp, random_array),
    "log": (lax.log, _positive),
    "tanh": (lax.tanh, random_array),
    "logistic": (lax.logistic, random_array),
    "sqrt": (lax.sqrt, _positive),
    "rsqrt": (lax.rsqrt, _positive),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=_name)
@pytest.mark.parametrize("op", sorted(UNARY_FLOAT))
def test_unary_float(op, dtype, shape):
    fn, gen = UNARY_FLOAT[op]
    rng = np.random.default_rng(abs(hash((op, _name(dtype)))) % 2**32)
    check_parity(fn, gen(rng, shape, dtype), what=f"{op} {_name(dtype)}{shape}")


@pytest.mark.parametrize("dtype", (jnp.int8, jnp.int16, jnp.int32), ids=_name)
@pytest.mark.parametrize("op", ["negate", "abs"])
def test_unary_signed_int(op, dtype):
    rng = np.random.default_rng(3)
    x = random_array(rng, (6, 37), dtype)
    x[0, :2] = np.iinfo(dtype).min  # wraps like two's complement
    check_parity(lax.neg if op == "negate" else lax.abs, x, what=f"{op} {_name(dtype)}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=_name)
def test_power_float(dtype):
    rng = np.random.default_rng(5)
    x = _positive(rng, (9, 31), dtype)
    y = random_array(rng, (9, 31), dtype, low=-2, high=2)
    check_parity(lax.pow, x, y, what=f"power {_name(dtype)}")


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES, ids=_name)
def test_integer_pow(dtype):
    """x ** n for a static n: JAX lowers it to multiplications, which wrap for integers."""
    rng = np.random.default_rng(6)
    x = random_array(rng, (4, 19), dtype, low=-1, high=1)
    check_parity(lambda a: (lax.integer_pow(a, 2), lax.integer_pow(a, 3), lax.integer_pow(a, 5)),
                 x, what=f"integer_pow {_name(dtype)}")


COMPARE = {"eq": lax.eq, "ne": lax.ne, "lt": lax.lt, "le": lax.le, "gt": lax.gt, "ge": lax.ge}


@pytest.mark.parametrize("dtype", (jnp.bool_,) + NUMERIC, ids=_name)
@pytest.mark.parametrize("op", sorted(COMPARE))
def test_compare(op, dtype):
    rng = np.random.default_rng(7)
    x = random_array(rng, (5, 23), dtype, low=-2, high=2)
    y = random_array(rng, (5, 23), dtype, low=-2, high=2)
    y[:, :5] = x[:, :5]  # some equal pairs
    check_parity(COMPARE[op], x, y, what=f"compare {op} {_name(dtype)}")


def test_compare_nan():
    x = np.array([np.nan, 1.0, np.nan, -np.inf, np.inf], np.float32)
    y = np.array([np.nan, np.nan, 2.0, -np.inf, 1.0], np.float32)
    check_parity(lambda a, b: tuple(f(a, b) for f in COMPARE.values()), x, y, what="nan compares")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", (jnp.bool_,) + NUMERIC, ids=_name)
def test_select(dtype, shape):
    rng = np.random.default_rng(8)
    p = random_array(rng, shape, jnp.bool_)
    x, y = random_array(rng, shape, dtype), random_array(rng, shape, dtype)
    check_parity(lax.select, p, x, y, what=f"select {_name(dtype)}{shape}")


ALL = (jnp.bool_,) + NUMERIC


@pytest.mark.parametrize("src", ALL, ids=_name)
@pytest.mark.parametrize("dst", ALL, ids=_name)
def test_convert(src, dst):
    rng = np.random.default_rng(9)
    x = random_array(rng, (3, 41), src, low=-200, high=200)
    if np.issubdtype(np.dtype(src), np.floating) and np.issubdtype(np.dtype(dst), np.integer):
        # float->int outside the target range is implementation-defined in XLA; stay in range
        info = np.iinfo(dst)
        x = np.clip(x.astype(np.float32), max(info.min, -60000), min(info.max, 60000)).astype(src)
    check_parity(lambda a: lax.convert_element_type(a, dst), x,
                 what=f"convert {_name(src)}->{_name(dst)}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=_name)
def test_fused_chain(dtype):
    """A chain the compiler fuses into one kernel: every intermediate rounds like the cpu does."""
    rng = np.random.default_rng(10)
    x, y = random_array(rng, (17, 65), dtype), random_array(rng, (65,), dtype)

    def f(a, b):
        h = jnp.tanh(a * b + 1.0) * jnp.exp(-jnp.abs(a))
        return jnp.where(h > 0, h, h * 0.5) - jnp.maximum(a, b)

    check_parity(f, x, y, what=f"fused chain {_name(dtype)}")
