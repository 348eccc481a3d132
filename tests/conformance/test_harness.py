"""The conformance check itself: its error bounds accept rounding differences and reject real
bugs (a dropped term, a wrong element, a NaN where cpu has a number)."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .ops import BoundArgs, _mul_bound, accumulation, step
from .programs import Program, compare, error_bound
from .values import Spec, magnitude, roundoff


def _sum_program(n: int) -> Program:
    """jnp.sum over n f32 values, with the bound rule of the catalog's sum (values.py)."""
    def bound(a: BoundArgs) -> np.ndarray:
        return accumulation(n) * np.sum(magnitude(a.x)) + roundoff(a.out.dtype) * magnitude(a.out)
    s = step("jnp.sum(x)", functools.partial(jnp.sum, axis=0), bound, False)
    s = dataclasses.replace(s, out=Spec((), np.dtype(np.float32), False))
    return Program(Spec((n,), np.dtype(np.float32)), (s,), data_seed=7)


def test_sum_bound_accepts_reordering_and_rejects_a_dropped_term() -> None:
    cpu = jax.devices("cpu")[0]
    program = _sum_program(4096)
    (x,) = program.inputs()
    want = np.asarray(jnp.sum(x))
    bound = error_bound(program, [x], cpu)
    # another summation order (pairwise in f64, then rounded) lies within the bound
    reordered = np.float32(np.sum(x.astype(np.float64)))
    assert compare(np.asarray(reordered), want, bound) == ""
    # a kernel that drops one term does not
    dropped = np.asarray(np.float32(np.sum(x[1:].astype(np.float64))))
    assert "outside the bound" in compare(dropped, want, bound)


def test_exact_results_must_match_bit_for_bit() -> None:
    want = np.arange(12, dtype=np.int32).reshape(3, 4)
    got = want.copy()
    got[2, 1] += 1
    message = compare(got, want, np.zeros(want.shape))
    assert "1 of 12 elements differ" in message and "flat index 9" in message


def test_nan_and_infinity_must_match() -> None:
    want = np.array([1.0, np.inf, np.nan], np.float32)
    bound = np.full(3, 1e30)      # however loose the bound, specials are compared exactly
    assert compare(want.copy(), want, bound) == ""
    assert compare(np.array([1.0, -np.inf, np.nan], np.float32), want, bound) != ""
    assert compare(np.array([1.0, np.inf, 0.0], np.float32), want, bound) != ""


def test_dtype_and_shape_must_match() -> None:
    want = np.zeros((2, 3), np.float32)
    assert "cpu gives float32[2, 3]" in compare(np.zeros((3, 2), np.float32), want, want)
    assert "cpu gives float32[2, 3]" in compare(want.astype(np.float16), want, want)


def test_complex_products_round_relative_to_the_factors() -> None:
    """A complex product's parts cancel (ac - bd): its bound (the catalog's multiply rule) is
    relative to |x| |y|, which accepts the product with each part rounded once (as an FMA gives)
    and rejects one with a wrong sign of one term."""
    cpu = jax.devices("cpu")[0]
    c64 = np.dtype(np.complex64)
    x = np.array([1.0 + 1.0j, 3.0 - 2.0j, 0.1 + 0.2j], c64)
    y = np.array([1.0 - 1.0000001j, 0.5 + 2.5j, -2.0 + 1.0j], c64)
    product = step("jnp.multiply(x, y)", jnp.multiply, _mul_bound, False, (Spec((3,), c64),))
    product = dataclasses.replace(product, out=Spec((3,), c64, False))
    bound = error_bound(Program(Spec((3,), c64), (product,), data_seed=0), [x, y], cpu)
    want = np.asarray(jax.device_put(x, cpu) * jax.device_put(y, cpu))
    xw, yw = x.astype(np.complex128), y.astype(np.complex128)
    assert compare((xw * yw).astype(c64), want, bound) == ""
    wrong = (xw.real * yw.real + xw.imag * yw.imag) + 1j * (xw.real * yw.imag + xw.imag * yw.real)
    assert "outside the bound" in compare(wrong.astype(c64), want, bound)
