"""Grouped matmuls on the chip (lax.ragged_dot -> chlo.ragged_dot, the RaggedDot kernel) against
the cpu backend (JAX's dense fallback there), on fresh random inputs: group sizes that cover
every row, leave rows past the last group (zero), have empty groups, or overrun m; rhs as
[g, k, n] and [g, n, k]; f32 and bf16. The kernel replaces JAX's dense fallback on the chip (no
dot_general in the program) and its work in the profile counts the routed rows only.

Tolerance: each result element is a k-term dot product accumulated in f32 on both backends, so
they differ by at most 2 k eps32 sum|a||b| plus, for a bf16 result, one rounding each
(2 * 2^-8 relative to sum|a||b|)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

import jax_chip.profiler as chip_prof
from parity import chip, cpu, run

RNG = np.random.default_rng(31)
EPS32 = 2.0 ** -24


def operands(m: int, k: int, n: int, sizes: list[int], dtype, rhs_nk: bool = False):
    lhs = RNG.uniform(-2, 2, (m, k)).astype(dtype)
    rhs = RNG.uniform(-2, 2, (len(sizes), n, k) if rhs_nk else (len(sizes), k, n)).astype(dtype)
    return lhs, rhs, np.asarray(sizes, np.int32)


def magnitude(lhs, rhs, sizes, rhs_nk: bool) -> np.ndarray:
    """sum_c |a[r, c]| |w_g[c, j]| for each row's group (0 for rows past the groups)."""
    a = np.abs(lhs.astype(np.float64))
    w = np.abs(rhs.astype(np.float64))
    if rhs_nk:
        w = np.swapaxes(w, 1, 2)
    out = np.zeros((lhs.shape[0], w.shape[2]))
    start = 0
    for g, s in enumerate(sizes):
        rows = min(max(int(s), 0), lhs.shape[0] - start)
        out[start:start + rows] = a[start:start + rows] @ w[g]
        start += rows
    return out


def ragged(rhs_nk: bool):
    if not rhs_nk:
        return lambda a, b, s: lax.ragged_dot(a, b, s)
    dims = lax.RaggedDotDimensionNumbers(
        dot_dimension_numbers=(([1], [2]), ([], [])), lhs_ragged_dimensions=[0],
        rhs_group_dimensions=[0])
    return lambda a, b, s: lax.ragged_dot_general(a, b, s, dims)


def check(lhs, rhs, sizes, rhs_nk: bool = False) -> np.ndarray:
    f = ragged(rhs_nk)
    got = run(f, chip(), lhs, rhs, sizes)
    want = run(f, cpu(), lhs, rhs, sizes)
    assert got.dtype == want.dtype and got.shape == want.shape
    mag = magnitude(lhs, rhs, sizes, rhs_nk)
    k = lhs.shape[1]
    bound = 2 * k * EPS32 * mag
    if lhs.dtype == ml_dtypes.bfloat16:
        bound = bound + 2 * 2.0 ** -8 * mag
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    worst = np.unravel_index(err.argmax(), err.shape)
    assert np.all(err <= bound), f"max err {err.max()} vs bound there {bound[worst]}"
    return got


SIZES = {
    "all_rows": [7, 0, 13, 1, 19],          # sum = m, an empty group
    "rows_left_over": [5, 9, 0, 0, 6],      # sum 20 < m: the last rows are zero
    "overrun": [30, 25, 3, 0, 0],           # sum 58 > m: the second group stops at m
    "one_group": [0, 0, 40, 0, 0],
}


@pytest.mark.parametrize("case", list(SIZES))
@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16], ids=["f32", "bf16"])
def test_ragged_dot_matches_cpu(case: str, dtype) -> None:
    lhs, rhs, sizes = operands(40, 48, 24, SIZES[case], dtype)
    got = check(lhs, rhs, sizes)
    covered = min(40, int(np.maximum(sizes, 0).sum()))
    assert np.all(got[covered:] == 0)
    assert np.any(got[:covered] != 0)


def test_rhs_as_groups_of_n_by_k_matches_cpu() -> None:
    lhs, rhs, sizes = operands(33, 40, 17, [10, 0, 12, 11], np.float32, rhs_nk=True)
    check(lhs, rhs, sizes, rhs_nk=True)


def test_kernel_replaces_the_dense_fallback_and_costs_the_routed_rows() -> None:
    m, k, n = 64, 96, 48
    sizes = [20, 0, 3, 0, 0, 0, 33, 0]           # 56 of 64 rows routed, to 3 of 8 groups
    lhs, rhs, gs = operands(m, k, n, sizes, np.float32)
    f = jax.jit(lax.ragged_dot)
    args = [jax.device_put(x, chip()) for x in (lhs, rhs, gs)]
    f(*args).block_until_ready()
    with chip_prof.trace() as t:
        f(*args).block_until_ready()
    cats = [e.get("cat") for e in t.profile.events if e.get("ph") == "X"]
    kernels = [e for e in t.profile.events if e.get("cat") == "ragged_dot"]
    assert len(kernels) == 1 and "dot_general" not in cats, cats
    work = kernels[0]["args"]
    pad = lambda x, p: (x + p - 1) // p * p  # noqa: E731
    routed = sum(pad(s, 8) for s in sizes)    # 24 + 8 + 40 = 72 padded rows, not 8 x 64
    assert float(work["matrix_flops"]) == 2 * routed * pad(n, 128) * pad(k, 128)
    assert float(work["bytes_read"]) == lhs.nbytes + gs.nbytes + 3 * k * n * 4
    assert float(work["bytes_written"]) == m * n * 4
    assert kernels[0]["dur"] > 0


def test_unsupported_modes_are_compile_errors_naming_the_op() -> None:
    # a batch dimension (ragged along the contracting dim is another mode the kernel lacks)
    dims = lax.RaggedDotDimensionNumbers(
        dot_dimension_numbers=(([2], [2]), ([0], [0])), lhs_ragged_dimensions=[1],
        rhs_group_dimensions=[1])
    lhs = jnp.ones((2, 8, 4), jnp.float32)
    rhs = jnp.ones((2, 3, 4, 5), jnp.float32)
    sizes = jnp.array([[3, 3, 2], [8, 0, 0]], jnp.int32)
    f = jax.jit(lambda a, b, s: lax.ragged_dot_general(a, b, s, dims))
    with pytest.raises(Exception, match="ragged_dot"):
        f(*(jax.device_put(x, chip()) for x in (lhs, rhs, sizes)))
