"""The chip rounds like jax's cpu backend where XLA's algebraic simplifier changes rounding
(xla_passes/algebraic_simplify.py): bit-identical results on random inputs."""

from __future__ import annotations

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

from parity import chip, cpu, run

R = np.random.default_rng(99)
X = R.standard_normal(20000).astype(np.float32)
Y = R.uniform(0.5, 2.0, 20000).astype(np.float32)
Z = R.uniform(0.5, 2.0, 20000).astype(np.float32)
E = R.uniform(-2.0, 2.0, 20000).astype(np.float32)

CASES = {
    "x/3": (lambda x: x / 3.0, (X,)),
    "x/3 f16": (lambda x: x / 3.0, (X.astype(np.float16),)),
    "x/3 bf16": (lambda x: x / 3.0, (X.astype(ml_dtypes.bfloat16),)),
    "x/sqrt(y)": (lambda x, y: x / jnp.sqrt(y), (X, Y)),
    "x/rsqrt(y)": (lambda x, y: x / lax.rsqrt(y), (X, Y)),
    "x/pow(y,e)": (lambda x, y, e: x / y ** e, (X, Y, E)),
    "(x/y)/z": (lambda x, y, z: (x / y) / z, (X, Y, Z)),
    "x/(y/z)": (lambda x, y, z: x / (y / z), (X, Y, Z)),
    "powers": (lambda y: (y ** 2.0, y ** 3.0, y ** 0.5, y ** -1.0), (Y,)),
    "rope angles": (lambda p: p.astype(jnp.float32)[:, None] / (
        10000.0 ** (jnp.arange(0, 128, 2, dtype=jnp.float32) / 128))[None, :],
        (np.arange(0, 32768, 61, dtype=np.int32),)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bit_identical_to_cpu(name):
    f, args = CASES[name]
    got, want = run(f, chip(), *args), run(f, cpu(), *args)
    for g, w in zip(np.atleast_1d(got) if not isinstance(got, tuple) else got,
                    np.atleast_1d(want) if not isinstance(want, tuple) else want):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w), err_msg=name)
