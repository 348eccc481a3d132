"""A paged attention backend for sglang-jax 0.0.1.post1 built on jax_chip.ops.

It replaces sglang-jax's `native` backend, which is wrong for page_size > 1 and gathers the
whole (pool-sized) cache_loc every step. Per forward it turns ForwardBatch.cache_loc into a
compact page table on the host (init_forward_metadata, outside jit), then runs
`radix_attention_extend` (EXTEND) or `paged_attention_decode` (DECODE) over the paged pool.
On the chip those ops become custom calls; elsewhere their pure-jnp references run.

The page table's width is bucketed to a power of two (at least 64 tokens) so that jit retraces
only a few times as sequences grow.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import register_pytree_node_class

from jax_chip.ops import (
    page_table_from_cache_loc,
    paged_attention_decode,
    paged_kv_write,
    radix_attention_extend,
)

MIN_TABLE_TOKENS = 64


def table_width(max_seq_len: int, page_size: int) -> int:
    """Pages per page-table row for sequences of up to max_seq_len tokens (bucketed)."""
    tokens = MIN_TABLE_TOKENS
    while tokens < max_seq_len:
        tokens *= 2
    return -(-tokens // page_size)


def _base_class() -> type:
    from sgl_jax.srt.layers.attention.base_attn_backend import AttentionBackend

    return AttentionBackend


def make_backend_class() -> type:
    """Build the backend class (sgl_jax must be importable; imported lazily)."""
    from sgl_jax.srt.model_executor.forward_batch_info import ForwardMode

    @register_pytree_node_class
    class PagedAttentionBackend(_base_class()):  # type: ignore[misc]
        """sglang-jax AttentionBackend over jax_chip.ops (paged, GQA, radix prefix)."""

        def __init__(self, num_attn_heads: int, num_kv_heads: int, page_size: int,
                     mesh: Any = None, page_table: Optional[jax.Array] = None):
            self.num_heads = num_attn_heads
            self.num_kv_heads = num_kv_heads
            self.page_size = page_size
            self.mesh = mesh
            self.page_table = page_table

        def tree_flatten(self) -> Tuple[tuple, dict]:
            aux = {"num_heads": self.num_heads, "num_kv_heads": self.num_kv_heads,
                   "page_size": self.page_size, "mesh": self.mesh}
            return (self.page_table,), aux

        @classmethod
        def tree_unflatten(cls, aux: dict, children: tuple) -> "PagedAttentionBackend":
            return cls(aux["num_heads"], aux["num_kv_heads"], aux["page_size"], aux["mesh"],
                       children[0])

        def init_forward_metadata(self, forward_batch: Any) -> None:
            seq_lens = np.asarray(jax.device_get(forward_batch.seq_lens))
            cache_loc = np.asarray(jax.device_get(forward_batch.cache_loc))
            width = table_width(int(seq_lens.max(initial=0)), self.page_size)
            table = page_table_from_cache_loc(cache_loc, seq_lens, self.page_size, width)
            if self.mesh is not None:
                from jax.sharding import NamedSharding, PartitionSpec

                self.page_table = jax.device_put(table, NamedSharding(self.mesh, PartitionSpec()))
            else:
                self.page_table = jnp.asarray(table)

        def __call__(self, q: jax.Array, k: jax.Array, v: jax.Array, layer: Any,
                     forward_batch: Any, **kwargs: Any):
            if self.page_table is None:
                raise RuntimeError("PagedAttentionBackend: init_forward_metadata was not called "
                                   "for this forward batch")
            pool = forward_batch.token_to_kv_pool
            idx = layer.layer_id - pool.start_layer
            k_buf, v_buf = paged_kv_write(pool.k_buffer[idx], pool.v_buffer[idx], k, v,
                                          forward_batch.out_cache_loc)
            pool.k_buffer[idx], pool.v_buffer[idx] = k_buf, v_buf
            head_dim = layer.head_dim
            qh = q.reshape(q.shape[0], layer.q_head_num, head_dim)
            scale = layer.scaling if layer.scaling is not None else head_dim ** -0.5
            if forward_batch.forward_mode == ForwardMode.DECODE:
                out = paged_attention_decode(qh, k_buf, v_buf, self.page_table,
                                             forward_batch.seq_lens, scale=scale,
                                             page_size=self.page_size)
            elif forward_batch.forward_mode.is_extend():
                out = radix_attention_extend(qh, k_buf, v_buf, self.page_table,
                                             forward_batch.extend_prefix_lens,
                                             forward_batch.extend_seq_lens, scale=scale,
                                             page_size=self.page_size)
            else:
                raise NotImplementedError(f"PagedAttentionBackend: forward mode "
                                          f"{forward_batch.forward_mode!r}")
            return out.reshape(q.shape[0], -1), k_buf, v_buf

    return PagedAttentionBackend
