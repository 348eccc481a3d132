"""The reference interpreter's Gather (kernels/gather.py's numpy `gather`) against jax on cpu:
StableHLO gather semantics (offset, collapsed and batching dims, start_index_map, every
index_vector_dim position, out-of-range starts clamped like XLA), and compiled gathers run end
to end."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

from .helpers import check_against_jax, kernel_types, on_cpu, randn
from jax_chip.compiler.kernels.gather import gather

R = np.random.default_rng(7)


def _jax_gather(operand, indices, dn: lax.GatherDimensionNumbers, slice_sizes) -> np.ndarray:
    """XLA's gather on cpu with the index vector last (the only form lax.gather writes); out of
    range starts reach XLA unchanged (PROMISE_IN_BOUNDS), so XLA clamps them."""
    with on_cpu():
        return np.asarray(lax.gather(operand, indices, dn, tuple(slice_sizes),
                                     mode=lax.GatherScatterMode.PROMISE_IN_BOUNDS))


def _ours(operand, indices, dn: lax.GatherDimensionNumbers, slice_sizes,
          index_vector_dim: int) -> np.ndarray:
    return gather(operand, indices, offset_dims=dn.offset_dims,
                  collapsed_slice_dims=dn.collapsed_slice_dims,
                  operand_batching_dims=dn.operand_batching_dims,
                  start_indices_batching_dims=dn.start_indices_batching_dims,
                  start_index_map=dn.start_index_map, index_vector_dim=index_vector_dim,
                  slice_sizes=slice_sizes)


CASES = {
    # jnp.take(table, ids, axis=0): rows of an embedding table (ids [s, 1])
    "embedding": ((64, 16), (10, 1), R.integers(0, 64, (10, 1)),
                  lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,),
                                             start_index_map=(0,)), (1, 16)),
    # ids [2, 5, 1]: a batch of sequences; the row lands in the middle of the result
    "embedding 2-d ids, offset in the middle": (
        (32, 8), (2, 5, 1), R.integers(0, 32, (2, 5, 1)),
        lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,),
                                   start_index_map=(0,)), (1, 8)),
    # 2-d windows at (row, col) starts, the map permuted, starts out of range (clamped)
    "windows, permuted map, clamped": (
        (12, 10, 3), (6, 2), R.integers(-5, 15, (6, 2)),
        lax.GatherDimensionNumbers(offset_dims=(1, 2, 3), collapsed_slice_dims=(),
                                   start_index_map=(1, 0)), (4, 3, 3)),
    # batched: operand dim 0 pairs with indices dim 0 (vmap of take)
    "batched": ((4, 20, 6), (4, 7, 1), R.integers(0, 20, (4, 7, 1)),
                lax.GatherDimensionNumbers(offset_dims=(2,), collapsed_slice_dims=(1,),
                                           start_index_map=(1,), operand_batching_dims=(0,),
                                           start_indices_batching_dims=(0,)), (1, 1, 6)),
    # two batching dims, paired in swapped order, and a scalar element per batch position
    "two batching dims": ((3, 5, 9), (5, 3, 2, 1), R.integers(-3, 12, (5, 3, 2, 1)),
                          lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(2,),
                                                     start_index_map=(2,),
                                                     operand_batching_dims=(0, 1),
                                                     start_indices_batching_dims=(1, 0)),
                          (1, 1, 1)),
    # full-index scalar gathers x[i, j]
    "point gather": ((7, 9), (11, 2), R.integers(0, 9, (11, 2)),
                     lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0, 1),
                                                start_index_map=(0, 1)), (1, 1)),
}


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.int32])
@pytest.mark.parametrize("name", list(CASES))
def test_gather_matches_xla(name, dtype):
    shape, _, indices, dn, sizes = CASES[name]
    operand = randn(shape, dtype)
    indices = indices.astype(np.int32)
    expected = _jax_gather(operand, indices, dn, sizes)
    got = _ours(operand, indices, dn, sizes, indices.ndim - 1)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", list(CASES))
def test_index_vector_dim_positions(name):
    """The index vector at every position of the start indices (and, for one-component
    indices, implicit past the last dim) gathers what jax's trailing-vector form gathers."""
    shape, _, indices, dn, sizes = CASES[name]
    operand = randn(shape)
    indices = indices.astype(np.int32)
    expected = _jax_gather(operand, indices, dn, sizes)
    last = indices.ndim - 1
    for ivd in range(indices.ndim):
        moved = np.moveaxis(indices, last, ivd)
        sbd = tuple(d + (d >= ivd) for d in dn.start_indices_batching_dims)
        got = _ours(operand, moved, dn._replace(start_indices_batching_dims=sbd), sizes, ivd)
        np.testing.assert_array_equal(got, expected, err_msg=f"index_vector_dim={ivd}")
    if indices.shape[-1] == 1:
        got = _ours(operand, indices[..., 0], dn, sizes, last)
        np.testing.assert_array_equal(got, expected, err_msg="implicit index vector")


def test_unsigned_and_negative_starts_clamp():
    operand = randn((10, 4))
    dn = lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,),
                                    start_index_map=(0,))
    for idx in (np.array([[0], [9], [-1], [-100], [10], [2**30]], np.int32),
                np.array([[0], [9], [10], [2**32 - 1]], np.uint32)):
        got = _ours(operand, idx, dn, (1, 4), 1)
        np.testing.assert_array_equal(got, _jax_gather(operand, idx, dn, (1, 4)))
        np.testing.assert_array_equal(got, operand[np.clip(idx[:, 0].astype(np.int64), 0, 9)])


def test_compiled_gathers_run_in_the_interpreter():
    table, ids = randn((50, 8), ml_dtypes.bfloat16), R.integers(0, 50, (6,)).astype(np.int32)
    exe = check_against_jax(lambda t, i: jnp.take(t, i, axis=0), table, ids)
    assert "Gather" in kernel_types(exe)
    xs, idx = randn((3, 9, 4)), R.integers(0, 9, (3, 5)).astype(np.int32)
    exe = check_against_jax(jax.vmap(lambda x, i: x[i]), xs, idx)
    assert "Gather" in kernel_types(exe)
