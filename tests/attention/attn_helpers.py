"""Random paged batches and an independent dense (numpy float64) attention for the op tests.

A batch is built from each sequence's logical K/V [len, Hkv, D]; the pages holding it are drawn
at random from the pool (shuffled, never page 0, the padding page), and the pool is filled with
random values elsewhere, so any read from a wrong row changes the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np


@dataclass
class PagedBatch:
    k_pool: np.ndarray  # [rows, Hkv, D]
    v_pool: np.ndarray
    page_table: np.ndarray  # [B, max_pages] int32
    seq_lens: np.ndarray  # [B] int32 (prefix + extend)
    k_seqs: List[np.ndarray]  # logical per-sequence K [len, Hkv, D] (float64)
    v_seqs: List[np.ndarray]
    page_size: int

    def cache_loc(self) -> np.ndarray:
        """sglang-jax's flat cache_loc: each sequence's slots padded to a page multiple."""
        out: List[int] = []
        for b, n in enumerate(self.seq_lens):
            pages = -(-int(n) // self.page_size)
            for j in range(pages * self.page_size):
                out.append(int(self.page_table[b, j // self.page_size]) * self.page_size
                           + j % self.page_size if j < n else 0)
        return np.array(out + [0] * 7, dtype=np.int32)  # trailing padding as in sglang-jax


def make_paged_batch(rng: np.random.Generator, seq_lens: List[int], kv_heads: int, head_dim: int,
                     page_size: int, dtype: np.dtype, extra_pages: int = 3,
                     table_pad: int = 2) -> PagedBatch:
    pages_needed = [-(-n // page_size) for n in seq_lens]
    num_pages = 1 + sum(pages_needed) + extra_pages
    rows = num_pages * page_size
    k_pool = rng.standard_normal((rows, kv_heads, head_dim)).astype(dtype)
    v_pool = rng.standard_normal((rows, kv_heads, head_dim)).astype(dtype)
    free = rng.permutation(np.arange(1, num_pages))
    max_pages = max(pages_needed + [1]) + table_pad
    # Unused table entries hold random valid page ids: they must never be read.
    table = rng.integers(0, num_pages, size=(len(seq_lens), max_pages)).astype(np.int32)
    k_seqs, v_seqs = [], []
    cursor = 0
    for b, n in enumerate(seq_lens):
        pages = free[cursor: cursor + pages_needed[b]]
        cursor += pages_needed[b]
        table[b, : len(pages)] = pages
        slots = np.array([pages[j // page_size] * page_size + j % page_size for j in range(n)],
                         dtype=np.int64)
        k_seqs.append(k_pool[slots].astype(np.float64))
        v_seqs.append(v_pool[slots].astype(np.float64))
    return PagedBatch(k_pool, v_pool, table, np.array(seq_lens, dtype=np.int32), k_seqs, v_seqs,
                      page_size)


def dense_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, q_positions: np.ndarray,
                    scale: float) -> np.ndarray:
    """q [n, H, D] at absolute q_positions attends to k/v [len, Hkv, D] at positions
    0..q_position (inclusive). float64, GQA by head // group."""
    n, h, _ = q.shape
    kv_heads = k.shape[1]
    group = h // kv_heads
    out = np.zeros(q.shape, dtype=np.float64)
    for i in range(n):
        visible = int(q_positions[i]) + 1
        for head in range(h):
            kh = head // group
            s = k[:visible, kh, :] @ q[i, head, :].astype(np.float64) * scale
            w = np.exp(s - s.max())
            w /= w.sum()
            out[i, head] = w @ v[:visible, kh, :]
    return out
