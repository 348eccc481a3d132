"""jax_chip.ops attention references against an independent dense float64 attention.

Ragged batches with random page placement, GQA ratios 1/2/4/8, page sizes 1/16/64, prefixes
from 0 to several pages, float32 and bfloat16, padding sequences and padding query rows.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from attn_helpers import dense_attention, make_paged_batch  # noqa: E402

from jax_chip.ops import (  # noqa: E402
    page_table_from_cache_loc,
    paged_attention_decode,
    radix_attention_extend,
)

DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}
# Max abs error allowed against the float64 reference computed from the same (rounded) inputs:
# f32 accumulation; bf16 adds the output's rounding (values are O(1)).
TOL = {"float32": 2e-5, "bfloat16": 2e-2}
KV_HEADS = 2
HEAD_DIM = 32


def _rand_q(rng: np.random.Generator, shape: tuple, dtype: np.dtype) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _decode_case(seed: int, ratio: int, page: int, dtype_name: str):
    rng = np.random.default_rng(seed)
    dtype = DTYPES[dtype_name]
    # Lengths from 1 token to several pages, plus a padding sequence (length 0).
    seq_lens = [1, page + 1, 3 * page + 5, 2, 0, 2 * page]
    batch = make_paged_batch(rng, seq_lens, KV_HEADS, HEAD_DIM, page, dtype)
    h = KV_HEADS * ratio
    q = _rand_q(rng, (len(seq_lens), h, HEAD_DIM), dtype)
    return rng, batch, q


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
@pytest.mark.parametrize("page", [1, 16, 64])
@pytest.mark.parametrize("ratio", [1, 2, 4, 8])
def test_decode_matches_dense(ratio: int, page: int, dtype_name: str) -> None:
    _, batch, q = _decode_case(100 * ratio + page, ratio, page, dtype_name)
    scale = HEAD_DIM ** -0.5
    out = paged_attention_decode(jnp.asarray(q), jnp.asarray(batch.k_pool),
                                 jnp.asarray(batch.v_pool), jnp.asarray(batch.page_table),
                                 jnp.asarray(batch.seq_lens), scale=scale, page_size=page)
    assert out.dtype == q.dtype and out.shape == q.shape
    out = np.asarray(out, dtype=np.float64)
    for b, n in enumerate(batch.seq_lens):
        if n == 0:
            np.testing.assert_array_equal(out[b], 0.0)
            continue
        want = dense_attention(q[b: b + 1], batch.k_seqs[b], batch.v_seqs[b],
                               np.array([n - 1]), scale)[0]
        np.testing.assert_allclose(out[b], want, atol=TOL[dtype_name], rtol=0,
                                   err_msg=f"sequence {b} (len {n})")


def _extend_case(seed: int, ratio: int, page: int, dtype_name: str, pad_rows: int = 5):
    rng = np.random.default_rng(seed)
    dtype = DTYPES[dtype_name]
    # Prefixes from none to several pages (partial and exact pages), extends of 1..many tokens,
    # one padding sequence (0 + 0) at the end as sglang-jax's batch padding produces.
    prefix = [0, page, 2 * page + 3, 0, 5, 0]
    extend = [7, 3, page + 2, 1, 2 * page, 0]
    seq_lens = [p + e for p, e in zip(prefix, extend)]
    batch = make_paged_batch(rng, seq_lens, KV_HEADS, HEAD_DIM, page, dtype)
    h = KV_HEADS * ratio
    tokens = sum(extend) + pad_rows
    q = _rand_q(rng, (tokens, h, HEAD_DIM), dtype)
    return batch, q, np.array(prefix, np.int32), np.array(extend, np.int32)


def _check_extend(out: np.ndarray, batch, q, prefix, extend, scale, tol) -> None:
    start = 0
    for b, (p, e) in enumerate(zip(prefix, extend)):
        if e:
            want = dense_attention(q[start: start + e], batch.k_seqs[b], batch.v_seqs[b],
                                   np.arange(p, p + e), scale)
            np.testing.assert_allclose(out[start: start + e], want, atol=tol, rtol=0,
                                       err_msg=f"sequence {b} (prefix {p}, extend {e})")
        start += e
    np.testing.assert_array_equal(out[start:], 0.0, err_msg="padding query rows")


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
@pytest.mark.parametrize("page", [1, 16, 64])
@pytest.mark.parametrize("ratio", [1, 2, 4, 8])
def test_extend_matches_dense(ratio: int, page: int, dtype_name: str) -> None:
    batch, q, prefix, extend = _extend_case(7 * ratio + page, ratio, page, dtype_name)
    scale = 0.7 * HEAD_DIM ** -0.5
    out = radix_attention_extend(jnp.asarray(q), jnp.asarray(batch.k_pool),
                                 jnp.asarray(batch.v_pool), jnp.asarray(batch.page_table),
                                 jnp.asarray(prefix), jnp.asarray(extend), scale=scale,
                                 page_size=page)
    assert out.dtype == q.dtype and out.shape == q.shape
    _check_extend(np.asarray(out, dtype=np.float64), batch, q, prefix, extend, scale,
                  TOL[dtype_name])


@pytest.mark.parametrize("page", [1, 16, 64])
def test_extend_from_sglang_cache_loc_under_jit(page: int) -> None:
    """The page table derived from sglang-jax's flat cache_loc, with jit and head_dim 128."""
    rng = np.random.default_rng(page)
    prefix = np.array([page + 1, 0, 2], np.int32)
    extend = np.array([4, page + 3, 1], np.int32)
    batch = make_paged_batch(rng, list(prefix + extend), 1, 128, page, np.float32)
    q = rng.standard_normal((int(extend.sum()) + 2, 4, 128)).astype(np.float32)
    table = page_table_from_cache_loc(batch.cache_loc(), batch.seq_lens, page, max_pages=8)
    fn = jax.jit(radix_attention_extend, static_argnames=("scale", "page_size"))
    out = fn(jnp.asarray(q), jnp.asarray(batch.k_pool), jnp.asarray(batch.v_pool),
             jnp.asarray(table), jnp.asarray(prefix), jnp.asarray(extend), scale=128 ** -0.5,
             page_size=page)
    _check_extend(np.asarray(out, np.float64), batch, q, prefix, extend, 128 ** -0.5, 2e-5)


def test_decode_equals_last_row_of_extend() -> None:
    """A decode step and the last token of an extend see the same keys."""
    _, batch, q = _decode_case(5, 4, 16, "float32")
    lens = batch.seq_lens
    real = lens > 0
    args = (jnp.asarray(batch.k_pool), jnp.asarray(batch.v_pool), jnp.asarray(batch.page_table))
    dec = paged_attention_decode(jnp.asarray(q), *args, jnp.asarray(lens), scale=0.2,
                                 page_size=16)
    ext = radix_attention_extend(jnp.asarray(q[real]), *args[:2],
                                 jnp.asarray(batch.page_table[real]),
                                 jnp.asarray(lens[real] - 1), jnp.ones(real.sum(), jnp.int32),
                                 scale=0.2, page_size=16)
    np.testing.assert_allclose(np.asarray(dec)[real], np.asarray(ext), atol=1e-6)


def test_out_of_range_page_ids_are_clamped() -> None:
    """Documented: page ids < 0 or >= num_pages inside a sequence's used pages read page 0 or
    the last page (no fault, no error); other sequences are unaffected."""
    _, batch, q = _decode_case(11, 2, 16, "float32")
    num_pages = batch.k_pool.shape[0] // 16
    bad = batch.page_table.copy()
    bad[2, 1] = num_pages + 7  # sequence 2 (3 pages) reads past the pool
    bad[1, 0] = -3
    clamped = batch.page_table.copy()
    clamped[2, 1] = num_pages - 1
    clamped[1, 0] = 0
    run = lambda table: np.asarray(paged_attention_decode(  # noqa: E731
        jnp.asarray(q), jnp.asarray(batch.k_pool), jnp.asarray(batch.v_pool),
        jnp.asarray(table), jnp.asarray(batch.seq_lens), scale=0.3, page_size=16))
    got, want, good = run(bad), run(clamped), run(batch.page_table)
    np.testing.assert_array_equal(got, want)
    assert np.isfinite(got).all()
    untouched = [0, 3, 4, 5]
    np.testing.assert_array_equal(got[untouched], good[untouched])
    assert not np.allclose(got[2], good[2])


def test_unused_page_table_entries_are_never_read() -> None:
    _, batch, q = _decode_case(12, 2, 16, "float32")
    lens = batch.seq_lens
    other = batch.page_table.copy()
    for b, n in enumerate(lens):
        other[b, -(-int(n) // 16):] = 10 ** 6  # far out of range, past each sequence's pages
    run = lambda table: np.asarray(paged_attention_decode(  # noqa: E731
        jnp.asarray(q), jnp.asarray(batch.k_pool), jnp.asarray(batch.v_pool),
        jnp.asarray(table), jnp.asarray(lens), scale=0.3, page_size=16))
    np.testing.assert_array_equal(run(other), run(batch.page_table))


def test_page_table_from_cache_loc_round_trip() -> None:
    rng = np.random.default_rng(3)
    for page in (1, 16, 64):
        batch = make_paged_batch(rng, [5, 0, 2 * page + 1, page], 1, 8, page, np.float32)
        table = page_table_from_cache_loc(batch.cache_loc(), batch.seq_lens, page)
        for b, n in enumerate(batch.seq_lens):
            used = -(-int(n) // page)
            np.testing.assert_array_equal(table[b, :used], batch.page_table[b, :used])
            np.testing.assert_array_equal(table[b, used:], 0)
    with pytest.raises(ValueError, match="needs 3 pages, max_pages is 2"):
        page_table_from_cache_loc(np.arange(64), np.array([40]), 16, max_pages=2)


def test_shape_errors_name_the_problem() -> None:
    pool = jnp.zeros((32, 2, 16))
    q = jnp.ones((2, 6, 16))
    with pytest.raises(ValueError, match="5 query heads is not a multiple of 2 KV heads"):
        paged_attention_decode(jnp.ones((2, 5, 16)), pool, pool, jnp.zeros((2, 2), jnp.int32),
                               jnp.ones(2, jnp.int32), scale=1.0, page_size=16)
    with pytest.raises(ValueError, match="pool rows 32 is not a multiple of page_size 64"):
        paged_attention_decode(q, pool, pool, jnp.zeros((2, 1), jnp.int32),
                               jnp.ones(2, jnp.int32), scale=1.0, page_size=64)
    with pytest.raises(ValueError, match="q head_dim 8 != pool head_dim 16"):
        radix_attention_extend(jnp.ones((3, 6, 8)), pool, pool, jnp.zeros((1, 2), jnp.int32),
                               jnp.zeros(1, jnp.int32), jnp.ones(1, jnp.int32), scale=1.0,
                               page_size=16)
