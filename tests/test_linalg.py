"""Triangular solves on the chip (stablehlo.triangular_solve, the TriangularSolve kernel) against
the cpu backend: every flag combination of lax.linalg.triangular_solve, jax.scipy's
solve_triangular, batches, vector right-hand sides, zero-size batches; the untouched triangle is
never read; f32 and bf16; errors for what the kernel does not take.

Tolerance: substitution is backward stable (the computed x solves (T + dT) x = b with
|dT| <= m eps |T|), so each backend's forward error is bounded by m eps |T^-1| |T| |x| (Skeel);
the chip and cpu results may differ by twice that, elementwise."""

from __future__ import annotations

import itertools

import jax
import ml_dtypes
import numpy as np
import pytest
from jax import lax
from jax.scipy.linalg import solve_triangular

import jax_chip.profiler as chip_prof
from parity import chip, cpu, run

RNG = np.random.default_rng(29)


def system(batch: tuple[int, ...], m: int, n: int, lower: bool, left: bool, dtype=np.float32):
    """A diagonally dominant triangular a (garbage in the other triangle) and a random b."""
    a = RNG.uniform(-1, 1, batch + (m, m)) / m
    idx = np.arange(m)
    a[..., idx, idx] = RNG.uniform(2, 3, batch + (m,)) * RNG.choice([-1, 1], batch + (m,))
    other = np.triu(np.ones((m, m), bool), 1) if lower else np.tril(np.ones((m, m), bool), -1)
    a = np.where(other, RNG.uniform(-1e4, 1e4, a.shape), a)   # must never be read
    b = RNG.standard_normal(batch + ((m, n) if left else (n, m)))
    return a.astype(dtype), b.astype(dtype)


def effective(a: np.ndarray, lower: bool, unit: bool, transpose: bool) -> np.ndarray:
    """op(a) as the solve uses it, in float64."""
    a = a.astype(np.float64)
    m = a.shape[-1]
    t = np.tril(a, -1) if lower else np.triu(a, 1)
    t = t + (np.eye(m) if unit else np.eye(m) * np.diagonal(a, axis1=-2, axis2=-1)[..., None, :])
    return np.swapaxes(t, -1, -2) if transpose else t


def error_bound(t: np.ndarray, x: np.ndarray, left: bool, eps: float) -> np.ndarray:
    """2 m eps |T^-1| |T| |x| per element (x T = b is solved as T^T x^T = b^T)."""
    m = t.shape[-1]
    if not left:
        t, x = np.swapaxes(t, -1, -2), np.swapaxes(x, -1, -2)
    tinv = np.linalg.inv(t)
    bound = 2 * m * eps * (np.abs(tinv) @ (np.abs(t) @ np.abs(x)))
    return bound if left else np.swapaxes(bound, -1, -2)


@pytest.mark.parametrize("left,lower,transpose,unit",
                         list(itertools.product([True, False], repeat=4)))
def test_triangular_solve_flags_match_cpu(left, lower, transpose, unit):
    a, b = system((3,), 24, 5, lower, left)

    def f(a, b):
        return lax.linalg.triangular_solve(a, b, left_side=left, lower=lower, transpose_a=transpose,
                                           unit_diagonal=unit)

    got, want = run(f, chip(), a, b), run(f, cpu(), a, b)
    assert got.dtype == np.float32 and got.shape == b.shape
    t = effective(a, lower, unit, transpose)
    bound = error_bound(t, want.astype(np.float64), left, float(np.finfo(np.float32).eps))
    assert np.all(np.abs(got.astype(np.float64) - want) <= 2 * bound)
    # and it solves the system (not merely agrees with cpu)
    x = got.astype(np.float64)
    residual = t @ x - b if left else x @ t - b
    assert np.abs(residual).max() < 1e-4


@pytest.mark.parametrize("trans", [0, 1, 2])
def test_scipy_solve_triangular_vector_rhs(trans):
    a, b = system((), 40, 1, True, True)

    def f(a, b):
        return solve_triangular(a, b[:, 0], lower=True, trans=trans)

    got, want = run(f, chip(), a, b), run(f, cpu(), a, b)
    t = effective(a, True, False, trans != 0)
    bound = error_bound(t, want.astype(np.float64)[:, None], True, float(np.finfo(np.float32).eps))
    assert np.all(np.abs(got.astype(np.float64) - want)[:, None] <= 2 * bound)


def test_bf16_is_solved_in_f32_and_rounded_once():
    a, b = system((2,), 16, 4, False, True, dtype=ml_dtypes.bfloat16)

    def f(a, b):
        return lax.linalg.triangular_solve(a, b, left_side=True, lower=False)

    got = run(f, chip(), a, b)
    assert got.dtype == ml_dtypes.bfloat16
    exact = np.linalg.solve(effective(a, False, False, False), b.astype(np.float64))
    # f32 substitution error, then one bf16 rounding (half an ulp: 2^-9 relative)
    bound = error_bound(effective(a, False, False, False), exact, True,
                        float(np.finfo(np.float32).eps)) + np.abs(exact) * 2.0 ** -8
    assert np.all(np.abs(got.astype(np.float64) - exact) <= bound)


def test_zero_size_batch_and_1x1():
    a, b = system((0,), 4, 3, True, True)
    f = lambda a, b: lax.linalg.triangular_solve(a, b, left_side=True, lower=True)  # noqa: E731
    assert run(f, chip(), a, b).shape == (0, 4, 3)
    a1, b1 = system((), 1, 1, True, True)
    np.testing.assert_allclose(run(f, chip(), a1, b1), b1 / a1, rtol=1e-7)


def test_kernel_shows_in_the_profile_with_its_cost():
    a, b = system((4,), 64, 8, True, True)
    f = jax.jit(lambda a, b: lax.linalg.triangular_solve(a, b, left_side=True, lower=True))
    args = [jax.device_put(x, chip()) for x in (a, b)]
    f(*args).block_until_ready()
    with chip_prof.trace() as t:
        f(*args).block_until_ready()
    kernels = [e for e in t.profile.events if e.get("cat") == "triangular_solve"]
    assert len(kernels) == 1, [e.get("cat") for e in t.profile.events]
    work = kernels[0]["args"]
    assert float(work["vector_flops"]) == 4 * 8 * (64 * 63 + 64)
    assert float(work["bytes_read"]) == a.nbytes + b.nbytes
    assert kernels[0]["dur"] > 0


def test_integer_operands_are_a_compile_error_naming_the_op():
    a = np.eye(3, dtype=np.int32)
    f = jax.jit(lambda a, b: lax.linalg.triangular_solve(a, b, left_side=True, lower=True))
    with pytest.raises(Exception, match="triangular_solve"):
        f(jax.device_put(a, chip()), jax.device_put(a, chip()))
