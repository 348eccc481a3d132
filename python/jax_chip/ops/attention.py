"""Paged attention over a token-addressed KV pool: the pure-jnp references of the chip's
attention custom calls (decode and radix extend).

Layout (sglang-jax's): a pool is [rows, Hkv, D] with rows = num_pages * page_size; page p owns
rows p*page_size .. p*page_size + page_size - 1. A sequence's KV lives in the pages its row of
`page_table` [B, max_pages] lists, in order: its token at position j is at row
page_table[b, j // page_size] * page_size + j % page_size. With page_size 1 the page table is
simply the per-token slot list.

Conventions (the chip kernels must match them):
- GQA: query head h reads KV head h // (H // Hkv) (consecutive query heads share a KV head, as
  in HF's repeat_kv and sglang-jax's native backend).
- Scores, softmax and the weighted sum are computed in float32; the output has q's dtype.
- page_table entries past a sequence's last page are never read (any value is fine: sglang-jax
  pads with 0).
- Out-of-range page ids (< 0 or >= num_pages) inside a sequence's used pages are CLAMPED to
  [0, num_pages - 1]: the kernel reads that page instead of faulting. The result is then
  meaningless for that sequence (the caller passed a bad table) but nothing else is affected.
- A sequence with no visible keys (seq_len 0: batch padding) and query rows past the last real
  token of an extend batch (token padding) produce zeros.
"""

from __future__ import annotations

from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

_HIGHEST = jax.lax.Precision.HIGHEST


def _check_pools(op: str, q_heads: int, head_dim: int, k_pool: jax.Array, v_pool: jax.Array,
                 page_size: int) -> Tuple[int, int]:
    if k_pool.ndim != 3 or v_pool.shape != k_pool.shape:
        raise ValueError(f"{op}: k_pool and v_pool must both be [rows, kv_heads, head_dim], got "
                         f"{k_pool.shape} and {v_pool.shape}")
    rows, kv_heads, d = k_pool.shape
    if d != head_dim:
        raise ValueError(f"{op}: q head_dim {head_dim} != pool head_dim {d}")
    if kv_heads <= 0 or q_heads % kv_heads:
        raise ValueError(f"{op}: {q_heads} query heads is not a multiple of {kv_heads} KV heads")
    if page_size <= 0 or rows % page_size:
        raise ValueError(f"{op}: pool rows {rows} is not a multiple of page_size {page_size}")
    return rows // page_size, kv_heads


def _check_int(op: str, name: str, x: jax.Array) -> None:
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise ValueError(f"{op}: {name} must be an integer array, got {x.dtype}")


def check_decode_args(q: jax.Array, k_pool: jax.Array, v_pool: jax.Array,
                      page_table: jax.Array, seq_lens: jax.Array,
                      page_size: int) -> Tuple[int, int]:
    """Raises ValueError naming what is wrong; returns (num_pages, kv_heads)."""
    op = "paged_attention_decode"
    if q.ndim != 3:
        raise ValueError(f"{op}: q must be [batch, heads, head_dim], got {q.shape}")
    b, h, d = q.shape
    num_pages, kv_heads = _check_pools(op, h, d, k_pool, v_pool, page_size)
    if page_table.ndim != 2 or page_table.shape[0] != b:
        raise ValueError(f"{op}: page_table must be [{b}, max_pages], got {page_table.shape}")
    if seq_lens.shape != (b,):
        raise ValueError(f"{op}: seq_lens must be [{b}], got {seq_lens.shape}")
    _check_int(op, "page_table", page_table)
    _check_int(op, "seq_lens", seq_lens)
    return num_pages, kv_heads


def check_extend_args(q: jax.Array, k_pool: jax.Array, v_pool: jax.Array,
                      page_table: jax.Array, prefix_lens: jax.Array, extend_lens: jax.Array,
                      page_size: int) -> Tuple[int, int]:
    """Raises ValueError naming what is wrong; returns (num_pages, kv_heads)."""
    op = "radix_attention_extend"
    if q.ndim != 3:
        raise ValueError(f"{op}: q must be [tokens, heads, head_dim], got {q.shape}")
    _, h, d = q.shape
    num_pages, kv_heads = _check_pools(op, h, d, k_pool, v_pool, page_size)
    b = page_table.shape[0] if page_table.ndim == 2 else -1
    if b < 0 or prefix_lens.shape != (b,) or extend_lens.shape != (b,):
        raise ValueError(f"{op}: page_table must be [batch, max_pages] and prefix_lens/"
                         f"extend_lens [batch]; got {page_table.shape}, {prefix_lens.shape}, "
                         f"{extend_lens.shape}")
    for name, x in (("page_table", page_table), ("prefix_lens", prefix_lens),
                    ("extend_lens", extend_lens)):
        _check_int(op, name, x)
    return num_pages, kv_heads


def _gather_sequences(pool: jax.Array, page_table: jax.Array, page_size: int,
                      num_pages: int) -> jax.Array:
    """[B, max_pages * page_size, Hkv, D] float32: each sequence's keys (or values) in order."""
    pages = jnp.clip(page_table.astype(jnp.int32), 0, num_pages - 1)  # documented clamp
    rows = pages[:, :, None] * page_size + jnp.arange(page_size, dtype=jnp.int32)
    rows = rows.reshape(page_table.shape[0], -1)
    return jnp.take(pool, rows, axis=0).astype(jnp.float32)


def _masked_softmax_weighted_sum(scores: jax.Array, mask: jax.Array, values: jax.Array,
                                 eq: str) -> jax.Array:
    """softmax(scores) over the last axis where mask, times values (einsum `eq`); 0 if none."""
    scores = jnp.where(mask, scores, -jnp.inf)
    peak = jnp.max(scores, axis=-1, keepdims=True)
    peak = jnp.where(jnp.isfinite(peak), peak, 0.0)
    weights = jnp.where(mask, jnp.exp(scores - peak), 0.0)
    denom = jnp.sum(weights, axis=-1, keepdims=True)
    weights = weights / jnp.where(denom > 0, denom, 1.0)
    return jnp.einsum(eq, weights, values, precision=_HIGHEST)


def paged_attention_decode(
    q: jax.Array,
    k_pool: jax.Array,
    v_pool: jax.Array,
    page_table: jax.Array,
    seq_lens: jax.Array,
    *,
    scale: float,
    page_size: int,
) -> jax.Array:
    """One query token per sequence over that sequence's first seq_lens[b] cached tokens.

    q [B, H, D]; pools [rows, Hkv, D]; page_table [B, max_pages] int; seq_lens [B] int (the
    current token's own K/V must already be in the pool). Returns [B, H, D] in q's dtype.
    """
    num_pages, kv_heads = check_decode_args(q, k_pool, v_pool, page_table, seq_lens, page_size)
    b, h, d = q.shape
    g = h // kv_heads
    keys = _gather_sequences(k_pool, page_table, page_size, num_pages)  # [B, L, Hkv, D]
    vals = _gather_sequences(v_pool, page_table, page_size, num_pages)
    qf = q.astype(jnp.float32).reshape(b, kv_heads, g, d)
    scores = jnp.einsum("bkgd,blkd->bkgl", qf, keys, precision=_HIGHEST) * scale
    pos = jnp.arange(keys.shape[1], dtype=jnp.int32)
    mask = (pos[None, :] < seq_lens.astype(jnp.int32)[:, None])[:, None, None, :]
    out = _masked_softmax_weighted_sum(scores, mask, vals, "bkgl,blkd->bkgd")
    return out.reshape(b, h, d).astype(q.dtype)


def radix_attention_extend(
    q: jax.Array,
    k_pool: jax.Array,
    v_pool: jax.Array,
    page_table: jax.Array,
    prefix_lens: jax.Array,
    extend_lens: jax.Array,
    *,
    scale: float,
    page_size: int,
) -> jax.Array:
    """Ragged extend (prefill) attention with a cached prefix.

    q [T, H, D]: the new tokens of all sequences, concatenated in batch order (sequence b's
    extend_lens[b] tokens, then the next's), then padding rows. Sequence b's new token i sits
    at position prefix_lens[b] + i and sees every cached prefix token (positions
    < prefix_lens[b], matched by the radix tree) and the new tokens up to itself (causal).
    All of their K/V, the new tokens' included, must already be in the pools. Returns
    [T, H, D] in q's dtype; padding rows are zeros.
    """
    num_pages, kv_heads = check_extend_args(q, k_pool, v_pool, page_table, prefix_lens,
                                            extend_lens, page_size)
    t, h, d = q.shape
    b = page_table.shape[0]
    g = h // kv_heads
    prefix_lens = prefix_lens.astype(jnp.int32)
    extend_lens = extend_lens.astype(jnp.int32)
    ends = jnp.cumsum(extend_lens)
    starts = ends - extend_lens
    tok = jnp.arange(t, dtype=jnp.int32)
    # Sequence of each query row (b for padding rows past the last real token).
    seq = jnp.searchsorted(ends, tok, side="right").astype(jnp.int32)
    real = seq < b
    seq_c = jnp.minimum(seq, b - 1)
    qpos = prefix_lens[seq_c] + tok - starts[seq_c]  # absolute position of each query token

    keys = _gather_sequences(k_pool, page_table, page_size, num_pages)  # [B, L, Hkv, D]
    vals = _gather_sequences(v_pool, page_table, page_size, num_pages)
    length = keys.shape[1]
    # Score every query row against every sequence's keys, then keep its own sequence's.
    keys = keys.reshape(b * length, kv_heads, d)
    vals = vals.reshape(b * length, kv_heads, d)
    key_seq = jnp.repeat(jnp.arange(b, dtype=jnp.int32), length)
    key_pos = jnp.tile(jnp.arange(length, dtype=jnp.int32), b)
    qf = q.astype(jnp.float32).reshape(t, kv_heads, g, d)
    scores = jnp.einsum("tkgd,skd->tkgs", qf, keys, precision=_HIGHEST) * scale
    mask = (
        real[:, None]
        & (key_seq[None, :] == seq_c[:, None])
        & (key_pos[None, :] <= qpos[:, None])
    )[:, None, None, :]
    out = _masked_softmax_weighted_sum(scores, mask, vals, "tkgs,skd->tkgd")
    return out.reshape(t, h, d).astype(q.dtype)


def page_table_from_cache_loc(
    cache_loc: np.ndarray,
    seq_lens: np.ndarray,
    page_size: int,
    max_pages: Optional[int] = None,
) -> np.ndarray:
    """Host-side: sglang-jax's flat cache_loc -> page_table [B, max_pages] int32.

    sglang-jax's ForwardBatch.cache_loc concatenates each request's token slots (the first
    seq_lens[b] entries of its req_to_token row), each padded with 0 to a multiple of page_size,
    then pads the whole with 0. Slots of one page are contiguous, so a page's id is its first
    slot // page_size. Rows of padding requests (seq_len 0) and unused entries are 0.
    """
    cache_loc = np.asarray(cache_loc).reshape(-1)
    seq_lens = np.asarray(seq_lens).reshape(-1).astype(np.int64)
    pages_per_seq = (seq_lens + page_size - 1) // page_size
    need = int(pages_per_seq.max(initial=0))
    if max_pages is None:
        max_pages = max(need, 1)
    if need > max_pages:
        raise ValueError(f"page_table_from_cache_loc: a sequence needs {need} pages, "
                         f"max_pages is {max_pages}")
    table = np.zeros((seq_lens.shape[0], max_pages), dtype=np.int32)
    offset = 0
    for b, n in enumerate(pages_per_seq):
        n = int(n)
        if n:
            firsts = cache_loc[offset: offset + n * page_size: page_size]
            if firsts.shape[0] != n:
                raise ValueError(f"page_table_from_cache_loc: cache_loc has {cache_loc.shape[0]}"
                                 f" entries, too few for seq_lens {seq_lens.tolist()}")
            table[b, :n] = firsts // page_size
        offset += n * page_size
    return table
