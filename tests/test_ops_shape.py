"""Data-movement ops on the chip against cpu: broadcast, reshape, transpose, slice, concatenate,
iota, constants and programs with several results, across dtypes and odd shapes."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parity import ALL_DTYPES, check_parity, random_array


def _name(dt) -> str:
    return np.dtype(dt).name


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("case", [
    ((), (3, 5), ()),
    ((7,), (3, 7), (1,)),
    ((7,), (7, 3), (0,)),
    ((5, 1), (2, 5, 9), (1, 2)),
    ((3, 4), (3, 2, 4), (0, 2)),   # broadcast into a middle dim
    ((0, 3), (2, 0, 3), (1, 2)),
], ids=str)
def test_broadcast_in_dim(dtype, case):
    src, out, dims = case
    x = random_array(np.random.default_rng(1), src, dtype)
    check_parity(lambda a: lax.broadcast_in_dim(a, out, dims), x, what=f"broadcast {case}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("case", [((6, 35), (210,)), ((210,), (7, 5, 6)), ((3, 1, 5), (15, 1)),
                                  ((), (1, 1)), ((0, 4), (2, 0))], ids=str)
def test_reshape(dtype, case):
    src, out = case
    x = random_array(np.random.default_rng(2), src, dtype)
    # multiply by one after the reshape so it is not the identity on a parameter
    check_parity(lambda a: (a.reshape(out), (a + a).reshape(out)), x, what=f"reshape {case}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("case", [((5, 33), (1, 0)), ((2, 3, 129), (2, 0, 1)),
                                  ((4, 3, 5, 7), (3, 1, 0, 2)), ((0, 3), (1, 0))], ids=str)
def test_transpose(dtype, case):
    src, perm = case
    x = random_array(np.random.default_rng(3), src, dtype)
    check_parity(lambda a: lax.transpose(a, perm), x, what=f"transpose {case}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("case", [
    ((17,), (3,), (15,), (1,)),
    ((9, 33), (1, 2), (8, 31), (2, 3)),
    ((4, 5, 6), (0, 0, 5), (4, 5, 6), (1, 1, 1)),
    ((5, 5), (2, 2), (2, 5), (1, 1)),   # empty result
], ids=str)
def test_slice(dtype, case):
    src, start, limit, strides = case
    x = random_array(np.random.default_rng(4), src, dtype)
    check_parity(lambda a: lax.slice(a, start, limit, strides), x, what=f"slice {case}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("dim", [0, 1])
def test_concatenate(dtype, dim):
    rng = np.random.default_rng(5)
    shapes = [(3, 7), (3, 1), (3, 0), (3, 130)] if dim == 1 else [(3, 7), (1, 7), (0, 7), (129, 7)]
    xs = [random_array(rng, s, dtype) for s in shapes]
    check_parity(lambda *a: lax.concatenate(a, dim), *xs, what=f"concatenate dim {dim}")


@pytest.mark.parametrize("dtype", (jnp.int8, jnp.uint8, jnp.int16, jnp.uint16, jnp.int32,
                                   jnp.uint32, jnp.float16, jnp.bfloat16, jnp.float32), ids=_name)
@pytest.mark.parametrize("case", [((7,), 0), ((3, 130), 1), ((4, 5, 6), 0), ((0, 3), 1)], ids=str)
def test_iota(dtype, case):
    shape, dim = case
    x = random_array(np.random.default_rng(6), shape, dtype)
    check_parity(lambda a: a + lax.broadcasted_iota(dtype, shape, dim), x, what=f"iota {case}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
def test_constants(dtype):
    rng = np.random.default_rng(7)
    c = random_array(rng, (3, 17), dtype)           # a dense constant baked into the program
    x = random_array(rng, (3, 17), dtype)
    check_parity(lambda a: (jnp.asarray(c), lax.select(a == a, jnp.asarray(c), a),
                            jnp.full((2, 3), c.flat[0], dtype)), x, what="constants")


def test_several_results_and_reused_values():
    rng = np.random.default_rng(8)
    x = random_array(rng, (11, 13), jnp.float32)

    def f(a):
        b = a * 2.0
        return a, b, b, jnp.sum(b), (b + 1.0).astype(jnp.bfloat16), a.T

    check_parity(f, x, what="several results")
