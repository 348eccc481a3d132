"""Paged KV cache write: the pure-jnp reference of the chip's paged-KV-write custom call.

The pool is token-addressed: row `slot` of a [rows, Hkv, D] pool holds one token's K (or V). With
a page size P, page p owns rows p*P .. p*P+P-1 (sglang-jax's MHATokenToKVPool layout: rows =
size + page_size, one spare page).

Slot semantics (the chip kernel must behave the same):
- slot -1 is padding (sglang-jax pads out_cache_loc with -1): that token is not written;
- any other slot outside [0, rows) is dropped too (never wraps around like Python's negative
  indexing, never faults). Callers that want to catch bad slots check them on the host;
- if two tokens name the same slot, the result holds one of them (which one is unspecified),
  as with any scatter.
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp


def _check(pool: jax.Array, new: jax.Array, slots: jax.Array, what: str) -> None:
    if pool.ndim != 3:
        raise ValueError(f"paged_kv_write: {what}_pool must be [rows, kv_heads, head_dim], "
                         f"got shape {pool.shape}")
    if new.ndim != 3 or new.shape[1:] != pool.shape[1:]:
        raise ValueError(f"paged_kv_write: {what}_new must be [tokens, {pool.shape[1]}, "
                         f"{pool.shape[2]}] to match {what}_pool {pool.shape}, got {new.shape}")
    if slots.ndim != 1 or slots.shape[0] != new.shape[0]:
        raise ValueError(f"paged_kv_write: slots must be [{new.shape[0]}] (one per token), "
                         f"got shape {slots.shape}")
    if not jnp.issubdtype(slots.dtype, jnp.integer):
        raise ValueError(f"paged_kv_write: slots must be an integer array, got {slots.dtype}")


def check_args(k_pool: jax.Array, v_pool: jax.Array, k_new: jax.Array, v_new: jax.Array,
               slots: jax.Array) -> None:
    """Raises ValueError naming the argument whose shape or dtype is wrong."""
    _check(k_pool, k_new, slots, "k")
    _check(v_pool, v_new, slots, "v")
    if v_pool.shape[0] != k_pool.shape[0]:
        raise ValueError(f"paged_kv_write: k_pool has {k_pool.shape[0]} rows, v_pool "
                         f"{v_pool.shape[0]}")


def paged_kv_write(
    k_pool: jax.Array,
    v_pool: jax.Array,
    k_new: jax.Array,
    v_new: jax.Array,
    slots: jax.Array,
) -> Tuple[jax.Array, jax.Array]:
    """Write new K/V [T, Hkv, D] into the pools [rows, Hkv, D] at `slots` [T].

    Returns the updated (k_pool, v_pool); new values are cast to the pool's dtype. Under jit
    with the pools donated, XLA updates them in place.
    """
    check_args(k_pool, v_pool, k_new, v_new, slots)
    rows = k_pool.shape[0]
    slots = slots.astype(jnp.int32)
    # Map every invalid slot (-1 padding or out of range) to `rows`, which mode="drop" skips.
    # Without this, -1 would wrap around to the last row.
    safe = jnp.where((slots >= 0) & (slots < rows), slots, rows)
    k_pool = k_pool.at[safe].set(k_new.astype(k_pool.dtype), mode="drop")
    v_pool = v_pool.at[safe].set(v_new.astype(v_pool.dtype), mode="drop")
    return k_pool, v_pool
